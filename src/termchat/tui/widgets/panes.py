"""Side-by-side replies of several models to one prompt (2–4 panes)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Static

from ...render import sanitize
from .message import MessageView


class Pane(Vertical):
    """One model's reply: a title, a "Keep" button and the streaming message."""

    def __init__(self, index: int, model: str) -> None:
        super().__init__(classes="pane")
        self.index = index
        self.model = model
        self.view = MessageView("assistant", "", header=model, model=model)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="pane-head"):
            yield Static(Content(sanitize(f"{self.index + 1}. {self.model}")), classes="pane-title")
            yield Button(f"Keep {self.index + 1}", id=f"keep-{self.index}", compact=True)
        with VerticalScroll(classes="pane-scroll"):
            yield self.view

    def on_mount(self) -> None:
        self.query_one(".pane-scroll").anchor()


class ComparePanes(Horizontal, can_focus=True):
    """2–4 panes streaming side by side. Keys ``1``–``4`` (or the buttons) keep an answer,
    ``x`` discards them all. Posts :class:`ComparePanes.Keep` / :class:`ComparePanes.Discard`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "keep(0)", "Keep 1", id="panes.keep1"),
        Binding("2", "keep(1)", "Keep 2", id="panes.keep2"),
        Binding("3", "keep(2)", "Keep 3", id="panes.keep3"),
        Binding("4", "keep(3)", "Keep 4", id="panes.keep4"),
        Binding("x", "discard", "Discard all", id="panes.discard"),
    ]

    class Keep(Message):
        """Keep the answer of pane ``index``."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class Discard(Message):
        """Keep none of the answers."""

    def __init__(self, models: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.models = models
        self.panes = [Pane(i, m) for i, m in enumerate(models)]

    def compose(self) -> ComposeResult:
        yield from self.panes

    def action_keep(self, index: int) -> None:
        """Keep pane ``index``'s answer (ignored when there is no such pane)."""
        if 0 <= index < len(self.panes):
            self.post_message(self.Keep(index))

    def action_discard(self) -> None:
        """Discard all answers."""
        self.post_message(self.Discard())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("keep-"):
            event.stop()
            self.post_message(self.Keep(int(event.button.id.split("-")[1])))
