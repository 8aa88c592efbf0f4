"""Conversation export: Markdown and JSON (used by ``termchat history show`` and the TUI)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Conversation, StoredMessage


def conversation_json(conv: Conversation, messages: list[StoredMessage]) -> dict[str, Any]:
    """A conversation as a JSON-able dict: ``{"id", "title", "model", "system", "options",
    "created_at", "updated_at", "messages": [{"role", "content", "model", "created_at",
    "prompt_tokens", "completion_tokens", "cost_usd", "duration_s", "finish_reason",
    "interrupted", "cached", "tool_rounds"}]}``; timestamps in UNIX seconds, cost in USD;
    ``tool_rounds`` is ``null`` or the reply's tool calls and results
    (:attr:`termchat.store.StoredMessage.tool_rounds`). ``no_reply`` is ``null``, or
    says why the last question has no answer (:func:`termchat.store.no_reply_note`)."""
    return {
        "id": conv.id,
        "title": conv.title,
        "model": conv.model,
        "system": conv.system,
        "options": conv.options,
        "created_at": conv.created_at,
        "updated_at": conv.updated_at,
        "no_reply": _no_reply(messages),
        "messages": [
            {
                "id": m.id,
                "role": m.role,
                "content": m.content,
                "model": m.model,
                "created_at": m.created_at,
                "prompt_tokens": m.prompt_tokens,
                "completion_tokens": m.completion_tokens,
                "cost_usd": m.cost_usd,
                "duration_s": m.duration_s,
                "finish_reason": m.finish_reason,
                "interrupted": m.interrupted,
                "cached": m.cached,  # replayed from the response cache (cost 0)
                "tool_rounds": getattr(m, "tool_rounds", None),
            }
            for m in messages
        ],
    }


def conversation_markdown(conv: Conversation, messages: list[StoredMessage]) -> str:
    """A conversation as Markdown: a title, the system prompt, then each message under a
    heading naming its role (and model for replies); interrupted replies are marked, and a last
    question without an answer is followed by why (``_no reply (the client was killed)_``)."""
    out = [f"# {conv.title or conv.id}", ""]
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(conv.created_at))
    out += [f"_conversation {conv.id}, started {when}_", ""]
    if conv.system:
        out += ["## System", "", conv.system, ""]
    for m in messages:
        head = "## User" if m.role == "user" else f"## Assistant ({m.model or 'unknown model'})"
        if m.interrupted:
            head += " — interrupted"
        if getattr(m, "cached", False):
            head += " — from the response cache"
        out += [head, "", *_with_tools(m.content, getattr(m, "tool_rounds", None)), ""]
    note = _no_reply(messages)
    if note:
        out += [f"_{note}_", ""]
    return "\n".join(out).rstrip() + "\n"


def _no_reply(messages: list[StoredMessage]) -> str | None:
    from .store import no_reply_note

    last = messages[-1] if messages else None
    return no_reply_note(last.role, getattr(last, "error", None)) if last is not None else None


def _fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text``."""
    import re

    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _with_tools(content: str, rounds: list[dict[str, Any]] | None) -> list[str]:
    """A reply's Markdown lines: its text, with each tool round's calls and results (in
    fenced blocks) where they were made."""
    if not rounds:
        return [content]
    out: list[str] = []
    prev = 0
    for rnd in rounds:
        at = max(prev, min(int(rnd.get("at", prev)), len(content)))
        if content[prev:at].strip():
            out += [content[prev:at].strip("\n"), ""]
        results = {r.get("id"): r for r in rnd.get("results", [])}
        for c in rnd.get("calls", []):
            r = results.get(c.get("id"))
            status = "no result (interrupted)" if r is None else (
                f"{'ok' if r.get('ok') else 'failed'}, {float(r.get('duration_s') or 0):.2f} s")
            args = " ".join(str(c.get("arguments", "")).split())
            out += [f"**Tool** `{c.get('name')}` `{args[:200]}` — {status}", ""]
            if r is not None:
                body = str(r.get("content", ""))
                fence = _fence(body)
                out += [fence, body, fence, ""]
        prev = at
    if content[prev:].strip():
        out.append(content[prev:].strip("\n"))
    return out
