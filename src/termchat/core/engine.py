"""The provider engine: the only place that imports LiteLLM, lazily.

:func:`load_litellm` imports it on first use with the environment hygiene docs/architecture.md lists (no
network at import, no banners, log lines to ``termchat.log`` only, the embedded model registered
as the ``local`` custom provider). :func:`stream_chat` turns a :class:`ChatRequest` into an async
stream of typed events; :func:`map_exception` turns any LiteLLM/provider/network exception into a
:class:`TermchatError`.

Retry policy (termchat's own; the OpenAI SDK's is off with ``max_retries=0``): on 429, 5xx and
connection errors that happen before any text arrived, wait ``min(2**attempt, retry_max_wait)``
seconds — or the provider's ``Retry-After`` when it sends one — announce it as a :class:`Notice`,
and try again, up to ``retries`` times. A ``Retry-After`` longer than ``retry_max_wait`` fails at
once with the wait in the message. Text that has started streaming is never retried (that would
repeat words).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from . import gateway
from .catalog import ResolvedModel, cost_usd, resolve_model
from .errors import ConnectionFailedError, TermchatError
from .faults import classify, retry_after_seconds  # noqa: F401  (retry_after_seconds: re-exported)
from .settings import Settings
from .toolwire import CallAccumulator, wire_messages, wire_names, wire_tools
from .types import ChatRequest, Finished, Notice, ReasoningDelta, TextDelta, ToolCall, Usage

_litellm: Any = None
_lock = threading.Lock()

# Loggers LiteLLM and its HTTP stack write to; all routed to termchat.log, never the terminal.
_NOISY_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx", "httpcore", "openai")


def load_litellm() -> Any:
    """Import LiteLLM once (thread-safe) and configure it; returns the module.

    Sets ``LITELLM_LOCAL_MODEL_COST_MAP`` and ``LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS`` first (no
    network at import), ``suppress_debug_info``, routes its loggers to the log file, and registers
    the embedded model as the ``local`` custom provider. Takes about 5 s on these machines.
    """
    global _litellm
    if _litellm is not None:
        return _litellm
    with _lock:
        if _litellm is not None:
            return _litellm
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        os.environ["LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS"] = "True"
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        import warnings

        import litellm

        # LiteLLM and pydantic emit deprecation warnings at import and per call: to the log file.
        logging.captureWarnings(True)
        warnings.filterwarnings("ignore", module=r"(litellm|pydantic|httpx|openai)(\..*)?")
        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.set_verbose = False
        from .logs import route_loggers

        route_loggers((*_NOISY_LOGGERS, "py.warnings"))
        from .local import LocalProvider

        litellm.custom_provider_map = [
            {"provider": "local", "custom_handler": LocalProvider()},
        ]
        _litellm = litellm
        return litellm


async def aload_litellm() -> Any:
    """:func:`load_litellm` in a worker thread, so an event loop (the TUI) keeps running."""
    if _litellm is not None:
        return _litellm
    return await asyncio.to_thread(load_litellm)


def litellm_loaded() -> bool:
    """Whether LiteLLM has been imported by this process."""
    return _litellm is not None


# ---------------------------------------------------------------------------------------------
# Errors (decided in termchat.core.faults from statuses and provider codes, not wording)


def map_exception(exc: BaseException, rm: ResolvedModel | None = None, *, mid_stream: bool = False) -> TermchatError:
    """Map any exception from LiteLLM, the OpenAI SDK, httpx or the embedded model to a
    :class:`TermchatError` (see :func:`termchat.core.faults.classify`)."""
    return classify(exc, rm, mid_stream=mid_stream)


# ---------------------------------------------------------------------------------------------
# Chat


def build_kwargs(req: ChatRequest, rm: ResolvedModel, timeout: float) -> dict[str, Any]:
    """The keyword arguments for ``litellm.acompletion`` (no key in any log: LiteLLM's loggers
    are routed to the redacting file handler)."""
    kwargs: dict[str, Any] = {
        "model": rm.litellm_model,
        "messages": [m.to_provider() for m in req.messages],
        "stream": req.stream,
        "timeout": timeout,
        "num_retries": 0,
        "max_retries": 0,
    }
    if req.stream:
        kwargs["stream_options"] = {"include_usage": True}
    if rm.api_base:
        kwargs["api_base"] = rm.api_base
    if rm.api_key:
        kwargs["api_key"] = rm.api_key
    kwargs.update(gateway.call_extras(rm, req.conversation_id, chat=True))  # a gateway's attribution
    if req.tools or any(m.tool_calls for m in req.messages):
        names = wire_names(req.tools)
        wire_messages(kwargs["messages"], names)
        if req.tools:
            kwargs["tools"] = wire_tools(req.tools, names)
    kwargs.update(req.options)
    return kwargs


def _delta_parts(chunk: Any) -> tuple[str | None, str | None, str | None]:
    """(text, reasoning, finish_reason) of one streamed chunk."""
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return None, None, None
    choice = choices[0]
    delta = getattr(choice, "delta", None)
    text = getattr(delta, "content", None) if delta is not None else None
    reasoning = getattr(delta, "reasoning_content", None) if delta is not None else None
    return text, reasoning, getattr(choice, "finish_reason", None)


def _tool_pieces(chunk: Any) -> Any:
    """The ``tool_calls`` pieces of one streamed chunk's delta, or ``None``."""
    choices = getattr(chunk, "choices", None) or []
    delta = getattr(choices[0], "delta", None) if choices else None
    return getattr(delta, "tool_calls", None) if delta is not None else None


