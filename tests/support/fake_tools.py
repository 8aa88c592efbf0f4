"""Scripted tool-call streams for the loopback server (:mod:`tests.support.fake_openai`).

A chat spec with a ``tool_calls`` key answers with tool calls instead of (or after) text, in
the OpenAI wire format LiteLLM reads for every provider::

    srv.script({"tool_calls": [{"name": "current_time", "arguments": {}}],
                "text": "let me look"},                        # round 1: text, then a call
               {"text": "It is noon."})                        # round 2: the answer

Keys of a call: ``name`` (the wire name the model "chose"), ``arguments`` (a dict → JSON, or a
string sent as is — malformed JSON included), ``id`` (default ``call_<n>``). Spec keys besides
the usual ones (``text``, ``delay``, ``usage``, ``no_usage``): ``arg_pieces`` (how many
fragments each call's arguments are split into, default 3: the client must join them),
``finish_reason`` (default ``tool_calls``), ``indexless`` (send pieces without ``index``, as
some providers' adapters do).

What the client sent back is in the recorded requests; :func:`tool_messages` and
:func:`tool_results` read them, and :func:`sent_tools` the tool schemas a request offered.
"""

from __future__ import annotations

import json
import time
from typing import Any


def _pieces(text: str, n: int) -> list[str]:
    if n <= 1 or len(text) < n:
        return [text]
    size = -(-len(text) // n)
    return [text[i:i + size] for i in range(0, len(text), size)]


def chat_with_tools(handler: Any, spec: dict[str, Any], body: dict[str, Any]) -> None:
    """Answer one ``/v1/chat/completions`` request with ``spec["tool_calls"]`` (streamed when
    the request asks for a stream, else one message with ``tool_calls``)."""
    owner = handler.owner
    cid = f"chatcmpl-tools{owner._new_id()}"
    created = int(time.time())
    model = body.get("model") or "fake-model"
    text = str(spec.get("text", ""))
    calls = []
    for i, c in enumerate(spec["tool_calls"]):
        args = c.get("arguments", {})
        calls.append({"id": c.get("id", f"call_{owner._new_id()}_{i}"), "name": c["name"],
                      "arguments": args if isinstance(args, str) else json.dumps(args)})
    finish = spec.get("finish_reason", "tool_calls")
    usage = {"prompt_tokens": 10, "completion_tokens": 5 + len(calls)}
    usage.update(spec.get("usage") or {})
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if not body.get("stream"):
        msg: dict[str, Any] = {"role": "assistant", "content": text or None, "tool_calls": [
            {"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]}
        payload = {"id": cid, "object": "chat.completion", "created": created, "model": model,
                   "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                   "usage": usage}
        handler._send_bytes(200, json.dumps(payload).encode(), "application/json", None)
        return

    def event(delta: dict[str, Any], finish_reason: Any = None) -> bytes:
        obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        return b"data: " + json.dumps(obj).encode() + b"\n\n"

    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": p}
                                    for p in ([text] if text else [])]
    n = int(spec.get("arg_pieces", 3))
    for i, c in enumerate(calls):
        head: dict[str, Any] = {"id": c["id"], "type": "function",
                                "function": {"name": c["name"], "arguments": ""}}
        if not spec.get("indexless"):
            head["index"] = i
        deltas.append({"tool_calls": [head]})
        for frag in _pieces(c["arguments"], n):
            piece: dict[str, Any] = {"function": {"arguments": frag}}
            if not spec.get("indexless"):
                piece["index"] = i
            deltas.append({"tool_calls": [piece]})
    tail = [event({}, finish)]
    if (body.get("stream_options") or {}).get("include_usage") and not spec.get("no_usage"):
        tail.append(b"data: " + json.dumps({"id": cid, "object": "chat.completion.chunk",
                                            "created": created, "model": model, "choices": [],
                                            "usage": usage}).encode() + b"\n\n")
    tail.append(b"data: [DONE]\n\n")
    handler._stream(spec, "text/event-stream; charset=utf-8", [event(d) for d in deltas], tail,
                    float(spec.get("delay") or 0.0))


def chat_bodies(srv: Any) -> list[dict[str, Any]]:
    """The JSON bodies of the chat requests the server received, in order."""
    return [r.body for r in srv.requests if r.path.startswith("/v1/chat/completions")
            and isinstance(r.body, dict)]


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``tool`` messages of one request body (the results the client sent back)."""
    return [m for m in body.get("messages", []) if m.get("role") == "tool"]


def tool_results(srv: Any, request: int = -1) -> dict[str, str]:
    """``{tool_call_id: content}`` of the tool messages in the ``request``-th chat request."""
    return {m["tool_call_id"]: m["content"] for m in tool_messages(chat_bodies(srv)[request])}


def sent_tools(body: dict[str, Any]) -> list[str]:
    """The names of the tools one request body offered."""
    return [t["function"]["name"] for t in body.get("tools") or []]
