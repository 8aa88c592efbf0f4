"""The help screen: every key (as currently mapped) and the slash commands."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

SLASH_HELP = """\
| command | what it does |
|---|---|
| `/model [NAME]` | switch model (no name: open the picker) |
| `/system [TEXT]` | set the system prompt (no text: open the dialog) |
| `/image PROMPT` | generate an image with `image.model` and save it (image.dir or the current directory) |
| `/speak [TEXT]` | speak the text, or the last reply, with `speech.model`; save the WAV and play it |
| `/clear` | start a new conversation (the current one stays in the history) |
| `/export [md\\|json] [PATH]` | export this conversation (no path: open the dialog) |
| `/help` | this screen |
"""


class HelpScreen(ModalScreen[None]):
    """Keys and slash commands. ``rows`` are ``(key, description, binding id)`` triples."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss(None)", "Close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        keys = "| key | action | binding id |\n|---|---|---|\n" + "".join(
            f"| `{k}` | {d} | `{i}` |\n" for k, d, i in self.rows
        )
        text = (
            "## Keys\n\n" + keys + "\nRemap any key in the config file's `[keybindings]` table "
            "(binding id = \"key\").\n\n## Slash commands\n\n" + SLASH_HELP
        )
        with Vertical(id="help", classes="dialog"):
            yield Static("termchat chat — help (Esc closes)", classes="dialog-title")
            with VerticalScroll():
                yield Markdown(text)