def _calls_of(calls: CallAccumulator, req: ChatRequest) -> list[ToolCall]:
    """The response's tool calls with termchat's names (none when the request had no tools)."""
    if not calls or not req.tools:
        return []
    return calls.calls({w: n for n, w in wire_names(req.tools).items()})


def _usage_of(obj: Any) -> tuple[int, int] | None:
    usage = getattr(obj, "usage", None)
    if not usage:
        return None
    p = getattr(usage, "prompt_tokens", None) or 0
    c = getattr(usage, "completion_tokens", None) or 0
    if not p and not c:
        return None
    return int(p), int(c)


_KEEP_CHUNKS = 256
"""Chunks LiteLLM's stream wrapper may hold before :func:`_trim_chunks` thins them out."""


def _trim_chunks(stream: Any) -> bool:
    """Keep LiteLLM's copy of the streamed chunks short; True when some were dropped.

    LiteLLM's stream wrapper keeps every chunk in ``stream.chunks`` and, when the stream ends,
    rebuilds the whole response from them (``stream_chunk_builder``, in a worker thread) only
    to read the usage: on a 20,000-chunk reply that is 3-4 s of CPU between the last token
    and the end of the stream, and ~90 MiB held meanwhile (bench/bench_tui.py). termchat reads
    the text from the chunks as they come, so the wrapper needs only the first chunk (id,
    model), the last one and any that carry the provider's usage.
    """
    chunks = getattr(stream, "chunks", None)
    if type(chunks) is not list or len(chunks) <= _KEEP_CHUNKS:
        return False
    keep = [chunks[0]]
    keep += [c for c in chunks[1:-1] if getattr(c, "usage", None) is not None]
    keep.append(chunks[-1])
    chunks[:] = keep
    return True


def _provider_sent_usage(stream: Any) -> bool:
    """Whether the provider's own usage report is among the wrapper's chunks."""
    return any(getattr(c, "usage", None) is not None for c in getattr(stream, "chunks", None) or [])


def _count_tokens(litellm: Any, model: str, text: str) -> int:
    """Tokens of ``text`` for ``model`` by LiteLLM's tokenizer (an estimate for providers that
    report no usage); 0 when it cannot count."""
    try:
        return int(litellm.token_counter(model=model, text=text))
    except Exception as exc:  # an unknown model or tokenizer: no estimate
        logging.getLogger("termchat").debug("token count for %s failed: %r", model, exc)
        return 0


