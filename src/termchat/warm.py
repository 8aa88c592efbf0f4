"""The warm core: a background termchat process that keeps the provider core imported.

Importing LiteLLM costs about 5 s, so every in-process ``ask`` would pay it. The warm core pays
it once: it imports the core, keeps its HTTP connections open, and serves requests over a Unix
socket; the CLI stays a thin client that reads stdin and files, sends the request, prints the
events as they arrive, and writes the store and output files itself.

Where and who:
  * The socket lives in ``paths.runtime_dir()``, mode 0600, named ``core-<hash>.sock`` where the
    hash covers termchat's version and every environment variable that can change a provider
    call (keys, base URLs, proxies, LiteLLM and termchat settings) — a changed key starts a
    fresh core. No TCP port.
  * The runtime directory is created 0700. An existing one that is a symlink, not a directory,
    not owned by this user, open to group or others in any way (mode & 0o077), or inside a
    parent that others may write to, is refused and left as it is (:func:`check_private_dir`):
    the request runs in-process and the client says why in one line on stderr; ``termchat
    doctor`` says it too.
  * Both ends check the other's uid with ``SO_PEERCRED``: the server hangs up on any other uid,
    and the client checks the server's uid right after connecting, before it sends a byte; a
    socket served by another uid is never sent a request (in-process, notice, log line).
  * One core per socket: the server holds an exclusive ``flock`` on ``core-<hash>.lock`` for its
    lifetime; a second one started in a race exits at once.
  * It exits after ``warm_core.idle_seconds`` (default 600) without requests, or on
    ``termchat warm stop`` / SIGTERM, removing its socket.

Protocol: one JSON line per message, UTF-8 (sent with ``ensure_ascii=False``: non-ASCII text
is not inflated by ``\\uXXXX`` escapes), at most :data:`MAX_LINE_BYTES` bytes. The client sends
``{"op": "chat", "version": V, "protocol": P, "request": {...}, "model": {...}, "config":
{...}}``; the server answers ``{"accepted": true}``, then ``{"event": {...}}`` lines (see
:func:`termchat.core.types.event_to_dict`), then ``{"done": true}`` or ``{"error": {...}}``
(:meth:`TermchatError.to_dict`). With tools (protocol 2), after a round's ``ToolCall`` events
the server sends ``{"awaiting": "tool_results"}`` and reads one ``{"tool_results": [...]}``
line the client sends on the same connection (the tools run in the client's process). The
client closing the connection cancels the request (the provider stream is closed). ``{"op": "status"}`` and ``{"op": "stop"}`` manage the core. The
server checks every request against one schema (``termchat.warm_server.parse_request``): a
line that is too long, not UTF-8, not JSON, or has a field of the wrong type is answered with
``{"error": {"type": "protocol", ...}}`` (:class:`ProtocolError`), one line in the core's log,
and the connection is closed; another termchat version gets ``{"error": {"type": "version",
...}}``.

When the core is missing, stale, of another version, or dies before answering, the client runs
the request in-process instead (the caller catches :class:`WarmUnavailable`) and starts a core for
next time; the user sees the answer either way.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import __version__, paths
from .core.errors import ConnectionFailedError, TermchatError
from .warm_protocol import (  # noqa: F401  (the protocol's names, importable from here too)
    FIRST_LINE_TIMEOUT,
    MAX_LINE_BYTES,
    PROTOCOL,
    START_DELAY,
    MiB,
    ProtocolError,
    VersionMismatch,
    WarmRefused,
    WarmUnavailable,
    _request_dict,
    _request_from,
    check_private_dir,
    peer_uid,
)

ACK_TIMEOUT = 5.0  # seconds for a core to acknowledge a request
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux
STARTING_WAIT = 12.0
"""Seconds a client waits for a core that is starting (its lock is held, its socket not yet
bound: it is importing LiteLLM, ~5 s after a 1 s delay) rather than importing LiteLLM itself
at the same time on the same CPUs."""
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


_noticed: set[str] = set()


def notice(reason: str) -> None:
    """Tell the user, once per process, why the warm core is not used: one line on stderr
    (``termchat: warm core not used: <reason>; answering in-process``) and one in termchat.log."""
    if reason in _noticed:
        return
    _noticed.add(reason)
    try:
        sys.stderr.write(f"termchat: warm core not used: {reason}; answering in-process\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    try:
        from .logs import get_logger

        get_logger().warning("warm core not used: %s", reason)
    except (OSError, ValueError):  # no log file: the line on stderr above is what remains
        pass


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
    """The runtime directory (:func:`paths.runtime_dir`), created with mode 0700 when missing.

    Raises:
        WarmRefused: it exists but is unsafe (see :func:`check_private_dir`); it is left as is.
        WarmUnavailable: it cannot be created.
    """
    d = paths.runtime_dir()
    try:
        os.lstat(d)
    except FileNotFoundError:
        try:
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise WarmUnavailable(f"cannot create {d}: {exc.strerror}") from None
    except OSError as exc:
        raise WarmUnavailable(f"cannot examine {d}: {exc.strerror}") from None
    try:
        check_private_dir(d)
    except OSError as exc:
        raise WarmUnavailable(f"cannot examine {d}: {exc.strerror}") from None
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
    import subprocess

    log = None
    try:
        log = paths.open_private_log("warm-core.log")
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


def wait_starting(sock: Path, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds while a core holds this socket's lock but does not accept
    connections yet; True once it does. Returns False at once when no core is starting."""
    deadline = time.monotonic() + timeout
    lock = sock.with_suffix(".lock")
    while time.monotonic() < deadline:
        if reachable(sock):
            return True
        if not _lock_held(lock):
            return reachable(sock)
        time.sleep(0.05)
    return False


