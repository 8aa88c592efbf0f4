"""Media on the front side: image files (Pillow), audio files, terminal images and playback.

Everything here is local I/O; provider calls live in :mod:`termchat.core.media`. Pillow and
sounddevice are imported lazily, inside the functions that need them.

* Images: :func:`inspect_image` checks bytes with Pillow, :func:`convert_image` changes the
  format (keeping transparency for PNG/WebP), :func:`show_image` draws one on the terminal
  (Kitty graphics protocol, Sixel, or half-blocks with true colour).
* Audio: :func:`split_text` cuts long text at sentence boundaries, :func:`parse_wav` /
  :func:`join_audio` join parts into one valid file, :func:`play_pcm` plays PCM frames through
  PortAudio.
* Files: :func:`output_paths` names outputs (``-o`` path or ``{n}`` template, or a slug of the
  prompt and a timestamp), :func:`check_outputs` refuses clobbering and unwritable places
  before anything is requested, :func:`write_outputs` writes all files or none.
"""

from __future__ import annotations

import io
import os
import re
import struct
import sys
import tempfile
import time
import unicodedata
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .core.errors import ProviderError, TermchatError, UsageError

# ---------------------------------------------------------------------------------------------
# Names and files


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


# ---------------------------------------------------------------------------------------------
# Images

#: Image formats termchat writes, as Pillow names them -> file extension.
IMAGE_FORMATS: dict[str, str] = {"png": "png", "jpeg": "jpg", "webp": "webp"}
#: File extensions -> format names (for ``-o name.ext``).
IMAGE_EXTENSIONS: dict[str, str] = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}


@dataclass
class ImageInfo:
    """What Pillow found in image bytes: ``format`` (lower-case Pillow name: ``png``, ``jpeg``,
    ``webp``, ``gif``…), ``width``/``height`` in pixels, ``mode`` (``RGB``, ``RGBA``…) and
    whether it has an alpha channel or transparency."""

    format: str
    width: int
    height: int
    mode: str
    has_alpha: bool

    @property
    def ext(self) -> str:
        """The file extension for this format (``jpg`` for JPEG)."""
        return IMAGE_FORMATS.get(self.format, self.format)


