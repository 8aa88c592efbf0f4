"""A scripted OpenAI-compatible (and Ollama-compatible) HTTP server for tests and benchmarks.

Standard library only.  Pillow is imported lazily inside the image endpoint and
is optional: without it, images are hand-written PNGs (``zlib`` + ``struct``).

In-process use::

    from tests.support.fake_openai import FakeOpenAI

    with FakeOpenAI() as srv:                 # binds 127.0.0.1 on an ephemeral port
        srv.script({"text": "Hello world", "delay": 0.01})
        client = OpenAI(base_url=srv.base_url, api_key="sk-test")
        ...
        assert srv.requests[-1].headers["authorization"] == "Bearer sk-test"

Pytest fixture (in a ``conftest.py``)::

    @pytest.fixture
    def fake_openai():
        yield from fake_openai_server()

As a process (subprocess tests, benchmarks)::

    python tests/support/fake_openai.py --port 0 --print-url
    # prints "http://127.0.0.1:PORT" on one line, then serves until killed.
    # Control endpoints: POST /_script (JSON list of specs), GET /_requests,
    # POST /_reset, POST /_config ({"models": [...], "ollama_models": [...]}).

Scripted responses ("specs") are plain JSON-able dicts queued per *endpoint
family* and consumed FIFO:

=========  =====================================================  ==========================
family     endpoints                                               success spec keys
=========  =====================================================  ==========================
chat       POST /v1/chat/completions, POST /api/chat (Ollama)      text, echo, chunk, delay,
                                                                   tokens_per_second, usage,
                                                                   no_usage (no usage chunk),
                                                                   finish_reason, reasoning,
                                                                   disconnect_after,
                                                                   disconnect_mode
images     POST /v1/images/generations                             image
speech     POST /v1/audio/speech                                   speech
models     GET /v1/models, GET /v1/models/{id}, GET /api/tags      (errors only)
transcrip- POST /v1/audio/transcriptions (multipart; 413 over     transcript, segments,
 tion      ``max_upload_bytes``): tests/support/fake_transcribe.py language, duration, usage
pull       POST /api/pull (Ollama)                                 pull, delay,
                                                                   disconnect_after
delete     DELETE /api/delete (Ollama)                             (errors only)
=========  =====================================================  ==========================

Keys accepted by every family: ``family`` (explicit routing), ``error`` (HTTP
status; with ``message``, ``code``, ``type``, ``param``), ``headers`` (extra
response headers), ``stall`` (seconds to hold the connection open),
``stall_after`` (number of streamed chunks sent before stalling; 0 = before any
byte, the only mode for non-streamed responses), ``delay`` (seconds) and ``transfer``
(how a stream is framed: ``"chunked"``, the default, as the providers' servers send it, so
that a connection closed mid-body is a protocol error to the client; or ``"eof"``, a body
that ends where the connection closes, so that a cut can only be told from the stream's own
final event).

The family of a spec is: its ``family`` key, else the ``family=`` argument of
:meth:`FakeOpenAI.script`, else ``images``/``speech``/``pull`` when the spec has
an ``image``/``speech``/``pull`` key, else ``chat``.  When a family's queue is
empty, a default success response is produced.

Anthropic's Messages API and Gemini's generateContent, with the same scripting:
:class:`tests.support.fake_providers.FakeProviders`.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import datetime as _dt
import hashlib
import io
import itertools
import json
import math
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import wave
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "DEFAULT_CHAT_TEXT",
    "FAMILIES",
    "FakeOpenAI",
    "RecordedRequest",
    "fake_openai_server",
    "make_png",
    "make_wav",
    "split_pieces",
]

#: Text of the chat answer when the chat queue is empty.
DEFAULT_CHAT_TEXT = "Hello from the scripted server."

#: Endpoint families, each with its own FIFO queue of specs.
FAMILIES = ("chat", "images", "speech", "models", "pull", "delete", "transcription")

_COMMON_KEYS = {
    "family",
    "error",
    "headers",
    "message",
    "code",
    "type",
    "param",
    "stall",
    "stall_after",
    "delay",
    "transfer",
}
_FAMILY_KEYS = {
    "chat": {
        "text",
        "echo",
        "chunk",
        "usage",
        "no_usage",
        "finish_reason",
        "reasoning",
        "disconnect_after",
        "disconnect_mode",
        "tokens_per_second",
        "tool_calls", "arg_pieces", "indexless",  # tests/support/fake_tools.py
    },
    "images": {"image"},
    "speech": {"speech"},
    "models": set(),
    "pull": {"pull", "disconnect_after", "disconnect_mode"},
    "delete": set(),
    "transcription": {"transcript", "segments", "language", "duration", "usage"},
}

# status -> (error type, default error code)
_ERROR_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_denied", None),
    404: ("not_found_error", "model_not_found"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("service_unavailable", None),
}

_SPEECH_CONTENT_TYPES = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
}

_MAX_IMAGE_SIDE = 4096
_DEFAULT_IMAGE_SIZE = (64, 64)
_PALETTE = [(220, 60, 60), (60, 160, 80), (60, 90, 220), (230, 180, 40), (150, 70, 200)]


class _Stopped(Exception):
    """Raised inside a handler when the server is stopping (ends the response early)."""


# --------------------------------------------------------------------------- helpers


def split_pieces(text: str, chunk: int = 1) -> list[str]:
    """Split ``text`` into pieces of ``chunk`` words each, keeping all whitespace.

    Each word carries the whitespace that precedes it (``"Hello world"`` ->
    ``["Hello", " world"]``); trailing whitespace joins the last piece, so
    ``"".join(split_pieces(t, n)) == t`` always holds.  Empty text -> ``[]``.
    """
    words = re.findall(r"\s*\S+", text)
    rest = text[sum(map(len, words)) :]
    if rest:
        if words:
            words[-1] += rest
        else:
            words = [rest]
    n = max(1, int(chunk or 1))
    return ["".join(words[i : i + n]) for i in range(0, len(words), n)]


def _count_words(value: Any) -> int:
    """Rough token count: number of whitespace-separated words in all text of ``value``."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_count_words(v) for v in value)
    if isinstance(value, dict):
        total = 0
        for key, v in value.items():
            if key in ("content", "text", "prompt", "input", "system") or isinstance(
                v, (list, dict)
            ):
                total += _count_words(v)
        return total
    return 0


