"""Full-text search across all stored messages (SQLite FTS5)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ...render import sanitize


class SearchScreen(ModalScreen[tuple[str, int] | None]):
    """Search the history; dismisses with ``(conversation id, message id)`` of the chosen hit."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Close", id="search.close"),
        Binding("down", "move(1)", show=False, priority=True),
        Binding("up", "move(-1)", show=False, priority=True),
    ]

    def __init__(self, store: Any) -> None:
        super().__init__()
        self.store = store
        self.hits: list[tuple[Any, str]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="search", classes="dialog"):
            yield Static("Search all conversations", classes="dialog-title")
            yield Input(placeholder="words to find…", id="search-input")
            yield OptionList(id="search-results")
            yield Static("", id="search-status", classes="dim")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.run_search(event.value)

    def run_search(self, query: str) -> None:
        """Search and show the hits (snippets, with their conversation's title)."""
        try:
            self.hits = self.store.search(query, limit=50) if query.strip() else []
        except Exception as exc:  # an FTS syntax corner case: say so, never crash
            self.hits = []
            self.query_one("#search-status", Static).update(f"search failed: {exc}")
            return
        ol = self.query_one(OptionList)
        ol.clear_options()
        titles: dict[str, str] = {}
        for msg, snip in self.hits:
            if msg.conversation_id not in titles:
                try:
                    titles[msg.conversation_id] = self.store.get_conversation(msg.conversation_id).title
                except Exception:
                    titles[msg.conversation_id] = msg.conversation_id
            snippet = " ".join(sanitize(snip).split())
            head = f"{titles[msg.conversation_id] or msg.conversation_id} · {msg.role}"
            ol.add_option(Option(Content.assemble((sanitize(head), "bold"), "\n", snippet),
                                 id=f"{msg.conversation_id}:{msg.id}"))
        if self.hits:
            ol.highlighted = 0
        n = len(self.hits)
        self.query_one("#search-status", Static).update(
            f"{n} match{'es' if n != 1 else ''}" if query.strip() else ""
        )

    def action_move(self, delta: int) -> None:
        """Move the highlight while typing."""
        ol = self.query_one(OptionList)
        if ol.option_count:
            ol.highlighted = max(0, min(ol.option_count - 1, (ol.highlighted or 0) + delta))

    def _choose(self, option_id: str | None) -> None:
        if option_id:
            cid, mid = option_id.rsplit(":", 1)
            self.dismiss((cid, int(mid)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        ol = self.query_one(OptionList)
        if ol.highlighted is not None and ol.option_count:
            self._choose(ol.get_option_at_index(ol.highlighted).id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(event.option.id)
