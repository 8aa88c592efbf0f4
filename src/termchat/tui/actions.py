"""The chat app's dialog actions: attach an image, the system prompt and options, export,
copy, help, and the command palette's entries (:class:`ActionsMixin`, part of
:class:`termchat.tui.app.ChatApp`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from ..core.errors import TermchatError
from ..render import sanitize
from . import turns
from .slash import COMMANDS
from .widgets.message import MessageView
from .widgets.prompt import AttachmentBar, PromptInput
from .widgets.sidebar import Sidebar


class ActionsMixin:
    """Dialog actions of :class:`~termchat.tui.app.ChatApp` (which provides ``session``,
    ``store``, ``conversation``, ``keymap_overrides``, ``update_status``, ``notify`` and
    ``push_screen``)."""

    session: Any
    keymap_overrides: dict[str, str]

    def action_pick_preset(self: Any) -> None:
        """Open the preset picker (:mod:`termchat.tui.spend`); the chosen preset is applied."""
        from .spend import pick

        pick(self)

    def use_preset(self: Any, name: str) -> bool:
        """Apply preset ``name`` (model, system prompt, options, fallbacks); False, with a
        notice, when there is none of that name or its model does not resolve."""
        from .spend import apply_preset

        return apply_preset(self, name)

    def action_attach(self: Any) -> None:
        """Attach an image file (validated with Pillow) to the next message."""

        async def done(path: str | None) -> None:
            if path:
                await self.attach_path(path)

        from .screens.dialogs import TextInputScreen

        self.push_screen(TextInputScreen("Attach an image (path)", "", "~/picture.png"), done)

    async def attach_path(self: Any, path: str) -> bool:
        """Validate ``path`` as an image and add it to the next message."""
        try:
            att, label = turns.load_image(path)
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error")
            return False
        await self.query_one(AttachmentBar).add(att, label)
        return True

    def action_system_dialog(self: Any) -> None:
        """Edit the conversation's system prompt and options."""

        def done(result: tuple[str | None, dict[str, Any]] | None) -> None:
            if result is not None:
                self.set_system(*result)

        from .screens.system import SystemScreen

        self.push_screen(SystemScreen(self.session.system, self.session.options), done)

    def set_system(self: Any, system: str | None, options: dict[str, Any] | None = None) -> None:
        """Set the system prompt (and options) of the current conversation."""
        self.session.set_system(system, options)
        self.update_status()

    def action_export(self: Any) -> None:
        """Export the conversation to Markdown or JSON."""
        if self.session.conv is None:
            self.notify("nothing to export yet", severity="warning")
            return

        def done(result: tuple[str, Path] | None) -> None:
            if result is not None:
                self.export(*result)

        from .screens.export import ExportScreen

        self.push_screen(ExportScreen(self.store.get_conversation(self.session.conv.id)), done)

    def export(self: Any, fmt: str, path: Path) -> Path | None:
        """Write the conversation to ``path`` (never over an existing file)."""
        if self.session.conv is None:
            return None
        try:
            from .screens.export import write_export

            out = write_export(self.store, self.session.conv.id, fmt, path)
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error")
            return None
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc.strerror or exc}", severity="error")
            return None
        self.notify(f"exported to {out}")
        return out

    def action_copy(self: Any) -> None:
        """Copy the focused message (or the last reply), whole or one code block (OSC 52)."""
        focused = self.focused
        target = focused if isinstance(focused, MessageView) else None
        if target is None:
            replies = [v for v in self.conversation.message_views() if v.role == "assistant"]
            target = replies[-1] if replies else None
        if target is None:
            self.notify("no message to copy", severity="warning")
            return

        def done(text: str | None) -> None:
            if text is not None:
                self.copy_to_clipboard(sanitize(text))
                self.notify(f"copied {len(text):,} characters")

        from .screens.copy import CopyScreen

        self.push_screen(CopyScreen(target.source), done)

    def help_rows(self: Any) -> list[tuple[str, str, str]]:
        """``(key, description, binding id)`` of the app's bindings, as currently mapped."""
        from .widgets.panes import ComparePanes

        rows = []
        keymap = self.keymap_overrides
        classes = [(type(self), self.BINDINGS), (PromptInput, PromptInput.BINDINGS),
                   (Sidebar, Sidebar.BINDINGS), (ComparePanes, ComparePanes.BINDINGS)]
        for _, bindings in classes:
            for b in bindings:
                if not isinstance(b, Binding) or not b.id:
                    continue
                key = str(keymap[b.id]) if b.id in keymap else b.key
                rows.append((key, b.description or b.action, b.id))
        return rows

    def action_help(self: Any) -> None:
        """Show the keys and slash commands."""
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen(self.help_rows(), COMMANDS.help_rows()))

    def enable_tools(self: Any, specs: list[str]) -> None:
        """Enable the tools ``specs`` (built-in, MCP server NAME, NAME.tool) for the rest of this
        chat (``/tools NAME``); they are checked when the next message is sent."""
        from ..render import sanitize

        self.session.tools.enable(specs)
        self.notify(sanitize(f"enabled for this chat: {' '.join(specs)} (checked with the next "
                             "message)"), markup=False)

    def action_tools(self: Any) -> None:
        """List the enabled tools and the MCP servers (what ``/tools`` shows)."""
        from .tools_ui import show_tools

        show_tools(self)

    def termchat_commands(self: Any, screen: Screen) -> Any:
        """The command palette's termchat entries."""
        yield SystemCommand("Switch model", "Pick the model of the next messages", self.action_pick_model)
        yield SystemCommand("New conversation", "Start a fresh conversation", self.action_new_conversation)
        yield SystemCommand("Search history", "Full-text search in all conversations", self.action_search)
        yield SystemCommand("Compare models", "Send the next message to 2–4 models side by side", self.action_compare)
        yield SystemCommand("System prompt and options", "Per-conversation system prompt, temperature, max tokens", self.action_system_dialog)
        yield SystemCommand("Attach image", "Attach an image to the next message", self.action_attach)
        yield SystemCommand("Regenerate reply", "Ask again for the last reply", self.action_regenerate)
        yield SystemCommand("Edit last prompt", "Take the last prompt back to change and resend it", self.action_edit_last)
        yield SystemCommand("Copy message", "Copy a reply or one of its code blocks", self.action_copy)
        yield SystemCommand("Export conversation", "Write it as Markdown or JSON", self.action_export)
        yield SystemCommand("Rename conversation", "Give the conversation a title", self.action_rename)
        yield SystemCommand("Delete conversation", "Delete it and its messages", self.action_delete)
        yield SystemCommand("Toggle sidebar", "Show or hide the conversation list", self.action_toggle_sidebar)
        yield SystemCommand("Tools", "The enabled tools and MCP servers (/tools)", self.action_tools)
        yield SystemCommand("Help", "Keys and slash commands", self.action_help)
        yield SystemCommand("Use a preset", "Model, system prompt, options and fallbacks saved "
                            "with `termchat presets save`", self.action_pick_preset)