def _content_text(content: Any) -> str:
    """Text of a message ``content``: the string itself, or its text parts concatenated."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])
        return "".join(out)
    return ""


def _last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return _content_text(msg.get("content"))
    return ""


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + tag
        + data
        + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    )


def _gradient_rows(width: int, height: int, index: int) -> list[bytes]:
    """RGB rows (``3 * width`` bytes each) of a vertical gradient; colour depends on ``index``."""
    r, g, b = _PALETTE[index % len(_PALETTE)]
    rows = []
    for y in range(height):
        f = 0.4 + 0.6 * (y / max(1, height - 1))
        rows.append(bytes((int(r * f), int(g * f), int(b * f))) * width)
    return rows


def make_png(width: int, height: int, index: int = 0) -> bytes:
    """Encode a ``width`` x ``height`` RGB gradient as PNG bytes, stdlib only (zlib + struct)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    raw = b"".join(b"\x00" + row for row in _gradient_rows(width, height, index))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 6))
        + _png_chunk(b"IEND", b"")
    )


def _make_image(width: int, height: int, fmt: str, index: int) -> tuple[bytes, str]:
    """Image bytes and their actual format (``png``/``jpeg``/``webp``).

    Uses Pillow when importable; otherwise (or if Pillow cannot write ``fmt``)
    falls back to :func:`make_png`, so the returned format may differ from ``fmt``.
    """
    fmt = {"jpg": "jpeg"}.get(fmt.lower(), fmt.lower())
    try:
        from PIL import Image  # optional: imported lazily
    except ImportError:
        return make_png(width, height, index), "png"
    raw = b"".join(_gradient_rows(width, height, index))
    img = Image.frombytes("RGB", (width, height), raw)
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt.upper())
    except (KeyError, OSError, ValueError):
        return make_png(width, height, index), "png"
    return buf.getvalue(), fmt


