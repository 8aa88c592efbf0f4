"""Helpers shared by ``termchat image`` and ``termchat speak``: running a core media call with
a spinner or progress bar, Ctrl+C handling, and input checks."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..core.errors import InterruptedError_, UsageError

T = TypeVar("T")

Notify = Callable[[str], None]
Advance = Callable[[], None]


def read_text(argument: str, limit: int, what: str, command: str) -> str:
    """The text to work on: the argument, standard input, or both (argument, a blank line,
    stdin — the ``ask`` rule, :func:`termchat.cli.ask.build_prompt`).

    Raises:
        UsageError: empty text, binary or non-UTF-8 stdin, stdin over ``limit`` bytes.
    """
    from .ask import build_prompt, read_stdin

    try:
        return build_prompt(argument, read_stdin(limit))
    except UsageError as err:
        if err.message == "empty prompt":
            raise UsageError(
                f"empty {what}", hint=f'give it as an argument or on stdin: termchat {command} "…"'
            ) from None
        raise


class _Progress:
    """A spinner (one step) or a progress bar (several) on a terminal's stderr; nothing
    otherwise. ``notify(text)`` prints a notice line, ``advance()`` counts a step."""

    def __init__(self, label: str, total: int):
        from ..render import Spinner, sanitize

        label = sanitize(label)  # it may hold a model id or a file name
        interactive = sys.stderr.isatty()
        self.bar: Any = None
        self.task: Any = None
        self.spinner = Spinner(label, enabled=interactive and total <= 1)
        if interactive and total > 1:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.task = self.bar.add_task(label, total=total)

    def __enter__(self) -> _Progress:
        self.spinner.__enter__()
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
        self.spinner.stop()

    def notify(self, text: str) -> None:
        from ..render import sanitize, stderr_line

        self.spinner.stop()
        if self.bar is not None:
            self.bar.console.print(sanitize(f"termchat: {text}"), style="yellow", markup=False,
                                   highlight=False)
        else:
            stderr_line(f"termchat: {text}", style="yellow")

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)


def run_core(
    factory: Callable[[Notify, Advance], Awaitable[T]],
    *,
    label: str,
    total: int = 1,
) -> T:
    """Run the coroutine ``factory(notify, advance)`` in-process to completion and return its
    result.

    LiteLLM is imported first, in the main thread (so Ctrl+C during the import works). On a
    terminal (stderr), a spinner shows ``label`` while waiting, or a progress bar of ``total``
    steps when ``total > 1`` (the coroutine calls ``advance()`` after each). ``notify(text)``
    prints a retry notice on stderr.

    Raises:
        InterruptedError_: Ctrl+C (exit 130); nothing has been written by then.
        TermchatError: whatever the core raised.
    """
    from ..core import engine

    try:
        with _Progress(label, total) as ui:
            if not engine.litellm_loaded():
                engine.load_litellm()
            return asyncio.run(factory(ui.notify, ui.advance))
    except KeyboardInterrupt:
        raise InterruptedError_("interrupted; nothing was written") from None


def run_media(
    op: str,
    requests: list[Any],
    rm: Any,
    config: Any,
    call: Callable[[Any, Notify], Awaitable[Any]],
    decode: Callable[[dict[str, Any]], Any],
    *,
    label: str,
) -> list[Any]:
    """Results of ``requests`` (image or speech requests, in order): through the warm core when
    it is enabled and answers (``op`` = ``image``/``speech``; results rebuilt with ``decode``),
    otherwise in-process with ``call(request, notify)`` — and then a warm core is started for
    next time. Results are the same either way.

    Raises:
        InterruptedError_: Ctrl+C (exit 130); nothing has been written by then.
        TermchatError: whatever the core raised.
    """
    from dataclasses import asdict

    from .. import warm

    results: list[Any] = []
    use_warm = warm.enabled(config)
    if use_warm:
        settings = {k: config.get(k) for k in ("timeout", "retries", "retry_max_wait")}
        try:
            with _Progress(label, len(requests)) as ui:
                for req in requests:
                    payload = {"request": asdict(req), "model": asdict(rm), "config": settings}
                    results.append(decode(warm.call_sync(op, payload, config, ui.notify)))
                    ui.advance()
            return results
        except warm.WarmUnavailable:
            pass  # no core (or it went away between parts): do the rest here
        except KeyboardInterrupt:
            raise InterruptedError_("interrupted; nothing was written") from None
    rest = requests[len(results):]

    async def local(notify: Notify, advance: Advance) -> list[Any]:
        out = []
        for req in rest:
            out.append(await call(req, notify))
            advance()
        return out

    results += run_core(local, label=label, total=len(rest))
    if use_warm:
        warm.start_background(float(config.get("warm_core.idle_seconds")))
    return results
