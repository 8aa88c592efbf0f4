"""The per-conversation system prompt and options (temperature, max tokens)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea


def parse_options(temperature: str, max_tokens: str, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``temperature`` (float 0–2) and ``max_tokens`` (int ≥ 1) set from text;
    an empty field removes the option. Raises ``ValueError`` with a readable message."""
    out = dict(base)
    t = temperature.strip()
    if t:
        try:
            tv = float(t)
        except ValueError:
            raise ValueError(f"temperature must be a number, not {t!r}") from None
        if not 0 <= tv <= 2:
            raise ValueError("temperature must be between 0 and 2")
        out["temperature"] = tv
    else:
        out.pop("temperature", None)
    m = max_tokens.strip()
    if m:
        try:
            mv = int(m)
        except ValueError:
            raise ValueError(f"max tokens must be a whole number, not {m!r}") from None
        if mv < 1:
            raise ValueError("max tokens must be at least 1")
        out["max_tokens"] = mv
    else:
        out.pop("max_tokens", None)
    return out


class SystemScreen(ModalScreen[tuple[str | None, dict[str, Any]] | None]):
    """Edit the system prompt and options; dismisses with ``(system or None, options)``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="system.cancel"),
        Binding("ctrl+s", "save", "Save", id="system.save", priority=True),
    ]

    def __init__(self, system: str | None, options: dict[str, Any]) -> None:
        super().__init__()
        self.system = system or ""
        self.options = dict(options)

    def compose(self) -> ComposeResult:
        with Vertical(id="system-dialog", classes="dialog"):
            yield Static("System prompt and options (Ctrl+S saves)", classes="dialog-title")
            yield TextArea(self.system, id="system-text", soft_wrap=True)
            with Horizontal(classes="fields"):
                yield Label("temperature")
                yield Input(str(self.options.get("temperature", "")), id="opt-temperature",
                            placeholder="model default")
                yield Label("max tokens")
                yield Input(str(self.options.get("max_tokens", "")), id="opt-max-tokens",
                            placeholder="model default")
            yield Static("", id="system-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="system-save", variant="primary")
                yield Button("Cancel", id="system-cancel")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        """Validate and dismiss with the new values."""
        try:
            options = parse_options(
                self.query_one("#opt-temperature", Input).value,
                self.query_one("#opt-max-tokens", Input).value,
                self.options,
            )
        except ValueError as exc:
            self.query_one("#system-error", Static).update(str(exc))
            return
        text = self.query_one(TextArea).text.strip()
        self.dismiss((text or None, options))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "system-save":
            self.action_save()
        else:
            self.dismiss(None)