def inspect_image(data: bytes, what: str = "the image") -> ImageInfo:
    """Check that ``data`` is a complete image Pillow can decode, and describe it.

    Raises:
        ProviderError: not an image, truncated, or a decompression bomb (exit 1).
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ProviderError(f"{what} is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt = (img.format or "").lower()
            has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            return ImageInfo(fmt, img.width, img.height, img.mode, has_alpha)
    except UnidentifiedImageError:
        raise ProviderError(f"{what} is not an image (the provider sent {_describe(data)})") from None
    except Image.DecompressionBombError as exc:
        raise ProviderError(f"{what} is too large to decode safely: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ProviderError(f"{what} is damaged: {exc}") from None


def _describe(data: bytes) -> str:
    head = data[:24]
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return f"text starting {head.decode('ascii')!r}"
    return f"{len(data):,} bytes of an unknown format"


def convert_image(data: bytes, fmt: str, compression: int | None = None) -> bytes:
    """Re-encode image ``data`` as ``fmt`` (``png``, ``jpeg`` or ``webp``).

    Transparency is kept for PNG and WebP; for JPEG (no alpha) transparent areas are laid on
    white. ``compression`` (0–100, like OpenAI's ``output_compression``: 100 keeps the most
    detail, lower values make smaller files) is the JPEG/WebP quality; ``None`` uses 90.

    Raises:
        UsageError: an unknown target format.
        ProviderError: ``data`` cannot be decoded.
    """
    from PIL import Image

    if fmt not in IMAGE_FORMATS:
        raise UsageError(f"cannot write images as {fmt!r}; use png, jpeg or webp")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:
        raise ProviderError(f"cannot decode the image to convert it: {exc}") from None
    quality = 90 if compression is None else max(1, min(100, int(compression)))
    alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    out = io.BytesIO()
    if fmt == "jpeg":
        if alpha:
            rgba = img.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            img = flat
        elif img.mode != "RGB":
            img = img.convert("RGB")
        img.save(out, format="JPEG", quality=quality)
    elif fmt == "webp":
        img = img.convert("RGBA" if alpha else "RGB")
        img.save(out, format="WEBP", quality=quality)
    else:
        if img.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
            img = img.convert("RGBA" if alpha else "RGB")
        img.save(out, format="PNG", optimize=False)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Terminal images


def graphics_protocol(env: Mapping[str, str] | None = None) -> str:
    """How to draw images on this terminal: ``kitty``, ``sixel`` or ``blocks``.

    ``TERMCHAT_GRAPHICS`` (``kitty|sixel|blocks``) overrides. Kitty: ``KITTY_WINDOW_ID`` set,
    ``TERM`` containing ``kitty``, or Ghostty/WezTerm (``TERM_PROGRAM``). Sixel: ``TERM``
    containing ``sixel`` or naming foot, mlterm, yaft or contour. Otherwise half-blocks.
    """
    env = os.environ if env is None else env
    forced = env.get("TERMCHAT_GRAPHICS", "").strip().lower()
    if forced in ("kitty", "sixel", "blocks"):
        return forced
    term = env.get("TERM", "").lower()
    program = env.get("TERM_PROGRAM", "").lower()
    if env.get("KITTY_WINDOW_ID") or "kitty" in term or program in ("ghostty", "wezterm"):
        return "kitty"
    if "sixel" in term or term.startswith(("foot", "mlterm", "yaft", "contour")):
        return "sixel"
    return "blocks"


def _open_rgba(data: bytes) -> Any:
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGBA")


def _fit(img: Any, max_w: int, max_h: int) -> Any:
    from PIL import Image

    scale = min(1.0, max_w / img.width, max_h / img.height)
    if scale < 1.0:
        size = (max(1, int(img.width * scale)), max(1, int(img.height * scale)))
        img = img.resize(size, Image.Resampling.LANCZOS)
    return img


def kitty_escape(data: bytes, columns: int | None = None) -> str:
    """The Kitty graphics protocol sequence that shows image ``data`` (any format Pillow
    reads; sent as PNG, base64 in 4096-byte chunks), ``columns`` cells wide when given, then a
    newline."""
    import base64

    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        buf = io.BytesIO()
        _open_rgba(data).save(buf, format="PNG")
        data = buf.getvalue()
    payload = base64.b64encode(data).decode("ascii")
    chunks = [payload[i : i + 4096] for i in range(0, len(payload), 4096)] or [""]
    out = []
    for i, chunk in enumerate(chunks):
        more = 1 if i < len(chunks) - 1 else 0
        if i == 0:
            size = f",c={columns}" if columns else ""
            out.append(f"\x1b_Ga=T,f=100,q=2{size},m={more};{chunk}\x1b\\")
        else:
            out.append(f"\x1b_Gm={more};{chunk}\x1b\\")
    return "".join(out) + "\n"


def sixel_escape(data: bytes, max_width: int = 640, max_height: int = 480, colors: int = 64) -> str:
    """A DEC Sixel sequence for image ``data``, scaled to fit ``max_width`` x ``max_height``
    pixels and quantised to ``colors`` colours (transparent pixels laid on black), then a
    newline."""
    from PIL import Image

    img = _fit(_open_rgba(data), max_width, max_height)
    base = Image.new("RGB", img.size, (0, 0, 0))
    base.paste(img, mask=img.getchannel("A"))
    pal_img = base.quantize(colors=max(2, min(256, colors)))
    width, height = pal_img.size
    palette = pal_img.getpalette() or []
    pixels = pal_img.tobytes()
    used = sorted(set(pixels))
    out = [f'\x1bPq"1;1;{width};{height}']
    for idx in used:
        r, g, b = palette[idx * 3 : idx * 3 + 3]
        out.append(f"#{idx};2;{r * 100 // 255};{g * 100 // 255};{b * 100 // 255}")
    rle = re.compile(rb"(.)\1{3,}")
    for top in range(0, height, 6):
        masks: dict[int, bytearray] = {}
        for dy in range(min(6, height - top)):
            row = pixels[(top + dy) * width : (top + dy + 1) * width]
            bit = 1 << dy
            for x, c in enumerate(row):
                m = masks.get(c)
                if m is None:
                    m = masks[c] = bytearray(width)
                m[x] |= bit
        band = []
        for c, m in masks.items():
            line = bytes(v + 63 for v in m)
            line = rle.sub(lambda mo: b"!%d%c" % (len(mo.group()), mo.group(1)[0]), line)
            band.append(f"#{c}" + line.decode("ascii"))
        out.append("$".join(band) + "-")
    out.append("\x1b\\")
    return "".join(out) + "\n"


def halfblock_text(data: bytes, max_columns: int = 80, max_rows: int = 40) -> Any:
    """Image ``data`` as a Rich ``Text`` of ``▀`` cells (upper pixel as foreground, lower as
    background colour), at most ``max_columns`` x ``max_rows`` cells; fully transparent pixels
    are left to the terminal's background."""
    from rich.color import Color
    from rich.style import Style
    from rich.text import Text

    img = _fit(_open_rgba(data), max(1, max_columns), max(2, 2 * max_rows))
    width, height = img.size
    px = img.load()
    text = Text(no_wrap=True, overflow="crop")
    styles: dict[tuple[Any, Any], Style] = {}
    for y in range(0, height, 2):
        for x in range(width):
            top = px[x, y]
            bottom = px[x, y + 1] if y + 1 < height else (0, 0, 0, 0)
            t = Color.from_rgb(*top[:3]) if top[3] >= 128 else None
            b = Color.from_rgb(*bottom[:3]) if bottom[3] >= 128 else None
            if t is None and b is None:
                text.append(" ")
                continue
            char, key = ("▀", (t, b)) if t is not None else ("▄", (b, None))
            style = styles.get(key)
            if style is None:
                style = styles[key] = Style(color=key[0], bgcolor=key[1])
            text.append(char, style)
        text.append("\n")
    return text


