"""One message of a conversation: a header line and its body.

Assistant replies are rendered as Markdown in *chunks*: runs of a few top-level blocks, each
its own :class:`~textual.widgets.Markdown` inside a :class:`Chunk`. That keeps the cost of a
layout bounded however long a reply grows:

- while a reply streams, deltas are buffered and applied at most every :data:`FLUSH_S`
  seconds with ``Markdown.append`` (which re-parses only the last block) to the *tail* chunk;
  once the tail holds :data:`CHUNK_BLOCKS` finished blocks they are frozen as a chunk and the
  block in progress moves to a new tail;
- a chunk far from the viewport can be *parked* (its Markdown hidden, the chunk keeping its
  measured height), so Textual's full-screen reflow no longer visits its widgets
  (:meth:`termchat.tui.widgets.conversation.ConversationView.virtualize`); a message opened from
  history may start parked with an estimated height and is rendered when it comes near view;
- when the stream ends, only the tail chunk is rendered again in full (code fences whole); the
  finished chunks were split at top-level block boundaries and are already final. Text that the
  split could change (link reference definitions) is rendered again whole.

All text shown passes through :func:`termchat.render.sanitize` (control sequences become visible,
inert characters); the store keeps the verbatim text.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from ...render import sanitize
from .chunking import CHUNK_BLOCKS, FLUSH_S, SETTLE_S, SPLIT_CHARS, estimate_height

# The Markdown machinery (:mod:`.reply`) is imported when the first reply is shown.

__all__ = ["CHUNK_BLOCKS", "FLUSH_S", "SETTLE_S", "SPLIT_CHARS", "MessageView", "NoticeView",
           "describe", "estimate_height"]


def describe(row: Any) -> str:
    """The header line of a stored message (role, model, tokens, flags); no timestamps."""
    if row.role == "user":
        head = "You"
        n = len(row.attachments or [])
        if n:
            head += f"  · {n} image{'s' if n > 1 else ''}"
        return head
    parts = [row.model or "assistant"]
    if row.completion_tokens:
        parts.append(f"{row.completion_tokens} tokens")
    if row.interrupted:
        parts.append("interrupted")
    return "  · ".join(parts)


class MessageView(Vertical, can_focus=True):
    """A message: a header (role/model/usage) and a body (Markdown for replies, plain text for
    the user's prompts).

    Attributes:
        role: ``user`` or ``assistant``.
        source: the message's verbatim text (what copy and export use, after sanitising).
        message_id: the store's row id, or ``None`` while a reply is still streaming.
        model: the model that wrote a reply.
    """

    def __init__(
        self,
        role: str,
        content: str = "",
        *,
        header: str = "",
        message_id: int | None = None,
        model: str | None = None,
        interrupted: bool = False,
        id: str | None = None,
        parked_width: int | None = None,
        tool_rounds: list[Any] | None = None,
    ) -> None:
        classes = f"message {role}" + (" interrupted" if interrupted else "")
        super().__init__(id=id, classes=classes)
        self.role = role
        self.source = content
        self.message_id = message_id
        self.model = model
        self._header_text = header or ("You" if role == "user" else model or "assistant")
        self._parked_width = parked_width
        self._tool_rounds = tool_rounds  # a stored reply's tool calls, shown as blocks
        # streaming state
        self._streaming = False
        self._pending: list[str] = []
        self._streamed: list[str] = []
        self._wake: asyncio.Event | None = None
        self._flusher: asyncio.Task | None = None
        self._stopping = False
        self._status_shown = False
        self._settle = False
        self._settled_len = -1  # length of the streamed text when the tail was last rendered whole
        self.settled_at: float | None = None  # perf_counter() of that render (benchmarks read it)

    @classmethod
    def from_row(cls, row: Any, parked_width: int | None = None) -> MessageView:
        """A view of a stored message (:class:`termchat.store.StoredMessage`); with
        ``parked_width``, a reply starts parked (estimated height at that width)."""
        return cls(
            row.role,
            row.content,
            header=describe(row),
            message_id=row.id,
            model=row.model,
            interrupted=row.interrupted,
            parked_width=parked_width,
            tool_rounds=getattr(row, "tool_rounds", None),
        )

    def _make_chunks(self, text: str) -> list[Any]:
        from .reply import Chunk, split_chunks

        w = self._parked_width
        return [Chunk(c, parked_height=None if w is None else estimate_height(c, w))
                for c in split_chunks(text)]

    def compose(self) -> ComposeResult:
        yield Static(Content(sanitize(self._header_text)), classes="msg-header")
        yield Static("", classes="msg-status")
        if self._tool_rounds:
            from .toolblock import ToolBlocks, blocks_from_rounds

            yield ToolBlocks(blocks_from_rounds(self._tool_rounds))
        if self.role == "assistant":
            from .reply import MarkdownBody

            yield MarkdownBody(self._make_chunks(sanitize(self.source)), classes="msg-body")
        else:
            yield Static(Content(sanitize(self.source)), classes="msg-body")

    @property
    def chunks(self) -> list[Any]:
        """The chunks of a reply's body (empty for a user message, and for a reply whose body
        is not composed yet: the conversation may look at a view while it is being mounted)."""
        if self.role != "assistant":
            return []
        from textual.css.query import NoMatches

        from .reply import MarkdownBody

        try:
            return self.query_one(MarkdownBody).chunks
        except NoMatches:
            return []

    # -- streaming --------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        """Whether text is being streamed into this reply."""
        return self._streaming

    def set_status(self, text: str) -> None:
        """Show a dim status line under the header ("waiting…", a retry notice); ``""`` hides it."""
        status = self.query_one(".msg-status", Static)
        status.update(Content(sanitize(text)))
        status.display = bool(text)
        self._status_shown = bool(text)

    def set_header(self, text: str) -> None:
        """Replace the header line."""
        self._header_text = text
        self.query_one(".msg-header", Static).update(Content(sanitize(text)))

    def start_stream(self) -> None:
        """Begin streaming into the Markdown body."""
        if self._streaming:
            return
        self._streaming = True
        self._stopping = False
        self._wake = asyncio.Event()
        self._flusher = asyncio.create_task(self._flush_loop())

    async def write(self, safe_text: str) -> None:
        """Append already-sanitised text to the streaming body (rendered in batches)."""
        if not self._streaming:
            self.start_stream()
        if self._status_shown:
            self.set_status("")
        self._pending.append(safe_text)
        if len(self._pending) == 1:
            assert self._wake is not None
            self._wake.set()

    def on_unmount(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()

    def settle(self) -> None:
        """The text is probably complete (the usage report came, which ends a stream): render
        the tail whole as soon as what is buffered is shown, without waiting for the stream to
        close. Text that still arrives afterwards is streamed as usual."""
        if self._streaming and self._wake is not None:
            self._settle = True
            self._wake.set()

    def _tail(self) -> Any:
        chunks = self.chunks
        return chunks[-1] if chunks else None

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake
        assert wake is not None
        try:
            while True:
                if self._pending:
                    t0 = loop.time()
                    await self._apply_pending()
                    spent = loop.time() - t0
                    if not self._stopping and not self._settle:
                        # render at most every FLUSH_S (less often when rendering is slow)
                        await asyncio.sleep(min(0.25, max(FLUSH_S, 2 * spent)))
                    continue
                if self._stopping:
                    return
                unsettled = self._settled_len != sum(map(len, self._streamed))
                if self._settle or (unsettled and self._streamed):
                    if not self._settle:
                        try:  # a pause in the stream: make what is shown final meanwhile
                            await asyncio.wait_for(wake.wait(), SETTLE_S)
                            wake.clear()
                            continue
                        except TimeoutError:
                            pass
                    self._settle = False
                    await self._render_tail()
                    continue
                await wake.wait()
                wake.clear()
        except Exception:  # the view went away (the app is closing)
            return

    async def _render_tail(self) -> None:
        """Render the tail chunk whole from its text (code fences complete)."""
        from .reply import set_markdown

        tail = self._tail()
        if tail is not None and tail.md is not None:
            tail.text = tail.md.source
            await set_markdown(tail.md, tail.text)
        self._settled_len = sum(map(len, self._streamed))
        self.settled_at = time.perf_counter()

    async def _apply_pending(self) -> None:
        """Render the buffered text: append it to the tail chunk, or, when the tail would grow
        past :data:`CHUNK_BLOCKS` blocks, complete the tail with its share and put the rest in
        new chunks (those that a big batch scrolls straight past start parked)."""
        from ..textual_compat import set_append_start
        from .reply import Chunk, MarkdownBody, block_starts, split_chunks

        text = "".join(self._pending)
        self._pending.clear()
        self._streamed.append(text)
        tail = self._tail()
        if tail is None or tail.md is None:
            return
        md = tail.md
        old = md.source
        groups = split_chunks(old + text, force=True)
        if len(groups) == 1:
            await md.append(text)
            return
        first, rest = groups[0], groups[1:]
        width = max(20, self.size.width - 4)
        new = [Chunk(g, parked_height=estimate_height(g, width) if i < len(rest) - 2 else None)
               for i, g in enumerate(rest)]
        with self.app.batch_update():
            if first.startswith(old):
                if len(first) > len(old):
                    await md.append(first[len(old):])
            else:
                await md.update(first)
            tail.text = first
            await self.query_one(MarkdownBody).mount_all(new)
        # the new tail was rendered as a whole text by its Markdown: let appends continue it
        starts = block_starts(rest[-1])
        if starts and new[-1].md is not None:
            set_append_start(new[-1].md, starts[-1])
        for node in self.ancestors:
            schedule = getattr(node, "schedule_virtualize", None)
            if schedule is not None:
                schedule()
                break

    async def stop_stream(self) -> None:
        """Render whatever is buffered and end the stream."""
        if not self._streaming:
            return
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._flusher is not None:
            try:
                await self._flusher
            except Exception:
                pass
        self._flusher = None
        self._streaming = False

    async def finish(self, text: str, header: str, interrupted: bool = False) -> None:
        """End the stream and render the final ``text`` (verbatim; sanitised here) in full:
        only the tail chunk when the rest of what streamed is already final."""
        from .reply import REF_DEF, Chunk, MarkdownBody, split_chunks

        self.source = text
        await self.stop_stream()
        safe = sanitize(text)
        body = self.query_one(MarkdownBody)
        chunks = body.chunks
        streamed = "".join(self._streamed)
        self._streamed = []
        frozen = "".join(c.text for c in chunks[:-1])
        if chunks and streamed == safe and safe.startswith(frozen) and not REF_DEF.search(safe):
            tail = chunks[-1]
            tail.text = safe[len(frozen):]
            if tail.md is not None and self._settled_len != len(streamed):
                await tail.md.update(tail.text)
        else:
            with self.app.batch_update():
                await body.remove_children()
                await body.mount_all([Chunk(c) for c in split_chunks(safe)])
        self._settled_len = -1
        self.settled_at = time.perf_counter()
        self.set_status("")
        self.set_header(header)
        self.set_class(interrupted, "interrupted")


class NoticeView(Static):
    """A notice inside the conversation (an error, a retry); shown, never stored."""

    def __init__(self, text: str, kind: str = "error") -> None:
        super().__init__(Content(sanitize(text)), classes=f"notice {kind}")
