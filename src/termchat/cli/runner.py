"""Runs a chat request for the CLI and shows its events on the terminal.

The events come from the core, in-process (this module) — the warm core client yields the very
same events. On a TTY the answer streams as Markdown; into a pipe it is written verbatim (but
sanitised) and flushed per piece; with ``--json`` nothing streams and the caller prints one
object. Ctrl+C stops the request (the provider stream is closed) and keeps what arrived.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from ..core.errors import TermchatError
from ..core.types import ChatRequest, Finished, Notice, ReasoningDelta, TextDelta, Usage
from ..render import MarkdownWriter, PipeWriter, Sanitizer, Spinner, stderr_line


async def events_for(req: ChatRequest, config: Any, rm: Any, route: dict[str, Any]):
    """The event stream for ``req``: from the warm core when ``route["sock"]`` is set and it
    answers, otherwise from the in-process core (``route["fallback"]`` is then set to True)."""
    from ..core import engine

    if route.get("sock") is not None:
        from .. import warm

        try:
            async for ev in warm.request_events(req, rm, config, route["sock"]):
                yield ev
            return
        except warm.WarmUnavailable:
            pass
    route["fallback"] = True
    async for ev in engine.stream_chat(req, config, rm):
        yield ev


def stream_to_terminal(
    req: ChatRequest, config: Any, rm: Any, outcome: Any, *, as_json: bool, raw: bool
) -> None:
    """Run ``req`` and fill ``outcome`` (text, usage, timing, interrupted, error)."""
    tty = sys.stdout.isatty()
    writer: Any = None
    if not as_json:
        writer = MarkdownWriter(raw=raw) if tty else PipeWriter(raw=raw)
    spinner = Spinner(f"{rm.id}…", enabled=sys.stderr.isatty() and not as_json)
    reasoning_out = Sanitizer()

    route = _choose_route(config)

    async def consume() -> None:
        try:
            async for ev in events_for(req, config, rm, route):
                if isinstance(ev, TextDelta):
                    spinner.stop()
                    outcome.text += ev.text
                    if writer is not None:
                        writer.write(ev.text)
                elif isinstance(ev, ReasoningDelta):
                    outcome.reasoning += ev.text
                    if sys.stderr.isatty() and not as_json:
                        spinner.stop()
                        sys.stderr.write("\x1b[2m" + reasoning_out.feed(ev.text) + "\x1b[0m")
                        sys.stderr.flush()
                elif isinstance(ev, Usage):
                    outcome.prompt_tokens = ev.prompt_tokens
                    outcome.completion_tokens = ev.completion_tokens
                    outcome.cost_usd = ev.cost_usd
                elif isinstance(ev, Notice):
                    spinner.stop()
                    outcome.notices.append(ev.text)
                    stderr_line(f"termchat: {ev.text}", style="yellow")
                elif isinstance(ev, Finished):
                    outcome.finish_reason = ev.finish_reason
                    outcome.model = ev.model
                    outcome.duration_s = ev.duration_s
                    outcome.ttft_s = ev.ttft_s
        except asyncio.CancelledError:
            outcome.interrupted = True
        except TermchatError as err:
            outcome.error = err

    try:
        with spinner:
            if route.get("sock") is None and not _litellm_ready():
                _load_core()  # in the main thread: Ctrl+C during the import exits at once
            asyncio.run(consume())
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        spinner.stop()
        if outcome.reasoning and sys.stderr.isatty() and not as_json:
            sys.stderr.write("\n")
        if writer is not None:
            writer.finish()
            # On a terminal, end on a fresh line so the prompt does not glue to the answer.
            if tty and outcome.text and not outcome.text.endswith("\n") and isinstance(writer, PipeWriter):
                sys.stdout.write("\n")
            if not tty and (outcome.interrupted or outcome.error) and outcome.text:
                sys.stdout.flush()
        if outcome.interrupted and not outcome.error:
            stderr_line("termchat: interrupted; the partial answer was kept", style="yellow")
        if route.get("enabled") and route.get("fallback"):
            from .. import warm

            warm.start_background(float(config.get("warm_core.idle_seconds")))


def _choose_route(config: Any) -> dict[str, Any]:
    """``{"enabled": bool, "sock": Path | None}``: the warm core's socket when it is enabled
    and a core answers there, else ``None`` (run in-process, then start one)."""
    from .. import warm

    route: dict[str, Any] = {"enabled": warm.enabled(config), "sock": None}
    if route["enabled"]:
        try:
            sock = warm.socket_path()
        except warm.WarmUnavailable:
            route["enabled"] = False
            return route
        if warm.reachable(sock):
            route["sock"] = sock
    return route


def _litellm_ready() -> bool:
    from ..core import engine

    return engine.litellm_loaded()


def _load_core() -> None:
    """Import LiteLLM in the main thread (Ctrl+C during the import exits at once)."""
    from ..core import engine

    engine.load_litellm()
