"""The warm core process as a :class:`~termchat.client.base.CoreClient`: requests go over its
Unix socket (:mod:`termchat.warm`, plain blocking sockets — no asyncio import on this path)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import warm
from .base import Notify


def _shut(s: Any) -> None:
    import socket

    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class WarmStream:
    """The events of one chat request served by the warm core. :meth:`cancel` (any thread)
    shuts the connection, which ends a read that waits and cancels the request in the core.

    Iterating raises :class:`~termchat.warm.WarmUnavailable` when the core did not take the
    request — always before the first event, so the caller can run it elsewhere.

    ``tools`` (a :class:`~termchat.client.tools.ToolSet`) answers the core's tool rounds in the
    iterating thread; :meth:`cancel` stops a running round too."""

    def __init__(self, req: Any, rm: Any, config: Any, sock: Path | None, tools: Any = None) -> None:
        self._args = (req, rm, config, sock)
        self._tools = tools
        self._cancelled = threading.Event()
        self._conn: Any = None

    def _answer(self, calls: list[Any]) -> Any:
        from .tools.run import answer_round

        return answer_round(self._tools, calls, self._cancelled)

    def _opened(self, s: Any) -> None:
        self._conn = s
        if self._cancelled.is_set():
            _shut(s)

    def __iter__(self) -> Iterator[Any]:
        if self._cancelled.is_set():
            return
        req, rm, config, sock = self._args
        if self._tools is not None:
            self._tools.reset()
        events = warm.request_events_sync(req, rm, config, sock, on_open=self._opened,
                                          answer=self._answer)
        try:
            for ev in events:
                if self._cancelled.is_set():
                    return
                yield ev
        except warm.WarmUnavailable:
            raise
        except Exception:
            if self._cancelled.is_set():
                return  # the read ended because we shut the connection
            raise
        finally:
            events.close()

    def cancel(self) -> None:
        self._cancelled.set()
        if self._tools is not None:
            self._tools.cancel()
        s = self._conn
        if s is not None:
            _shut(s)


class WarmCore:
    """Requests served by the warm core on ``sock`` (``None``: this environment's socket).
    Every method raises :class:`~termchat.warm.WarmUnavailable` when the core does not take the
    request (nothing was shown or charged yet)."""

    def __init__(self, config: Any, sock: Path | None = None) -> None:
        self.config = config
        self.sock = sock

    def chat(self, req: Any, rm: Any, tools: Any = None) -> WarmStream:
        """The events of ``req``; ``tools`` (a ToolSet) answers its tool rounds here."""
        return WarmStream(req, rm, self.config, self.sock, tools)

    def _call(self, op: str, req: Any, rm: Any, on_notice: Notify | None) -> dict[str, Any]:
        settings = {k: self.config.get(k) for k in ("timeout", "retries", "retry_max_wait")}
        payload = {"request": asdict(req), "model": asdict(rm), "config": settings}
        return warm.call_sync(op, payload, self.config, on_notice, self.sock)

    def image(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        from ..core.media import ImageResult

        return ImageResult.from_dict(self._call("image", req, rm, on_notice))

    def speech(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        from ..core.media import SpeechResult

        return SpeechResult.from_dict(self._call("speech", req, rm, on_notice))

    def transcribe(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        """One transcription in the warm core (the audio travels base64-encoded; a request
        line over the protocol's limit raises ``WarmUnavailable`` before anything is sent)."""
        import base64

        from ..core.types import Transcript

        settings = {k: self.config.get(k) for k in ("timeout", "retries", "retry_max_wait")}
        request = {**asdict(req), "audio": base64.b64encode(req.audio).decode("ascii")}
        payload = {"request": request, "model": asdict(rm), "config": settings}
        return Transcript.from_dict(
            warm.call_sync("transcribe", payload, self.config, on_notice, self.sock))

    def load_stt(self, rm: Any) -> float:
        """Load the speech-to-text model in the warm core (op ``stt_load``)."""
        d = warm.call_sync("stt_load", {"model": asdict(rm)}, self.config, None, self.sock)
        return float(d.get("seconds", 0.0))

    def live_models(self, timeout: float) -> Any:
        from ..core.listing import LiveModel, LiveResult, ServerStatus

        d = warm.call_sync(
            "live_models",
            {"config_data": self.config.data, "config_path": str(self.config.path),
             "timeout": timeout},
            self.config, None, self.sock,
        )
        return LiveResult(
            models=[LiveModel(**m) for m in d.get("models", [])],
            servers=[ServerStatus(**x) for x in d.get("servers", [])],
        )
