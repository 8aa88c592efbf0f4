"""Helpers shared by ``termchat image`` and ``termchat speak``: running a media pipeline
(:mod:`termchat.client.media`) on the core client with a spinner or progress bar, Ctrl+C
handling, and input checks."""

from __future__ import annotations

import sys
from collections.abc import Callable
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
        progress_notice(self.spinner, self.bar, text)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)


def progress_notice(spinner: Any, bar: Any, text: str) -> None:
    """Print the notice ``text`` on stderr (``termchat: …``, yellow, neutralised) while a
    spinner or a Rich progress ``bar`` (or ``None``) is showing: the spinner stops, the bar's
    console prints the line above the bar."""
    from ..render import sanitize, stderr_line

    spinner.stop()
    if bar is not None:
        bar.console.print(sanitize(f"termchat: {text}"), style="yellow", markup=False,
                          highlight=False)
    else:
        stderr_line(f"termchat: {text}", style="yellow")


def run_media(
    config: Any,
    work: Callable[[Any, Notify, Advance], T],
    *,
    label: str,
    total: int = 1,
    chain: list[str] | None = None,
) -> T:
    """``work(core, notify, advance)`` with the process's core client (:class:`termchat.client.Core`:
    the warm core when it is enabled and answers, else in-process — and then a warm core is
    started for next time). On a terminal (stderr), a spinner shows ``label`` while waiting, or
    a progress bar of ``total`` steps when ``total > 1`` (``advance()`` counts one);
    ``notify(text)`` prints a retry notice on stderr. ``chain``: the fallback chain of the
    model (:func:`termchat.client.routing.plan`); the core is wrapped in
    :class:`termchat.client.routing.Routed`.

    Raises:
        InterruptedError_: Ctrl+C (exit 130); nothing has been written by then.
        TermchatError: whatever the core raised.
    """
    from ..client import Core
    from ..client.routing import Routed, Routing

    with Core(config) as core:
        try:
            with _Progress(label, total) as ui:
                return work(Routed(core, config, Routing(chain=list(chain or []))), ui.notify,
                            ui.advance)
        except KeyboardInterrupt:
            raise InterruptedError_("interrupted; nothing was written") from None
