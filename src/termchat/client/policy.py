"""Where a request runs: the one policy both fronts use (:class:`Core`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .. import warm
from ..core.errors import TermchatError
from .base import EventStream, Notify


class Core:
    """The core client of a process: requests go to the **warm core** when it is enabled
    (config ``warm_core.enabled``; ``TERMCHAT_NO_WARM=1`` and ``--no-warm`` turn it off) and
    answers — a core that is starting is waited for — else they run **in this process**, and
    :meth:`close` then starts a warm core for next time. The events and results are the same
    either way.

    The choice is made once: the first request the warm core does not take (nothing was shown
    or charged yet) is run here, and so is every later one (``sticky``, the command line's
    rule: one process, one decision). The chat app, which lives longer and keeps a warm core
    started (:meth:`ensure_warm`, :meth:`keepalive`), passes ``sticky=False``: each request
    tries the warm core again.

    Implements :class:`~termchat.client.base.CoreClient`.
    """

    def __init__(self, config: Any, *, sticky: bool = True, start_after: bool = True) -> None:
        self.config = config
        self.use_warm = warm.enabled(config)
        self.sticky = sticky
        self.start_after = start_after
        self.sock: Path | None = None
        self.fell_back = False
        self._local: Any = None
        self._started = False

    # -- the implementations -----------------------------------------------------------------

    def warm_core(self) -> Any:
        from .warm_core import WarmCore

        return WarmCore(self.config, self.sock)

    def local(self) -> Any:
        """The in-process implementation (created once; LiteLLM is imported on first use)."""
        if self._local is None:
            from .local import LocalCore

            self._local = LocalCore(self.config)
        return self._local

    def _unavailable(self) -> None:
        self.fell_back = True
        if self.sticky:
            self.use_warm = False

    # -- CoreClient ----------------------------------------------------------------------------

    def chat(self, req: Any, rm: Any, tools: Any = None) -> EventStream:
        """The events of ``req`` for ``rm``. ``tools`` (a
        :class:`~termchat.client.tools.ToolSet`, with ``req.tools = tools.schemas()``) runs
        the model's tool calls in this process — between events, in the iterating thread —
        whether the warm core or this process serves the request."""
        return _PolicyStream(self, req, rm, tools)

    def _media(self, op: str, req: Any, rm: Any, on_notice: Notify | None) -> Any:
        if self.use_warm:
            try:
                return getattr(self.warm_core(), op)(req, rm, on_notice)
            except warm.WarmUnavailable:
                self._unavailable()  # nothing was charged: run it here
        return getattr(self.local(), op)(req, rm, on_notice)

    def image(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        return self._media("image", req, rm, on_notice)

    def speech(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        return self._media("speech", req, rm, on_notice)

    def transcribe(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        return self._media("transcribe", req, rm, on_notice)

    def load_stt(self, rm: Any) -> float:
        """Load the speech-to-text model where the next transcription will run."""
        if self.use_warm:
            try:
                return float(self.warm_core().load_stt(rm))
            except warm.WarmUnavailable:
                self._unavailable()
        return float(self.local().load_stt(rm))

    def live_models(self, timeout: float) -> Any:
        """The live local models (:class:`~termchat.core.listing.LiveResult`): as the warm core
        sees them when one answers (its connections are open), else probed from here. A
        listing never starts a warm core nor changes where later requests run."""
        if self.use_warm:
            try:
                return self.warm_core().live_models(timeout)
            except (warm.WarmUnavailable, TermchatError):
                pass
        return self.local().live_models(timeout)

    def close(self) -> None:
        """After the process's requests: when one ran here although the warm core is enabled,
        start a warm core for next time (detached; it outlives this process)."""
        if self.fell_back and self.start_after and warm.enabled(self.config):
            self.fell_back = False
            warm.start_background(float(self.config.get("warm_core.idle_seconds")), self.sock)

    def __enter__(self) -> Core:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- a long-lived front (the chat app) -----------------------------------------------------

    def ensure_warm(self) -> bool:
        """Whether a warm core accepts connections now; if none runs, start one (once, until
        :meth:`keepalive` finds it gone). An unusable runtime directory turns the warm core off
        for this process. Blocking (a socket probe, a process spawn): call from a thread."""
        try:
            if self.sock is None:
                self.sock = warm.socket_path()
            if warm.reachable(self.sock):
                return True
            if not self._started:
                self._started = True
                warm.start_background(float(self.config.get("warm_core.idle_seconds")), self.sock)
        except warm.WarmUnavailable:
            self.use_warm = False
        except Exception:
            pass
        return False

    def wait_warm(self, timeout: float, on_wait: Callable[[], Any] | None = None,
                  cancelled: threading.Event | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the warm core to accept connections (starting one
        when none runs; ``on_wait()`` is called once if it has to wait). False when the warm
        core is off, or did not come in time — then requests run here from now on. Blocking."""
        deadline = time.monotonic() + timeout
        waited = False
        while self.use_warm:
            if self.ensure_warm():
                return True
            if cancelled is not None and cancelled.is_set():
                return False
            if not waited and on_wait is not None:
                waited = True
                on_wait()
            if time.monotonic() > deadline:
                self.use_warm = False
                break
            time.sleep(0.1)
        return False

    def keepalive(self) -> None:
        """Tell the warm core this process still uses it (it exits after
        ``warm_core.idle_seconds`` without requests); start one again if it went away.
        Blocking: call from a thread."""
        if not self.use_warm or self.sock is None:
            return
        try:
            warm.control("status", self.sock)
        except warm.WarmUnavailable:
            self._started = False
            self.ensure_warm()


class _PolicyStream:
    """A chat stream from the warm core, or — when it does not take the request, which is
    known before any event — from this process."""

    def __init__(self, core: Core, req: Any, rm: Any, tools: Any = None) -> None:
        self._core = core
        self._args = (req, rm)
        self._tools = tools
        self._current: Any = None
        self._cancelled = False

    def _use(self, stream: Any) -> Any:
        self._current = stream
        if self._cancelled:
            stream.cancel()
        return stream

    def __iter__(self) -> Iterator[Any]:
        core = self._core
        req, rm = self._args
        if core.use_warm:
            events = iter(self._use(core.warm_core().chat(req, rm, self._tools)))
            try:
                try:
                    first = next(events)
                except StopIteration:
                    return
                except warm.WarmUnavailable:
                    core._unavailable()  # nothing was shown yet: run it here
                else:
                    yield first
                    yield from events
                    return
            finally:
                events.close()  # type: ignore[attr-defined]
        if self._cancelled:
            return
        yield from self._use(core.local().chat(req, rm, self._tools))

    def cancel(self) -> None:
        self._cancelled = True
        if self._current is not None:
            self._current.cancel()
