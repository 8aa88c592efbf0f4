"""The warm core: a background termchat process that keeps the provider core imported.

Importing LiteLLM costs about 5 s, so every in-process ``ask`` would pay it. The warm core pays
it once: it imports the core, keeps its HTTP connections open, and serves requests over a Unix
socket; the CLI stays a thin client that reads stdin and files, sends the request, prints the
events as they arrive, and writes the store and output files itself.

Where and who:
  * The socket lives in ``paths.runtime_dir()`` (created 0700 and checked to be ours, not a
    symlink), mode 0600, named ``core-<hash>.sock`` where the hash covers termchat's version and
    every environment variable that can change a provider call (keys, base URLs, proxies,
    LiteLLM and termchat settings) — a changed key starts a fresh core. No TCP port.
  * The server checks each peer's uid with ``SO_PEERCRED`` and hangs up on anyone else.
  * One core per socket: the server holds an exclusive ``flock`` on ``core-<hash>.lock`` for its
    lifetime; a second one started in a race exits at once.
  * It exits after ``warm_core.idle_seconds`` (default 600) without requests, or on
    ``termchat warm stop`` / SIGTERM, removing its socket.

Protocol: one JSON line per message. The client sends ``{"op": "chat", "version": V,
"request": {...}, "model": {...}, "config": {...}}``; the server answers with ``{"event": {...}}``
lines (see :func:`termchat.core.types.event_to_dict`), then ``{"done": true}`` or ``{"error":
{...}}`` (:meth:`TermchatError.to_dict`). The client closing the connection cancels the request
(the provider stream is closed). ``{"op": "status"}`` and ``{"op": "stop"}`` manage the core.

When the core is missing, stale, of another version, or dies before answering, the client runs
the request in-process instead (the caller catches :class:`WarmUnavailable`) and starts a core for
next time; the user sees the answer either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import __version__, paths
from .core.errors import ConnectionFailedError, TermchatError

PROTOCOL = 1
ACK_TIMEOUT = 5.0  # seconds for a core to acknowledge a request
START_DELAY = 1.0  # seconds a new core waits before importing the provider core
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux
_ENV_PREFIXES = (
    "TERMCHAT_", "LITELLM_", "OPENAI", "ANTHROPIC", "GEMINI", "GOOGLE", "VERTEX", "AWS_", "AZURE",
    "OPENROUTER", "MISTRAL", "GROQ", "DEEPSEEK", "XAI", "COHERE", "TOGETHER", "FIREWORKS",
    "PERPLEXITY", "CEREBRAS", "DEEPINFRA", "HUGGINGFACE", "HF_", "REPLICATE", "AI21", "NVIDIA",
    "SAMBANOVA", "MOONSHOT", "OLLAMA", "LM_STUDIO", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
    "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy", "SSL_CERT", "REQUESTS_CA",
)
# Not part of the fingerprint: termchat's own switches, and what load_litellm() itself sets.
_ENV_IGNORED = {
    "TERMCHAT_NO_WARM", "TERMCHAT_DEBUG", "LITELLM_LOCAL_MODEL_COST_MAP",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "LITELLM_LOG", "LITELLM_TELEMETRY",
}


class WarmUnavailable(Exception):
    """The warm core cannot serve this request; run it in-process."""


def env_fingerprint(env: dict[str, str] | None = None) -> str:
    """12 hex digits of SHA-256 over termchat's version, the protocol and the environment
    variables that can change a provider call (values included, so a new key changes it)."""
    env = dict(os.environ if env is None else env)
    items = sorted(
        (k, v) for k, v in env.items() if k.startswith(_ENV_PREFIXES) and k not in _ENV_IGNORED
    )
    h = hashlib.sha256(f"{__version__}\0{PROTOCOL}\0{os.path.realpath(sys.prefix)}".encode())
    for k, v in items:
        h.update(f"{k}={v}\0".encode())
    return h.hexdigest()[:12]


def private_dir() -> Path:
    """The runtime directory, created with mode 0700; refuses one that is a symlink, not ours,
    or open to others (raises :class:`WarmUnavailable`)."""
    d = paths.runtime_dir()
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(d)
    except OSError as exc:
        raise WarmUnavailable(f"cannot create {d}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise WarmUnavailable(f"{d} is not a directory owned by this user")
    if st.st_mode & 0o077:
        try:
            os.chmod(d, 0o700)
        except OSError:
            raise WarmUnavailable(f"{d} is open to other users") from None
    return d


def socket_path(env: dict[str, str] | None = None) -> Path:
    """This environment's socket path (``core-<fingerprint>.sock`` in :func:`private_dir`)."""
    p = private_dir() / f"core-{env_fingerprint(env)}.sock"
    if len(os.fsencode(p)) > MAX_SOCKET_PATH:
        raise WarmUnavailable(f"socket path too long for a Unix socket: {p}")
    return p


