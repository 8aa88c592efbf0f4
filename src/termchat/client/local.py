"""The core in this process as a :class:`~termchat.client.base.CoreClient`.

The asyncio engine (:mod:`termchat.core.engine`, :mod:`termchat.core.media`) runs on one daemon
thread with its own event loop (:class:`LoopThread`), shared by every request of the process
(LiteLLM's HTTP clients stay bound to that loop); a caller in any thread blocks on a queue
(chat events) or a future (media results). The chat app keeps its own loop free that way: a
stream read through LiteLLM costs about 1 ms of CPU per chunk.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .base import Notify

#: How long a cancelled or abandoned request may take to close its provider stream (seconds).
CLOSE_WAIT_S = 5.0


class LoopThread:
    """One daemon thread running an asyncio loop, on which the core's coroutines run."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or cls._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="termchat-core", daemon=True).start()
                cls._loop = loop
            return cls._loop


class _End:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException | None) -> None:
        self.exc = exc


class _Ask:
    """The core waits for the results of a round's tool calls (answered by the reader)."""

    __slots__ = ("calls", "fut")

    def __init__(self, calls: list[Any], fut: Any) -> None:
        self.calls = calls
        self.fut = fut


def _load() -> None:
    from ..core import engine

    if not engine.litellm_loaded():
        engine.load_litellm()  # in the caller's thread: Ctrl+C during the import works there


class LocalStream:
    """The events of ``make()`` (an async generator of core events), run on the loop thread
    and handed over a queue. :meth:`cancel` cancels the request there (which closes the provider
    stream); leaving the iteration early (Ctrl+C, an error of the reader's) does too, and waits
    up to :data:`CLOSE_WAIT_S` for the stream to be closed.

    Tools: ``make(answer)`` receives the coroutine function the core awaits for each round's
    results; it hands the calls to the reading thread, which runs them with ``tools.run``
    (:class:`~termchat.client.tools.ToolSet`) between two events — the tools run in the
    front's thread, not on the core's loop. :meth:`cancel` stops a running round too."""

    def __init__(self, make: Callable[..., AsyncIterator[Any]], tools: Any = None) -> None:
        self._make = make
        self._tools = tools
        self._q: queue.Queue[Any] = queue.Queue()
        self._fut: Any = None
        self._cancelled = threading.Event()

    async def _answer(self, calls: list[Any]) -> list[Any]:
        fut = asyncio.get_running_loop().create_future()
        self._q.put(_Ask(calls, fut))
        return await fut

    async def _pump(self) -> None:
        events = self._make(self._answer)
        end: BaseException | None = None
        try:
            async for ev in events:
                self._q.put(ev)
        except BaseException as exc:  # handed to the reader (a cancellation included)
            end = exc
        finally:
            try:
                await events.aclose()  # the provider stream is closed before the reader ends
            except BaseException as exc:
                end = end or exc
            self._q.put(_End(end))

    def __iter__(self) -> Iterator[Any]:
        if self._cancelled.is_set():
            return
        if self._tools is not None:
            self._tools.reset()
        _load()
        self._fut = asyncio.run_coroutine_threadsafe(self._pump(), LoopThread.loop())
        if self._cancelled.is_set():
            self._fut.cancel()
        done = False
        try:
            while True:
                item = self._q.get()
                if isinstance(item, _End):
                    done = True
                    if item.exc is not None and not isinstance(item.exc, asyncio.CancelledError):
                        raise item.exc
                    return
                if isinstance(item, _Ask):
                    if not self._answered(item):
                        return  # cancelled while the tools ran: the finally stops the request
                    continue
                yield item
        finally:
            if not done:
                self._fut.cancel()
                self._drain()

    def _answered(self, ask: _Ask) -> bool:
        """Run a round's calls here and hand the results to the core; False when cancelled."""
        from .tools.run import answer_round

        results = answer_round(self._tools, ask.calls, self._cancelled)
        if results is None:
            return False
        loop = LoopThread.loop()
        loop.call_soon_threadsafe(lambda: ask.fut.done() or ask.fut.set_result(results))
        return True

    def _drain(self) -> None:
        """Wait (up to :data:`CLOSE_WAIT_S`) until the cancelled request has closed its
        provider stream."""
        import time

        deadline = time.monotonic() + CLOSE_WAIT_S
        try:
            while (left := deadline - time.monotonic()) > 0:
                if isinstance(self._q.get(timeout=left), _End):
                    return
        except (queue.Empty, KeyboardInterrupt):
            pass

    def cancel(self) -> None:
        self._cancelled.set()
        if self._tools is not None:
            self._tools.cancel()
        fut = self._fut
        if fut is not None:
            fut.cancel()


class LocalCore:
    """Requests run by the engine in this process (LiteLLM is imported on first use)."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def chat(self, req: Any, rm: Any, tools: Any = None) -> LocalStream:
        """The events of ``req``; ``tools`` (a :class:`~termchat.client.tools.ToolSet`)
        answers its tool rounds in the iterating thread."""
        from ..core import toolrounds

        return LocalStream(lambda answer: toolrounds.stream_rounds(req, self.config, rm, answer),
                           tools)

    def run(self, make: Callable[[], Any], load: bool = True) -> Any:
        """The result of the coroutine ``make()``, run on the loop thread; Ctrl+C (or any
        exception) while it waits cancels it there. ``load``: import LiteLLM first (in the
        caller's thread); the embedded speech-to-text model does without."""
        if load:
            _load()
        fut = asyncio.run_coroutine_threadsafe(make(), LoopThread.loop())
        try:
            return fut.result()
        except BaseException:
            fut.cancel()
            raise

    def image(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        from ..core.media import generate_images

        return self.run(lambda: generate_images(req, self.config, rm, on_notice=on_notice))

    def speech(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        from ..core.media import synthesize_speech

        return self.run(lambda: synthesize_speech(req, self.config, rm, on_notice=on_notice))

    def transcribe(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        from ..core.transcribe import transcribe_audio

        return self.run(lambda: transcribe_audio(req, self.config, rm, on_notice=on_notice),
                        load=rm.provider != "local")

    def load_stt(self, rm: Any) -> float:
        from ..core.transcribe import load_model

        return float(self.run(lambda: load_model(rm), load=rm.provider != "local"))

    def live_models(self, timeout: float) -> Any:
        from ..core.listing import fetch_live

        return fetch_live(self.config, None, timeout, False)  # plain HTTP probes, no LiteLLM
