"""Tool calls on the wire: provider-safe tool names, and streamed ``tool_calls`` deltas put
back together.

Providers accept function names matching ``[A-Za-z0-9_-]{1,64}``; termchat's names may hold
dots (``time.get_current_time``, MCP server ``time``). :func:`wire_names` maps each request's
names one-to-one to safe names (other characters become ``_``, a clash gets ``_2``, ``_3``…);
the same request always gets the same map, so every round and the replayed history agree.

LiteLLM streams tool calls in the OpenAI form whatever the provider: ``delta.tool_calls`` is a
list of pieces, each with an ``index`` (which call), and on its first piece the call's ``id``
and ``function.name``; ``function.arguments`` arrives in fragments to be concatenated.
:class:`CallAccumulator` collects them by index (a piece without an index continues the last
call, or starts one when it has an id that is new).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .types import ToolCall

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_name(name: str) -> str:
    """``name`` with characters providers refuse replaced by ``_``, at most 64 characters."""
    return (_UNSAFE.sub("_", name) or "tool")[:64]


def wire_names(tools: list[dict[str, Any]]) -> dict[str, str]:
    """termchat name → provider-safe name for the tools of one request (see module doc)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for t in tools:
        name = str(t.get("function", {}).get("name", ""))
        base = safe_name(name)
        wire, n = base, 1
        while wire in used:
            n += 1
            wire = f"{base[: 60]}_{n}"
        used.add(wire)
        out[name] = wire
    return out


def wire_tools(tools: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """The request's tool schemas with their wire names."""
    out = []
    for t in tools:
        fn = dict(t.get("function", {}))
        fn["name"] = names.get(fn.get("name", ""), safe_name(str(fn.get("name", ""))))
        out.append({**t, "function": fn})
    return out


def wire_messages(messages: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """Provider messages with the names inside assistant ``tool_calls`` mapped (a name no longer
    among the request's tools is made safe the same way)."""
    for m in messages:
        for c in m.get("tool_calls") or []:
            fn = c["function"]
            fn["name"] = names.get(fn["name"], safe_name(fn["name"]))
    return messages


@dataclass
class _Partial:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class CallAccumulator:
    """The tool calls of one streamed (or whole) response, rebuilt from their pieces."""

    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}
        self._slot: dict[int, int] = {}  # the provider's index -> our slot (see feed)
        self._last: int | None = None

    def __bool__(self) -> bool:
        return bool(self._calls)

    def feed(self, pieces: Any) -> None:
        """Add the ``tool_calls`` of one delta (or of a whole message): objects or dicts with
        ``index``, ``id``, ``function.name``, ``function.arguments``. A piece that brings a new
        id under an index already used (adapters that number every call 0, or none) starts a
        new call; a piece without an id continues the call its index (or the last) names."""
        for p in pieces or []:
            raw = _get(p, "index")
            pid = _get(p, "id")
            if raw is None:
                idx = self._last if self._last is not None and not pid else (
                    max(self._calls) + 1 if self._calls else 0)
            else:
                idx = self._slot.get(int(raw), int(raw))
                cur = self._calls.get(idx)
                if pid and cur is not None and cur.id and cur.id != str(pid):
                    idx = max(self._calls) + 1
                    self._slot[int(raw)] = idx
            if pid and raw is None:
                known = next((i for i, c in self._calls.items() if c.id == str(pid)), None)
                if known is not None:
                    idx = known
            cur = self._calls.setdefault(idx, _Partial())
            self._last = idx
            if pid and not cur.id:
                cur.id = str(pid)
            fn = _get(p, "function")
            name = _get(fn, "name") if fn is not None else None
            if name and not cur.name:
                cur.name = str(name)
            args = _get(fn, "arguments") if fn is not None else None
            if args:
                cur.arguments.append(args if isinstance(args, str) else _json(args))

    def calls(self, from_wire: dict[str, str]) -> list[ToolCall]:
        """The calls in index order, names mapped back to termchat's (``from_wire``: wire →
        termchat name); a call without an id gets ``call_<index>``."""
        out = []
        for idx in sorted(self._calls):
            c = self._calls[idx]
            out.append(ToolCall(c.id or f"call_{idx}", from_wire.get(c.name, c.name),
                                "".join(c.arguments)))
        return out


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
