"""The warm core's server side (see :mod:`termchat.warm` for what it is and the protocol).

Started by the client as ``python -m termchat.warm serve SOCKET IDLE_SECONDS``. Kept apart from
the client so that the thin client never imports asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import __version__
from .core.errors import TermchatError
from .warm_protocol import (
    FIRST_LINE_TIMEOUT,
    MAX_LINE_BYTES,
    PROTOCOL,
    START_DELAY,
    ProtocolError,
    VersionMismatch,
    WarmRefused,
    _request_from,
    check_private_dir,
    peer_uid,
)


class _Config:
    """The client's config values, as ``get(key)`` for the engine: a
    :class:`termchat.core.settings.Settings` without tables (the client resolved the model)."""

    def __init__(self, values: dict[str, Any]):
        self.values = values
        self.data: dict[str, Any] = {}
        self.aliases: dict[str, str] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> Any:
        from .config import SETTINGS

        v = self.values.get(key)
        return SETTINGS[key].default if v is None else v


def log(text: str) -> None:
    """One line in the core's log (its stderr is ``warm-core.log``): time, pid, ``text``."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with contextlib.suppress(Exception):
        sys.stderr.write(f"{stamp} warm core {os.getpid()}: {' '.join(text.split())[:500]}\n")
        sys.stderr.flush()


# The request schema: for each op, its fields beyond op/version/protocol and their types, and
# the shape of the objects inside. A type is "str", "num" (int or float, not bool), "int",
# "bool", "obj" (any JSON object), "list" (any JSON array), "role", a schema name below, or
# "[t]" (a list of t); "?" after it also allows null. A field not listed is refused; a required
# field is marked "!".
_SCHEMAS: dict[str, dict[str, str]] = {
    "config": {"timeout": "num?", "retries": "num?", "retry_max_wait": "num?"},
    "model": {
        "id!": "str", "provider!": "str", "litellm_model!": "str", "api_base": "str?",
        "api_key": "str?", "key_env": "str?", "alias": "str?", "key_source": "str?", "info": "obj",
        "kind": "str?", "gateway": "obj?",
    },
    "attachment": {"mime!": "str", "data!": "str", "name": "str"},
    "tool_call": {"id!": "str", "name!": "str", "arguments!": "str", "round": "int"},
    "message": {"role!": "role", "content!": "str", "attachments": "[attachment]",
                "tool_calls": "[tool_call]", "tool_call_id": "str?"},
    "chat_request": {
        "model!": "str", "messages!": "[message]", "options": "obj", "stream": "bool",
        "api_base": "str?", "api_key": "str?", "timeout": "num?",
        "conversation_id": "str?", "tools": "[obj]", "max_rounds": "int",
    },
    "image_request": {
        "model!": "str", "prompt!": "str", "options": "obj", "api_base": "str?",
        "api_key": "str?", "timeout": "num?",
    },
    "speech_request": {
        "model!": "str", "input!": "str", "voice": "str", "options": "obj", "api_base": "str?",
        "api_key": "str?", "timeout": "num?",
    },
    "transcription_request": {
        "model!": "str", "audio!": "str", "filename": "str", "mime": "str?", "language": "str?",
        "prompt": "str?", "response_format": "str", "api_base": "str?", "api_key": "str?",
        "timeout": "num?",
    },
}
_OPS: dict[str, dict[str, str]] = {
    "status": {},
    "stop": {},
    "chat": {"request!": "chat_request", "model!": "model", "config": "config"},
    "image": {"request!": "image_request", "model!": "model", "config": "config"},
    "speech": {"request!": "speech_request", "model!": "model", "config": "config"},
    "live_models": {"config_data!": "obj", "config_path!": "str", "timeout": "num"},
    "transcribe": {"request!": "transcription_request", "model!": "model", "config": "config"},
    "stt_load": {"model!": "model"},
}
_ROLES = ("system", "user", "assistant", "tool")
_SIMPLE = {
    "str": lambda v: isinstance(v, str),
    "num": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "obj": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "role": lambda v: v in _ROLES,
}


def _check(value: Any, typ: str, where: str) -> None:
    if typ.endswith("?"):
        if value is None:
            return
        typ = typ[:-1]
    if typ.startswith("["):
        if not isinstance(value, list):
            raise ProtocolError(f"{where} must be a list")
        for i, item in enumerate(value):
            _check(item, typ[1:-1], f"{where}[{i}]")
    elif typ in _SCHEMAS:
        _check_object(value, _SCHEMAS[typ], where)
    elif not _SIMPLE[typ](value):
        what = "one of " + ", ".join(_ROLES) if typ == "role" else f"of type {typ}"
        raise ProtocolError(f"{where} must be {what}")


