"""How a reply's Markdown is cut into chunks: the sizes both the message view
(:mod:`termchat.tui.widgets.message`, which streams) and the Markdown body
(:mod:`termchat.tui.widgets.reply`, which splits and renders) use. A module of its own so
that neither of the two imports the other for them."""

from __future__ import annotations

FLUSH_S = 0.1
"""Least time between two renders of a streaming reply (seconds)."""
SETTLE_S = 0.15
"""A pause this long in a stream renders the tail chunk whole (code fences complete)."""
CHUNK_BLOCKS = 4
"""Top-level Markdown blocks per chunk."""
SPLIT_CHARS = 3000
"""Finished texts shorter than this are one chunk (no parse needed to split them)."""


def estimate_height(text: str, width: int) -> int:
    """A rough rendered height of Markdown ``text`` at ``width`` columns (for parked chunks
    that were never rendered; corrected when they are)."""
    width = max(20, width)
    h = 0
    for line in text.splitlines():
        h += max(1, -(-len(line) // width))
    return h + text.count("```") + 1
