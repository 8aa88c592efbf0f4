"""One chat turn in the app: images to attach, and the core's events streamed into a message
view. The core is reached only through the client layer (:class:`termchat.client.Core`, held
by :class:`CoreLink`); the conversation model (history -> messages, the outcome, storing) is
:mod:`termchat.turn`.
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

from ..core.errors import TermchatError, UsageError
from ..core.types import (
    Attachment,
    Notice,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolResult,
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


def header_for(outcome: Outcome) -> str:
    """Header of a finished reply: model, tokens, duration, interrupted."""
    parts = [outcome.model]
    if outcome.completion_tokens:
        parts.append(f"{outcome.completion_tokens} tokens")
    if outcome.interrupted or outcome.error is not None:
        parts.append("interrupted")
    return "  · ".join(parts)


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


async def stream_events(stream: Any) -> AsyncIterator[Any]:
    """Iterate ``stream`` (a blocking :class:`termchat.client.EventStream`) on a reader thread
    and yield its events here, on the app's loop, in batches as they arrive. Cancelling the
    iteration cancels the stream (the warm core's connection is shut, or the in-process request
    cancelled); its exceptions are raised here."""
    relay = _Relay()

    def read() -> None:
        try:
            for ev in stream:
                relay.put(ev)
        except BaseException as exc:  # handed to the app's side
            relay.end(exc)
        else:
            relay.end(None)

    threading.Thread(target=read, name="termchat-core-reader", daemon=True).start()
    try:
        async for item in relay:
            yield item
    finally:
        stream.cancel()


def events_in_core_thread(make: Callable[[], AsyncIterator[Any]]) -> AsyncIterator[Any]:
    """The events of ``make()`` (an async generator of core events) run in-process on the core
    loop thread, yielded here (bench/bench_tui.py measures this path)."""
    from ..client.local import LocalStream

    return stream_events(LocalStream(make))


class CoreLink:
    """Where the app's replies, images and speech are computed: the app's side of
    :class:`termchat.client.Core` (the same policy as the command line's, not sticky: each
    request tries the warm core again).

    With the warm core enabled (config ``warm_core.enabled``; ``TERMCHAT_NO_WARM=1`` turns it
    off) requests go to the warm core process the CLI shares, started after the first frame if
    none runs, and kept alive while the app is open; LiteLLM is then never imported here.
    Reading a stream through LiteLLM costs about 1 ms of CPU per chunk, which in this process
    would take the interpreter from the app at 2,000 chunks/s (bench/bench_tui.py). Otherwise,
    or when the warm core does not come, LiteLLM is imported here on a worker thread and
    requests run on the core loop thread (:class:`termchat.client.local.LoopThread`).
    """

    WARM_WAIT_S = 40.0
    """How long a request waits for a starting warm core before running in-process (seconds;
    the core's import of LiteLLM takes about 5 s here)."""

    def __init__(self, config: Any, *, load: bool = True) -> None:
        from ..client import Core

        self.config = config
        self.client = Core(config, sticky=False, start_after=False)
        self._load = load
        self._inproc: asyncio.Task | None = None
        self._inproc_error: TermchatError | None = None

    @property
    def use_warm(self) -> bool:
        """Whether requests go to the warm core (until it fails to come)."""
        return self.client.use_warm

    def start(self) -> None:
        """After the first frame: make sure a warm core runs (or import LiteLLM here, when the
        warm core is off). Never blocks the app for long (a socket probe, a process spawn)."""
        if not self._load:
            return
        if self.use_warm:
            threading.Thread(target=self.client.ensure_warm, name="termchat-warm-start",
                             daemon=True).start()
        else:
            self._start_inprocess()

    def keepalive(self) -> None:
        """Tell the warm core the app still uses it; start one again if it went away.
        Blocking: call from a thread."""
        self.client.keepalive()

    async def ready(self, on_status: Callable[[str], Any] | None = None) -> None:
        """Wait until requests can run: the warm core accepts connections (one that is starting
        is waited for up to :attr:`WARM_WAIT_S`), or else LiteLLM is imported here.
        ``on_status(text)`` tells what is being waited for.

        Raises:
            TermchatError: the warm core did not come and LiteLLM cannot be imported here.
        """
        from ..core import engine

        if self.use_warm:
            loop = asyncio.get_running_loop()
            stop = threading.Event()

            def waiting() -> None:
                if on_status is not None:
                    loop.call_soon_threadsafe(on_status, "starting the model core…")

            try:
                if await asyncio.to_thread(self.client.wait_warm, self.WARM_WAIT_S, waiting, stop):
                    return
            finally:
                stop.set()  # a cancelled wait ends its thread too
        if not engine.litellm_loaded():
            if on_status is not None:
                on_status("loading the model core…")
            await self.wait_inprocess()

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

    async def call(self, work: Callable[[Any], Any]) -> Any:
        """``work(client)`` — a blocking media pipeline (:mod:`termchat.client.media`) — on a
        worker thread, once the core is :meth:`ready`."""
        await self.ready()
        return await asyncio.to_thread(work, self.client)


async def run_stream(
    req: Any,
    rm: Any,
    view: Any,
    outcome: Outcome,
    core: CoreLink,
    routing: Any = None,
    tools: Any = None,
) -> None:
    """Stream ``req`` into ``view`` (a :class:`~termchat.tui.widgets.message.MessageView`) and
    fill ``outcome``, through ``core`` (the warm core process, or in-process). Never raises for
    provider trouble: errors land in ``outcome.error``; cancellation (Esc) sets
    ``outcome.interrupted``. The partial text is always in ``outcome.text``. The view is left
    streaming: the caller stores, then calls ``view.finish``.

    ``routing`` (:class:`termchat.client.routing.Routing`): the fallback chain and the response
    cache; a cache hit is replayed without waiting for the core. ``tools``: the conversation's
    :class:`~termchat.client.tools.ToolSet` (calls shown as blocks, :mod:`.tools_ui`)."""
    from ..core import engine

    sanitizer = Sanitizer()
    try:
        from ..client.routing import Routed

        stream = Routed(core.client, core.config, routing).chat(req, rm, tools or None)
        if not getattr(stream, "cached", False):  # a cache hit needs no core
            await core.ready(view.set_status)
            view.set_status("waiting for the model…")
        async for ev in stream_events(stream):
            outcome.apply(ev)
            if isinstance(ev, TextDelta):
                safe = sanitizer.feed(ev.text)
                if safe:
                    await view.write(safe)
            elif isinstance(ev, ReasoningDelta):
                view.set_status("thinking…")
            elif isinstance(ev, Notice):
                view.set_status(ev.text)
            elif isinstance(ev, (ToolCall, ToolResult)):
                from .tools_ui import show_event

                await show_event(view, ev)
    except asyncio.CancelledError:
        outcome.interrupted = True
    except TermchatError as err:
        outcome.error = err
    except Exception as exc:  # anything unexpected becomes a readable notice, never a crash
        outcome.error = engine.map_exception(exc)


def error_text(err: TermchatError) -> str:
    """``message (hint)`` for a notice."""
    return err.message + (f" ({err.hint})" if err.hint else "")
