"""Tools the model may call, run in the front's process (never in the warm core).

* :mod:`.base` — :class:`Tool`, :class:`ToolProvider` (an MCP server), :class:`Consent` (the
  front's question), :class:`ToolError`.
* :mod:`.toolset` — :class:`ToolSet`: the enabled tools of a conversation, consent state, and
  :meth:`ToolSet.run` (one round of calls → results, concurrently, with timeouts and output
  caps).
* :mod:`.registry` — :func:`build_toolset`: ``-T`` specs / config ``tools.enabled`` → a
  ToolSet (built-ins, MCP servers' tools).
* :mod:`.builtins` — read a file, list a folder, fetch a URL, the date and time, a shell
  command.

A front runs a tool-using turn by passing the ToolSet to ``Core.chat(req, rm, tools=toolset)``
with ``req.tools = toolset.schemas()``: the event stream runs each round's calls through
``toolset.run`` in the iterating thread and sends the results back to the core.
"""

from __future__ import annotations

from .base import Consent, Decision, Tool, ToolError, ToolProvider
from .registry import build_toolset, resolve_specs
from .toolset import ToolsCancelled, ToolSet

__all__ = [
    "Consent", "Decision", "Tool", "ToolError", "ToolProvider", "ToolSet", "ToolsCancelled",
    "build_toolset", "resolve_specs",
]
