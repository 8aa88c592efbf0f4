"""The chat app's conversation list and conversation handling: open, new, rename, delete,
search, and the sidebar that lists them (:class:`ConversationsMixin`, part of
:class:`termchat.tui.app.ChatApp`). What changes in the store is done by the session
(:class:`termchat.tui.session.ChatSession`); this part asks, shows and refreshes."""

from __future__ import annotations

from typing import Any

from .widgets.sidebar import Sidebar


class ConversationsMixin:
    """Conversation handling of :class:`~termchat.tui.app.ChatApp` (which provides
    ``session``, ``store``, ``conversation``, ``prompt``, ``sidebar``, ``busy``,
    ``update_status``, ``notify`` and ``push_screen``)."""

    session: Any
    show_sidebar: bool

    def refresh_sidebar(self: Any) -> None:
        """Reload the conversation list from the store (another instance may have written)."""
        conv = self.session.conv
        self.sidebar.show(self.session.conversations(), conv.id if conv else None)

    async def open_conversation(self: Any, cid: str) -> None:
        """Show conversation ``cid`` (its model, system prompt and options become current)."""
        await self.conversation.load(self.session.open(cid))
        self.refresh_sidebar()
        self.update_status()

    async def action_new_conversation(self: Any) -> None:
        """Start a new conversation (created in the store on the first message)."""
        if self.busy:
            self.notify("a reply is streaming; Esc cancels it", severity="warning")
            return
        self.session.new()
        await self.conversation.load([])
        self.refresh_sidebar()
        self.update_status()
        self.prompt.focus()

    async def on_sidebar_selected(self: Any, event: Sidebar.Selected) -> None:
        if type(event) is not Sidebar.Selected:
            return
        if self.busy:
            self.notify("a reply is streaming; Esc cancels it", severity="warning")
            return
        await self.open_conversation(event.cid)
        self.prompt.focus()

    def on_sidebar_rename_requested(self: Any, event: Sidebar.RenameRequested) -> None:
        self.rename_conversation(event.cid)

    def on_sidebar_delete_requested(self: Any, event: Sidebar.DeleteRequested) -> None:
        self.delete_conversation(event.cid)

    def action_rename(self: Any) -> None:
        """Rename the current conversation."""
        if self.session.conv is None:
            self.notify("nothing to rename yet", severity="warning")
            return
        self.rename_conversation(self.session.conv.id)

    def rename_conversation(self: Any, cid: str) -> None:
        """Ask for a new title for ``cid``."""
        conv = self.store.get_conversation(cid)

        def done(title: str | None) -> None:
            if title:
                self.session.rename(cid, title)
                self.refresh_sidebar()

        from .screens.dialogs import TextInputScreen

        self.push_screen(TextInputScreen("Rename conversation", conv.title), done)

    def action_delete(self: Any) -> None:
        """Delete the current conversation (after confirmation)."""
        if self.session.conv is not None:
            self.delete_conversation(self.session.conv.id)

    def delete_conversation(self: Any, cid: str) -> None:
        """Ask, then delete ``cid`` and its messages."""
        conv = self.store.get_conversation(cid)

        async def done(yes: bool | None) -> None:
            if not yes:
                return
            current = self.session.conv is not None and self.session.conv.id == cid
            if current and self.busy:
                self.notify("a reply is streaming; Esc cancels it first", severity="warning")
                return
            if self.session.delete(cid):
                await self.action_new_conversation()
            self.refresh_sidebar()
            self.notify("conversation deleted")

        title = conv.title or conv.id
        from .screens.dialogs import ConfirmScreen

        self.push_screen(ConfirmScreen(f"Delete “{title}” and its {conv.message_count} messages?",
                                       yes="Delete"), done)

    def action_toggle_sidebar(self: Any) -> None:
        """Show or hide the conversation list (remembered in ``tui.show_sidebar``)."""
        self.show_sidebar = not self.show_sidebar
        self.sidebar.display = self.show_sidebar
        try:
            from ..config_edit import set_value

            set_value("tui.show_sidebar", "true" if self.show_sidebar else "false")
        except Exception:
            pass

    def action_search(self: Any) -> None:
        """Full-text search over all conversations."""

        async def done(hit: tuple[str, int] | None) -> None:
            if hit is None:
                return
            if self.busy:
                self.notify("a reply is streaming; Esc cancels it", severity="warning")
                return
            cid, mid = hit
            await self.open_conversation(cid)
            await self.reveal_message(mid)

        from .screens.search import SearchScreen

        self.push_screen(SearchScreen(self.store), done)

    async def reveal_message(self: Any, mid: int) -> None:
        """Scroll to message ``mid`` of the open conversation, mounting older pages if needed."""
        view = self.conversation
        idx = next((i for i, r in enumerate(view.rows) if r.id == mid), None)
        if idx is None:
            return
        while idx < view.first_mounted:
            await view.load_older()
        for mv in view.message_views():
            if mv.message_id == mid:
                view.release_anchor()
                self.call_after_refresh(view.scroll_to_widget, mv, animate=False, top=True)
                mv.add_class("found")
