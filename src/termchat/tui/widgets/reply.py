"""The Markdown body of a reply, in chunks (see :mod:`termchat.tui.widgets.message`).

Imported on the first reply shown, not before the first frame (Markdown pulls in markdown-it
and Pygments).
"""

from __future__ import annotations

import functools
import re
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownBlock, MarkdownFence

from ..textual_compat import forget_arrangements, set_append_start
from .chunking import CHUNK_BLOCKS, SPLIT_CHARS

REF_DEF = re.compile(r"^ {0,3}\[[^\]\n]+\]:", re.M)


@functools.cache
def _parser() -> Any:
    """One markdown-it parser, as Textual's Markdown makes it (making one costs milliseconds)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("gfm-like")


def code_blocks(markdown: str) -> list[str]:
    """The contents of the fenced and indented code blocks of a Markdown text, in order."""
    tokens = _parser().parse(markdown)
    return [t.content for t in tokens if t.type in ("fence", "code_block")]


def block_starts(text: str) -> list[int]:
    """The line numbers where the top-level blocks of Markdown ``text`` start."""
    return [t.map[0] for t in _parser().parse(text)
            if t.level == 0 and t.map is not None and t.nesting >= 0]


async def set_markdown(md: Markdown, text: str) -> None:
    """``md.update(text)`` that can still be appended to: ``Markdown.update`` takes the text
    as complete, so a later ``append`` would re-parse only from its last line (and a code
    fence in progress would turn into an indented block); point it at the last block."""
    await md.update(text)
    starts = block_starts(text)
    if starts:
        set_append_start(md, starts[-1])


def split_chunks(text: str, per: int = CHUNK_BLOCKS, *, force: bool = False) -> list[str]:
    """Split Markdown ``text`` into runs of ``per`` top-level blocks (at block starts), so that
    rendering each run alone gives what rendering the whole gives. Short texts (unless
    ``force``) and texts with link reference definitions stay whole."""
    if (len(text) < SPLIT_CHARS and not force) or REF_DEF.search(text):
        return [text]
    starts = block_starts(text)
    cuts = starts[per::per]
    if not cuts:
        return [text]
    lines = text.splitlines(keepends=True)
    out, prev = [], 0
    for cut in cuts:
        out.append("".join(lines[prev:cut]))
        prev = cut
    out.append("".join(lines[prev:]))
    return [c for c in out if c]


class ChatFence(MarkdownFence):
    """A code block; one without a language is shown as plain text (Pygments' language
    guessing tries every lexer: far too slow for a block re-parsed as it streams)."""

    @classmethod
    def highlight(cls, code: str, language: str, ansi: bool = False, dark: bool = False) -> Content:
        return super().highlight(code, language or "text", ansi=ansi, dark=dark)


class ChatMarkdown(Markdown):
    """Markdown of a reply (code blocks: :class:`ChatFence`; one shared parser)."""

    def __init__(self, markdown: str | None = None, **kwargs: Any) -> None:
        super().__init__(markdown, parser_factory=_parser, **kwargs)

    BLOCKS: ClassVar[dict[str, type[MarkdownBlock]]] = {
        **Markdown.BLOCKS, "fence": ChatFence, "code_block": ChatFence}


class Chunk(Vertical):
    """A run of top-level blocks of a reply, rendered by its own Markdown widget.

    A *parked* chunk holds only its text and a fixed height (measured when it was last shown,
    or estimated when it never was); :meth:`show` renders it again.
    """

    DEFAULT_CSS = """
    Chunk { height: auto; }
    """

    def __init__(self, text: str, *, parked_height: int | None = None) -> None:
        super().__init__()
        self.text = text
        self.md: Markdown | None = None
        self.parked = parked_height is not None
        self.measured = False  # the parked height was measured (not estimated)
        if parked_height is not None:
            self.styles.height = max(1, parked_height)

    def compose(self) -> ComposeResult:
        if not self.parked:
            self.md = ChatMarkdown(self.text)
            yield self.md

    @property
    def source(self) -> str:
        """The chunk's (sanitised) Markdown text."""
        return self.md.source if self.md is not None and self.md.source else self.text

    async def park(self) -> bool:
        """Drop the Markdown widget (and everything it holds) and keep the current height;
        False when it cannot (not laid out). A long reply then holds widgets only for what is
        near the viewport: memory stays bounded, and so does the work of the garbage
        collector and of each layout."""
        if self.parked or self.md is None:
            return False
        h = self.size.height
        if h <= 0:
            return False
        if self.md.source:
            self.text = self.md.source
        self.parked = True
        self.measured = True
        self.styles.height = h
        md, self.md = self.md, None
        await md.remove()
        # Textual's caches of this chunk still list the removed widget (its node list's cache
        # of displayed children, its cached layouts): renew them, or every parked chunk keeps
        # its whole rendered Markdown alive
        self.displayed_children  # noqa: B018 (recomputes that cache)
        forget_arrangements(self)
        return True

    async def show(self) -> None:
        """Render the chunk again (mounting its Markdown if it never was)."""
        if not self.parked:
            return
        self.parked = False
        if self.md is None:
            self.md = ChatMarkdown(self.text)
            await self.mount(self.md)
        self.styles.height = "auto"


class MarkdownBody(Vertical):
    """The body of a reply: its chunks, oldest first."""

    DEFAULT_CSS = """
    MarkdownBody { height: auto; }
    """

    def __init__(self, chunks: list[Chunk], **kwargs: Any) -> None:
        super().__init__(*chunks, **kwargs)

    @property
    def chunks(self) -> list[Chunk]:
        return list(self.query_children(Chunk))


