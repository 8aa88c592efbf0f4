"""Runs a chat request for the CLI and shows its events on the terminal.

The events come from the warm core (a blocking socket client: no asyncio import on that path)
or, when none answers, from the in-process core — the very same events either way. On a TTY the answer streams as Markdown; into a pipe it is written verbatim (but
sanitised) and flushed per piece; with ``--json`` nothing streams and the caller prints one
object. Ctrl+C stops the request (the provider stream is closed) and keeps what arrived.
"""

from __future__ import annotations

import sys
from typing import Any

from ..core.errors import TermchatError
from ..core.types import ChatRequest, Finished, Notice, ReasoningDelta, TextDelta, Usage
from ..render import MarkdownWriter, PipeWriter, Sanitizer, Spinner, stderr_line


def stream_to_terminal(
    req: ChatRequest, config: Any, rm: Any, outcome: Any, *, as_json: bool, raw: bool
) -> None:
    """Run ``req`` and fill ``outcome`` (text, usage, timing, interrupted, error): through the
    warm core when it is enabled and answers, otherwise in-process (then a warm core is started
    for next time)."""
    tty = sys.stdout.isatty()
    writer: Any = None
    if not as_json:
        writer = MarkdownWriter(raw=raw) if tty else PipeWriter(raw=raw)
    spinner = Spinner(f"{rm.id}…", enabled=sys.stderr.isatty() and not as_json)
    reasoning_out = Sanitizer()

    def handle(ev: Any) -> None:
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

    async def consume() -> None:
        import asyncio

        from ..core import engine

        try:
            async for ev in engine.stream_chat(req, config, rm):
                handle(ev)
        except asyncio.CancelledError:
            outcome.interrupted = True
        except TermchatError as err:
            outcome.error = err

    from .. import warm

    use_warm = warm.enabled(config)
    fell_back = False
    try:
        with spinner:
            served = False
            if use_warm:
                try:
                    for ev in warm.request_events_sync(req, rm, config):
                        handle(ev)
                    served = True
                except warm.WarmUnavailable:
                    pass  # nothing was shown yet: run it here instead
                except TermchatError as err:
                    outcome.error = err
                    served = True
            if not served:
                fell_back = True
                from ..core import engine

                engine.load_litellm()  # in the main thread: Ctrl+C during the import exits at once
                import asyncio

                asyncio.run(consume())
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        spinner.stop()
        if outcome.reasoning and sys.stderr.isatty() and not as_json:
            sys.stderr.write("\n")
        if writer is not None:
            writer.finish()  # Markdown on a terminal ends its own line; a pipe gets the exact text
        if outcome.interrupted and not outcome.error:
            stderr_line("termchat: interrupted; the partial answer was kept", style="yellow")
        if use_warm and fell_back:
            warm.start_background(float(config.get("warm_core.idle_seconds")))
