"""One chat turn, UI-agnostic parts: building the request from the store, images, and
consuming the core's event stream into a message view.

The provider is reached only through :func:`termchat.core.engine.stream_chat`, from the app's
async workers.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import io
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from .. import turn
from ..core.errors import TermchatError, UsageError
from ..core.types import (
    Attachment,
    Notice,
    ReasoningDelta,
    TextDelta,
)
from ..render import Sanitizer
from ..turn import Outcome

MAX_IMAGE_BYTES = 20 * 1024 * 1024
_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


def load_image(path: str | Path) -> tuple[Attachment, str]:
    """Read and validate an image file for a vision model (Pillow, imported here).

    Returns ``(attachment, label)`` where the label is ``name WxH``.

    Raises:
        UsageError: missing/unreadable file, larger than 20 MiB, not an image, or a format
            providers do not take (PNG, JPEG, GIF, WebP are accepted).
    """
    p = Path(path).expanduser()
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {p}: {exc.strerror or exc}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise UsageError(f"{p.name} is larger than 20 MiB")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            size = img.size
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UsageError(f"{p.name} is not an image Pillow can read") from None
    mime = _MIME.get(fmt)
    if mime is None:
        raise UsageError(f"{p.name} is {fmt or 'an unknown format'}; attach PNG, JPEG, GIF or WebP")
    return Attachment(mime, data, p.name), f"{p.name} {size[0]}×{size[1]}"


# Kept for callers not moved yet; the conversation model lives in termchat.turn.
attachment_records = turn.attachment_records


def build_messages(system: str | None, rows: list[Any]) -> list[Any]:
    """Deprecated: :func:`termchat.turn.history_messages` (``rows, system``)."""
    return turn.history_messages(rows, system)


def header_for(outcome: Outcome) -> str:
    """Header of a finished reply: model, tokens, duration, interrupted."""
    parts = [outcome.model]
    if outcome.completion_tokens:
        parts.append(f"{outcome.completion_tokens} tokens")
    if outcome.interrupted or outcome.error is not None:
        parts.append("interrupted")
    return "  · ".join(parts)


class _CoreThread:
    """One daemon thread running an asyncio loop, on which the core's streams are read.

    Reading a stream through LiteLLM costs about 1 ms of CPU per chunk; on the app's own loop a
    fast stream that is behind reads buffered chunks without ever suspending, and keys and
    rendering wait. On its own thread the interpreter shares the time between the two (and
    the reading goes on while the app renders)."""

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


_END = object()


def freeze_heap() -> None:
    """Put every object alive now beyond the reach of the cyclic garbage collector
    (:func:`gc.freeze`); call it when start-up work is done (imports, first frame).

    A full collection walks every tracked object, and the app stands still meanwhile: with
    Textual, Pygments and markdown-it loaded, a 20,000-token reply triggered 15 of them,
    3.5 s in all and up to 0.54 s each (key presses waited that long; bench/bench_tui.py,
    more with LiteLLM in the process). What start-up leaves alive stays alive anyway; a frozen
    object that becomes garbage is still freed by reference counting unless it is in a cycle.
    """
    gc.freeze()


class _Relay:
    """Hands items from another thread to the app's loop, in batches: ``put`` from any thread
    (one wake-up per batch, not per item), ``async for`` on the app's loop. ``end(exc)``
    finishes the iteration (raising ``exc`` there, unless it is a cancellation)."""

    def __init__(self) -> None:
        self.ui = asyncio.get_running_loop()
        self.box: collections.deque[Any] = collections.deque()
        self.ready = asyncio.Event()
        self.notified = threading.Event()

    def _notify(self) -> None:
        self.notified.clear()
        self.ready.set()

    def put(self, item: Any) -> None:
        self.box.append(item)
        if not self.notified.is_set():
            self.notified.set()
            self.ui.call_soon_threadsafe(self._notify)

    def end(self, exc: BaseException | None) -> None:
        self.put((_END, exc))

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.box:
                item = self.box.popleft()
                if isinstance(item, tuple) and len(item) == 2 and item[0] is _END:
                    if item[1] is not None and not isinstance(item[1], asyncio.CancelledError):
                        raise item[1]
                    return
                yield item


async def events_in_core_thread(make: Callable[[], AsyncIterator[Any]]) -> AsyncIterator[Any]:
    """Iterate ``make()`` (an async generator of core events) on the core thread and yield its
    events here, in batches as they arrive. Cancelling the iteration cancels the stream there
    (which closes it); its exceptions are raised here."""
    relay = _Relay()

    async def pump() -> None:
        try:
            async for ev in make():
                relay.put(ev)
        except BaseException as exc:  # handed to the app's side (cancellation included)
            relay.end(exc)
        else:
            relay.end(None)

    fut = asyncio.run_coroutine_threadsafe(pump(), _CoreThread.loop())
    try:
        async for item in relay:
            yield item
    finally:
        if not fut.done():
            fut.cancel()


async def events_from_warm(req: Any, rm: Any, config: Any, sock: Path) -> AsyncIterator[Any]:
    """The events of ``req`` streamed by the warm core on ``sock`` (another process: its
    LiteLLM work never competes with the app for this interpreter). A reader thread decodes
    them; cancelling the iteration shuts the connection, which cancels the request there.

    Raises:
        WarmUnavailable: the core did not take the request (no event was yielded).
        TermchatError: the request's own error, or a lost core mid-answer.
    """
    from .. import warm

    relay = _Relay()
    conn: list[Any] = []
    gone = threading.Event()

    def opened(s: Any) -> None:
        conn.append(s)
        if gone.is_set():
            _shut(s)

    def read() -> None:
        try:
            for ev in warm.request_events_sync(req, rm, config, sock, on_open=opened):
                if gone.is_set():
                    break
                relay.put(ev)
        except BaseException as exc:
            relay.end(exc)
        else:
            relay.end(None)

    threading.Thread(target=read, name="termchat-warm-reader", daemon=True).start()
    try:
        async for item in relay:
            yield item
    finally:
        gone.set()
        for s in conn:
            _shut(s)


def _shut(s: Any) -> None:
    import socket

    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class CoreLink:
    """Where the app's replies are computed.

    With the warm core enabled (config ``warm_core.enabled``; ``TERMCHAT_NO_WARM=1`` turns it
    off) replies stream from the warm core process the CLI shares (:mod:`termchat.warm`),
    started after the first frame if none runs, and kept alive while the app is open. Reading
    a stream through LiteLLM costs about 1 ms of CPU per chunk, which in this process would
    take the interpreter from the app at 2,000 chunks/s (bench/bench_tui.py). Otherwise, or
    when the warm core cannot be reached, LiteLLM is imported here on a worker thread and
    streams are read on the core thread (:class:`_CoreThread`).
    """

    WARM_WAIT_S = 40.0
    """How long a message waits for a starting warm core before running in-process (seconds;
    the core's import of LiteLLM takes about 5 s here)."""

    def __init__(self, config: Any, *, load: bool = True) -> None:
        from .. import warm

        self.config = config
        self.use_warm = warm.enabled(config)
        self.sock: Path | None = None
        self._load = load
        self._inproc: asyncio.Task | None = None
        self._inproc_error: TermchatError | None = None
        self._started_warm = False

    def start(self) -> None:
        """After the first frame: make sure a warm core runs (or import LiteLLM here, when the
        warm core is off). Never blocks the app for long (a socket probe, a process spawn)."""
        if not self._load:
            return
        if self.use_warm:
            threading.Thread(target=self._ensure_warm, name="termchat-warm-start", daemon=True).start()
        else:
            self._start_inprocess()

    def _ensure_warm(self) -> bool:
        from .. import warm

        try:
            if self.sock is None:
                self.sock = warm.socket_path()
            if warm.reachable(self.sock):
                return True
            if not self._started_warm:
                self._started_warm = True
                warm.start_background(float(self.config.get("warm_core.idle_seconds")), self.sock)
        except warm.WarmUnavailable:
            self.use_warm = False
        except Exception:
            pass
        return False

    def keepalive(self) -> None:
        """Tell the warm core the app still uses it (it exits after ``warm_core.idle_seconds``
        without requests); start one again if it went away. Blocking: call from a thread."""
        from .. import warm

        if not self.use_warm or self.sock is None:
            return
        try:
            warm.control("status", self.sock)
        except warm.WarmUnavailable:
            self._started_warm = False
            self._ensure_warm()

    async def warm_socket(self, on_wait: Callable[[], Any] | None = None) -> Path | None:
        """The warm core's socket once it accepts connections (starting one if needed and
        waiting up to :attr:`WARM_WAIT_S`; ``on_wait()`` is called once if it has to wait), or
        ``None`` when the warm core is off or does not come (the reply is then computed
        in-process)."""
        if not self.use_warm:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.WARM_WAIT_S
        waited = False
        while self.use_warm:
            if await asyncio.to_thread(self._ensure_warm):
                return self.sock
            if not waited and on_wait is not None:
                waited = True
                on_wait()
            if loop.time() > deadline:
                self.use_warm = False  # run in-process from now on
                break
            await asyncio.sleep(0.1)
        return None

    def _start_inprocess(self) -> asyncio.Task:
        from ..core import engine

        async def load() -> None:
            try:
                await engine.aload_litellm()
            except Exception as exc:  # an install problem: said when a message needs the core
                self._inproc_error = engine.map_exception(exc)
                return
            freeze_heap()  # LiteLLM's modules: thousands of objects that live as long as we do

        if self._inproc is None:
            self._inproc = asyncio.get_running_loop().create_task(load())
        return self._inproc

    async def wait_inprocess(self) -> None:
        """Import LiteLLM in this process (in a worker thread) and wait for it.

        Raises:
            TermchatError: LiteLLM cannot be imported (an install problem), mapped.
        """
        from ..core import engine

        if not engine.litellm_loaded():
            await asyncio.shield(self._start_inprocess())
        if self._inproc_error is not None:
            raise self._inproc_error


async def run_stream(
    req: Any,
    config: Any,
    rm: Any,
    view: Any,
    outcome: Outcome,
    core: CoreLink,
) -> None:
    """Stream ``req`` into ``view`` (a :class:`~termchat.tui.widgets.message.MessageView`) and
    fill ``outcome``, through ``core`` (the warm core process, or in-process). Never raises for
    provider trouble: errors land in ``outcome.error``; cancellation (Esc) sets
    ``outcome.interrupted``. The partial text is always in ``outcome.text``. The view is left
    streaming: the caller stores, then calls ``view.finish``."""
    from .. import warm
    from ..core import engine

    sanitizer = Sanitizer()
    try:
        events = None
        if core.use_warm:
            sock = await core.warm_socket(on_wait=lambda: view.set_status("starting the model core…"))
            if sock is not None:
                view.set_status("waiting for the model…")
                events = events_from_warm(req, rm, config, sock)
                try:
                    first = await anext(events)
                except StopAsyncIteration:
                    first = None
                except warm.WarmUnavailable:  # nothing shown yet: answer in-process
                    events = None
                else:
                    events = _prepend(first, events)
        if events is None:
            if not engine.litellm_loaded():
                view.set_status("loading the model core…")
                await core.wait_inprocess()
            view.set_status("waiting for the model…")
            events = events_in_core_thread(lambda: engine.stream_chat(req, config, rm))
        async for ev in events:
            outcome.apply(ev)
            if isinstance(ev, TextDelta):
                safe = sanitizer.feed(ev.text)
                if safe:
                    await view.write(safe)
            elif isinstance(ev, ReasoningDelta):
                view.set_status("thinking…")
            elif isinstance(ev, Notice):
                view.set_status(ev.text)
    except asyncio.CancelledError:
        outcome.interrupted = True
    except TermchatError as err:
        outcome.error = err
    except Exception as exc:  # anything unexpected becomes a readable notice, never a crash
        outcome.error = engine.map_exception(exc)


async def _prepend(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    if first is not None:
        yield first
    async for item in rest:
        yield item


def error_text(err: TermchatError) -> str:
    """``message (hint)`` for a notice."""
    return err.message + (f" ({err.hint})" if err.hint else "")