def starting_pid(sock: Path) -> int | None:
    """The pid of a core that holds this socket's lock but is not serving yet (it is importing
    the provider core), or ``None``."""
    lock = sock.with_suffix(".lock")
    if reachable(sock) or not _lock_held(lock):
        return None
    try:
        return int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


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


def reachable(sock: Path) -> bool:
    """Whether a warm core of this user accepts connections on ``sock`` (a sub-millisecond
    probe that sends nothing). A socket served by another uid is not one: False."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.2)
    try:
        s.connect(str(sock))
        return peer_uid(s) == os.getuid()
    except OSError:
        return False
    finally:
        s.close()


def _dial(sock: Path) -> socket.socket:
    """A socket connected to ``sock`` (timeout :data:`ACK_TIMEOUT`) whose server runs as this
    user, checked before anything is sent.

    Raises:
        OSError: nobody listens there.
        WarmRefused: the socket is served by another uid (the connection is closed unused).
    """
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(ACK_TIMEOUT)
    try:
        s.connect(str(sock))
        uid = peer_uid(s)
    except OSError:
        s.close()
        raise
    if uid != os.getuid():
        s.close()
        raise WarmRefused(f"the socket {sock} is served by uid {uid}, not by you (uid "
                          f"{os.getuid()}); nothing was sent to it",
                          f"remove it (as root or its owner): rm '{sock}'")
    return s


def encode_message(msg: dict[str, Any]) -> bytes:
    """One protocol line: ``msg`` as UTF-8 JSON (non-ASCII unescaped) plus ``\\n``. Text
    with lone surrogates, which UTF-8 cannot carry, is sent with ASCII escapes instead."""
    try:
        return json.dumps(msg, ensure_ascii=False).encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(msg).encode("ascii") + b"\n"


def _decode_reply(line: bytes) -> dict[str, Any]:
    """A reply line as a dict; ``{}`` for one that is not a JSON object."""
    try:
        data = json.loads(line)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _connect(sock: Path) -> socket.socket:
    """:func:`_dial`, waiting for a core that is starting (importing LiteLLM) up to
    :data:`STARTING_WAIT`. Raises ``OSError``, or :class:`WarmRefused` (another uid serves it)."""
    try:
        return _dial(sock)
    except OSError:
        if not (_lock_held(sock.with_suffix(".lock")) and wait_starting(sock, STARTING_WAIT)):
            raise
    return _dial(sock)


def _open(op: str, payload: dict[str, Any], sock: Path | None = None) -> tuple[socket.socket, Any]:
    """Connect, send one request line and read the core's acknowledgement. A core that is
    starting is waited for (up to :data:`STARTING_WAIT`).

    Returns the socket and a binary line reader on it.

    Raises:
        WarmRefused: the runtime directory is unsafe or the socket is served by another uid;
            nothing was sent, and the user was told why (:func:`notice`, once per process).
        WarmUnavailable: no core answers or acknowledges, it is another version, or the request
            line would exceed :data:`MAX_LINE_BYTES` (nothing was shown yet: run in-process).
        TermchatError: the error the core refused the request with.
    """
    line = encode_message({"op": op, "version": __version__, "protocol": PROTOCOL, **payload})
    if len(line) > MAX_LINE_BYTES:
        raise WarmUnavailable(f"the request is larger than the warm core takes ({len(line):,} > "
                              f"{MAX_LINE_BYTES:,} bytes)")
    try:
        sock = sock or socket_path()
        s = _connect(sock)
    except WarmRefused as exc:
        notice(str(exc))
        raise
    except OSError as exc:
        raise WarmUnavailable(f"no warm core at {sock}: {exc}") from None
    try:
        try:
            s.sendall(line)
            f = s.makefile("rb")
            ack = f.readline()
        except OSError as exc:  # includes socket.timeout
            raise WarmUnavailable(f"no warm core at {sock}: {exc}") from None
        data = _decode_reply(ack)
        if not data.get("accepted"):
            err = data.get("error")
            if isinstance(err, dict) and err.get("type") not in ("version", "protocol"):
                raise TermchatError.from_dict(err)
            raise WarmUnavailable("the warm core refused the request")
        return s, f
    except BaseException:
        s.close()
        raise


def _read(f: Any, what: str) -> dict[str, Any]:
    try:
        line = f.readline()
    except OSError:
        line = b""
    if not line:
        raise ConnectionFailedError(what, hint="try again")
    data = _decode_reply(line)
    if not data:
        raise ConnectionFailedError("the warm core sent a malformed reply", hint="try again")
    return data


def _settings(config: Any) -> dict[str, Any]:
    return {k: config.get(k) for k in ("timeout", "retries", "retry_max_wait")}


def request_events_sync(
    req: Any, rm: Any, config: Any, sock: Path | None = None, on_open: Any = None,
    answer: Any = None,
) -> Iterator[Any]:
    """Run a chat request on the warm core and yield its events — a blocking client (plain
    sockets: asyncio's import alone would cost ~50 ms). Closing the generator, or Ctrl+C while
    it waits, closes the connection, which cancels the request in the core. ``on_open(socket)``
    is called once the core accepted the request: another thread may ``shutdown()`` that
    socket to end a read that is waiting (``termchat chat`` cancels that way).

    Tools: on ``{"awaiting": "tool_results"}`` the round's calls go to ``answer(calls)`` (run
    here) and its ``ToolResult`` list back as one line; ``None`` (cancelled) ends the stream.

    Raises:
        WarmUnavailable: no core, another version, or no acknowledgement — nothing was shown
            yet, so the caller runs the request in-process.
        TermchatError: the request's own error (the same as in-process), or
            :class:`ConnectionFailedError` when the core died or went silent mid-answer (the
            text so far is the caller's to keep).
    """
    from .core.types import ToolCall, ToolResult, event_from_dict
    from .warm_protocol import tool_results_line

    payload = {"request": _request_dict(req), "model": asdict(rm), "config": _settings(config)}
    s, f = _open("chat", payload, sock)
    calls: list[Any] = []
    try:
        if on_open is not None:
            on_open(s)
        s.settimeout(float(config.get("timeout")) + 15.0)
        while True:
            data = _read(f, "the warm core stopped in the middle of the answer")
            if "event" in data:
                ev = event_from_dict(data["event"])
                if isinstance(ev, ToolCall):
                    calls.append(ev)
                yield ev
            elif data.get("awaiting") == "tool_results":
                results = answer(calls) if answer else [ToolResult(
                    c.id, c.name, "error: no tools here", ok=False, round=c.round) for c in calls]
                if results is None:
                    return
                calls = []
                s.sendall(encode_message(tool_results_line(results)))
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
    s, f = _open(op, payload, sock)
    try:
        # Media requests may retry and download: allow for that beyond one timeout.
        s.settimeout(float(config.get("timeout")) * 4 + 30.0)
        while True:
            data = _read(f, "the warm core stopped before answering")
            if "notice" in data:
                if on_notice is not None:
                    on_notice(data["notice"])
            elif "error" in data:
                raise TermchatError.from_dict(data["error"])
            elif "result" in data:
                return data["result"]
    finally:
        s.close()


def control(op: str, sock: Path | None = None) -> dict[str, Any]:
    """Send ``status`` or ``stop`` to this environment's core; returns its answer (see
    :meth:`WarmServer.status`).

    Raises:
        WarmRefused: the runtime directory is unsafe, or the socket is served by another uid
            (nothing was sent).
        WarmUnavailable: no core runs, or it did not answer.
    """
    sock = sock or socket_path()
    try:
        s = _dial(sock)
    except OSError as exc:
        raise WarmUnavailable(f"no warm core at {sock}: {exc}") from None
    try:
        s.sendall(encode_message({"op": op, "version": __version__, "protocol": PROTOCOL}))
        line = s.makefile("rb").readline()
    except OSError as exc:
        raise WarmUnavailable(f"no warm core at {sock}: {exc}") from None
    finally:
        s.close()
    if not line:
        raise WarmUnavailable("no answer")
    data = _decode_reply(line)
    if not data or "error" in data:
        err = data.get("error")
        raise WarmUnavailable(str(err.get("message", "refused")) if isinstance(err, dict) else "refused")
    return data


if __name__ == "__main__":
    from .warm_server import main

    sys.exit(main(sys.argv[1:]))
