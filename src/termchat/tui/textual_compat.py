"""Every private Textual name termchat uses, in one place (checked on Textual 8.2.8).

Textual has no public API for these three; each is used by one small function here, and
``tests/tui/test_textual_compat.py`` fails, naming the installed Textual version, when one of
them disappears or changes shape (then adapt this module, nothing else).

``Markdown._last_parsed_line`` (an ``int``), set by :func:`set_append_start`
    The line from which ``Markdown.append`` re-parses the document (it re-parses the last
    top-level block and continues it). ``Markdown.update`` takes its text as complete and sets
    it to the last line, so a chunk of a reply that is rendered whole and then appended to
    (streaming) would parse the appended text on its own: a code fence still open would turn
    into an indented block. termchat points it at the last top-level block instead.

``Widget._clear_arrangement_cache()``, called by :func:`forget_arrangements`
    A parked chunk removes its Markdown widget; the chunk's cached arrangements (a FIFO of
    four, keyed by size and child-list version) still reference the removed widget and all it
    holds. Clearing them is what frees the memory; a layout refresh only clears the caches of
    a widget's ancestors, not its own.

``Widget._anchor_released`` (a ``bool``), read by :func:`holds_anchor`
    ``Widget.is_anchored`` says that ``anchor()`` was called, not whether the user has since
    released the anchor by scrolling up (until they scroll back to the end). The conversation
    view needs to know whether the compositor is holding it at the bottom, to keep the user's
    place when chunks above the viewport grow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imports nothing at run time (Markdown pulls in markdown-it and Pygments)
    from textual.widget import Widget
    from textual.widgets import Markdown

CHECKED_ON = "8.2.8"
"""The Textual version this module was checked against."""


def set_append_start(md: Markdown, line: int) -> None:
    """Make the next ``md.append()`` re-parse the document from line ``line`` (0-based; the
    start of its last top-level block)."""
    md._last_parsed_line = line


def forget_arrangements(widget: Widget) -> None:
    """Drop ``widget``'s cached arrangements of its children (after removing one)."""
    widget._clear_arrangement_cache()


def holds_anchor(widget: Widget) -> bool:
    """Whether ``widget`` is anchored and the anchor holds it at the end (the user did not
    scroll away since)."""
    return widget.is_anchored and not widget._anchor_released