def enabled(config: Any) -> bool:
    """Whether the CLI should use the warm core (config ``warm_core.enabled``, which
    ``TERMCHAT_NO_WARM=1`` and ``--no-warm`` turn off)."""
    try:
        return bool(config.get("warm_core.enabled"))
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------
# Client


def start_background(idle_seconds: float, sock: Path | None = None) -> bool:
    """Start a warm core for this environment, detached (new session, no inherited pipes).
    Returns whether one was started (False when one already holds the lock)."""
    try:
        sock = sock or socket_path()
    except WarmUnavailable:
        return False
    lock = sock.with_suffix(".lock")
    if _lock_held(lock):
        return False
    log = None
    try:
        paths.log_dir().mkdir(parents=True, exist_ok=True)
        log = open(paths.log_dir() / "warm-core.log", "ab")  # noqa: SIM115
    except OSError:
        pass
    try:
        subprocess.Popen(
            [sys.executable, "-m", "termchat.warm", "serve", str(sock), str(idle_seconds)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log or subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        return True
    except OSError:
        return False
    finally:
        if log:
            log.close()


def _lock_held(lock: Path) -> bool:
    import fcntl

    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we took
    return False


async def _connect(sock: Path, timeout: float = 0.5) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for(asyncio.open_unix_connection(str(sock), limit=2**24), timeout)
    except (TimeoutError, OSError) as exc:
        raise WarmUnavailable(f"no warm core at {sock}: {exc}") from None


def reachable(sock: Path) -> bool:
    """Whether a warm core accepts connections on ``sock`` (a sub-millisecond probe)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.2)
    try:
        s.connect(str(sock))
        return True
    except OSError:
        return False
    finally:
        s.close()


async def request_events(
    req: Any, rm: Any, config: Any, sock: Path | None = None
) -> AsyncIterator[Any]:
    """Run a chat request on the warm core and yield its events.

    Raises:
        WarmUnavailable: no core, another version, or it died before sending anything — run
            the request in-process.
        TermchatError: the error the request met (the same one it would meet in-process), or
            :class:`ConnectionFailedError` when the core died mid-answer (text so far kept).
    """
    from .core.types import event_from_dict

    sock = sock or socket_path()
    reader, writer = await _connect(sock)
    try:
        msg = {
            "op": "chat",
            "version": __version__,
            "protocol": PROTOCOL,
            "request": _request_dict(req),
            "model": asdict(rm),
            "config": {k: config.get(k) for k in ("timeout", "retries", "retry_max_wait")},
        }
        writer.write(json.dumps(msg).encode() + b"\n")
        await writer.drain()
        # The core acknowledges at once; a socket that accepts but does not answer is no core.
        try:
            ack = await asyncio.wait_for(reader.readline(), ACK_TIMEOUT)
        except TimeoutError:
            raise WarmUnavailable("the warm core did not acknowledge the request") from None
        ack_data = json.loads(ack) if ack.strip() else {}
        if not ack_data.get("accepted"):
            err = ack_data.get("error") or {}
            if err and err.get("type") != "version":
                raise TermchatError.from_dict(err)
            raise WarmUnavailable("the warm core refused the request")
        # Each event must come within the provider timeout (the core enforces it) plus a margin.
        line_timeout = float(config.get("timeout")) + 15.0
        got_any = False
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), line_timeout)
            except TimeoutError:
                raise ConnectionFailedError("the warm core stopped answering") from None
            if not line:
                if not got_any:
                    raise WarmUnavailable("the warm core closed the connection")
                raise ConnectionFailedError(
                    "the warm core stopped in the middle of the answer",
                    hint="try again; the partial answer was kept",
                )
            data = json.loads(line)
            if "event" in data:
                got_any = True
                yield event_from_dict(data["event"])
            elif "error" in data:
                err = data["error"]
                if err.get("type") == "version":
                    raise WarmUnavailable("warm core of another version")
                raise TermchatError.from_dict(err)
            elif data.get("done"):
                return
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def request_events_sync(req: Any, rm: Any, config: Any, sock: Path | None = None) -> Iterator[Any]:
    """Blocking form of :func:`request_events` for the CLI's thin client: plain sockets, no
    asyncio (whose import alone costs ~50 ms). Closing the generator — or Ctrl+C while it
    waits — closes the connection, which cancels the request in the core.

    Raises:
        WarmUnavailable: no core, another version, or no acknowledgement — nothing was shown
            yet, so the caller runs the request in-process.
        TermchatError: the request's own error, or :class:`ConnectionFailedError` when the core
            died or went silent mid-answer.
    """
    from .core.types import event_from_dict

    sock = sock or socket_path()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(ACK_TIMEOUT)
        try:
            s.connect(str(sock))
            msg = {
                "op": "chat",
                "version": __version__,
                "protocol": PROTOCOL,
                "request": _request_dict(req),
                "model": asdict(rm),
                "config": {k: config.get(k) for k in ("timeout", "retries", "retry_max_wait")},
            }
            s.sendall(json.dumps(msg).encode() + b"\n")
            f = s.makefile("rb")
            ack = f.readline()
        except OSError as exc:  # includes socket.timeout
            raise WarmUnavailable(f"no warm core at {sock}: {exc}") from None
        ack_data = json.loads(ack) if ack.strip() else {}
        if not ack_data.get("accepted"):
            err = ack_data.get("error") or {}
            if err and err.get("type") != "version":
                raise TermchatError.from_dict(err)
            raise WarmUnavailable("the warm core refused the request")
        s.settimeout(float(config.get("timeout")) + 15.0)
        while True:
            try:
                line = f.readline()
            except OSError:
                line = b""
            if not line:
                raise ConnectionFailedError(
                    "the warm core stopped in the middle of the answer",
                    hint="try again; the partial answer was kept",
                )
            data = json.loads(line)
            if "event" in data:
                yield event_from_dict(data["event"])
            elif "error" in data:
                raise TermchatError.from_dict(data["error"])
            elif data.get("done"):
                return
    finally:
        s.close()


def call_sync(
    op: str, payload: dict[str, Any], config: Any, on_notice: Any = None, sock: Path | None = None
) -> dict[str, Any]:
    """One request/one result operation on the warm core (``image``, ``speech``,
    ``live_models``), blocking. ``payload`` carries the op's fields (``request``, ``model``,
    ``config``…); ``on_notice(text)`` gets retry notices. Returns the ``result`` object.

    Raises:
        WarmUnavailable: no core / no acknowledgement (run it in-process instead).
        TermchatError: the operation's own error, or :class:`ConnectionFailedError` when the
            core died mid-request (it is not re-run in-process: the provider may have charged).
    """
    sock = sock or socket_path()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(ACK_TIMEOUT)
        try:
            s.connect(str(sock))
            msg = {"op": op, "version": __version__, "protocol": PROTOCOL, **payload}
            s.sendall(json.dumps(msg).encode() + b"\n")
            f = s.makefile("rb")
            ack = f.readline()
        except OSError as exc:
            raise WarmUnavailable(f"no warm core at {sock}: {exc}") from None
        ack_data = json.loads(ack) if ack.strip() else {}
        if not ack_data.get("accepted"):
            err = ack_data.get("error") or {}
            if err and err.get("type") != "version":
                raise TermchatError.from_dict(err)
            raise WarmUnavailable("the warm core refused the request")
        s.settimeout(float(config.get("timeout")) * 4 + 30.0)
        while True:
            try:
                line = f.readline()
            except OSError:
                line = b""
            if not line:
                raise ConnectionFailedError("the warm core stopped before answering", hint="try again")
            data = json.loads(line)
            if "notice" in data:
                if on_notice is not None:
                    on_notice(data["notice"])
            elif "error" in data:
                raise TermchatError.from_dict(data["error"])
            elif "result" in data:
                return data["result"]
    finally:
        s.close()


def _request_dict(req: Any) -> dict[str, Any]:
    d = asdict(req)
    for m in d["messages"]:
        for a in m.get("attachments", []):
            import base64

            a["data"] = base64.b64encode(a["data"]).decode("ascii")
    return d


def _request_from(d: dict[str, Any]) -> Any:
    import base64

    from .core.types import Attachment, ChatRequest, Message

    msgs = [
        Message(
            m["role"],
            m["content"],
            [Attachment(a["mime"], base64.b64decode(a["data"]), a.get("name", "")) for a in m.get("attachments", [])],
        )
        for m in d.pop("messages")
    ]
    return ChatRequest(messages=msgs, **d)


async def control(op: str, sock: Path | None = None) -> dict[str, Any]:
    """Send ``status`` or ``stop`` to this environment's core; returns its answer.
    Raises :class:`WarmUnavailable` when none runs."""
    sock = sock or socket_path()
    reader, writer = await _connect(sock)
    try:
        writer.write(json.dumps({"op": op, "version": __version__, "protocol": PROTOCOL}).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
        if not line:
            raise WarmUnavailable("no answer")
        return json.loads(line)
    finally:
        writer.close()


# ---------------------------------------------------------------------------------------------
# Server


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


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        sys.exit(serve_main(sys.argv[2:]))
    sys.stderr.write("usage: python -m termchat.warm serve SOCKET [IDLE_SECONDS]\n")
    sys.exit(2)
