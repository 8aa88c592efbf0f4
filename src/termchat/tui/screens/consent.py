"""The consent dialog: may the model run this tool call? ``y`` yes (this call), ``a`` always
(this tool, for the rest of the conversation), ``n`` or Esc no. Keyboard driven; the buttons
say the same. The tool's name, what it does (``shown``: the exact shell command, or the
arguments) and the arguments are untrusted text, shown neutralised, never as markup."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ...render import sanitize
from ..widgets.toolblock import pretty_arguments


class ConsentScreen(ModalScreen[str]):
    """Ask whether a tool call may run; dismisses ``"yes"``, ``"always"`` or ``"no"``.

    Args:
        tool: the tool's termchat name (``clock.get_current_time``).
        source: ``builtin`` or the MCP server's name.
        shown: the one line describing the call (the exact command for the shell tool).
        arguments: the arguments' JSON text.
        always_ask: the tool asks every time (the shell): "always" then counts for this call
            only, and the dialog says so.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer('yes')", "Yes", id="consent.yes"),
        Binding("a", "answer('always')", "Always", id="consent.always"),
        Binding("n,escape", "answer('no')", "No", id="consent.no"),
    ]

    AUTO_FOCUS = "#no"

    DEFAULT_CSS = """
    ConsentScreen .consent-args { max-height: 12; border: round $panel; padding: 0 1; }
    ConsentScreen .consent-shown { text-style: bold; margin: 1 0; }
    """

    def __init__(self, tool: str, source: str, shown: str, arguments: str,
                 always_ask: bool = False) -> None:
        super().__init__()
        self.tool = tool
        self.source = source
        self.shown = shown
        self.arguments = arguments
        self.always_ask = always_ask

    def compose(self) -> ComposeResult:
        where = "a built-in tool" if self.source == "builtin" else f"MCP server {self.source}"
        with Vertical(classes="dialog", id="consent"):
            yield Static(Content(sanitize(f"Run {self.tool}? ({where})")), classes="dialog-title")
            yield Static(Content(sanitize(self.shown)), classes="consent-shown")
            with VerticalScroll(classes="consent-args"):
                yield Static(Content(sanitize(pretty_arguments(self.arguments))))
            always = ("a  Always (asks again next time: this tool always asks)" if self.always_ask
                      else "a  Always in this conversation")
            with Horizontal(classes="buttons"):
                yield Button("y  Yes", id="yes", variant="primary")
                yield Button(always, id="always")
                yield Button("n  No", id="no", variant="error")

    def action_answer(self, answer: str) -> None:
        """Close the dialog with ``answer``."""
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or "no")
