"""Export the conversation to a Markdown or JSON file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from ... import paths
from ...core.errors import UsageError


def default_export_path(conv: Any, fmt: str, directory: Path | None = None) -> Path:
    """``<dir>/<title-slug>-<id>.<md|json>`` (``dir`` defaults to the working directory)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", conv.title or "conversation").strip("-").lower()[:40]
    return (directory or Path.cwd()) / f"{slug or 'conversation'}-{conv.id}.{fmt}"


def write_export(store: Any, cid: str, fmt: str, path: Path) -> Path:
    """Write conversation ``cid`` as ``fmt`` (``md`` or ``json``) to ``path``, atomically.

    Raises:
        UsageError: unknown format, or ``path`` already exists (never overwritten).
        OSError: the file could not be written.
    """
    from ...export import conversation_json, conversation_markdown

    if fmt not in ("md", "json"):
        raise UsageError(f"unknown export format {fmt!r}; use md or json")
    path = path.expanduser()
    if path.exists():
        raise UsageError(f"{path} already exists; not overwriting it", hint="choose another path")
    conv = store.get_conversation(cid)
    msgs = store.messages(cid)
    if fmt == "md":
        data = conversation_markdown(conv, msgs).encode("utf-8")
    else:
        data = (json.dumps(conversation_json(conv, msgs), ensure_ascii=False, indent=2) + "\n").encode()
    paths.atomic_write(path, data)
    return path


class ExportScreen(ModalScreen[tuple[str, Path] | None]):
    """Choose a format and a path; dismisses with ``(fmt, path)`` or ``None``."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel", id="export.cancel")]

    def __init__(self, conv: Any) -> None:
        super().__init__()
        self.conv = conv

    def compose(self) -> ComposeResult:
        with Vertical(id="export", classes="dialog small"):
            yield Static("Export conversation", classes="dialog-title")
            yield Select([("Markdown", "md"), ("JSON", "json")], value="md", allow_blank=False,
                         id="export-format")
            yield Input(str(default_export_path(self.conv, "md")), id="export-path")
            yield Static("", id="export-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Export", id="export-ok", variant="primary")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        inp = self.query_one(Input)
        path = Path(inp.value)
        inp.value = str(path.with_suffix(f".{event.value}"))

    def _submit(self) -> None:
        raw = self.query_one(Input).value.strip()
        if not raw:
            self.query_one("#export-error", Static).update("give a file path")
            return
        path = Path(raw).expanduser()
        if path.exists():
            self.query_one("#export-error", Static).update(f"{path} exists; choose another path")
            return
        self.dismiss((str(self.query_one(Select).value), path))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "export-ok":
            self._submit()
        else:
            self.dismiss(None)