def _parse_size(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
    if not m:
        return None
    w, h = int(m.group(1)), int(m.group(2))
    if not (0 < w <= _MAX_IMAGE_SIDE and 0 < h <= _MAX_IMAGE_SIDE):
        return None
    return w, h


def make_wav(
    duration: float, *, rate: int = 24000, frequency: float = 440.0, pcm_only: bool = False
) -> bytes:
    """A sine tone, 16-bit signed little-endian mono at ``rate`` Hz, ``duration`` seconds long.

    Returns a complete WAV file (via :mod:`wave`), or just the raw PCM frames
    when ``pcm_only`` is true.
    """
    n = max(0, round(duration * rate))
    amp = 0.3 * 32767
    samples = [int(amp * math.sin(2 * math.pi * frequency * i / rate)) for i in range(n)]
    frames = struct.pack(f"<{n}h", *samples)
    if pcm_only:
        return frames
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def _ollama_name(name: str) -> str:
    return name if ":" in name else name + ":latest"


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- records


@dataclass
class RecordedRequest:
    """One request as received by the server.

    ``method`` (``"POST"``...), ``path`` (as sent, including any query string),
    ``headers`` (lower-case names -> values, repeated headers joined by ``", "``;
    the ``authorization`` header is kept exactly as sent), ``body`` (parsed JSON
    when the body is valid JSON, raw ``bytes`` otherwise, ``None`` when empty),
    ``time`` (``time.time()`` seconds at which the request was fully read).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    time: float

    def to_json(self) -> dict[str, Any]:
        """JSON-able dict; a ``bytes`` body becomes ``body: null`` plus ``body_b64``."""
        out: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "body": self.body,
            "time": self.time,
        }
        if isinstance(self.body, bytes):
            out["body"] = None
            out["body_b64"] = base64.b64encode(self.body).decode("ascii")
        return out


# --------------------------------------------------------------------------- server


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    owner: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay silent; keep unexpected tracebacks in ``FakeOpenAI.errors``."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, _Stopped)):
            return
        self.owner._record_error(traceback.format_exc())


class FakeOpenAI:
    """Scripted OpenAI/Ollama-compatible HTTP server running in a daemon thread.

    ``FakeOpenAI(host="127.0.0.1", port=0)`` binds immediately (port 0 =
    ephemeral) and, unless ``autostart=False``, starts serving right away;
    :meth:`start` is idempotent.  Usable as a context manager (stops on exit).

    Attributes:
        url: ``"http://HOST:PORT"``.
        base_url: ``url + "/v1"`` (what OpenAI clients take).
        models: model ids listed by ``GET /v1/models``.
        ollama_models: names listed by ``GET /api/tags`` (strings, or full dicts
            passed through); ``/api/pull`` adds to it, ``/api/delete`` removes.
        api_key: when set, ``/v1/*`` requests whose ``Authorization`` header is
            not ``"Bearer <api_key>"`` get a 401 (default ``None``: accept all).
        errors: tracebacks of unexpected handler exceptions (should stay empty).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        models: list[str] | None = None,
        ollama_models: list[Any] | None = None,
        api_key: str | None = None,
        autostart: bool = True,
    ) -> None:
        self.models: list[str] = (
            list(models) if models is not None else ["fake-small", "fake-large"]
        )
        self.ollama_models: list[Any] = (
            list(ollama_models) if ollama_models is not None else ["llama3.2:latest"]
        )
        self.api_key = api_key
        #: Largest transcription upload taken (bytes; larger: 413), ``None``: any size.
        self.max_upload_bytes: int | None = None
        #: What each transcription request carried (tests/support/fake_transcribe.py).
        self.transcriptions: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._queues: dict[str, collections.deque[dict[str, Any]]] = {
            f: collections.deque() for f in FAMILIES
        }
        self._requests: list[RecordedRequest] = []
        self._request_cond = threading.Condition(self._lock)
        self._files: dict[str, tuple[bytes, str]] = {}
        self._ids = itertools.count(1)
        self._conns: set[socket.socket] = set()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.owner = self
        bound_host, bound_port = self._httpd.server_address[:2]
        if isinstance(bound_host, bytes):  # pragma: no cover - platform detail
            bound_host = bound_host.decode()
        self.host: str = str(bound_host)
        self.port: int = int(bound_port)
        self.url = f"http://{self.host}:{self.port}"
        self.base_url = self.url + "/v1"
        if autostart:
            self.start()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Start serving in a daemon thread (no-op if already running); returns ``self``."""
        if self._stopped:
            raise RuntimeError("FakeOpenAI cannot be restarted after stop()")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"FakeOpenAI:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: end stalls/delays, close open connections, release the port. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` has been called."""
        return self._stopped

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting -----------------------------------------------------------

    def script(self, *responses: dict[str, Any], family: str | None = None) -> None:
        """Queue response specs (plain dicts); each is routed to its endpoint family's FIFO.

        Raises ``ValueError`` for an unknown family or a key the family does not
        understand (catches typos in tests).
        """
        routed = [(self._family_of(spec, family), spec) for spec in responses]
        with self._lock:
            for fam, spec in routed:
                self._queues[fam].append(dict(spec))

    @staticmethod
    def _family_of(spec: Any, default: str | None) -> str:
        if not isinstance(spec, dict):
            raise ValueError(f"response spec must be a dict, got {type(spec).__name__}")
        fam = spec.get("family") or default
        if fam is None:
            fam = next(
                (
                    f
                    for key, f in (("image", "images"), ("speech", "speech"), ("pull", "pull"),
                                   ("transcript", "transcription"))
                    if key in spec
                ),
                "chat",
            )
        if fam not in FAMILIES:
            raise ValueError(f"unknown family {fam!r}; expected one of {FAMILIES}")
        unknown = set(spec) - _COMMON_KEYS - _FAMILY_KEYS[fam]
        if unknown:
            raise ValueError(f"unknown keys for family {fam!r}: {sorted(unknown)}")
        return fam

    def pending(self, family: str | None = None) -> int:
        """Number of scripted specs not consumed yet (in ``family``, or in all families)."""
        with self._lock:
            if family is not None:
                return len(self._queues[family])
            return sum(len(q) for q in self._queues.values())

    def _next_spec(self, family: str) -> dict[str, Any] | None:
        with self._lock:
            q = self._queues[family]
            return q.popleft() if q else None

    def reset(self) -> None:
        """Drop queued specs, recorded requests, served image files and recorded errors.

        Configuration (``models``, ``ollama_models``, ``api_key``) is kept.
        """
        with self._lock:
            for q in self._queues.values():
                q.clear()
            self._requests.clear()
            self.transcriptions.clear()
            self._files.clear()
            self.errors.clear()

    # -- recording -------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot (a new list) of all recorded requests, oldest first.

        Control endpoints (``/_script``, ``/_requests``, ``/_reset``, ``/_config``)
        are not recorded.
        """
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Recorded requests whose path (query string ignored) equals ``path``."""
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests were recorded or ``timeout`` seconds pass.

        Returns the snapshot either way (check its length).
        """
        deadline = time.monotonic() + timeout
        with self._request_cond:
            while len(self._requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._request_cond.wait(left)
            return list(self._requests)

    def _record(self, req: RecordedRequest) -> None:
        with self._request_cond:
            self._requests.append(req)
            self._request_cond.notify_all()

    def _record_error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)

    # -- internals used by the handler ------------------------------------------

    def _new_id(self) -> int:
        return next(self._ids)

    def _add_file(self, data: bytes, ext: str, content_type: str) -> str:
        name = f"img{self._new_id()}.{ext}"
        with self._lock:
            self._files[name] = (data, content_type)
        return f"{self.url}/files/{name}"

    def _get_file(self, name: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._files.get(name)

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``; raise :class:`_Stopped` if the server stops meanwhile."""
        if seconds > 0 and self._stop_event.wait(seconds):
            raise _Stopped()
        if self._stop_event.is_set():
            raise _Stopped()


def fake_openai_server(**kwargs: Any) -> Iterator[FakeOpenAI]:
    """Generator for pytest fixtures: ``yield from fake_openai_server()``.

    Starts a :class:`FakeOpenAI` (``kwargs`` go to its constructor), yields it,
    and stops it afterwards.
    """
    with FakeOpenAI(**kwargs) as srv:
        yield srv


# --------------------------------------------------------------------------- handler


def _gateway_route(handler: Any, method: str, path: str) -> bool:
    """The LiteLLM proxy's routes (``/key/info``…) of :mod:`tests.support.fake_gateway`."""
    try:
        from tests.support import fake_gateway
    except ImportError:  # run as a script from another directory: its own folder is on the path
        import fake_gateway  # type: ignore[no-redef]
    return fake_gateway.route(handler, method, path)



class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    server: _HTTPServer

    def version_string(self) -> str:
        return self.server_version

    # -- plumbing ----------------------------------------------------------------

    @property
    def owner(self) -> FakeOpenAI:
        return self.server.owner

    def setup(self) -> None:
        super().setup()
        with self.owner._lock:
            self.owner._conns.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.owner._lock:
            self.owner._conns.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: no access log on stderr."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        self._head_sent = False
        try:
            raw = self._read_body()
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    body = raw
            path = self.path.split("?", 1)[0]
            if path.startswith("/_"):
                self._control(path, body)
                return
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            self.owner._record(RecordedRequest(self.command, self.path, headers, body, time.time()))
            self._route(path, body)
        except (_Stopped, ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            self.owner._record_error(traceback.format_exc())
            self.close_connection = True
            if not self._head_sent:
                with contextlib.suppress(Exception):
                    self._send_json(
                        500,
                        {
                            "error": {
                                "message": "fake server bug (see FakeOpenAI.errors)",
                                "type": "server_error",
                                "code": None,
                                "param": None,
                            }
                        },
                    )

    # -- response primitives -------------------------------------------------------

    def _send_head(
        self,
        status: int,
        content_type: str | None,
        length: int | None,
        extra: dict[str, Any] | None = None,
        chunked: bool = False,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            if chunked:  # as the providers' servers stream: a cut body is then detectable
                self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.close_connection = True
        self.send_header("x-request-id", f"req_fake_{self.owner._new_id()}")
        for key, value in (extra or {}).items():
            self.send_header(str(key), str(value))
        self.end_headers()
        self.wfile.flush()
        self._head_sent = True

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, extra: dict[str, Any] | None = None
    ) -> None:
        self._send_head(status, content_type, len(data), extra)
        if self.command != "HEAD":
            self.wfile.write(data)
            self.wfile.flush()

    def _send_json(self, status: int, obj: Any, extra: dict[str, Any] | None = None) -> None:
        self._send_bytes(status, json.dumps(obj).encode(), "application/json", extra)

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _abort(self, mode: str = "close") -> None:
        """Drop the connection: ``close`` = FIN after flushing, ``reset`` = TCP RST."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        if mode == "reset":
            with contextlib.suppress(OSError):
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
            return
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send_error_spec(self, spec: dict[str, Any], ollama: bool = False) -> None:
        status = int(spec["error"])
        etype, ecode = _ERROR_TYPES.get(status, ("api_error", None))
        message = spec.get("message") or f"Scripted error {status}"
        if ollama:
            payload: dict[str, Any] = {"error": message}
        else:
            payload = {
                "error": {
                    "message": message,
                    "type": spec.get("type", etype),
                    "param": spec.get("param"),
                    "code": spec.get("code", ecode),
                }
            }
        self._send_json(status, payload, spec.get("headers"))

    def _stall_before(self, spec: dict[str, Any]) -> None:
        """Non-streamed responses: wait ``stall`` seconds before any byte (if scripted)."""
        if spec.get("stall"):
            self.owner._wait(float(spec["stall"]))

    def _stream(
        self,
        spec: dict[str, Any],
        content_type: str,
        pieces: list[bytes],
        tail: list[bytes],
        delay: float,
    ) -> None:
        """Stream ``pieces`` (counted chunks, ``delay`` s apart) then ``tail``; applies stall/disconnect."""
        stall = float(spec.get("stall") or 0)
        stall_after = int(spec.get("stall_after") or 0)
        disconnect_after = spec.get("disconnect_after")
        if stall and stall_after <= 0:
            self.owner._wait(stall)
        chunked = spec.get("transfer", "chunked") == "chunked"
        self._send_head(200, content_type, None, spec.get("headers"), chunked=chunked)
        write = self._write_chunk if chunked else self._write
        for i, piece in enumerate(pieces):
            if disconnect_after is not None and i >= int(disconnect_after):
                self._abort(spec.get("disconnect_mode", "close"))
                return
            if i and delay:
                self.owner._wait(delay)
            write(piece)
            if stall and i + 1 == stall_after:
                self.owner._wait(stall)
        if disconnect_after is not None:
            self._abort(spec.get("disconnect_mode", "close"))
            return
        for chunk in tail:
            write(chunk)
        if chunked:
            self._write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        """One piece of a ``Transfer-Encoding: chunked`` body."""
        if data:
            self._write(b"%x\r\n%s\r\n" % (len(data), data))

    # -- routing ----------------------------------------------------------------------

    def _route(self, path: str, body: Any) -> None:
        method = self.command
        if _gateway_route(self, method, path):  # the LiteLLM proxy's own routes
            return
        if (
            path.startswith("/v1/")
            and self.owner.api_key is not None
            and self.headers.get("Authorization") != f"Bearer {self.owner.api_key}"
        ):
            self._send_error_spec({"error": 401, "message": "Incorrect API key provided."})
            return
        if method == "POST" and path == "/v1/chat/completions":
            self._chat(body, ollama=False)
        elif method == "POST" and path == "/api/chat":
            self._chat(body, ollama=True)
        elif method == "POST" and path == "/v1/images/generations":
            self._images(body)
        elif method == "POST" and path == "/v1/audio/speech":
            self._speech(body)
        elif method == "POST" and path == "/v1/audio/transcriptions":
            from tests.support import fake_transcribe

            fake_transcribe.handle(self, body)
        elif method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            self._models(path)
        elif method == "GET" and path == "/api/tags":
            self._tags()
        elif method == "POST" and path == "/api/pull":
            self._pull(body)
        elif method == "DELETE" and path == "/api/delete":
            self._delete(body)
        elif method == "GET" and path == "/api/version":
            self._send_json(200, {"version": "0.0.0-fake"})
        elif method == "GET" and path == "/":
            self._send_bytes(200, b"Ollama is running", "text/plain; charset=utf-8")
        elif method == "GET" and path.startswith("/files/"):
            found = self.owner._get_file(path[len("/files/") :])
            if found is None:
                self._send_not_found(path)
            else:
                self._send_bytes(200, found[0], found[1])
        else:
            self._send_not_found(path)

    def _send_not_found(self, path: str) -> None:
        self._send_json(
            404,
            {
                "error": {
                    "message": f"Unknown request URL: {self.command} {path}",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "unknown_url",
                }
            },
        )

    def _bad_request(self, message: str, ollama: bool = False) -> None:
        self._send_error_spec({"error": 400, "message": message}, ollama=ollama)

    # -- control -----------------------------------------------------------------------

    def _control(self, path: str, body: Any) -> None:
        owner = self.owner
        if path == "/_script" and self.command == "POST":
            family = None
            specs = body
            if isinstance(body, dict):
                family = body.get("family")
                specs = body.get("responses", [])
            if not isinstance(specs, list):
                self._bad_request("POST /_script expects a JSON list of response specs")
                return
            try:
                owner.script(*specs, family=family)
            except ValueError as exc:
                self._bad_request(str(exc))
                return
            self._send_json(200, {"queued": len(specs), "pending": owner.pending()})
        elif path == "/_requests" and self.command == "GET":
            self._send_json(200, [r.to_json() for r in owner.requests])
        elif path == "/_reset" and self.command == "POST":
            owner.reset()
            self._send_json(200, {"ok": True})
        elif path == "/_config" and self.command == "POST" and isinstance(body, dict):
            if "models" in body:
                owner.models = list(body["models"])
            if "ollama_models" in body:
                owner.ollama_models = list(body["ollama_models"])
            if "max_upload_bytes" in body:
                owner.max_upload_bytes = body["max_upload_bytes"]
            if "api_key" in body:
                owner.api_key = body["api_key"]
            self._send_json(200, {"ok": True})
        else:
            self._send_not_found(path)

    # -- chat --------------------------------------------------------------------------

    def _chat(self, body: Any, *, ollama: bool) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._bad_request(
                "Invalid body: expected a JSON object with a 'messages' list.", ollama
            )
            return
        spec = self.owner._next_spec("chat") or {"text": DEFAULT_CHAT_TEXT}
        if "error" in spec:
            self._stall_before(spec)
            self._send_error_spec(spec, ollama=ollama)
            return
        if spec.get("tool_calls") and not ollama:  # scripted tool calls: tests/support/fake_tools.py
            try:
                from tests.support.fake_tools import chat_with_tools
            except ImportError:  # run as a script: tests/support is on sys.path
                from fake_tools import chat_with_tools  # type: ignore[no-redef]

            chat_with_tools(self, spec, body)
            return
        text = _last_user_text(body["messages"]) if spec.get("echo") else str(spec.get("text", ""))
        chunk = int(spec.get("chunk") or 1)
        pieces = split_pieces(text, chunk)
        reasoning = spec.get("reasoning")
        rpieces = split_pieces(reasoning, chunk) if isinstance(reasoning, str) else []
        tps = spec.get("tokens_per_second")
        delay = 1.0 / float(tps) if tps else float(spec.get("delay") or 0.0)
        usage = {
            "prompt_tokens": _count_words(body["messages"]),
            "completion_tokens": len(pieces) + len(rpieces),
        }
        usage.update(spec.get("usage") or {})
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        finish = spec.get("finish_reason", "stop")
        model = body.get("model") or "fake-model"
        stream = body.get("stream", ollama)  # Ollama streams unless told otherwise
        if ollama:
            self._chat_ollama(
                spec, model, text, reasoning, pieces, rpieces, usage, finish, delay, bool(stream)
            )
        else:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            include_usage = include_usage and not spec.get("no_usage")
            self._chat_openai(
                spec,
                model,
                text,
                reasoning,
                pieces,
                rpieces,
                usage,
                finish,
                delay,
                bool(stream),
                include_usage,
            )

    def _chat_openai(
        self,
        spec: dict[str, Any],
        model: str,
        text: str,
        reasoning: Any,
        pieces: list[str],
        rpieces: list[str],
        usage: dict[str, Any],
        finish: Any,
        delay: float,
        stream: bool,
        include_usage: bool,
    ) -> None:
        cid = f"chatcmpl-fake{self.owner._new_id()}"
        created = int(time.time())
        if not stream:
            self._stall_before(spec)
            self.owner._wait(delay * max(0, len(pieces) + len(rpieces) - 1))
            message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
            if isinstance(reasoning, str):
                message["reasoning_content"] = reasoning
            payload = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": usage,
            }
            data = json.dumps(payload).encode()
            if spec.get("disconnect_after") is not None:
                self._send_head(200, "application/json", len(data), spec.get("headers"))
                self._write(data[: len(data) // 2])
                self._abort(spec.get("disconnect_mode", "close"))
                return
            self._send_bytes(200, data, "application/json", spec.get("headers"))
            return

        def event(delta: dict[str, Any], finish_reason: Any = None) -> bytes:
            obj: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }
            if include_usage:
                obj["usage"] = None
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        deltas = [{"reasoning_content": p} for p in rpieces] + [{"content": p} for p in pieces]
        if not deltas:
            deltas = [{"content": ""}]
        deltas[0] = {"role": "assistant", **deltas[0]}
        tail = [event({}, finish)]
        if include_usage:
            usage_obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [],
                "usage": usage,
            }
            tail.append(b"data: " + json.dumps(usage_obj).encode() + b"\n\n")
        tail.append(b"data: [DONE]\n\n")
        self._stream(
            spec, "text/event-stream; charset=utf-8", [event(d) for d in deltas], tail, delay
        )

    def _chat_ollama(
        self,
        spec: dict[str, Any],
        model: str,
        text: str,
        reasoning: Any,
        pieces: list[str],
        rpieces: list[str],
        usage: dict[str, Any],
        finish: Any,
        delay: float,
        stream: bool,
    ) -> None:
        started = time.monotonic()

        def final(message: dict[str, Any]) -> dict[str, Any]:
            return {
                "model": model,
                "created_at": _now_iso(),
                "message": message,
                "done": True,
                "done_reason": finish or "stop",
                "total_duration": int((time.monotonic() - started) * 1e9),
                "prompt_eval_count": usage["prompt_tokens"],
                "eval_count": usage["completion_tokens"],
            }

        if not stream:
            self._stall_before(spec)
            self.owner._wait(delay * max(0, len(pieces) + len(rpieces) - 1))
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if isinstance(reasoning, str):
                message["thinking"] = reasoning
            if spec.get("disconnect_after") is not None:  # half of the body, then close
                data = json.dumps(final(message)).encode()
                self._send_head(200, "application/json", len(data), spec.get("headers"))
                self._write(data[: len(data) // 2])
                self._abort(spec.get("disconnect_mode", "close"))
                return
            self._send_json(200, final(message), spec.get("headers"))
            return

        def line(obj: dict[str, Any]) -> bytes:
            return json.dumps(obj).encode() + b"\n"

        msgs = [{"role": "assistant", "content": "", "thinking": p} for p in rpieces]
        msgs += [{"role": "assistant", "content": p} for p in pieces]
        lines = [
            line({"model": model, "created_at": _now_iso(), "message": m, "done": False})
            for m in msgs
        ]
        tail = [line(final({"role": "assistant", "content": ""}))]
        self._stream(spec, "application/x-ndjson", lines, tail, delay)

    # -- images ------------------------------------------------------------------------

    def _images(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            self._bad_request("Invalid body: expected a JSON object with a 'prompt' string.")
            return
        spec = self.owner._next_spec("images") or {}
        self._stall_before(spec)
        self.owner._wait(float(spec.get("delay") or 0))
        if "error" in spec:
            self._send_error_spec(spec)
            return
        ispec = spec.get("image") or {}
        size = (
            _parse_size(ispec.get("size")) or _parse_size(body.get("size")) or _DEFAULT_IMAGE_SIZE
        )
        n = ispec.get("n") or body.get("n") or 1
        n = max(1, min(int(n), 10))
        fmt = str(ispec.get("format") or body.get("output_format") or "png")
        as_ = ispec.get("as") or ("url" if body.get("response_format") == "url" else "b64")
        items: list[dict[str, Any]] = []
        for i in range(n):
            item: dict[str, Any]
            if ispec.get("bad_payload"):
                item = {
                    "b64_json": base64.b64encode(b"this is not an image, just text bytes").decode()
                }
            elif ispec.get("broken_url"):
                item = {"url": f"{self.owner.url}/files/missing-{self.owner._new_id()}.png"}
            else:
                data, real_fmt = _make_image(size[0], size[1], fmt, i)
                if as_ == "url":
                    ext = {"jpeg": "jpg"}.get(real_fmt, real_fmt)
                    item = {"url": self.owner._add_file(data, ext, f"image/{real_fmt}")}
                else:
                    item = {"b64_json": base64.b64encode(data).decode("ascii")}
            if ispec.get("revised_prompt") is not None:
                item["revised_prompt"] = ispec["revised_prompt"]
            items.append(item)
        self._send_json(200, {"created": int(time.time()), "data": items}, spec.get("headers"))

    # -- speech ------------------------------------------------------------------------

    def _speech(self, body: Any) -> None:
        """WAV (16-bit mono 24 kHz sine) or raw PCM; other formats get WAV bytes.

        The stdlib has no mp3/opus/aac/flac encoder, so for those formats the
        body is still WAV, only the ``Content-Type`` follows ``response_format``.
        """
        if not isinstance(body, dict) or not isinstance(body.get("input"), str):
            self._bad_request("Invalid body: expected a JSON object with an 'input' string.")
            return
        spec = self.owner._next_spec("speech") or {}
        self._stall_before(spec)
        self.owner._wait(float(spec.get("delay") or 0))
        if "error" in spec:
            self._send_error_spec(spec)
            return
        sspec = spec.get("speech") or {}
        fmt = str(body.get("response_format") or "wav").lower()
        if fmt not in _SPEECH_CONTENT_TYPES:
            self._bad_request(f"Invalid response_format {fmt!r}.")
            return
        duration = sspec.get("duration")
        if duration is None:
            duration = 0.05 * max(1, len(body["input"].split()))
        audio = make_wav(
            float(duration), frequency=float(sspec.get("frequency", 440.0)), pcm_only=fmt == "pcm"
        )
        self._send_bytes(200, audio, _SPEECH_CONTENT_TYPES[fmt], spec.get("headers"))

    # -- models ------------------------------------------------------------------------

    def _models(self, path: str) -> None:
        spec = self.owner._next_spec("models") or {}
        self._stall_before(spec)
        self.owner._wait(float(spec.get("delay") or 0))
        if "error" in spec:
            self._send_error_spec(spec)
            return
        entries = [
            {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
            for m in self.owner.models
        ]
        if path == "/v1/models":
            self._send_json(200, {"object": "list", "data": entries}, spec.get("headers"))
            return
        wanted = path[len("/v1/models/") :]
        for entry in entries:
            if entry["id"] == wanted:
                self._send_json(200, entry, spec.get("headers"))
                return
        self._send_error_spec({"error": 404, "message": f"The model '{wanted}' does not exist"})

    def _tags(self) -> None:
        spec = self.owner._next_spec("models") or {}
        self._stall_before(spec)
        self.owner._wait(float(spec.get("delay") or 0))
        if "error" in spec:
            self._send_error_spec(spec, ollama=True)
            return
        out = []
        for m in self.owner.ollama_models:
            if isinstance(m, dict):
                out.append(m)
                continue
            name = _ollama_name(str(m))
            out.append(
                {
                    "name": name,
                    "model": name,
                    "modified_at": "2024-01-01T00:00:00Z",
                    "size": 123,
                    "digest": hashlib.sha256(name.encode()).hexdigest(),
                    "details": {
                        "parent_model": "",
                        "format": "gguf",
                        "family": "llama",
                        "families": ["llama"],
                        "parameter_size": "3.2B",
                        "quantization_level": "Q4_K_M",
                    },
                }
            )
        self._send_json(200, {"models": out}, spec.get("headers"))

    def _ollama_index(self, name: str) -> int | None:
        for i, m in enumerate(self.owner.ollama_models):
            existing = m.get("name", "") if isinstance(m, dict) else str(m)
            if _ollama_name(existing) == _ollama_name(name):
                return i
        return None

    # -- ollama pull / delete ----------------------------------------------------------

    def _pull(self, body: Any) -> None:
        """NDJSON progress: pulling manifest, downloading (``total``/``completed`` bytes), success."""
        if not isinstance(body, dict) or not (body.get("model") or body.get("name")):
            self._bad_request("missing model name", ollama=True)
            return
        spec = self.owner._next_spec("pull") or {}
        name = str(body.get("model") or body.get("name"))
        if "error" in spec:
            self._stall_before(spec)
            self._send_error_spec(spec, ollama=True)
            return
        pspec = spec.get("pull") or {}
        total = int(pspec.get("total", 1000))
        steps = max(1, int(pspec.get("steps", 4)))
        digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        statuses: list[dict[str, Any]] = [{"status": "pulling manifest"}]
        if pspec.get("error"):
            statuses.append({"error": str(pspec["error"])})
        else:
            statuses += [
                {
                    "status": "downloading",
                    "digest": digest,
                    "total": total,
                    "completed": total * k // steps,
                }
                for k in range(1, steps + 1)
            ]
            statuses += [
                {"status": "verifying sha256 digest"},
                {"status": "writing manifest"},
                {"status": "success"},
            ]
        lines = [json.dumps(s).encode() + b"\n" for s in statuses]
        if body.get("stream") is False:
            self._stall_before(spec)
            self._send_json(200, statuses[-1], spec.get("headers"))
        else:
            self._stream(spec, "application/x-ndjson", lines, [], float(spec.get("delay") or 0))
        if (
            not pspec.get("error")
            and spec.get("disconnect_after") is None
            and self._ollama_index(name) is None
        ):
            with self.owner._lock:
                self.owner.ollama_models.append(_ollama_name(name))

    def _delete(self, body: Any) -> None:
        spec = self.owner._next_spec("delete") or {}
        self._stall_before(spec)
        if "error" in spec:
            self._send_error_spec(spec, ollama=True)
            return
        name = str(body.get("model") or body.get("name") or "") if isinstance(body, dict) else ""
        idx = self._ollama_index(name) if name else None
        if idx is None:
            self._send_json(404, {"error": f"model '{name}' not found"})
            return
        with self.owner._lock:
            del self.owner.ollama_models[idx]
        self._send_bytes(200, b"", "application/json", spec.get("headers"))


# --------------------------------------------------------------------------- process entry point


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT.  ``--print-url`` prints the base URL (no ``/v1``) first."""
    parser = argparse.ArgumentParser(description="Scripted OpenAI/Ollama-compatible test server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = ephemeral port")
    parser.add_argument(
        "--print-url", action="store_true", help="print http://HOST:PORT on stdout, flushed"
    )
    parser.add_argument("--models", default=None, help="comma-separated ids for GET /v1/models")
    args = parser.parse_args(argv)
    models = args.models.split(",") if args.models else None
    srv = FakeOpenAI(args.host, args.port, models=models)
    done = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if args.print_url:
        print(srv.url, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
