"""Answering a round of tool calls for an event stream (both core implementations use it)."""

from __future__ import annotations

import threading
from typing import Any

from ...core.types import ToolCall, ToolResult
from .toolset import ToolsCancelled


def answer_round(tools: Any, calls: list[ToolCall], cancelled: threading.Event) -> list[ToolResult] | None:
    """The results of ``calls`` run by ``tools`` (a :class:`~termchat.client.tools.ToolSet`,
    or ``None``: every call is answered ``error: no tools are enabled``), or ``None`` when the
    stream was cancelled before or while they ran. Ctrl+C (``KeyboardInterrupt``) propagates
    after the running tools were stopped."""
    if cancelled.is_set():
        return None
    if tools is None:
        return [ToolResult(c.id, c.name, "error: no tools are enabled in this client", ok=False,
                           round=c.round) for c in calls]
    try:
        results = tools.run(calls)
    except ToolsCancelled:
        return None
    return None if cancelled.is_set() else results
