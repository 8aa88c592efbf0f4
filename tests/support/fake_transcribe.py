"""``POST /v1/audio/transcriptions`` for the scripted server (:mod:`tests.support.fake_openai`).

Multipart form as OpenAI takes it (``file``, ``model``, ``language``, ``prompt``,
``response_format``); answers ``json`` (``{"text"}``), ``verbose_json`` (text, language,
duration, segments with start/end seconds), ``text``, ``srt`` or ``vtt``. Specs of the
``transcription`` family (consumed FIFO, one per request): ``transcript`` (the text), ``segments``
(a list of ``[start, end, text]``; default: one segment over the whole file), ``language``,
``duration`` (seconds; default: the WAV file's length, else 1.0), ``usage`` (an object returned
as is), plus the common ``error``/``message``/``code``/``delay``/``stall``/``headers``. With an
empty queue the text is ``"Transcript N."`` (N counts transcription requests from 1).

A file larger than the server's ``max_upload_bytes`` (when set) is refused with 413 before any
spec is consumed, as OpenAI does. Every request is recorded in ``FakeOpenAI.transcriptions`` as
``{"filename", "content_type", "size", "model", "response_format", "language", "prompt",
"duration"}`` (``size`` in bytes) — so a test can check how a file was split.
"""

from __future__ import annotations

import io
import wave
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

KEYS = {"transcript", "segments", "language", "duration", "usage"}


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None, str | None]]:
    """``name -> (value bytes, filename, content type)`` of a ``multipart/form-data`` body."""
    msg = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    )
    out: dict[str, tuple[bytes, str | None, str | None]] = {}
    if not msg.is_multipart():
        return out
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        payload = part.get_payload(decode=True) or b""
        ctype = part.get_content_type() if part.get("content-type") else None
        out[str(name)] = (payload, part.get_filename(), ctype)
    return out


def wav_seconds(data: bytes) -> float | None:
    """The length of a WAV file in seconds, or ``None`` when ``data`` is not one."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError):
        return None


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def handle(handler: Any, body: Any) -> None:
    """Answer one transcription request on ``handler`` (the server's request handler)."""
    owner = handler.owner
    raw = body if isinstance(body, bytes) else b""
    form = parse_multipart(handler.headers.get("Content-Type") or "", raw)
    if "file" not in form:
        handler._send_error_spec({"error": 400, "message": "file is required", "param": "file"})
        return

    def field(name: str) -> str | None:
        return form[name][0].decode() if name in form else None

    data, filename, ctype = form["file"]
    fmt = field("response_format") or "json"
    duration = wav_seconds(data)
    with owner._lock:
        owner.transcriptions.append({
            "filename": filename, "content_type": ctype, "size": len(data),
            "model": field("model"), "response_format": fmt, "language": field("language"),
            "prompt": field("prompt"), "duration": duration,
        })
        n = len(owner.transcriptions)
    limit = owner.max_upload_bytes
    if limit is not None and len(data) > limit:
        handler._send_json(413, {"error": {
            "message": f"Maximum content size limit ({limit}) exceeded ({len(data)} bytes read)",
            "type": "server_error", "param": None, "code": None}})
        return
    spec = owner._next_spec("transcription") or {}
    if spec.get("delay"):
        owner._wait(float(spec["delay"]))
    handler._stall_before(spec)
    if "error" in spec:
        handler._send_error_spec(spec)
        return
    text = str(spec.get("transcript", f"Transcript {n}."))
    secs = float(spec.get("duration") or duration or 1.0)
    segs = [list(s) for s in spec.get("segments", [[0.0, secs, text]])]
    if fmt == "text":
        handler._send_bytes(200, (text + "\n").encode(), "text/plain; charset=utf-8")
    elif fmt in ("srt", "vtt"):
        sep = "," if fmt == "srt" else "."
        cues = "".join(
            (f"{i}\n" if fmt == "srt" else "") + f"{_stamp(a, sep)} --> {_stamp(b, sep)}\n{t}\n\n"
            for i, (a, b, t) in enumerate(segs, 1))
        head = "WEBVTT\n\n" if fmt == "vtt" else ""
        handler._send_bytes(200, (head + cues).encode(), "text/plain; charset=utf-8")
    elif fmt == "verbose_json":
        doc: dict[str, Any] = {
            "task": "transcribe", "language": spec.get("language", "english"), "duration": secs,
            "text": text,
            "segments": [{"id": i, "seek": 0, "start": a, "end": b, "text": t, "tokens": [],
                          "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.0,
                          "no_speech_prob": 0.01} for i, (a, b, t) in enumerate(segs)],
        }
        if "usage" in spec:
            doc["usage"] = spec["usage"]
        handler._send_json(200, doc, spec.get("headers"))
    else:
        doc = {"text": text}
        if "usage" in spec:
            doc["usage"] = spec["usage"]
        handler._send_json(200, doc, spec.get("headers"))
