"""Tool rounds: a chat request whose model calls tools, answered round after round.

:func:`stream_rounds` runs one completion (:func:`termchat.core.engine.stream_chat`); when the
model called tools, it yields the ``ToolCall`` events, awaits ``answer(calls)`` — the front's
results, which the core never computes itself (tools run in the front's process: the warm
server asks its client over the socket, the in-process core hands the calls to the reading
thread) — yields them as ``ToolResult`` events, appends the assistant's calls and the tool
messages to the conversation, and asks again; up to ``req.max_rounds`` rounds, after which one
last completion is asked with ``tool_choice="none"``. Each round's ``Usage`` passes through
(the fronts add them up); one ``Finished`` ends the whole request, with the total duration and
the first text's time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from .catalog import ResolvedModel, resolve_model
from .settings import Settings
from .types import ChatRequest, Finished, Message, Notice, TextDelta, ToolCall, ToolResult

#: ``answer(calls) -> results``: the front's results for one round's calls.
Answer = Callable[[list[ToolCall]], Awaitable[list[ToolResult]]]


def tools_supported(rm: ResolvedModel) -> bool:
    """False only when the catalog says the model cannot call functions
    (``supports_function_calling: false``); unknown models are given the tools."""
    return rm.info.get("supports_function_calling") is not False


async def no_answer(calls: list[ToolCall]) -> list[ToolResult]:
    """The answer when no front runs tools: an error result for every call."""
    return [ToolResult(c.id, c.name, "error: no tools are available here", ok=False, round=c.round)
            for c in calls]


def _complete(calls: list[ToolCall], results: list[ToolResult]) -> list[ToolResult]:
    """One result per call, in the calls' order (a missing one is an error result)."""
    by_id = {r.id: r for r in results}
    out = []
    for c in calls:
        r = by_id.get(c.id) or ToolResult(c.id, c.name, "error: no result was returned", ok=False)
        out.append(replace(r, name=c.name, round=c.round))
    return out


async def stream_rounds(
    req: ChatRequest,
    config: Settings | None = None,
    resolved: ResolvedModel | None = None,
    answer: Answer | None = None,
) -> AsyncIterator[Any]:
    """The events of ``req`` with its tool rounds (see the module doc); without
    ``req.tools`` exactly :func:`~termchat.core.engine.stream_chat`'s.

    Raises:
        TermchatError: as ``stream_chat`` (text and rounds already yielded are the caller's).
    """
    from .engine import stream_chat

    rm = resolved or resolve_model(req.model, config, api_base=req.api_base, api_key=req.api_key)
    if req.tools and not tools_supported(rm):
        yield Notice(f"{rm.id} cannot call tools: asked without them")
        req = replace(req, tools=[])
    if not req.tools:
        async for ev in stream_chat(req, config, rm):
            yield ev
        return
    answer = answer or no_answer
    started = time.monotonic()
    ttft: float | None = None
    messages = list(req.messages)
    rounds = 0
    while True:
        last = rounds >= max(0, req.max_rounds)
        options = {**req.options, "tool_choice": "none"} if last else req.options
        this = replace(req, messages=messages, options=options)
        calls: list[ToolCall] = []
        text: list[str] = []
        finished: Finished | None = None
        async for ev in stream_chat(this, config, rm):
            if isinstance(ev, ToolCall):
                calls.append(replace(ev, round=rounds + 1))
            elif isinstance(ev, Finished):
                finished = ev
            else:
                if isinstance(ev, TextDelta):
                    text.append(ev.text)
                    if ttft is None:
                        ttft = time.monotonic() - started
                yield ev
        if not calls or last:
            if calls:
                yield Notice(f"the model still called tools after {req.max_rounds} rounds "
                             "(tools.max_rounds): stopped there")
            assert finished is not None
            yield Finished(finished.finish_reason, finished.model, time.monotonic() - started, ttft)
            return
        rounds += 1
        for c in calls:
            yield c
        results = _complete(calls, await answer(calls))
        for r in results:
            yield r
        messages.append(Message("assistant", "".join(text), tool_calls=calls))
        messages.extend(Message("tool", r.content, tool_call_id=r.id) for r in results)