def show_image(data: bytes, out: IO[str] | None = None, env: Mapping[str, str] | None = None) -> str:
    """Draw image ``data`` on the terminal ``out`` (default stdout) with the protocol
    :func:`graphics_protocol` picks; returns that protocol's name. The caller makes sure
    ``out`` is a terminal."""
    import shutil

    env = os.environ if env is None else env
    out = out or sys.stdout
    cols, rows = shutil.get_terminal_size((80, 24))
    proto = graphics_protocol(env)
    if proto == "kitty":
        info = inspect_image(data)
        columns = cols if info.width > cols * 10 else None
        out.write(kitty_escape(data, columns))
    elif proto == "sixel":
        out.write(sixel_escape(data, max_width=min(cols * 10, 1024), max_height=max(60, (rows - 2) * 20)))
    else:
        from rich.console import Console

        truecolor = env.get("COLORTERM", "").lower() in ("truecolor", "24bit")
        console = Console(
            file=out,
            force_terminal=True,
            color_system="truecolor" if truecolor else "256",
            no_color=False,
            width=cols,
            highlight=False,
        )
        console.print(halfblock_text(data, cols, max(4, rows - 2)), end="", soft_wrap=True)
    out.flush()
    return proto


# ---------------------------------------------------------------------------------------------
# Text and audio

#: Formats whose files can be joined by concatenating them (frames are self-delimiting).
CONCAT_FORMATS = ("mp3", "aac")
#: Formats termchat can join by re-writing PCM frames.
PCM_FORMATS = ("wav", "pcm")
#: OpenAI's raw ``pcm`` format: 24 kHz, 16-bit signed little-endian, mono.
PCM_RATE, PCM_WIDTH, PCM_CHANNELS = 24000, 2, 1

_SENTENCE = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\s*\n\s*")


