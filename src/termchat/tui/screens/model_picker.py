"""The model picker: fuzzy search over catalog chat models, aliases and live local models."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ...render import sanitize
from ..models import ModelEntry, catalog_entries, format_entry, fuzzy_filter, live_entries


class ModelPicker(ModalScreen[str | None]):
    """Pick a model; dismisses with its id, or ``None`` on Esc.

    The catalog is read and live models are fetched in worker threads, so the screen opens at
    once; :attr:`catalog_loaded` and :attr:`live_loaded` say when each arrived.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Close", id="picker.close"),
        Binding("down", "move(1)", show=False, priority=True),
        Binding("up", "move(-1)", show=False, priority=True),
    ]

    def __init__(self, config: Any, current: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.current = current
        self.entries: list[ModelEntry] = []
        self._catalog: list[ModelEntry] = []
        self._live: list[ModelEntry] = []
        self.catalog_loaded = False
        self.live_loaded = False

    def compose(self) -> ComposeResult:
        with Vertical(id="picker", classes="dialog"):
            yield Static("Pick a model", classes="dialog-title")
            yield Input(placeholder="search models, aliases, capabilities…", id="picker-search")
            yield OptionList(id="picker-list")
            yield Static("loading models…", id="picker-status", classes="dim")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._load_catalog()
        self._load_live()

    @work(thread=True, group="picker-catalog")
    def _load_catalog(self) -> None:
        entries = catalog_entries(self.config)
        self.app.call_from_thread(self._got, "catalog", entries)

    @work(thread=True, group="picker-live")
    def _load_live(self) -> None:
        entries = live_entries(self.config)
        self.app.call_from_thread(self._got, "live", entries)

    def _got(self, which: str, entries: list[ModelEntry]) -> None:
        if which == "catalog":
            self._catalog, self.catalog_loaded = entries, True
        else:
            self._live, self.live_loaded = entries, True
        live_ids = {e.id for e in self._live}
        self.entries = self._live + [e for e in self._catalog if e.id not in live_ids]
        self.refilter()

    def refilter(self) -> None:
        """Show the entries matching the search text."""
        query = self.query_one(Input).value
        shown = fuzzy_filter(self.entries, query)
        ol = self.query_one(OptionList)
        ol.clear_options()
        options = []
        for e in shown:
            title, details = format_entry(e)
            options.append(Option(Content.assemble(sanitize(title), "\n", (sanitize(details), "dim")), id=e.id))
        ol.add_options(options)
        if options:
            ol.highlighted = 0
        status = f"{len(shown)} of {len(self.entries)} models"
        if not (self.catalog_loaded and self.live_loaded):
            status += " · looking for local models…"
        self.query_one("#picker-status", Static).update(status)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refilter()

    def action_move(self, delta: int) -> None:
        """Move the highlight while typing in the search box."""
        ol = self.query_one(OptionList)
        if ol.option_count:
            ol.highlighted = max(0, min(ol.option_count - 1, (ol.highlighted or 0) + delta))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        ol = self.query_one(OptionList)
        if ol.highlighted is not None and ol.option_count:
            self.dismiss(ol.get_option_at_index(ol.highlighted).id)
        elif event.value.strip():
            self.dismiss(event.value.strip())  # a name not in the list: resolve_model decides

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
