"""Images on the terminal: the Kitty graphics protocol, Sixel, or half-blocks with true
colour (:func:`show_image`; :func:`graphics_protocol` says which)."""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Mapping
from typing import IO, Any

from .images import inspect_image


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
