"""The help screen: every key (as currently mapped) and the slash commands."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static


def slash_table(commands: list[tuple[str, str]]) -> str:
    """The Markdown table of the slash commands, from ``(usage, help)`` pairs."""
    escaped = [(usage.replace("|", "\\|"), text) for usage, text in commands]  # a cell's pipe
    rows = "".join(f"| `{usage}` | {text} |\n" for usage, text in escaped)
    return "| command | what it does |\n|---|---|\n" + rows


class HelpScreen(ModalScreen[None]):
    """Keys and slash commands. ``rows`` are ``(key, description, binding id)`` triples;
    ``commands`` the slash commands' ``(usage, help)`` pairs
    (:meth:`termchat.tui.slash.SlashRegistry.help_rows`)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss(None)", "Close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str]], commands: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows
        self.commands = commands

    def compose(self) -> ComposeResult:
        keys = "| key | action | binding id |\n|---|---|---|\n" + "".join(
            f"| `{k}` | {d} | `{i}` |\n" for k, d, i in self.rows
        )
        text = (
            "## Keys\n\n" + keys + "\nRemap any key in the config file's `[keybindings]` table "
            "(binding id = \"key\").\n\n## Slash commands\n\n" + slash_table(self.commands)
        )
        with Vertical(id="help", classes="dialog"):
            yield Static("termchat chat — help (Esc closes)", classes="dialog-title")
            with VerticalScroll():
                yield Markdown(text)