def split_text(text: str, limit: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters, in order, at sentence ends
    (``.!?…`` followed by space, or a line break); a sentence longer than ``limit`` is cut at
    ``,;:``, then at spaces, then anywhere. Pieces are stripped and never empty; text that
    fits is returned as one piece."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    sentences = [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]
    units: list[str] = []
    for s in sentences:
        units.extend(_cut(s, limit, (r"(?<=[,;:])\s+", r"\s+")))
    return _pack(units, limit)


def _pack(units: list[str], limit: int) -> list[str]:
    """Join consecutive ``units`` with single spaces into pieces of at most ``limit``
    characters (a unit is never split here)."""
    pieces: list[str] = []
    cur = ""
    for u in units:
        if not cur:
            cur = u
        elif len(cur) + 1 + len(u) <= limit:
            cur = f"{cur} {u}"
        else:
            pieces.append(cur)
            cur = u
    if cur:
        pieces.append(cur)
    return pieces


def _cut(s: str, limit: int, seps: tuple[str, ...]) -> list[str]:
    if len(s) <= limit:
        return [s]
    if not seps:
        return [s[i : i + limit] for i in range(0, len(s), limit)]
    parts = [p for p in re.split(seps[0], s) if p]
    if len(parts) == 1:
        return _cut(s, limit, seps[1:])
    return _pack([q for p in parts for q in _cut(p, limit, seps[1:])], limit)


@dataclass(frozen=True)
class PcmFormat:
    """PCM layout: ``channels``, ``sampwidth`` (bytes per sample) and ``rate`` (Hz)."""

    channels: int
    sampwidth: int
    rate: int

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame (``channels * sampwidth``)."""
        return self.channels * self.sampwidth


def parse_wav(data: bytes) -> tuple[PcmFormat, bytes]:
    """The PCM format and frames of a WAV file.

    Tolerates streamed WAVs whose RIFF/data sizes are 0 or ``0xFFFFFFFF`` (the data then runs
    to the end); a trailing partial frame is dropped.

    Raises:
        ValueError: not a RIFF/WAVE file, not PCM, or no ``fmt``/``data`` chunk.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise ValueError("WAV fmt chunk is too short")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body : body + 16])
            if tag == 0xFFFE and size >= 26:
                tag = struct.unpack("<H", data[body + 24 : body + 26])[0]
            if tag != 1:
                raise ValueError(f"WAV is not PCM (format tag {tag})")
            if channels < 1 or bits not in (8, 16, 24, 32) or rate < 1:
                raise ValueError("WAV has an unsupported layout")
            fmt = PcmFormat(channels, bits // 8, rate)
        elif cid == b"data":
            if fmt is None:
                raise ValueError("WAV data comes before its format")
            end = body + size
            if size in (0, 0xFFFFFFFF) or end > len(data):
                end = len(data)
            frames = data[body:end]
            frames = frames[: len(frames) - len(frames) % fmt.frame_bytes]
            return fmt, frames
        pos = body + size + (size & 1)
    raise ValueError("WAV has no data chunk" if fmt else "WAV has no fmt chunk")


def make_wav(fmt: PcmFormat, frames: bytes) -> bytes:
    """A WAV file of ``frames`` in format ``fmt`` (stdlib :mod:`wave`)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(fmt.channels)
        w.setsampwidth(fmt.sampwidth)
        w.setframerate(fmt.rate)
        w.writeframes(frames)
    return buf.getvalue()


def _strip_id3v2(data: bytes) -> bytes:
    if len(data) >= 10 and data[:3] == b"ID3":
        size = 0
        for b in data[6:10]:
            size = (size << 7) | (b & 0x7F)
        footer = 10 if data[5] & 0x10 else 0
        return data[10 + size + footer :]
    return data


def join_audio(parts: Sequence[bytes], fmt: str) -> bytes:
    """Join audio ``parts`` (in order) of format ``fmt`` into one valid file.

    ``wav``: the PCM frames are joined under one header (all parts must share channels, sample
    width and rate). ``pcm``: bytes concatenated. ``mp3``/``aac``: frames concatenated (ID3v2
    tags of later MP3 parts dropped). One part is returned as it is.

    Raises:
        UsageError: ``opus``/``flac`` with more than one part (their files cannot be joined).
        ProviderError: a WAV part is not valid PCM WAV, or the parts' formats differ.
    """
    if len(parts) == 1:
        return parts[0]
    if fmt == "wav":
        first: PcmFormat | None = None
        frames = []
        for i, part in enumerate(parts, 1):
            try:
                f, fr = parse_wav(part)
            except ValueError as exc:
                raise ProviderError(f"audio part {i} is not a valid WAV file: {exc}") from None
            if first is None:
                first = f
            elif f != first:
                raise ProviderError(f"audio part {i} has a different format ({f}) than part 1 ({first})")
            frames.append(fr)
        assert first is not None
        return make_wav(first, b"".join(frames))
    if fmt == "pcm":
        return b"".join(parts)
    if fmt == "mp3":
        return parts[0] + b"".join(_strip_id3v2(p) for p in parts[1:])
    if fmt == "aac":
        return b"".join(parts)
    raise UsageError(f"{fmt} files cannot be joined", hint="use --format wav or mp3")


def check_audio(data: bytes, fmt: str, what: str = "the audio") -> None:
    """Check that ``data`` plausibly is ``fmt`` audio: a WAV must parse as PCM WAV, PCM must be
    whole 16-bit samples; other formats must not be an empty or JSON/text document (they are
    not decoded here).

    Raises:
        ProviderError: the check fails.
    """
    if not data:
        raise ProviderError(f"{what} is empty")
    if fmt == "wav":
        try:
            parse_wav(data)
        except ValueError as exc:
            raise ProviderError(f"{what} is not a valid WAV file ({exc}; the provider sent {_describe(data)})") from None
    elif fmt == "pcm":
        if len(data) % PCM_WIDTH:
            raise ProviderError(f"{what} is not whole 16-bit PCM samples ({len(data)} bytes)")
    elif data.lstrip()[:1] in (b"{", b"[", b"<"):
        raise ProviderError(f"{what} is not {fmt} audio (the provider sent {_describe(data)})")


def decode_for_playback(data: bytes, fmt: str) -> tuple[PcmFormat, bytes]:
    """PCM format and frames to play: WAV parsed, ``pcm`` taken as OpenAI's 24 kHz 16-bit mono.

    Raises:
        UsageError: any other format (no decoder here).
        ProviderError: a WAV that does not parse.
    """
    if fmt == "wav":
        try:
            return parse_wav(data)
        except ValueError as exc:
            raise ProviderError(f"cannot play the audio: {exc}") from None
    if fmt == "pcm":
        return PcmFormat(PCM_CHANNELS, PCM_WIDTH, PCM_RATE), data
    raise UsageError(
        f"--play can only play wav or pcm audio here (there is no {fmt} decoder)",
        hint="use --format wav",
    )


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # PortAudio library missing
        raise TermchatError(
            f"cannot play audio: {exc}", hint="install PortAudio (Debian: apt install libportaudio2)"
        ) from None
    return sounddevice


def check_output_device() -> str:
    """The name of the default audio output device.

    Raises:
        TermchatError: PortAudio is missing or finds no output device (exit 1).
    """
    sd = _sounddevice()
    try:
        dev = sd.query_devices(kind="output")
    except Exception as exc:
        raise TermchatError(
            f"no audio output device found ({exc})",
            hint="check the sound setup; write a file with -o instead",
        ) from None
    return str(dev.get("name", "default")) if isinstance(dev, dict) else "default"


_DTYPES = {1: "uint8", 2: "int16", 3: "int24", 4: "int32"}


def play_pcm(fmt: PcmFormat, frames: bytes, block_seconds: float = 0.05) -> None:
    """Play PCM ``frames`` in format ``fmt`` on the default output device and wait until they
    have been played.

    Frames are written in blocks of ``block_seconds``, so Ctrl+C is noticed within about that
    long; it stops the sound at once (``abort``) and re-raises ``KeyboardInterrupt``.

    Raises:
        TermchatError: PortAudio is missing, there is no output device, or the device fails.
        KeyboardInterrupt: the user stopped playback.
    """
    sd = _sounddevice()
    check_output_device()
    try:
        stream = sd.RawOutputStream(
            samplerate=fmt.rate, channels=fmt.channels, dtype=_DTYPES[fmt.sampwidth]
        )
    except Exception as exc:
        raise TermchatError(f"cannot open the audio device: {exc}") from None
    step = max(fmt.frame_bytes, int(fmt.rate * block_seconds) * fmt.frame_bytes)
    try:
        stream.start()
        for i in range(0, len(frames), step):
            stream.write(frames[i : i + step])
        stream.stop()
    except KeyboardInterrupt:
        try:
            stream.abort()
        finally:
            stream.close()
        raise
    except sd.PortAudioError as exc:
        raise TermchatError(f"audio playback failed: {exc}") from None
    stream.close()
