"""One message of a conversation: a header line and its body.

Assistant replies are rendered as Markdown; while a reply streams, text goes through a
:class:`textual.widgets.markdown.MarkdownStream` (batched appends that re-parse only the last
block) and, when the stream ends, one full ``update()`` renders the final text whole. All text
shown passes through :func:`termchat.render.sanitize` (control sequences become visible, inert
characters); the store keeps the verbatim text.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Markdown, Static

from ...render import sanitize


def code_blocks(markdown: str) -> list[str]:
    """The contents of the fenced and indented code blocks of a Markdown text, in order."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("gfm-like").parse(markdown)
    return [t.content for t in tokens if t.type in ("fence", "code_block")]


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
    ) -> None:
        classes = f"message {role}" + (" interrupted" if interrupted else "")
        super().__init__(id=id, classes=classes)
        self.role = role
        self.source = content
        self.message_id = message_id
        self.model = model
        self._header_text = header or ("You" if role == "user" else model or "assistant")
        self._stream: Any = None

    @classmethod
    def from_row(cls, row: Any) -> MessageView:
        """A view of a stored message (:class:`termchat.store.StoredMessage`)."""
        return cls(
            row.role,
            row.content,
            header=describe(row),
            message_id=row.id,
            model=row.model,
            interrupted=row.interrupted,
        )

    def compose(self) -> ComposeResult:
        yield Static(Content(sanitize(self._header_text)), classes="msg-header")
        yield Static("", classes="msg-status")
        if self.role == "assistant":
            yield Markdown(sanitize(self.source), classes="msg-body")
        else:
            yield Static(Content(sanitize(self.source)), classes="msg-body")

    # -- streaming --------------------------------------------------------------------------

    def set_status(self, text: str) -> None:
        """Show a dim status line under the header ("waiting…", a retry notice); ``""`` hides it."""
        status = self.query_one(".msg-status", Static)
        status.update(Content(sanitize(text)))
        status.display = bool(text)

    def set_header(self, text: str) -> None:
        """Replace the header line."""
        self._header_text = text
        self.query_one(".msg-header", Static).update(Content(sanitize(text)))

    def start_stream(self) -> None:
        """Begin streaming into the Markdown body."""
        self._stream = Markdown.get_stream(self.query_one(".msg-body", Markdown))

    async def write(self, safe_text: str) -> None:
        """Append already-sanitised text to the streaming body."""
        if self._stream is None:
            self.start_stream()
        if self.query_one(".msg-status").display:
            self.set_status("")
        await self._stream.write(safe_text)

    async def finish(self, text: str, header: str, interrupted: bool = False) -> None:
        """End the stream and render the final ``text`` (verbatim; sanitised here) in full."""
        self.source = text
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        body = self.query_one(".msg-body", Markdown)
        await body.update(sanitize(text))
        self.set_status("")
        self.set_header(header)
        self.set_class(interrupted, "interrupted")


class NoticeView(Static):
    """A notice inside the conversation (an error, a retry); shown, never stored."""

    def __init__(self, text: str, kind: str = "error") -> None:
        super().__init__(Content(sanitize(text)), classes=f"notice {kind}")
