"""Tool calls inside a reply: one collapsible block per call (:class:`ToolBlock`: its title is
the tool, its state and its time; opened, the arguments and the result), grouped above the
reply's text in a :class:`ToolBlocks`.

Tool names, arguments and results are untrusted text (the model's, an MCP server's): every
string shown here passes through :func:`termchat.render.sanitize` (control sequences become
visible, inert characters) and is given to Textual as plain content, never as markup. A result
longer than :data:`SHOWN_CHARS` is shown cut, with a note (the model received what the tool set
sent it; the store keeps it).
"""

from __future__ import annotations

import json
from typing import Any

from textual.containers import Vertical
from textual.content import Content
from textual.markup import escape
from textual.widgets import Collapsible, Static

from ...render import sanitize

#: Characters of a result shown in a block (the rest is cut, said so).
SHOWN_CHARS = 4000


def pretty_arguments(arguments: str) -> str:
    """The call's arguments as indented JSON when they parse, else as the model sent them."""
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return arguments


def _cut(text: str) -> str:
    if len(text) <= SHOWN_CHARS:
        return text
    return text[:SHOWN_CHARS] + f"\n[… {len(text) - SHOWN_CHARS:,} more characters not shown]"


class ToolBlock(Collapsible):
    """One tool call: collapsed to ``▶ ⚙ NAME · running…`` / ``· 0.12 s`` / ``· error · 0.12 s``
    / ``· refused``; opened, the arguments (JSON) and the result.

    Args:
        call_id: the call's id (the block's key in its :class:`ToolBlocks`).
        name: the tool's termchat name (``clock.get_current_time``).
        arguments: the arguments' JSON text as the model sent it.
    """

    def __init__(self, call_id: str, name: str, arguments: str) -> None:
        self._result_view = Static(Content("(running)"), classes="tool-result")
        super().__init__(
            Static(Content("arguments"), classes="tool-label"),
            Static(Content(sanitize(pretty_arguments(arguments))), classes="tool-args"),
            Static(Content("result"), classes="tool-label"),
            self._result_view,
            title=self._title_text(name, "running…"), collapsed=True, classes="tool-block running")
        self.call_id = call_id
        self.tool_name = name
        self.arguments = arguments
        self.result: str | None = None
        self.ok = True
        self.duration_s: float | None = None

    @staticmethod
    def _title_text(name: str, state: str) -> str:
        return escape(sanitize(f"⚙ {name} · {state}"))

    def set_result(self, content: str, ok: bool, duration_s: float) -> None:
        """Show the call's result: its text, whether it succeeded, and its time in seconds."""
        self.result, self.ok, self.duration_s = content, ok, duration_s
        refused = not ok and content.startswith(("refused", "error: refused"))
        state = ("refused" if refused else f"{'error · ' if not ok else ''}{duration_s:.2f} s")
        self.title = self._title_text(self.tool_name, state)
        self.set_class(False, "running")
        self.set_class(not ok, "failed")
        self._result_view.update(Content(sanitize(_cut(content))))


class ToolBlocks(Vertical):
    """The tool blocks of one reply, in call order (every round's)."""

    DEFAULT_CSS = """
    ToolBlocks { height: auto; margin: 0 0 1 0; }
    ToolBlocks ToolBlock { margin: 0; padding: 0; border: none; }
    ToolBlocks .tool-label { color: $text-muted; }
    ToolBlocks ToolBlock.failed CollapsibleTitle { color: $error; }
    """

    def __init__(self, blocks: list[ToolBlock] | None = None) -> None:
        super().__init__(*(blocks or []), classes="tool-blocks")

    def block(self, call_id: str) -> ToolBlock | None:
        """The block of call ``call_id``, or ``None``."""
        for b in self.query_children(ToolBlock):
            if b.call_id == call_id:
                return b
        return None


def blocks_from_rounds(tool_rounds: list[dict[str, Any]] | None) -> list[ToolBlock]:
    """Blocks for a stored reply's ``tool_rounds`` (``[{"calls": [{id, name, arguments}],
    "results": [{id, name, content, ok, duration_s}]}]``), results filled in."""
    out: list[ToolBlock] = []
    for rnd in tool_rounds or []:
        results = {r.get("id"): r for r in rnd.get("results") or []}
        for call in rnd.get("calls") or []:
            block = ToolBlock(str(call.get("id", "")), str(call.get("name", "?")),
                              str(call.get("arguments", "")))
            res = results.get(call.get("id"))
            if res is not None:
                block.set_result(str(res.get("content", "")), bool(res.get("ok", True)),
                                 float(res.get("duration_s") or 0.0))
            out.append(block)
    return out
