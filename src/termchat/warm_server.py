"""The warm core's server side (see :mod:`termchat.warm` for what it is and the protocol).

Started by the client as ``python -m termchat.warm serve SOCKET IDLE_SECONDS``. Kept apart from
the client so that the thin client never imports asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import __version__
from .core.errors import TermchatError
from .warm import PROTOCOL, START_DELAY, _request_from


class _Config:
    """The client's config values, as ``get(key)`` for the engine."""

    def __init__(self, values: dict[str, Any]):
        self.values = values

    def get(self, key: str) -> Any:
        from .config import SETTINGS

        v = self.values.get(key)
        return SETTINGS[key].default if v is None else v


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (``SO_PEERCRED``)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class WarmServer:
    """The warm core's server loop (see module docstring). ``serve()`` returns on idle, stop
    or SIGTERM."""

    def __init__(self, sock: Path, idle_seconds: float):
        self.sock = sock
        self.idle_seconds = idle_seconds
        self.active = 0
        self.served = 0
        self.last = time.monotonic()
        self.started = time.time()
        self.stopping = asyncio.Event()
        self.allowed_uid = os.getuid()

    async def serve(self) -> None:
        """Import the core, bind, serve until idle/stopped, then remove the socket."""
        from .core import engine

        # Let the client that started us finish and exit before the 5 s import competes with it
        # for the CPUs (it would slow that first, in-process answer).
        await asyncio.sleep(START_DELAY)
        await asyncio.to_thread(engine.load_litellm)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock)
        old = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(self._handle, path=str(self.sock), limit=2**24)
        finally:
            os.umask(old)
        os.chmod(self.sock, 0o600)
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(Exception):
                loop.add_signal_handler(sig, self.stopping.set)
        watcher = asyncio.create_task(self._idle_watch())
        try:
            await self.stopping.wait()
        finally:
            watcher.cancel()
            server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.sock)  # ours: the lock keeps any other core off this path

    async def _idle_watch(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, max(0.2, self.idle_seconds / 4)))
            if self.active == 0 and time.monotonic() - self.last > self.idle_seconds:
                self.stopping.set()
                return

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sk = writer.get_extra_info("socket")
        try:
            if sk is None or peer_uid(sk) != self.allowed_uid:
                writer.close()
                return
        except OSError:
            writer.close()
            return
        self.active += 1
        self.last = time.monotonic()
        try:
            line = await reader.readline()
            if not line:
                return
            msg = json.loads(line)
            if msg.get("version") != __version__ or msg.get("protocol") != PROTOCOL:
                await self._send(writer, {"error": {"type": "version", "message": "version mismatch"}})
                return
            op = msg.get("op")
            if op == "status":
                await self._send(writer, self.status())
            elif op == "stop":
                await self._send(writer, {"stopping": True, "pid": os.getpid()})
                self.stopping.set()
            elif op == "chat":
                await self._chat(msg, reader, writer)
            elif op in ("image", "speech", "live_models"):
                await self._call(msg, reader, writer)
            else:
                await self._send(writer, {"error": {"type": "usage", "message": f"unknown op {op!r}"}})
        except (ConnectionError, json.JSONDecodeError, asyncio.IncompleteReadError):
            pass
        finally:
            self.active -= 1
            self.last = time.monotonic()
            writer.close()

    def status(self) -> dict[str, Any]:
        """``{"pid", "version", "socket", "uptime_s", "idle_s", "active", "served",
        "idle_seconds"}`` (seconds)."""
        return {
            "pid": os.getpid(),
            "version": __version__,
            "socket": str(self.sock),
            "uptime_s": round(time.time() - self.started, 3),
            "idle_s": round(time.monotonic() - self.last, 3),
            "active": self.active - 1,  # not counting the status request itself
            "served": self.served,
            "idle_seconds": self.idle_seconds,
        }

    async def _send(self, writer: asyncio.StreamWriter, obj: dict[str, Any]) -> None:
        writer.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")
        await writer.drain()

    async def _guarded(self, work: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Run the coroutine ``work`` while watching the client: when it hangs up (Ctrl+C), the
        work is cancelled, which closes the provider stream. Errors the work did not report
        itself are mapped and sent."""
        from .core import engine

        task = asyncio.create_task(work)
        hangup = asyncio.create_task(reader.read(1))  # b"" when the client goes away
        done, _ = await asyncio.wait({task, hangup}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        hangup.cancel()
        if task.done() and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, ConnectionError):
                with contextlib.suppress(Exception):
                    await self._send(writer, {"error": engine.map_exception(exc).to_dict()})

    def _model(self, msg: dict[str, Any]) -> Any:
        from .core.catalog import ResolvedModel
        from .core.errors import register_secret

        rm = ResolvedModel(**msg["model"])
        register_secret(rm.api_key)
        return rm

    async def _chat(self, msg: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from .core import engine
        from .core.types import event_to_dict

        self.served += 1
        await self._send(writer, {"accepted": True})
        req = _request_from(msg["request"])
        rm = self._model(msg)
        cfg = _Config(msg.get("config", {}))

        async def pump() -> None:
            try:
                async for ev in engine.stream_chat(req, cfg, rm):
                    await self._send(writer, {"event": event_to_dict(ev)})
                await self._send(writer, {"done": True})
            except TermchatError as err:
                await self._send(writer, {"error": err.to_dict()})

        await self._guarded(pump(), reader, writer)

    async def _call(self, msg: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``image``, ``speech`` and ``live_models``: one result, with ``{"notice"}`` lines
        (retries) before it."""
        from .core import media
        from .core.types import ImageRequest, SpeechRequest

        op = msg["op"]
        self.served += 1
        await self._send(writer, {"accepted": True})

        def notify(text: str) -> None:
            writer.write(json.dumps({"notice": text}).encode() + b"\n")

        async def work() -> None:
            try:
                if op == "image":
                    rm = self._model(msg)
                    res = await media.generate_images(
                        ImageRequest(**msg["request"]), _Config(msg.get("config", {})), rm, on_notice=notify
                    )
                    result = res.to_dict()
                elif op == "speech":
                    rm = self._model(msg)
                    res = await media.synthesize_speech(
                        SpeechRequest(**msg["request"]), _Config(msg.get("config", {})), rm, on_notice=notify
                    )
                    result = res.to_dict()
                else:  # live_models
                    from .config import Config
                    from .core.listing import fetch_live

                    cfg = Config(msg.get("config_data", {}), Path(msg.get("config_path", "")))
                    live = await asyncio.to_thread(fetch_live, cfg, None, float(msg.get("timeout", 0.8)), False)
                    result = asdict(live)
                await self._send(writer, {"result": result})
            except TermchatError as err:
                await self._send(writer, {"error": err.to_dict()})

        await self._guarded(work(), reader, writer)


def serve_main(argv: list[str]) -> int:
    """``python -m termchat.warm serve SOCKET IDLE_SECONDS``: run a warm core (exit 0), or exit
    0 at once when another core already holds this socket's lock."""
    import fcntl

    sock = Path(argv[0])
    idle = float(argv[1]) if len(argv) > 1 else 600.0
    lock = sock.with_suffix(".lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another core won the race
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        asyncio.run(WarmServer(sock, idle).serve())
    except OSError as exc:  # e.g. a full disk: the clients fall back to in-process
        sys.stderr.write(f"warm core: {exc}\n")
        return 1
    finally:
        os.close(fd)
    return 0


def main(argv: list[str]) -> int:
    """Command line of the server process: ``serve SOCKET [IDLE_SECONDS]``."""
    if len(argv) >= 2 and argv[0] == "serve":
        return serve_main(argv[1:])
    sys.stderr.write("usage: python -m termchat.warm serve SOCKET [IDLE_SECONDS]\n")
    return 2
