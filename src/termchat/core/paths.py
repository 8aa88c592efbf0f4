"""Where termchat keeps its files.

By default the platform's directories (``platformdirs``): config in ``user_config_dir``, the store
in ``user_data_dir``, logs in ``user_log_dir``, the warm core's socket in ``user_runtime_dir``.
``TERMCHAT_HOME=<dir>`` moves all of them under one directory (``config/``, ``data/``, ``logs/``,
``run/``); the tests use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

APP = "termchat"


def _home() -> Path | None:
    home = os.environ.get("TERMCHAT_HOME")
    return Path(home).expanduser() if home else None


def _dir(sub: str, platform_fn: str) -> Path:
    """``TERMCHAT_HOME/<sub>`` when ``TERMCHAT_HOME`` is set, else the platformdirs directory
    ``platformdirs.<platform_fn>("termchat")`` (platformdirs is imported only then)."""
    home = _home()
    if home:
        return home / sub
    import platformdirs

    return Path(getattr(platformdirs, platform_fn)(APP))


def config_dir() -> Path:
    """Directory holding ``config.toml`` and ``keys.toml``."""
    return _dir("config", "user_config_dir")


def data_dir() -> Path:
    """Directory holding the SQLite store ``termchat.db``."""
    return _dir("data", "user_data_dir")


def log_dir() -> Path:
    """Directory holding ``termchat.log`` (LiteLLM's and termchat's log lines) and
    ``warm-core.log``; private (0700, see :func:`open_private_log`)."""
    return _dir("logs", "user_log_dir")


def cache_dir() -> Path:
    """Directory for caches (the list of live local models used by shell completion)."""
    return _dir("cache", "user_cache_dir")


def runtime_dir() -> Path:
    """Private directory (mode 0700) for the warm core's socket: ``TERMCHAT_HOME/run``, else
    platformdirs' user runtime directory (``$XDG_RUNTIME_DIR/termchat``, or
    ``/tmp/runtime-UID/termchat`` without it)."""
    home = _home()
    if home:
        return home / "run"
    import warnings

    import platformdirs

    with warnings.catch_warnings():
        # without XDG_RUNTIME_DIR platformdirs falls back to /tmp/runtime-UID and says so on
        # stderr; termchat checks that directory itself (ours, 0700: termchat.warm.private_dir)
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir(APP))


def make_private_dir(d: Path) -> Path:
    """Create ``d`` (and missing parents) with mode 0700; an existing directory of this user's
    with looser permissions is tightened to 0700 (a symlink, or another user's directory, is
    left alone). Returns ``d``. Raises ``OSError`` when it cannot be created."""
    import stat

    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(d)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077:
        os.chmod(d, 0o700)
    return d


def private_opener(path: str | os.PathLike[str], flags: int) -> int:
    """An ``opener`` for :func:`open`: creates the file with mode 0600, and tightens an existing
    file of this user's that is open to others to 0600. Returns the file descriptor; raises
    ``OSError``."""
    fd = os.open(path, flags | os.O_CLOEXEC, 0o600)
    try:
        st = os.fstat(fd)
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_private_log(name: str) -> BinaryIO:
    """``log_dir()/name`` opened for appending (binary), the directory made 0700 and the file
    0600 (both tightened when they exist with looser modes). Raises ``OSError``."""
    return open(make_private_dir(log_dir()) / name, "ab", opener=private_opener)


def config_file() -> Path:
    """``config.toml`` inside :func:`config_dir`."""
    return config_dir() / "config.toml"


def keys_file() -> Path:
    """``keys.toml`` inside :func:`config_dir` (mode 0600)."""
    return config_dir() / "keys.toml"


def store_file() -> Path:
    """``termchat.db`` inside :func:`data_dir`."""
    return data_dir() / "termchat.db"


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same directory, fsync, rename.

    ``mode`` (e.g. ``0o600``) is applied to the temp file before any byte is written, so a secret
    is never readable by others even for an instant. Raises ``OSError`` on failure; the old file
    is then untouched.
    """
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
