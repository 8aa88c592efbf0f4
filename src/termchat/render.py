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

The same filter guards every other line termchat prints that holds text it did not write
(provider error messages, model ids, titles, file names): :func:`stderr_line` — the one printing
point of notices and errors — applies it to the whole line, the spinner label goes through it,
and :func:`json_dumps` escapes C1 controls (and U+2028/U+2029) that ``json.dumps`` would leave
raw.
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


# Characters json.dumps(ensure_ascii=False) leaves raw that a terminal or a JavaScript reader
# would act on: DEL, C1 controls (U+0080–U+009F, e.g. the one-character CSI U+009B) and the
# line/paragraph separators U+2028/U+2029. C0 controls are already escaped by json.dumps.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


def json_dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, ensure_ascii=False, **kwargs)`` with DEL, C1 controls and U+2028/U+2029
    written as ``\\u`` escapes (``"\\u009b"``), so that JSON printed to a terminal cannot carry
    a control sequence. Every other character stays readable UTF-8. The result parses back to
    the same ``obj``. Raises what ``json.dumps`` raises (``TypeError`` for non-JSON values)."""
    import json

    kwargs.setdefault("ensure_ascii", False)
    text = json.dumps(obj, **kwargs)
    # Outside strings JSON has only ASCII punctuation, digits and letters: every match is
    # inside a string, where a \u escape means the same character.
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class OutputClosed(Exception):
    """Standard output cannot be written any more: its reader went away (``| head`` exited:
    EPIPE) or its terminal was closed (EIO). Raised by :class:`PipeWriter` and
    :class:`MarkdownWriter` so the caller can stop the request and keep what arrived."""


class PipeWriter:
    """Writes the answer's exact text (sanitised unless ``raw``) to a stream, flushed per piece.

    When the reader is gone (``BrokenPipeError``/EPIPE) :meth:`write` raises
    :class:`OutputClosed` once; later writes are dropped and :attr:`closed` is ``True``.
    """

    def __init__(self, out: IO[str] | None = None, raw: bool = False):
        self.out = out or sys.stdout
        self.raw = raw
        self.sanitizer = Sanitizer()
        self.closed = False

    def _put(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError) as exc:  # EPIPE, EIO; ValueError: the stream was closed
            self.closed = True
            raise OutputClosed(str(exc)) from None

    def write(self, text: str) -> None:
        """Write one piece of the answer. Raises :class:`OutputClosed` when the reader left."""
        safe = text if self.raw else self.sanitizer.feed(text)
        if safe:
            self._put(safe)

    def finish(self) -> None:
        """Flush what the sanitiser holds back. Adds nothing else: a pipe gets the exact text.
        Never raises for a reader that left."""
        rest = "" if self.raw else self.sanitizer.flush()
        if rest:
            try:
                self._put(rest)
            except OutputClosed:
                pass


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
    naturally. Text is sanitised first unless ``raw``.

    Every write to the terminal happens in the calling thread, under the ``Live``'s lock: the
    ``Live`` has no refresh thread (``auto_refresh=False``; :meth:`write` refreshes it, at most
    every :attr:`REFRESH_S` seconds). Rich's refresh thread renders the region and writes it
    outside the lock a print holds, so with it the region's erase could miss a redraw and leave
    a half-written block on the screen above the finished one. The price: during a pause in the
    stream the region may lag the text by the pieces of the last :attr:`REFRESH_S` seconds.
    """

    REFRESH_S = 1 / 12

    def __init__(self, console: Any = None, raw: bool = False, code_theme: str = "monokai"):
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.raw = raw
        self.code_theme = code_theme
        self.sanitizer = Sanitizer()
        self.buf = ""
        self.done = 0
        self.live = Live(console=self.console, transient=True, auto_refresh=False)
        self._started = False
        self._last_refresh = 0.0
        self.closed = False

    def _md(self, text: str) -> Any:
        from rich.markdown import Markdown

        return Markdown(text, code_theme=self.code_theme)

    def write(self, text: str) -> None:
        """Add one piece of the answer. Raises :class:`OutputClosed` when the terminal cannot
        be written any more (it was closed: EIO)."""
        safe = text if self.raw else self.sanitizer.feed(text)
        if not safe:
            return
        self.buf += safe
        if self.closed:
            return
        try:
            self._show()
        except (OSError, ValueError) as exc:
            self.closed = True
            raise OutputClosed(str(exc)) from None

    def _show(self) -> None:
        import time

        with self.live._lock:
            if not self._started:
                self.live.start()
                self._started = True
            split = _stable_split(self.buf, self.done)
            block = ""
            if split > self.done:
                block = self.buf[self.done : split]
                self.done = split
            # The region shows the open block; a finished block printed now is drawn above it
            # by the same print (Rich redraws the region after it), in this thread.
            self.live.update(self._md(self.buf[self.done :]), refresh=False)
            now = time.monotonic()
            if block.strip():
                self.console.print(self._md(block))
                self._last_refresh = now
            elif now - self._last_refresh >= self.REFRESH_S:
                self.live.refresh()
                self._last_refresh = now

    def finish(self) -> None:
        """Erase the live region, then print what is left, in full. Never raises for a
        terminal that was closed."""
        if not self.raw:
            self.buf += self.sanitizer.flush()
        tail = self.buf[self.done :]
        self.done = len(self.buf)
        try:
            if self._started:
                self._started = False
                with self.live._lock:
                    self.live.update("", refresh=False)
                    self.live.stop()  # transient: the region is erased before the final print
            if tail.strip() and not self.closed:
                self.console.print(self._md(tail))
        except (OSError, ValueError):
            self.closed = True


class Spinner:
    """A transient spinner on stderr while waiting for the first token (TTY only; a no-op
    otherwise)."""

    def __init__(self, label: str, enabled: bool):
        self.status = None
        if enabled:
            from rich.console import Console
            from rich.text import Text

            # A label may hold a model id or a file name: neutralised, and never Rich markup.
            self.status = Console(stderr=True).status(Text(sanitize(label)), spinner="dots")

    def __enter__(self) -> Spinner:
        if self.status is not None:
            self.status.start()
        return self

    def stop(self) -> None:
        """Remove the spinner (idempotent; quiet when the terminal was closed)."""
        if self.status is not None:
            status, self.status = self.status, None
            try:
                status.stop()
            except (OSError, ValueError):
                pass

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stderr_line(text: str, style: str | None = None) -> None:
    """Print one notice or error line to stderr (coloured on a TTY unless NO_COLOR).

    This is the printing point of every notice and error of the command line: ``text`` is
    passed through :func:`sanitize` here, so a provider's message, a model id or a file name
    in it can never carry a control sequence to the terminal (or to a log a pipe fills).
    A stderr that is closed is ignored.
    """
    text = sanitize(text)
    try:
        if sys.stderr.isatty():
            from rich.console import Console

            Console(stderr=True, highlight=False).print(text, style=style, markup=False)
        else:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
    except (OSError, ValueError):  # EPIPE, or EIO from a terminal that was closed
        pass
