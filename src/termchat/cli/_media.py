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


def run_core(
    factory: Callable[[Notify, Advance], Awaitable[T]],
    *,
    label: str,
    total: int = 1,
) -> T:
    """Run the coroutine ``factory(notify, advance)`` to completion and return its result.

    LiteLLM is imported first, in the main thread (so Ctrl+C during the import works). On a
    terminal (stderr), a spinner shows ``label`` while waiting, or a progress bar of ``total``
    steps when ``total > 1`` (the coroutine calls ``advance()`` after each). ``notify(text)``
    prints a retry notice on stderr.

    Raises:
        InterruptedError_: Ctrl+C (exit 130); nothing has been written by then.
        TermchatError: whatever the core raised.
    """
    from ..core import engine
    from ..render import Spinner, stderr_line

    interactive = sys.stderr.isatty()
    progress: Any = None
    task: Any = None
    spinner = Spinner(label, enabled=interactive and total <= 1)
    if interactive and total > 1:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        task = progress.add_task(label, total=total)

    def notify(text: str) -> None:
        spinner.stop()
        if progress is not None:
            progress.console.print(f"termchat: {text}", style="yellow", markup=False, highlight=False)
        else:
            stderr_line(f"termchat: {text}", style="yellow")

    def advance() -> None:
        if progress is not None:
            progress.advance(task)

    try:
        with spinner:
            if progress is not None:
                progress.start()
            try:
                if not engine.litellm_loaded():
                    engine.load_litellm()
                return asyncio.run(factory(notify, advance))
            finally:
                if progress is not None:
                    progress.stop()
    except KeyboardInterrupt:
        raise InterruptedError_("interrupted; nothing was written") from None
