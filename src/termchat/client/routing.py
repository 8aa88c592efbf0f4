"""The one road every request of both fronts takes to the core: :class:`Routed`.

It wraps the process's core client (:class:`termchat.client.Core`, warm or in-process) and adds,
in this order:

1. the **response cache** (:mod:`termchat.client.cache`) for chat requests: a hit is answered
   here, before the core is asked for anything — no warm core connection, no LiteLLM import;
2. the **fallback chain** (:mod:`termchat.client.fallback`): the primary model, then the
   chain's models, while a failure before any text allows it; image and speech requests too;
3. the complete reply written to the cache (when the request was cacheable).

``Routed.before_send(req, rm)`` runs right before each model of a chain is sent a request (not
for a cache hit): the hook for checks that must see every paid request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..core.types import Finished, Notice, ReasoningDelta, TextDelta, Usage
from .base import EventStream, Notify


@dataclass
class Routing:
    """How a front wants its requests routed.

    Attributes:
        chain: model names tried after the primary, in order (from :func:`plan`).
        cache: ``--cache`` (``True``), or ``None`` to follow config ``cache.enabled``.
    """

    chain: list[str] = field(default_factory=list)
    cache: bool | None = None


def plan(name: str, config: Any, *, api_base: str | None = None, api_key: str | None = None,
         fallbacks: list[str] | None = None) -> tuple[Any, list[str]]:
    """Resolve the model the user asked for and its fallback chain: ``(rm, chain)``.

    ``fallbacks``: ``--fallback`` names (or a preset's), replacing the configured chain; each
    must resolve. With a chain, the primary's key is not required here (a missing key passes
    the request to the next model); without one, a missing key is the usual error.

    Raises:
        ModelNotFoundError: the model or a ``--fallback`` name does not resolve (exit 2).
        AuthenticationError: no chain and the model's key is not set (exit 3).
    """
    from ..chains import chain_for
    from ..core.catalog import resolve_model
    from .fallback import resolve_candidate

    rm = resolve_model(name, config, api_base=api_base, api_key=api_key, require_key=False)
    for extra in fallbacks or []:
        resolve_candidate(extra, config)  # a typo in --fallback: exit 2 before anything is sent
    chain = chain_for(config, name, rm.id, fallbacks)
    if not chain:
        rm = resolve_model(name, config, api_base=api_base, api_key=api_key)
    return rm, chain


class Routed:
    """A :class:`~termchat.client.base.CoreClient` over ``core`` with the response cache and
    the fallback chain of ``routing`` (see the module docstring)."""

    def __init__(self, core: Any, config: Any, routing: Routing | None = None) -> None:
        self.core = core
        self.config = config
        self.routing = routing or Routing()
        self._cache: Any = None
        self._media_at = 0

    def before_send(self, req: Any, rm: Any) -> None:
        """Called before each model of a chain is sent ``req`` (never for a cache hit). Raises
        a :class:`~termchat.core.errors.TermchatError` to refuse the request."""

    # -- chat ----------------------------------------------------------------------------------

    def cache(self) -> Any:
        """The response cache of this process (opened on first use)."""
        if self._cache is None:
            from .cache import ResponseCache

            self._cache = ResponseCache(float(self.config.get("cache.ttl_seconds")))
        return self._cache

    def chat(self, req: Any, rm: Any, tools: Any = None) -> EventStream:
        """The events of ``req``: replayed from the cache on a hit (the returned stream has
        ``cached = True``), else from the chain's first model that answers. ``tools`` (a
        :class:`~termchat.client.tools.ToolSet`, or ``None``) answers the model's tool calls in
        this process; a request with tools is never answered from, nor written to, the cache
        (a tool's result depends on the moment and the machine)."""
        from .cache import cacheable, enabled
        from .fallback import FallbackStream

        key = None
        note = None
        if enabled(self.config, self.routing.cache):
            why = "tools are enabled" if req.tools else cacheable(req.options, self.config)
            if why is None:
                from .cache import CachedStream, request_key

                key = request_key(req, rm)
                entry = self.cache().get(key)
                if entry is not None:
                    return CachedStream(entry)
            elif self.routing.cache:
                note = f"not cached: {why}"
        send = self.core.chat if tools is None else (
            lambda r, m: self.core.chat(r, m, tools))
        stream = FallbackStream(send, req, rm, self.routing.chain, self.config,
                                self.before_send)
        if key is None and note is None:
            return stream
        return _Recorder(stream, self if key is not None else None, note)

    # -- image and speech ----------------------------------------------------------------------

    def _media(self, op: str, req: Any, rm: Any, on_notice: Notify | None) -> Any:
        from .fallback import run_media

        start = self._media_at if req.model == rm.id else 0
        began = time.monotonic()
        result, self._media_at = run_media(
            lambda r, m: getattr(self.core, op)(r, m, on_notice), req, rm,
            self.routing.chain, self.config, on_notice, start, self.before_send)
        record_media_call(self.config, op, result, time.monotonic() - began)
        return result

    def image(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        """An :class:`~termchat.core.media.ImageResult`, from the chain's first model that
        answers."""
        return self._media("image", req, rm, on_notice)

    def speech(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        """A :class:`~termchat.core.media.SpeechResult`; the parts of one text after the first
        go to the model that answered the first."""
        return self._media("speech", req, rm, on_notice)

    def live_models(self, timeout: float) -> Any:
        """The core's listing, unchanged."""
        return self.core.live_models(timeout)

    def close(self) -> None:
        """Close the cache file (the core is the caller's to close)."""
        if self._cache is not None:
            self._cache.close()


def record_media_call(config: Any, kind: str, result: Any, duration_s: float) -> None:
    """Store one image or speech call (``kind``), its model, wall seconds and USD (not its
    bytes) in the history's ``media_calls`` table, for ``termchat usage``; nothing when config
    ``log`` is off. A store that cannot be written is logged, never raised: the image or the
    audio is what the user asked for."""
    if config is not None and not config.get("log"):
        return
    from ..store import Store

    try:
        store = Store()
        try:
            store.add_media_call(kind, getattr(result, "model", "") or "",
                                 duration_s=round(duration_s, 4),
                                 cost_usd=getattr(result, "cost_usd", None))
        finally:
            store.close()
    except Exception:
        import logging

        logging.getLogger("termchat").warning("could not store the %s call's usage", kind,
                                              exc_info=True)


class _Recorder:
    """A chain's stream that writes its complete reply to the cache (``routed`` given), and
    opens with a notice ``note`` (why a request was not cached)."""

    cached = False

    def __init__(self, stream: Any, routed: Routed | None, note: str | None) -> None:
        self._stream = stream
        self._routed = routed
        self._note = note

    def __iter__(self) -> Iterator[Any]:
        from .cache import Entry, request_key

        if self._note:
            yield Notice(self._note)
        text, reasoning, usage = [], [], None
        events = iter(self._stream)
        try:
            for ev in events:
                if isinstance(ev, TextDelta):
                    text.append(ev.text)
                elif isinstance(ev, ReasoningDelta):
                    reasoning.append(ev.text)
                elif isinstance(ev, Usage):
                    usage = ev
                elif isinstance(ev, Finished) and self._routed is not None and text:
                    answered = self._stream.answered
                    if answered is not None:
                        req, rm = answered
                        self._routed.cache().put(request_key(req, rm), Entry(
                            model=ev.model, text="".join(text),
                            reasoning="".join(reasoning) or None,
                            finish_reason=ev.finish_reason,
                            prompt_tokens=usage.prompt_tokens if usage else None,
                            completion_tokens=usage.completion_tokens if usage else None,
                            cost_usd=usage.cost_usd if usage else None, created_at=0.0))
                yield ev
        finally:
            events.close()  # type: ignore[attr-defined]

    def cancel(self) -> None:
        self._stream.cancel()