async def stream_chat(
    req: ChatRequest,
    config: Settings | None = None,
    resolved: ResolvedModel | None = None,
) -> AsyncIterator[TextDelta | ReasoningDelta | Usage | Notice | ToolCall | Finished]:
    """Run one chat completion and yield its events (see :mod:`termchat.core.types`). When
    ``req.tools`` is set, the calls the model made come as ``ToolCall`` events (round 1, in
    index order) just before ``Finished``; running them and the next rounds are
    :func:`termchat.core.toolrounds.stream_rounds`'s.

    ``config`` gives the settings (:class:`~termchat.core.settings.Settings`: timeouts,
    retries, aliases, endpoints); ``resolved`` skips
    model resolution when the caller already did it (to announce the model first).

    Raises:
        TermchatError: any failure, mapped by :func:`map_exception`. Text already yielded is
            the caller's to keep.
    """
    rm = resolved or resolve_model(req.model, config, api_base=req.api_base, api_key=req.api_key)
    timeout = float(req.timeout or (config.get("timeout") if config else 120.0))
    retries = int(config.get("retries") if config else 3)
    max_wait = float(config.get("retry_max_wait") if config else 30.0)
    litellm = await aload_litellm() if not litellm_loaded() else _litellm
    kwargs = build_kwargs(req, rm, timeout)

    started = time.monotonic()
    ttft: float | None = None
    attempt = 0
    while True:
        got_text = False
        mid_stream = False  # True once the provider answered 200 and the stream is being read
        stream = None
        try:
            async with asyncio.timeout(timeout):
                resp = await litellm.acompletion(**kwargs)
            calls = CallAccumulator()
            if not req.stream:
                text, reasoning = "", None
                choices = getattr(resp, "choices", None) or []
                finish = None
                if choices:
                    msg = choices[0].message
                    text = getattr(msg, "content", None) or ""
                    reasoning = getattr(msg, "reasoning_content", None)
                    finish = getattr(choices[0], "finish_reason", None)
                    calls.feed(getattr(msg, "tool_calls", None))
                ttft = time.monotonic() - started
                if reasoning:
                    yield ReasoningDelta(reasoning)
                if text:
                    yield TextDelta(text)
                u = _usage_of(resp)
                if u:
                    yield Usage(u[0], u[1], cost_usd(rm.info, *u))
                for call in _calls_of(calls, req):
                    yield call
                yield Finished(finish, rm.id, time.monotonic() - started, ttft)
                return
            stream = resp
            mid_stream = True
            finish: str | None = None
            usage_seen = False
            trimmed = False
            parts: list[str] = []  # the text, for a usage estimate if the provider sends none
            it = stream.__aiter__()
            while True:
                try:
                    # asyncio.timeout, not wait_for: wait_for can swallow a cancellation that
                    # races with a chunk's arrival (Python 3.11), and Ctrl+C must always win.
                    async with asyncio.timeout(timeout):
                        chunk = await it.__anext__()
                except StopAsyncIteration:
                    break
                text, reasoning, fr = _delta_parts(chunk)
                if reasoning:
                    if ttft is None:
                        ttft = time.monotonic() - started
                    got_text = True
                    yield ReasoningDelta(reasoning)
                if text:
                    if ttft is None:
                        ttft = time.monotonic() - started
                    got_text = True
                    parts.append(text)
                    yield TextDelta(text)
                if fr:
                    finish = fr
                pieces = _tool_pieces(chunk)
                if pieces:
                    got_text = True  # a call has started: retrying would repeat it
                    calls.feed(pieces)
                trimmed = _trim_chunks(stream) or trimmed
                u = _usage_of(chunk)
                if u and not usage_seen:
                    usage_seen = True
                    if trimmed and not _provider_sent_usage(stream):
                        # LiteLLM counted only the chunks it still held: count the text here
                        u = (u[0], _count_tokens(litellm, rm.litellm_model, "".join(parts)))
                    yield Usage(u[0], u[1], cost_usd(rm.info, *u))
            # LiteLLM synthesises a final "stop" when a stream just ends; whether the provider
            # itself said it was done is on the wrapper. A stream that ends without it was cut.
            if hasattr(stream, "received_finish_reason"):
                said = getattr(stream, "received_finish_reason", None) or getattr(
                    stream, "intermittent_finish_reason", None
                )
                if said is None:
                    finish = None
            if finish is None:
                raise ConnectionFailedError(
                    f"the stream from {rm.provider} ended before the answer was complete",
                    hint="try again; the partial answer was kept" if got_text else "try again",
                )
            for call in _calls_of(calls, req):
                yield call
            yield Finished(finish, rm.id, time.monotonic() - started, ttft)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # mapped below; nothing escapes unmapped
            err = map_exception(exc, rm, mid_stream=mid_stream)
            if got_text or attempt >= retries or not err.retryable:
                raise err from None
            attempt += 1
            delay = err.retry_after if err.retry_after is not None else min(2.0 ** (attempt - 1), max_wait)
            if delay > max_wait:
                raise err from None
            yield Notice(f"{err.message} — retrying in {delay:.1f} s (attempt {attempt} of {retries})")
            await asyncio.sleep(delay)
        finally:
            if stream is not None:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    try:
                        await asyncio.wait_for(aclose(), 2.0)
                    except (Exception, asyncio.CancelledError) as exc:  # best effort: dropped anyway
                        logging.getLogger("termchat").debug("closing the stream failed: %r", exc)
