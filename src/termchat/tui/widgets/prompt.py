"""The prompt: a multi-line text area where Enter sends and Ctrl+J (or Shift+Enter, where the
terminal reports it) inserts a new line; plus the bar of attached images."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, TextArea

from ...core.types import Attachment
from ...render import sanitize


def _common_start(words: list[str]) -> str:
    """The longest string every one of ``words`` starts with."""
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


class PromptInput(TextArea):
    """The message editor. Posts :class:`PromptInput.Submitted` on Enter.

    Bindings (ids remappable from ``[keybindings]``): ``prompt.send`` (enter),
    ``prompt.newline`` (ctrl+j, shift+enter). Tab completes a slash command's name being
    typed, from ``commands(prefix)`` (the names that start with ``prefix``); elsewhere it moves
    the focus as usual.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Send", id="prompt.send"),
        Binding("ctrl+j,shift+enter", "newline", "New line", id="prompt.newline"),
    ]

    class Submitted(Message):
        """The user asked to send ``text`` (the prompt is not cleared by the widget)."""

        def __init__(self, prompt: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

    def __init__(self, *, commands: Callable[[str], list[str]] | None = None, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self._commands = commands

    def _keys_for(self, binding_id: str) -> set[str]:
        """The keys of a binding of this widget: remapped in the app's ``keymap_overrides``
        (``[keybindings]``), else the default of :attr:`BINDINGS`."""
        keys = (getattr(self.app, "keymap_overrides", None) or {}).get(binding_id)
        if keys is None:
            keys = next((b.key for b in self.BINDINGS
                         if isinstance(b, Binding) and b.id == binding_id), "")
        return {k.strip() for k in keys.split(",") if k.strip()}

    def _pressed(self, event: events.Key, binding_id: str) -> bool:
        keys = self._keys_for(binding_id)
        # a one-character key ("?") names the character; Textual's key name for it differs
        return event.key in keys or (event.character is not None and event.character in keys)

    def on_key(self, event: events.Key) -> None:
        # Handled here, in key order, rather than as priority bindings: a priority binding would
        # run before earlier keys still queued for this widget were inserted (the last letters
        # typed just before Enter could be missing from the message). This handler runs before
        # TextArea's own; prevent_default() keeps that one from inserting the key too.
        if self._pressed(event, "prompt.send"):
            event.stop()
            event.prevent_default()
            self.action_submit()
        elif self._pressed(event, "prompt.newline"):
            event.stop()
            event.prevent_default()
            self.action_newline()
        elif event.key == "tab" and self.complete_command():
            event.stop()
            event.prevent_default()

    def complete_command(self) -> bool:
        """Complete the slash command being typed (the prompt holds ``/`` and part of a name):
        to the name and a space when one matches, else as far as all matches agree, listing
        them. False (nothing done) when the prompt holds anything else or nothing matches."""
        text = self.text
        if self._commands is None or not text.startswith("/") or any(c.isspace() for c in text):
            return False
        names = self._commands(text)
        if not names:
            return False
        done = names[0] + " " if len(names) == 1 else _common_start(names)
        if done != text:
            self.text = done
            self.move_cursor(self.document.end)
        if len(names) > 1:
            self.notify("  ".join(names), timeout=4)
        return True

    def action_submit(self) -> None:
        """Post :class:`Submitted` with the current text."""
        self.post_message(self.Submitted(self, self.text))

    def action_newline(self) -> None:
        """Insert a line break at the cursor."""
        self.insert("\n")

    def restore(self, text: str) -> None:
        """Put ``text`` back (after an error) without losing what was typed meanwhile."""
        current = self.text
        self.text = text if not current.strip() else f"{text}\n\n{current}"
        self.move_cursor(self.document.end)


class AttachmentChip(Button):
    """An attached image; pressing it removes the attachment."""

    def __init__(self, attachment: Attachment, label: str) -> None:
        super().__init__(Content(sanitize(label)), classes="chip", compact=True)
        self.attachment = attachment


class AttachmentBar(Horizontal):
    """The images attached to the next message, shown as chips (hidden when there are none)."""

    class Changed(Message):
        """The list of attachments changed."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.attachments: list[Attachment] = []

    def on_mount(self) -> None:
        self.display = False

    async def add(self, attachment: Attachment, label: str) -> None:
        """Attach an image (already validated) under a chip saying ``label``."""
        self.attachments.append(attachment)
        await self.mount(AttachmentChip(attachment, f"🖼 {label}  ✕"))
        self.display = True
        self.post_message(self.Changed())

    async def clear(self) -> None:
        """Remove every attachment."""
        self.attachments.clear()
        await self.remove_children()
        self.display = False
        self.post_message(self.Changed())

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if isinstance(event.button, AttachmentChip):
            event.stop()
            self.attachments.remove(event.button.attachment)
            await event.button.remove()
            self.display = bool(self.attachments)
            self.post_message(self.Changed())
