"""Output files: names (``-o`` path or ``{n}`` template, or a slug of the prompt and a
timestamp), checks before anything is requested (no clobbering, writable places), and writing
all files or none."""

from __future__ import annotations

import os
import re
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import TermchatError, UsageError


def slugify(text: str, max_len: int = 40, fallback: str = "image") -> str:
    """A file-name-safe slug of ``text``: ASCII lower-case words joined by ``-``, at most
    ``max_len`` characters, cut at a word boundary; ``fallback`` when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_len:
            if not slug:
                slug = word[:max_len]
            break
        slug = candidate
    return slug or fallback


def timestamp(now: float | None = None) -> str:
    """Local time as ``YYYYMMDD-HHMMSS`` (for default file names)."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now))


def output_paths(
    output: str | None,
    count: int,
    ext: str,
    *,
    default_dir: Path,
    slug: str,
    stamp: str,
) -> list[Path]:
    """The ``count`` output paths for files with extension ``ext`` (no dot).

    With ``output``: ``{n}`` in it is replaced by 1, 2, …; without ``{n}`` and ``count > 1``,
    ``-1``, ``-2``, … go before the extension; a name without an extension gets ``.ext``;
    ``~`` is expanded. Without ``output``, or when it names a directory (ends with ``/`` or
    exists as one): ``<slug>-<stamp>[-<n>].<ext>`` in ``default_dir`` (or that directory), with
    ``-2``, ``-3``… added to the stem when such files already exist (default names never
    clash; explicit ones are checked by :func:`check_outputs`).
    """
    if output and is_directory_target(output):
        default_dir, output = Path(os.path.expanduser(output)), None
    if output:
        if "{n}" in output:
            names = [output.replace("{n}", str(i)) for i in range(1, count + 1)]
        elif count > 1:
            p = Path(output)
            names = [str(p.with_name(f"{p.stem}-{i}{p.suffix}")) for i in range(1, count + 1)]
        else:
            names = [output]
        paths = [Path(os.path.expanduser(n)) for n in names]
        return [p if p.suffix else p.with_name(f"{p.name}.{ext}") for p in paths]
    base = f"{slug}-{stamp}"
    for attempt in range(1, 1000):
        stem = base if attempt == 1 else f"{base}-{attempt}"
        if count == 1:
            paths = [default_dir / f"{stem}.{ext}"]
        else:
            paths = [default_dir / f"{stem}-{i}.{ext}" for i in range(1, count + 1)]
        if not any(p.exists() for p in paths):
            return paths
    return paths


def is_directory_target(output: str) -> bool:
    """Whether ``-o output`` names a directory to put default-named files in: it ends with a
    path separator or is an existing directory."""
    return output.endswith(("/", os.sep)) or Path(os.path.expanduser(output)).is_dir()


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def check_outputs(paths: Sequence[Path], force: bool) -> None:
    """Refuse, before anything is requested or written, outputs that would fail.

    Raises:
        UsageError: a path exists and ``force`` is false, a path is a directory, or two
            outputs are the same file (exit 2).
        TermchatError: a path's directory cannot be written (see :func:`check_directory`;
            exit 1).
    """
    seen: set[Path] = set()
    probed: set[Path] = set()
    for path in paths:
        key = path.absolute()
        if key in seen:
            raise UsageError(f"two outputs would be the same file: {path}", hint="use {n} in -o")
        seen.add(key)
        if path.is_dir():
            raise UsageError(f"{path} is a directory", hint="give a file name with -o")
        if path.exists() and not force:
            raise UsageError(f"{path} already exists", hint="use --force to overwrite it")
        anchor = _nearest_existing(path.parent)
        if anchor not in probed:
            probed.add(anchor)
            check_directory(path.parent)


def check_directory(directory: Path) -> None:
    """Check that files can be created in ``directory`` (or, when it does not exist yet, in its
    nearest existing ancestor) by creating and removing a temporary file there — a real probe,
    right even for root or read-only mounts.

    Raises:
        TermchatError: it cannot (one line naming the directory; exit 1).
    """
    anchor = _nearest_existing(directory)
    if not anchor.is_dir():
        raise TermchatError(f"cannot write to {directory}: {anchor} is not a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".termchat-probe-", dir=anchor)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise TermchatError(
            f"cannot write to {anchor}: {exc.strerror or exc}", hint="pick another place with -o"
        ) from None


def write_outputs(items: Sequence[tuple[Path, bytes]], force: bool) -> None:
    """Write every ``(path, bytes)`` atomically, all or none.

    Phase one writes each file to a temporary file in its target directory (fsync'd); if any
    fails, all temporaries are removed and nothing is changed. Phase two moves them into
    place: without ``force`` with ``link`` + ``unlink`` (so a file that appeared meanwhile is
    never replaced), with ``force`` with ``rename``. If a file appeared meanwhile, the files
    already moved by this call are removed again.

    Raises:
        UsageError: a target exists and ``force`` is false (exit 2).
        TermchatError: a file cannot be written (one line naming it; exit 1).
    """
    check_outputs([p for p, _ in items], force)
    staged: list[tuple[str, Path]] = []
    current = items[0][0] if items else Path(".")
    try:
        for path, data in items:
            current = path
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((tmp, path))
            os.fchmod(fd, _file_mode())
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
    except OSError as exc:
        for tmp, _ in staged:
            _unlink(tmp)
        raise TermchatError(f"cannot write {current}: {exc.strerror or exc}; nothing was written") from None

    placed: list[Path] = []
    try:
        for tmp, path in staged:
            if force:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                    _unlink(tmp)
                except FileExistsError:
                    raise UsageError(f"{path} already exists", hint="use --force to overwrite it") from None
                except OSError:
                    if path.exists():
                        raise UsageError(f"{path} already exists", hint="use --force to overwrite it") from None
                    os.replace(tmp, path)
            placed.append(path)
    except BaseException as exc:
        if not force:
            for path in placed:
                _unlink(path)
        for tmp, _ in staged:
            _unlink(tmp)
        if isinstance(exc, OSError):
            raise TermchatError(f"cannot write: {exc.strerror or exc}") from None
        raise


def _file_mode() -> int:
    """``0o666`` less the process umask: the mode an ordinary new file gets (``mkstemp``
    would make it 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _unlink(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