def _check_object(value: Any, schema: dict[str, str], where: str) -> None:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where} must be an object")
    fields = {k.rstrip("!"): t for k, t in schema.items()}
    for key, v in value.items():
        if key not in fields:
            raise ProtocolError(f"{where}.{key} is not a field of the protocol")
        _check(v, fields[key], f"{where}.{key}")
    missing = [k.rstrip("!") for k in schema if k.endswith("!") and k.rstrip("!") not in value]
    if missing:
        raise ProtocolError(f"{where} lacks {', '.join(missing)}")


def parse_request(line: bytes) -> dict[str, Any]:
    """The warm core's one check of an incoming request line (the protocol's schema).

    ``line`` is the raw line (with or without its ``\\n``), at most
    :data:`termchat.warm.MAX_LINE_BYTES` bytes. It must be UTF-8 JSON for an object with
    ``op`` (``status``, ``stop``, ``chat``, ``image``, ``speech``, ``transcribe``, ``stt_load``,
    ``live_models``), ``version``
    (this termchat's) and ``protocol`` (:data:`termchat.warm.PROTOCOL`), plus the op's own
    fields with the types of :data:`_OPS` / :data:`_SCHEMAS` (no other fields). Returns the
    decoded object.

    Raises:
        VersionMismatch: ``version`` or ``protocol`` is not this core's (checked before the op's
            fields: another version may send other shapes).
        ProtocolError: anything else that is wrong, with a one-line message naming the field.
    """
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"request line longer than {MAX_LINE_BYTES} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"request is not UTF-8 (byte {exc.start})") from None
    try:
        msg = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"request is not JSON ({str(exc)[:80]})") from None
    if not isinstance(msg, dict):
        raise ProtocolError("request must be a JSON object")
    if msg.get("version") != __version__ or msg.get("protocol") != PROTOCOL:
        raise VersionMismatch(f"version mismatch: this core is termchat {__version__}, "
                              f"protocol {PROTOCOL}")
    op = msg.get("op")
    if not isinstance(op, str) or op not in _OPS:
        raise ProtocolError(f"unknown op {str(op)[:40]!r}")
    schema = {"op!": "str", "version!": "str", "protocol!": "int", **_OPS[op]}
    _check_object(msg, schema, "request" if op in ("status", "stop") else op)
    return msg


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
        # LiteLLM leaves ~300,000 objects for the cyclic collector to walk on every full
        # collection; freezing them (they live as long as the core anyway) made the embedded
        # speech-to-text model 20-40 % faster here (faster-whisper allocates enough to trigger
        # several full collections per file).
        import gc

        gc.collect()
        gc.freeze()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock)
        old = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(self._handle, path=str(self.sock),
                                                     limit=MAX_LINE_BYTES)
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
            uid = peer_uid(sk) if sk is not None else None
        except OSError:
            uid = None
        if uid != self.allowed_uid:
            log(f"hung up on a connection from uid {uid} (serving uid {self.allowed_uid} only)")
            writer.close()
            return
        self.active += 1
        self.last = time.monotonic()
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), FIRST_LINE_TIMEOUT)
            except ValueError:  # no newline within the limit (asyncio's LimitOverrunError)
                raise ProtocolError(f"request line longer than {MAX_LINE_BYTES} bytes") from None
            except TimeoutError:
                raise ProtocolError(f"no request line within {FIRST_LINE_TIMEOUT:.0f} s") from None
            if not line:
                return  # a liveness probe
            msg = parse_request(line)
            op = msg["op"]
            if op == "status":
                await self._send(writer, self.status())
            elif op == "stop":
                await self._send(writer, {"stopping": True, "pid": os.getpid()})
                self.stopping.set()
            elif op == "chat":
                await self._chat(msg, reader, writer)
            else:
                await self._call(msg, reader, writer)
        except VersionMismatch as err:
            with contextlib.suppress(ConnectionError):
                await self._send(writer, {"error": err.to_dict()})
        except ProtocolError as err:
            log(f"refused a malformed request: {err.message}")
            with contextlib.suppress(ConnectionError):
                await self._send(writer, {"error": err.to_dict()})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:  # a bug: keep the core serving, and say so in its log
            import traceback

            log(f"internal error: {type(exc).__name__}: {exc}")
            traceback.print_exc()
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

    async def _guarded(self, work: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       watch: Any = None) -> None:
        """Run the coroutine ``work`` while watching the client: when it hangs up (Ctrl+C), the
        work is cancelled, which closes the provider stream. Errors the work did not report
        itself are mapped and sent. ``watch``: the coroutine that ends when the client is
        gone (default: a read of one byte)."""
        from .core import engine

        task = asyncio.create_task(work)
        hangup = asyncio.create_task(watch or reader.read(1))  # ends when the client goes away
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

        rm = _build(ResolvedModel, msg["model"], "model")
        register_secret(rm.api_key)
        return rm

    async def _chat(self, msg: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from .core import toolrounds
        from .core.types import event_to_dict
        from .warm_protocol import tool_results_from

        req = _build(_request_from, msg["request"], "chat.request")
        rm = self._model(msg)
        cfg = _Config(msg.get("config", {}))
        self.served += 1
        await self._send(writer, {"accepted": True})

        inbox: asyncio.Queue[bytes] = asyncio.Queue()

        async def listen() -> None:
            """The client's lines after the request (tool results) into ``inbox``; returns
            when it hangs up."""
            while line := await reader.readline():
                await inbox.put(line)

        async def answer(calls: list[Any]) -> list[Any]:
            # the ToolCall events are out; the client runs the tools and answers on this line
            await self._send(writer, {"awaiting": "tool_results"})
            return tool_results_from(await inbox.get(), calls)

        async def pump() -> None:
            try:
                async for ev in toolrounds.stream_rounds(req, cfg, rm, answer):
                    await self._send(writer, {"event": event_to_dict(ev)})
                await self._send(writer, {"done": True})
            except TermchatError as err:
                await self._send(writer, {"error": err.to_dict()})

        await self._guarded(pump(), reader, writer, listen() if req.tools else None)

    async def _call(self, msg: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``image``, ``speech`` and ``live_models``: one result, with ``{"notice"}`` lines
        (retries) before it."""
        from .core import media
        from .core.types import ImageRequest, SpeechRequest

        op = msg["op"]
        rm = req = None
        if op in ("image", "speech"):
            rm = self._model(msg)
            req = _build(ImageRequest if op == "image" else SpeechRequest, msg["request"], f"{op}.request")
        elif op == "transcribe":
            rm = self._model(msg)
            req = _build(_transcription_from, msg["request"], "transcribe.request")
        elif op == "stt_load":
            rm = self._model(msg)
        self.served += 1
        await self._send(writer, {"accepted": True})

        def notify(text: str) -> None:
            writer.write(json.dumps({"notice": text}).encode() + b"\n")

        async def work() -> None:
            try:
                if op == "image":
                    res = await media.generate_images(
                        req, _Config(msg.get("config", {})), rm, on_notice=notify
                    )
                    result = res.to_dict()
                elif op == "speech":
                    res = await media.synthesize_speech(
                        req, _Config(msg.get("config", {})), rm, on_notice=notify
                    )
                    result = res.to_dict()
                elif op == "stt_load":
                    from .core.transcribe import load_model

                    result = {"seconds": await load_model(rm)}
                elif op == "transcribe":
                    from .core.transcribe import transcribe_audio

                    res = await transcribe_audio(
                        req, _Config(msg.get("config", {})), rm, on_notice=notify
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


def _build(make: Any, fields: dict[str, Any], where: str) -> Any:
    """``make(fields)`` (a dataclass, or :func:`termchat.warm._request_from`) for fields that
    :func:`parse_request` checked; a value it still rejects (attachment data that is not
    base64) is a :class:`ProtocolError`."""
    try:
        return make(**fields) if isinstance(make, type) else make(dict(fields))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{where}: {str(exc)[:120]}") from None


def _transcription_from(d: dict[str, Any]) -> Any:
    """A ``TranscriptionRequest`` from its protocol form (``audio`` base64)."""
    import base64
    import binascii

    from .core.types import TranscriptionRequest

    try:
        d["audio"] = base64.b64decode(d["audio"], validate=True)
    except binascii.Error as exc:
        raise ValueError(f"audio is not base64: {exc}") from None
    return TranscriptionRequest(**d)


def serve_main(argv: list[str]) -> int:
    """``python -m termchat.warm serve SOCKET IDLE_SECONDS``: run a warm core (exit 0), or exit
    0 at once when another core already holds this socket's lock, or 1 (one line in the log)
    when the socket's directory is not safe (:func:`termchat.warm.check_private_dir`)."""
    import fcntl

    sock = Path(argv[0])
    idle = float(argv[1]) if len(argv) > 1 else 600.0
    try:
        check_private_dir(sock.parent)
    except (WarmRefused, OSError) as exc:
        log(f"not started: {exc}")
        return 1
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
