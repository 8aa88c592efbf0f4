"""Terminal output: the control-sequence filter, raw text into a pipe, Markdown on a TTY.

Model output is untrusted. Before it reaches a terminal (or a pipe whose bytes a later ``| tee``
or ``cat`` would replay), :class:`Sanitizer` makes every control character visible and inert:

* ESC (``\\x1b``) becomes ``␛``, so CSI/OSC/DCS/APC/PM/SOS sequences — colours, cursor moves,
  OSC 8 links, OSC 52 clipboard writes, title changes — print as plain text;
* other C0 controls but tab and newline become their Unicode control pictures (``␇``, ``␈``, a
  lone carriage return ``␍``; ``\\r\\n`` becomes ``\\n``), DEL becomes ``␡``;
* C1 controls (U+0080–U+009F, e.g. the one-character CSI U+009B) become ``␛`` plus their 7-bit
  equivalent (``␛[``).

It works character by character, so it is correct across stream chunk boundaries. ``--raw``
bypasses it; the store always keeps the verbatim text.
"""

from __future__ import annotations

import re
import sys
from typing import IO, Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _picture(ch: str) -> str:
    code = ord(ch)
    if code == 0x1B:
        return "␛"
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "␡"
    return "␛" + chr(code - 0x40)  # C1 -> its ESC-Fe 7-bit form, made visible


def sanitize(text: str) -> str:
    """Neutralise all control characters of a complete text (see module docstring)."""
    return _CONTROL.sub(lambda m: _picture(m.group()), text.replace("\r\n", "\n"))


class Sanitizer:
    """Streaming form of :func:`sanitize`: ``feed()`` pieces in order, then ``flush()``.

    Holds back a trailing ``\\r`` until the next piece shows whether it starts ``\\r\\n``.
    """

    def __init__(self) -> None:
        self._cr = False

    def feed(self, text: str) -> str:
        """Return the safe form of ``text`` (possibly without a held-back final ``\\r``)."""
        if self._cr:
            text = "\r" + text
            self._cr = False
        if text.endswith("\r"):
            self._cr = True
            text = text[:-1]
        return sanitize(text)

    def flush(self) -> str:
        """Release a held-back ``\\r`` (shown as ``␍``)."""
        if self._cr:
            self._cr = False
            return "␍"
        return ""


class PipeWriter:
    """Writes the answer's exact text (sanitised unless ``raw``) to a stream, flushed per piece."""

    def __init__(self, out: IO[str] | None = None, raw: bool = False):
        self.out = out or sys.stdout
        self.raw = raw
        self.sanitizer = Sanitizer()

    def write(self, text: str) -> None:
        """Write one piece of the answer."""
        safe = text if self.raw else self.sanitizer.feed(text)
        if safe:
            self.out.write(safe)
            self.out.flush()

    def finish(self) -> None:
        """Flush what the sanitiser holds back. Adds nothing else: a pipe gets the exact text."""
        rest = "" if self.raw else self.sanitizer.flush()
        if rest:
            self.out.write(rest)
            self.out.flush()


def _stable_split(text: str, start: int) -> int:
    """Index up to which ``text[start:]`` consists of finished Markdown blocks: the end of the
    last blank line that is outside a code fence. Returns ``start`` when there is none."""
    pos = start
    in_fence = False
    fence = ""
    split = start
    for line in text[start:].splitlines(keepends=True):
        end = pos + len(line)
        stripped = line.strip()
        if not line.endswith("\n"):
            break  # unfinished line
        if in_fence:
            if stripped.startswith(fence) and stripped.strip("`~") == "":
                in_fence = False
        elif stripped.startswith(("```", "~~~")):
            in_fence = True
            fence = stripped[:3]
        elif stripped == "":
            split = end
        pos = end
    return split


class MarkdownWriter:
    """Streams Markdown to a TTY with Rich: finished blocks are printed once, for good; only the
    block being written is re-rendered (in a transient ``Live`` region, at most ~12 times a
    second), so the cost per token does not grow with the answer and long answers scroll
    naturally. Text is sanitised first unless ``raw``."""

    def __init__(self, console: Any = None, raw: bool = False, code_theme: str = "monokai"):
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.raw = raw
        self.code_theme = code_theme
        self.sanitizer = Sanitizer()
        self.buf = ""
        self.done = 0
        self.live = Live(
            console=self.console, refresh_per_second=12, transient=True, auto_refresh=True
        )
        self._started = False

    def _md(self, text: str) -> Any:
        from rich.markdown import Markdown

        return Markdown(text, code_theme=self.code_theme)

    def write(self, text: str) -> None:
        """Add one piece of the answer."""
        safe = text if self.raw else self.sanitizer.feed(text)
        if not safe:
            return
        self.buf += safe
        if not self._started:
            self.live.start()
            self._started = True
        split = _stable_split(self.buf, self.done)
        if split > self.done:
            block = self.buf[self.done : split]
            self.done = split
            if block.strip():
                self.live.console.print(self._md(block))
        self.live.update(self._md(self.buf[self.done :]))

    def finish(self) -> None:
        """Render what is left, in full, and stop the live region."""
        if not self.raw:
            self.buf += self.sanitizer.flush()
        tail = self.buf[self.done :]
        if self._started:
            self.live.update("")
            self.live.stop()
        if tail.strip():
            self.console.print(self._md(tail))
        self.done = len(self.buf)


class Spinner:
    """A transient spinner on stderr while waiting for the first token (TTY only; a no-op
    otherwise)."""

    def __init__(self, label: str, enabled: bool):
        self.status = None
        if enabled:
            from rich.console import Console

            self.status = Console(stderr=True).status(label, spinner="dots")

    def __enter__(self) -> Spinner:
        if self.status is not None:
            self.status.start()
        return self

    def stop(self) -> None:
        """Remove the spinner (idempotent)."""
        if self.status is not None:
            self.status.stop()
            self.status = None

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stderr_line(text: str, style: str | None = None) -> None:
    """Print one notice line to stderr (coloured on a TTY unless NO_COLOR)."""
    if sys.stderr.isatty():
        from rich.console import Console

        Console(stderr=True, highlight=False).print(text, style=style, markup=False)
    else:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
