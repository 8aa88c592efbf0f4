"""Choose what to copy from a message: the whole text or one of its code blocks."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...render import sanitize
from ..widgets.reply import code_blocks


def copy_choices(text: str) -> list[tuple[str, str]]:
    """``(label, text to copy)``: the whole message, then each code block."""
    out = [("Whole message", text)]
    for i, block in enumerate(code_blocks(text), 1):
        first = next((ln for ln in block.splitlines() if ln.strip()), "")
        out.append((f"Code block {i}: {first[:60]}", block))
    return out


class CopyScreen(ModalScreen[str | None]):
    """Pick the whole message or a code block; dismisses with the text to copy."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel", id="copy.cancel")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.choices = copy_choices(text)

    def compose(self) -> ComposeResult:
        with Vertical(id="copy", classes="dialog small"):
            yield Static("Copy", classes="dialog-title")
            yield OptionList(
                *[Option(Content(sanitize(label)), id=str(i)) for i, (label, _) in enumerate(self.choices)]
            )

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.highlighted = 0
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.choices[int(event.option.id or 0)][1])
