"""The conversation list on the left."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...render import sanitize


def _label(conv: Any, width: int = 28) -> Content:
    title = " ".join(sanitize(conv.title or "(untitled)").split())
    if len(title) > width:
        title = title[: width - 1] + "…"
    model = sanitize(conv.model or "")
    return Content.assemble(title, "\n", (f"{model}", "dim"))


class Sidebar(Vertical):
    """The list of conversations, most recently updated first.

    Posts :class:`Sidebar.Selected` when one is chosen, :class:`Sidebar.RenameRequested` and
    :class:`Sidebar.DeleteRequested` for the highlighted one (keys ``sidebar.rename`` = r,
    ``sidebar.delete`` = d / delete).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rename", "Rename", id="sidebar.rename"),
        Binding("d,delete", "delete", "Delete", id="sidebar.delete"),
    ]

    class Selected(Message):
        """Open conversation ``cid``."""

        def __init__(self, cid: str) -> None:
            super().__init__()
            self.cid = cid

    class RenameRequested(Selected):
        """Rename conversation ``cid``."""

    class DeleteRequested(Selected):
        """Delete conversation ``cid`` (after confirmation)."""

    def compose(self) -> ComposeResult:
        yield Static("Conversations", classes="sidebar-title")
        ol = OptionList(id="conv-list")
        ol.display = False  # shown right after the first frame (ChatApp._after_first_frame)
        yield ol

    @property
    def option_list(self) -> OptionList:
        """The list widget."""
        return self.query_one("#conv-list", OptionList)

    def show(self, conversations: list[Any], current: str | None) -> None:
        """Replace the list with ``conversations``; highlight ``current``."""
        ol = self.option_list
        ol.clear_options()
        ol.add_options([Option(_label(c), id=c.id) for c in conversations])
        if current is not None:
            try:
                ol.highlighted = ol.get_option_index(current)
            except Exception:
                pass

    def _highlighted_id(self) -> str | None:
        ol = self.option_list
        if ol.highlighted is None:
            return None
        return ol.get_option_at_index(ol.highlighted).id

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Selected(event.option.id))

    def action_rename(self) -> None:
        """Ask to rename the highlighted conversation."""
        cid = self._highlighted_id()
        if cid:
            self.post_message(self.RenameRequested(cid))

    def action_delete(self) -> None:
        """Ask to delete the highlighted conversation."""
        cid = self._highlighted_id()
        if cid:
            self.post_message(self.DeleteRequested(cid))
