"""Runs a chat request for the CLI and shows its events on the terminal.

The events come from :class:`termchat.client.Core` — the warm core (a blocking socket client:
no asyncio import on that path) or, when none answers, the in-process core; the very same
events either way. On a TTY the answer streams as Markdown; into a pipe it is written verbatim (but
sanitised) and flushed per piece; with ``--json`` nothing streams and the caller prints one
object. Ctrl+C stops the request (the provider stream is closed) and keeps what arrived; so do
SIGTERM (see :class:`SignalGuard`) and a reader of standard output that went away (``| head``).
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from ..core.errors import TermchatError
from ..core.types import ChatRequest, Notice, ReasoningDelta, TextDelta, ToolCall
from ..render import MarkdownWriter, OutputClosed, PipeWriter, Sanitizer, Spinner, stderr_line

#: Exit code when the reader of standard output went away (128 + SIGPIPE, as a shell reports a
#: command killed by SIGPIPE).
EXIT_OUTPUT_CLOSED = 128 + signal.SIGPIPE
#: Exit code after SIGTERM (128 + 15).
EXIT_TERMINATED = 128 + signal.SIGTERM


class SignalGuard:
    """SIGTERM (or SIGHUP: the terminal was closed) while a request runs: stop it the way
    Ctrl+C does (the provider stream or the warm core's connection is closed), so that what
    arrived is printed and stored; the caller then exits 128 + the signal's number
    (:data:`EXIT_TERMINATED` for SIGTERM, 129 for SIGHUP). A signal that comes while the
    reply is being stored is remembered and honoured after it. Use as a context manager around
    the request and the storing (main thread only; elsewhere it does nothing).

    Attributes:
        signum: the signal received, or ``None``.
        live: ``True`` while a request runs (set by :func:`stream_to_terminal`).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.live = False
        self._saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        if not self.live:
            return  # honoured once the reply is stored
        self.live = False
        previous = signal.getsignal(signal.SIGINT)
        if callable(previous):
            # the current Ctrl+C handler, normally Python's default: KeyboardInterrupt out of
            # the blocking wait for the next event (a warm-core read, or the in-process queue;
            # the event stream then cancels the request)
            previous(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    def __enter__(self) -> SignalGuard:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                try:
                    self._saved[sig] = signal.signal(sig, self._handle)
                except (OSError, ValueError):
                    pass
        return self

    def __exit__(self, *exc: object) -> None:
        self.live = False
        for sig, previous in self._saved.items():
            try:
                signal.signal(sig, previous)
            except (OSError, ValueError, TypeError):
                pass
        self._saved.clear()


def stream_to_terminal(
    req: ChatRequest,
    config: Any,
    rm: Any,
    outcome: Any,
    *,
    as_json: bool,
    raw: bool,
    guard: SignalGuard | None = None,
    routing: Any = None,
    tools: Any = None,
) -> None:
    """Run ``req`` and fill ``outcome`` (text, usage, timing, interrupted, signal,
    output_closed, error) through the process's core client (:class:`termchat.client.Core`:
    the warm core when it is enabled and answers, otherwise in-process, and then a warm core
    is started for next time).

    Ctrl+C, a SIGTERM caught by ``guard``, and a closed standard output (EPIPE) stop the
    request and set ``outcome.interrupted`` (plus ``outcome.signal`` / ``outcome.output_closed``);
    a notice says so on stderr, except for a closed output (the reader left on purpose).

    ``routing``: the response cache and fallback chain of the request
    (:class:`termchat.client.routing.Routing`); every request goes through
    :class:`termchat.client.routing.Routed`.

    ``tools`` (a :class:`~termchat.client.tools.ToolSet`) runs the model's tool calls here
    (its ``on_result`` prints their lines; Ctrl+C during a call stops it)."""
    tty = sys.stdout.isatty()
    writer: Any = None
    if not as_json:
        writer = MarkdownWriter(raw=raw) if tty else PipeWriter(raw=raw)
    spinner = Spinner(f"{rm.id}…", enabled=sys.stderr.isatty() and not as_json)
    reasoning_out = Sanitizer()

    def handle(ev: Any) -> None:
        outcome.apply(ev)
        if isinstance(ev, TextDelta):
            spinner.stop()
            if writer is not None:
                writer.write(ev.text)
        elif isinstance(ev, ReasoningDelta):
            if sys.stderr.isatty() and not as_json:
                spinner.stop()
                try:
                    sys.stderr.write("\x1b[2m" + reasoning_out.feed(ev.text) + "\x1b[0m")
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass  # the terminal was closed: SIGHUP follows
        elif isinstance(ev, (Notice, ToolCall)):
            spinner.stop()
        if isinstance(ev, Notice):
            stderr_line(f"termchat: {ev.text}", style="yellow")

    from ..client import Core
    from ..client.routing import Routed

    core = Core(config)
    client = Routed(core, config, routing)
    if guard is not None:
        guard.live = guard.signum is None
    try:
        if guard is not None and guard.signum is not None:
            raise KeyboardInterrupt  # SIGTERM came before the request started
        with spinner:
            events = iter(client.chat(req, rm, tools))
            try:
                for ev in events:
                    handle(ev)
            except TermchatError as err:
                outcome.error = err
            finally:
                events.close()  # type: ignore[attr-defined]  # the provider stream, at once
    except KeyboardInterrupt:
        outcome.interrupted = True
    except OutputClosed:
        outcome.interrupted = True
        outcome.output_closed = True
    finally:
        if guard is not None:
            guard.live = False
            if guard.signum is not None:
                outcome.interrupted = True
                outcome.signal = guard.signum
        spinner.stop()
        if outcome.reasoning and sys.stderr.isatty() and not as_json:
            try:
                sys.stderr.write("\n")
            except (OSError, ValueError):
                pass
        if writer is not None:
            writer.finish()  # Markdown on a terminal ends its own line; a pipe gets the exact text
        if outcome.interrupted and not outcome.error and not outcome.output_closed:
            stderr_line(interrupted_notice(outcome), style="yellow")
        client.close()
        core.close()  # ran here although the warm core is on: start one for next time


def interrupted_notice(outcome: Any) -> str:
    """The one stderr line after a request was stopped: by Ctrl+C or by a signal, with or
    without text (only text that arrived is "kept")."""
    what = "interrupted"
    if outcome.signal is not None:
        try:
            what = f"terminated by {signal.Signals(outcome.signal).name}"
        except ValueError:
            what = f"terminated by signal {outcome.signal}"
    if outcome.text or outcome.reasoning:
        return f"termchat: {what}; the partial answer was kept"
    return f"termchat: {what} before any answer arrived"
