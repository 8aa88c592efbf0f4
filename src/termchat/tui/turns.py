"""One chat turn, UI-agnostic parts: building the request from the store, images, and
consuming the core's event stream into a message view.

The provider is reached only through :func:`termchat.core.engine.stream_chat`, from the app's
async workers.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import io
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from ..core.errors import TermchatError, UsageError
from ..core.types import (
    Attachment,
    Finished,
    Message,
    Notice,
    ReasoningDelta,
    TextDelta,
    Usage,
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


def attachment_records(atts: list[Attachment]) -> list[dict[str, Any]]:
    """Stored form of attachments: ``[{"name", "mime", "data" (base64)}]``."""
    return [
        {"name": a.name, "mime": a.mime, "data": base64.b64encode(a.data).decode("ascii")}
        for a in atts
    ]


def _attachments_of(row: Any) -> list[Attachment]:
    out = []
    for rec in row.attachments or []:
        try:
            out.append(Attachment(rec["mime"], base64.b64decode(rec["data"]), rec.get("name", "")))
        except (KeyError, ValueError, TypeError):
            continue
    return out


def build_messages(system: str | None, rows: list[Any]) -> list[Message]:
    """Core messages from a system prompt and stored rows (oldest first): user turns with their
    images, non-empty assistant replies."""
    out: list[Message] = []
    if system:
        out.append(Message("system", system))
    for r in rows:
        if r.role == "system" or (r.role == "assistant" and not r.content):
            continue
        out.append(Message(r.role, r.content, _attachments_of(r) if r.role == "user" else []))
    return out


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


async def events_in_core_thread(make: Callable[[], AsyncIterator[Any]]) -> AsyncIterator[Any]:
    """Iterate ``make()`` (an async generator of core events) on the core thread and yield its
    events here, in batches as they arrive. Cancelling the iteration cancels the stream there
    (which closes it); its exceptions are raised here."""
    ui = asyncio.get_running_loop()
    box: collections.deque[Any] = collections.deque()
    ready = asyncio.Event()
    notified = threading.Event()

    def notify() -> None:
        notified.clear()
        ready.set()

    def put(item: Any) -> None:
        box.append(item)
        if not notified.is_set():
            notified.set()
            ui.call_soon_threadsafe(notify)

    async def pump() -> None:
        try:
            async for ev in make():
                put(ev)
        except BaseException as exc:  # handed to the app's side (cancellation included)
            put((_END, exc))
        else:
            put((_END, None))

    fut = asyncio.run_coroutine_threadsafe(pump(), _CoreThread.loop())
    try:
        while True:
            await ready.wait()
            ready.clear()
            while box:
                item = box.popleft()
                if isinstance(item, tuple) and len(item) == 2 and item[0] is _END:
                    if item[1] is not None and not isinstance(item[1], asyncio.CancelledError):
                        raise item[1]
                    return
                yield item
    finally:
        if not fut.done():
            fut.cancel()


async def run_stream(
    req: Any,
    config: Any,
    rm: Any,
    view: Any,
    outcome: Outcome,
    wait_core: Callable[[], Awaitable[None]],
) -> None:
    """Stream ``req`` into ``view`` (a :class:`~termchat.tui.widgets.message.MessageView`) and
    fill ``outcome``. Never raises for provider trouble: errors land in ``outcome.error``;
    cancellation (Esc) sets ``outcome.interrupted``. The partial text is always in
    ``outcome.text``. The view is left streaming: the caller stores, then calls
    ``view.finish``."""
    from ..core import engine

    sanitizer = Sanitizer()
    try:
        if not engine.litellm_loaded():
            view.set_status("loading the model core…")
            await wait_core()
            view.set_status("waiting for the model…")
        async for ev in events_in_core_thread(lambda: engine.stream_chat(req, config, rm)):
            if isinstance(ev, TextDelta):
                outcome.text += ev.text
                safe = sanitizer.feed(ev.text)
                if safe:
                    await view.write(safe)
            elif isinstance(ev, ReasoningDelta):
                outcome.reasoning += ev.text
                view.set_status("thinking…")
            elif isinstance(ev, Usage):
                outcome.prompt_tokens = ev.prompt_tokens
                outcome.completion_tokens = ev.completion_tokens
                outcome.cost_usd = ev.cost_usd
            elif isinstance(ev, Notice):
                outcome.notices.append(ev.text)
                view.set_status(ev.text)
            elif isinstance(ev, Finished):
                outcome.finish_reason = ev.finish_reason
                outcome.model = ev.model
                outcome.duration_s = ev.duration_s
                outcome.ttft_s = ev.ttft_s
    except asyncio.CancelledError:
        outcome.interrupted = True
    except TermchatError as err:
        outcome.error = err
    except Exception as exc:  # anything unexpected becomes a readable notice, never a crash
        outcome.error = engine.map_exception(exc)


def error_text(err: TermchatError) -> str:
    """``message (hint)`` for a notice."""
    return err.message + (f" ({err.hint})" if err.hint else "")
