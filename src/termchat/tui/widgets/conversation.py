"""The conversation: a scrolling column of messages that stays fast when long.

Only the newest :attr:`ConversationView.WINDOW` messages are mounted when a conversation opens;
scrolling to the top mounts the previous :attr:`ConversationView.PAGE`, and while new replies
arrive at the bottom the oldest mounted messages are pruned beyond
:attr:`ConversationView.MAX_MOUNTED` (they are still in :attr:`rows` and come back on scroll).

Textual lays out the whole screen (every mounted widget) whenever anything changes size, so
the reply chunks (:class:`~termchat.tui.widgets.reply.Chunk`) far from the viewport are
*parked* — hidden behind a fixed height — by :meth:`ConversationView.virtualize`, and shown
again when they come near it. Of a conversation being opened, only the replies that fill the
last screens are rendered; the older mounted ones start parked with an estimated height.
"""

from __future__ import annotations

from typing import Any

from textual.containers import VerticalScroll
from textual.widgets import Static

from ..textual_compat import holds_anchor
from .message import MessageView, NoticeView, estimate_height

WELCOME = (
    "Type a message and press Enter to send it (Ctrl+J for a new line).\n"
    "Ctrl+L picks a model, Ctrl+P opens the command palette, F1 lists every key."
)


class ConversationView(VerticalScroll, can_focus=False):
    """The messages of one conversation, oldest first, pinned to the bottom with ``anchor()``.

    Attributes:
        rows: every stored message of the conversation (:class:`termchat.store.StoredMessage`),
            mounted or not.
    """

    WINDOW = 16
    PAGE = 12
    MAX_MOUNTED = 48
    MARGIN = 0.5
    """Chunks within this many viewport heights above or below the viewport stay rendered."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[Any] = []
        self._first = 0  # index in rows of the first mounted message
        self._loading_older = False
        self._virtualize_pending = False
        self._last_width = 0

    def on_mount(self) -> None:
        self.anchor()

    def _body_width(self) -> int:
        return max(20, (self.size.width or self.app.size.width) - 8)

    def _views_for(self, rows: list[Any]) -> list[MessageView]:
        """Views of ``rows`` (oldest first): replies that fill the last two screens are rendered,
        the older ones start parked."""
        width = self._body_width()
        budget = max(10, self.size.height or self.app.size.height) + 10
        views: list[MessageView] = []
        used = 0
        for r in reversed(rows):
            parked = used > budget and r.role == "assistant"
            views.append(MessageView.from_row(r, parked_width=width if parked else None))
            used += estimate_height(r.content, width) + 2
        views.reverse()
        return views

    def schedule_virtualize(self) -> None:
        """Run :meth:`virtualize` after the next refresh (once, however often asked)."""
        if not self._virtualize_pending:
            self._virtualize_pending = True
            self.set_timer(0.1, self._run_virtualize)

    async def _run_virtualize(self) -> None:
        self._virtualize_pending = False
        await self.virtualize()

    async def virtualize(self) -> None:
        """Park the chunks far from the viewport and show the ones near it.

        Positions are added up from the sizes of the last layout (asking the compositor for
        regions would make it arrange the whole screen again after every scroll)."""
        if not self.is_mounted or not self.display:
            return
        view_h = self.scrollable_content_region.height
        if view_h <= 0:
            return
        margin = int(view_h * self.MARGIN) + 1
        top = int(self.scroll_y)
        lo, hi = top - margin, top + view_h + margin
        shown: list[tuple[Any, int]] = []
        y = 0
        for child in self.children:
            if not child.display:
                continue
            y += child.styles.margin.top
            if isinstance(child, MessageView) and child.role == "assistant":
                cy = y + child.styles.gutter.top
                for part in child.children:
                    if not part.display:
                        continue
                    if part.has_class("msg-body"):
                        break
                    cy += part.outer_size.height
                chunks = child.chunks
                live = chunks[-1] if chunks and child.streaming else None
                for chunk in chunks:
                    h = chunk.outer_size.height
                    near = cy + h >= lo and cy <= hi
                    if near and chunk.parked:
                        if cy + h <= top and not chunk.measured:
                            shown.append((chunk, h))
                        await chunk.show()
                    elif not near and not chunk.parked and chunk is not live:
                        await chunk.park()  # (the chunk a stream appends to stays)
                    cy += h
            y += child.outer_size.height + child.styles.margin.bottom
        if shown and not holds_anchor(self):
            def keep_place() -> None:
                grown = sum(c.size.height - h for c, h in shown)
                if grown:
                    self.scroll_to(y=self.scroll_y + grown, animate=False, immediate=True)

            self.call_after_refresh(keep_place)

    def on_resize(self) -> None:
        width = self.size.width
        if width != self._last_width:
            if self._last_width:
                from .reply import Chunk

                bw = self._body_width()
                for chunk in self.query(Chunk):
                    if chunk.parked:
                        chunk.measured = False
                        chunk.styles.height = estimate_height(chunk.text, bw)
            self._last_width = width
        self.schedule_virtualize()

    @property
    def first_mounted(self) -> int:
        """Index in :attr:`rows` of the oldest mounted message."""
        return self._first

    async def load(self, rows: list[Any]) -> None:
        """Show a conversation: mount its newest messages and pin the view to the bottom."""
        self.rows = list(rows)
        self._first = max(0, len(self.rows) - self.WINDOW)
        with self.app.batch_update():
            await self.remove_children()
            if self.rows:
                await self.mount_all(self._views_for(self.rows[self._first :]))
            else:
                await self.mount(Static(WELCOME, classes="welcome"))
        self.anchor()

    def message_views(self) -> list[MessageView]:
        """The mounted message widgets, oldest first."""
        return list(self.query_children(MessageView))

    async def _drop_welcome(self) -> None:
        for w in self.query_children(".welcome"):
            await w.remove()

    async def append_row(self, row: Any) -> MessageView:
        """Add a stored message at the bottom and return its view."""
        await self._drop_welcome()
        self.rows.append(row)
        view = MessageView.from_row(row)
        await self.mount(view)
        await self._prune()
        return view

    async def add_pending(self, model: str) -> MessageView:
        """Mount an empty reply (not in :attr:`rows` until :meth:`attach_row`) and return it."""
        await self._drop_welcome()
        view = MessageView("assistant", "", header=model, model=model)
        await self.mount(view)
        view.set_status("waiting for the model…")
        view.start_stream()
        return view

    def attach_row(self, view: MessageView, row: Any) -> None:
        """Record that a streamed reply ``view`` was stored as ``row``."""
        view.message_id = row.id
        self.rows.append(row)

    async def remove_message(self, message_id: int) -> None:
        """Remove a message (by store id) from :attr:`rows` and from the screen."""
        idx = next((i for i, r in enumerate(self.rows) if r.id == message_id), None)
        if idx is not None:
            del self.rows[idx]
            if idx < self._first:
                self._first -= 1
        for view in self.message_views():
            if view.message_id == message_id:
                await view.remove()

    async def add_notice(self, text: str, kind: str = "error") -> NoticeView:
        """Show a notice (not stored) at the bottom."""
        notice = NoticeView(text, kind)
        await self.mount(notice)
        return notice

    async def _prune(self) -> None:
        views = self.message_views()
        excess = len(views) - self.MAX_MOUNTED
        if excess > 0 and self.is_anchored and self.scroll_y >= self.max_scroll_y - 1:
            for v in views[:excess]:
                await v.remove()
            self._first += excess

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            self.schedule_virtualize()
        if new_value <= 0 and old_value > 0 and self._first > 0 and not self._loading_older:
            self._loading_older = True
            self.call_after_refresh(self.load_older)

    async def load_older(self) -> int:
        """Mount the previous page of messages above the oldest mounted one, keeping the
        visible message in place; returns how many were mounted."""
        try:
            start = max(0, self._first - self.PAGE)
            batch = self.rows[start : self._first]
            if not batch:
                return 0
            views = [MessageView.from_row(r) for r in batch]
            first = next(iter(self.message_views()), None)
            before_height = self.virtual_size.height
            await self.mount_all(views, before=first) if first else await self.mount_all(views)
            self._first = start

            def keep_place() -> None:
                grown = self.virtual_size.height - before_height
                self.scroll_to(y=self.scroll_y + max(0, grown), animate=False, immediate=True)

            self.call_after_refresh(keep_place)
            return len(views)
        finally:
            self._loading_older = False
