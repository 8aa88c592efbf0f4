"""Fallback chains at run time: the next model is tried when one fails before any text arrived.

Which failures pass the request on (:func:`falls_back`) is decided from the error's class and
its ``retryable`` flag (:mod:`termchat.core.errors`, set by :func:`termchat.core.faults.classify`
after the core's own retries): a rate limit, a 5xx/overloaded answer, a connection failure, a
timeout, a context window too small for the prompt, and a missing key. A rejected key (401/403)
passes it on only with ``fallback_on_auth = true``; anything else (a bad request, a content
policy refusal, an unknown model, an interruption) ends the request as it is. Once text (or
reasoning) has arrived nothing is tried again: no silent double answers.

Each failure is announced as a :class:`~termchat.core.types.Notice` (``X failed before any
text (why); trying Y``), and a reply that came from a later model ends with a notice naming it
and why the others did not answer; its ``Finished`` event names the model that answered, which
is what the history stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from ..core.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ContextWindowExceededError,
    InterruptedError_,
    RateLimitError,
    TermchatError,
    TimeoutError_,
)
from ..core.types import Finished, Notice, ReasoningDelta, TextDelta, ToolCall


class MissingKeyError(AuthenticationError):
    """No key is set for a model of a chain (exit 3): found before anything is sent, and always
    a reason to try the next model (unlike a key the provider rejected)."""


def missing_key(rm: Any) -> MissingKeyError | None:
    """The error for a resolved model whose provider needs a key that is not set (the rule of
    :func:`termchat.core.catalog.resolve_model` with ``require_key``), else ``None``."""
    if rm.key_env and not rm.api_key:
        return MissingKeyError(
            f"no API key for {rm.provider} (model {rm.id})",
            hint=f"set {rm.key_env} or run `termchat keys set {rm.provider}`",
        )
    return None


def falls_back(err: TermchatError, config: Any) -> bool:
    """Whether ``err`` (raised before any text arrived) passes the request to the next model of
    the chain; see the module docstring."""
    if isinstance(err, InterruptedError_):
        return False
    if isinstance(err, MissingKeyError):
        return True
    if isinstance(err, AuthenticationError):
        return bool(config.get("fallback_on_auth"))
    if isinstance(err, (RateLimitError, ConnectionFailedError, TimeoutError_,
                        ContextWindowExceededError)):
        return True
    return bool(err.retryable)


def reason(err: TermchatError) -> str:
    """A few words for a notice: the error's kind and its message."""
    kind = {"rate_limited": "rate limited", "connection": "connection failed",
            "timeout": "timed out", "context_window_exceeded": "context window too small",
            "authentication": "key missing or rejected"}.get(err.kind, err.kind)
    return f"{kind}: {err.message}"


def resolve_candidate(name: str, config: Any) -> Any:
    """A chain entry resolved without requiring its key (a missing key is found when its turn
    comes, :func:`missing_key`).

    Raises:
        TermchatError: the name does not resolve (unknown model or provider).
    """
    from ..core.catalog import resolve_model

    return resolve_model(name, config, require_key=False)


class FallbackStream:
    """The :class:`~termchat.client.base.EventStream` of a chat request over a chain: the
    primary model ``rm``, then each of ``chain`` (names) in order, each request sent through
    ``send(req, rm)`` (the process's core: warm or in-process). ``answered`` is
    ``(req, rm)`` of the model whose reply was streamed (for the response cache)."""

    def __init__(self, send: Callable[[Any, Any], Any], req: Any, rm: Any, chain: list[str],
                 config: Any, before_send: Callable[[Any, Any], None] | None = None) -> None:
        self._send = send
        self._req = req
        self._rm = rm
        self._chain = list(chain)
        self._config = config
        self._before_send = before_send
        self._current: Any = None
        self._cancelled = False
        self.answered: tuple[Any, Any] | None = None
        self.failures: list[tuple[str, TermchatError]] = []

    def _candidates(self) -> Iterator[tuple[str, Any, TermchatError | None]]:
        yield self._rm.id, self._rm, None
        for name in self._chain:
            try:
                yield name, resolve_candidate(name, self._config), None
            except TermchatError as err:
                yield name, None, err

    def __iter__(self) -> Iterator[Any]:
        names = [self._rm.id, *self._chain]
        for i, (name, rm, err) in enumerate(self._candidates()):
            if self._cancelled:
                return
            last = i == len(names) - 1
            started = False
            try:
                if err is not None:
                    raise err
                req = self._req if rm is self._rm else replace(
                    self._req, model=rm.id, api_base=None, api_key=None)
                missing = missing_key(rm)
                if missing is not None:
                    raise missing
                if self._before_send is not None:
                    self._before_send(req, rm)
                stream = self._current = self._send(req, rm)
                if self._cancelled:
                    stream.cancel()
                events = iter(stream)
                try:
                    for ev in events:
                        if isinstance(ev, (TextDelta, ReasoningDelta, ToolCall)):
                            started = True  # text shown or a tool run: never asked twice
                        if isinstance(ev, Finished):
                            self.answered = (req, rm)
                            if self.failures:
                                yield Notice(self._summary(ev.model))
                        yield ev
                finally:
                    close = getattr(events, "close", None)
                    if close is not None:
                        close()
                return
            except TermchatError as exc:
                if started or last or self._cancelled or not falls_back(exc, self._config):
                    raise
                label = rm.id if rm is not None else name
                self.failures.append((label, exc))
                yield Notice(f"{label} failed before any text ({reason(exc)}); "
                             f"trying {names[i + 1]}")

    def _summary(self, model: str) -> str:
        why = "; ".join(f"{m}: {reason(e)}" for m, e in self.failures)
        return f"answered by {model} ({why})"

    def cancel(self) -> None:
        """Stop the request; no further model is tried (thread-safe, idempotent)."""
        self._cancelled = True
        if self._current is not None:
            self._current.cancel()


def run_media(call: Callable[[Any, Any], Any], req: Any, rm: Any, chain: list[str], config: Any,
              on_notice: Callable[[str], None] | None, start: int = 0,
              before_send: Callable[[Any, Any], None] | None = None) -> tuple[Any, int]:
    """An image or speech request over a chain: ``call(req, rm)`` for the primary ``rm`` and
    then each model of ``chain`` while the failure :func:`falls_back`, starting at position
    ``start`` (a speech split in parts keeps to the model that answered the first part).
    Returns ``(result, position of the model that answered)``; notices go to ``on_notice``.

    Raises:
        TermchatError: the last model's failure, or the first one that does not fall back.
    """
    names = [rm.id, *chain]
    failures: list[tuple[str, TermchatError]] = []
    for i in range(start, len(names)):
        cur: Any = None
        try:
            cur = rm if i == 0 else resolve_candidate(names[i], config)
            req_i = req if i == 0 else replace(req, model=cur.id, api_base=None, api_key=None)
            missing = missing_key(cur)
            if missing is not None:
                raise missing
            if before_send is not None:
                before_send(req_i, cur)
            result = call(req_i, cur)
        except TermchatError as exc:
            if i == len(names) - 1 or not falls_back(exc, config):
                raise
            label = cur.id if cur is not None else names[i]
            failures.append((label, exc))
            if on_notice is not None:
                on_notice(f"{label} failed ({reason(exc)}); trying {names[i + 1]}")
            continue
        if failures and on_notice is not None:
            why = "; ".join(f"{m}: {reason(e)}" for m, e in failures)
            on_notice(f"answered by {cur.id} ({why})")
        return result, i
    raise AssertionError("unreachable: the last model raises or returns")
