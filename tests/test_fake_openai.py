"""Tests of the scripted fake OpenAI server, over real HTTP (urllib / raw sockets, no mocks)."""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_openai import (
    DEFAULT_CHAT_TEXT,
    FakeOpenAI,
    fake_openai_server,
    make_png,
    split_pieces,
)

SCRIPT = Path(__file__).parent / "support" / "fake_openai.py"


@pytest.fixture
def srv() -> Iterator[FakeOpenAI]:
    yield from fake_openai_server()


# --------------------------------------------------------------------------- helpers


def request(
    url: str,
    body: Any = None,
    *,
    method: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, Any, bytes]:
    """Send a request; returns (status, headers, body bytes), HTTP errors included."""
    data = None
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


def chat_body(text: str = "hi there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}], **extra}


def sse_data(raw: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    text = raw.decode()
    events = [e for e in text.split("\n\n") if e.strip()]
    out = []
    for event in events:
        assert event.startswith("data: "), event
        out.append(event[len("data: ") :])
    return out


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def raw_http(
    port: int, method: str, path: str, body: dict[str, Any], timeout: float = 5.0
) -> socket.socket:
    """Open a socket and send one HTTP/1.1 request; the caller reads the answer."""
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return sock


def read_all(sock: socket.socket) -> bytes:
    parts = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR, checking the signature."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def image_size(data: bytes) -> tuple[int, int]:
    try:
        from PIL import Image
    except ImportError:
        return png_size(data)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.size


# --------------------------------------------------------------------------- chat


def test_split_pieces_keeps_whitespace() -> None:
    for text in ["Hello world", "  lead and trail  ", "a\n\nb\tc", "", "   ", "one"]:
        for n in (1, 2, 3):
            assert "".join(split_pieces(text, n)) == text
    assert split_pieces("Hello big world", 1) == ["Hello", " big", " world"]
    assert split_pieces("Hello big world", 2) == ["Hello big", " world"]


def test_stream_pieces_concatenate_and_usage_chunk(srv: FakeOpenAI) -> None:
    text = "Hello brave  new\nworld "
    srv.script({"text": text})
    status, headers, raw = request(
        srv.base_url + "/chat/completions",
        chat_body("one two three", stream=True, stream_options={"include_usage": True}),
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Content-Length"] is None
    data = sse_data(raw)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gpt-test" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert content_of(chunks) == text
    pieces = [
        c["choices"][0]["delta"]["content"]
        for c in chunks
        if c["choices"] and "content" in c["choices"][0]["delta"]
    ]
    assert pieces == split_pieces(text)
    finish, usage_chunk = chunks[-2], chunks[-1]
    assert finish["choices"][0]["finish_reason"] == "stop" and finish["choices"][0]["delta"] == {}
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


def test_stream_without_include_usage_has_no_usage_chunk(srv: FakeOpenAI) -> None:
    srv.script({"text": "a b c d e", "chunk": 2, "finish_reason": "length"})
    _, _, raw = request(srv.base_url + "/chat/completions", chat_body(stream=True))
    chunks = [json.loads(d) for d in sse_data(raw)[:-1]]
    assert all(c["choices"] for c in chunks)
    assert [c["choices"][0]["delta"].get("content") for c in chunks[:-1]] == ["a b", " c d", " e"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert all("usage" not in c for c in chunks)


def test_non_stream_completion(srv: FakeOpenAI) -> None:
    srv.script({"text": "Hello world", "usage": {"prompt_tokens": 5, "completion_tokens": 2}})
    status, headers, raw = request(srv.base_url + "/chat/completions", chat_body())
    assert status == 200 and headers["Content-Type"] == "application/json"
    obj = json.loads(raw)
    assert obj["object"] == "chat.completion" and obj["model"] == "gpt-test"
    assert obj["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello world",
        "refusal": None,
    }
    assert obj["choices"][0]["finish_reason"] == "stop"
    assert obj["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def test_default_text_and_fifo(srv: FakeOpenAI) -> None:
    srv.script({"text": "first"}, {"text": "second"})
    assert srv.pending() == 2 and srv.pending("chat") == 2
    texts = [
        json.loads(request(srv.base_url + "/chat/completions", chat_body())[2])["choices"][0][
            "message"
        ]["content"]
        for _ in range(3)
    ]
    assert texts == ["first", "second", DEFAULT_CHAT_TEXT]
    assert srv.pending() == 0


def test_reasoning_streams_first(srv: FakeOpenAI) -> None:
    srv.script({"text": "Answer here", "reasoning": "Let me think"})
    _, _, raw = request(srv.base_url + "/chat/completions", chat_body(stream=True))
    deltas = [json.loads(d)["choices"][0]["delta"] for d in sse_data(raw)[:-1]]
    keys = [next(k for k in d if k != "role") if d else None for d in deltas]
    assert keys == ["reasoning_content"] * 3 + ["content"] * 2 + [None]
    assert deltas[0]["role"] == "assistant"
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Let me think"
    assert "".join(d.get("content", "") for d in deltas) == "Answer here"


def test_echo_last_user_message_with_parts(srv: FakeOpenAI) -> None:
    srv.script({"echo": True})
    body = {
        "model": "m",
        "stream": True,
        "messages": [
            {"role": "user", "content": "old"},
            {"role": "assistant", "content": "reply"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe "},
                    {"type": "image_url", "image_url": {"url": "data:,"}},
                    {"type": "text", "text": "this image"},
                ],
            },
        ],
    }
    _, _, raw = request(srv.base_url + "/chat/completions", body)
    assert content_of([json.loads(d) for d in sse_data(raw)[:-1]]) == "describe this image"


def test_delay_and_tokens_per_second_pace_the_stream(srv: FakeOpenAI) -> None:
    srv.script({"text": "a b c d e", "delay": 0.05}, {"text": "a b c d e", "tokens_per_second": 20})
    for _ in range(2):
        start = time.monotonic()
        _, _, raw = request(srv.base_url + "/chat/completions", chat_body(stream=True))
        elapsed = time.monotonic() - start
        assert content_of([json.loads(d) for d in sse_data(raw)[:-1]]) == "a b c d e"
        assert 0.19 <= elapsed < 2.0  # 4 gaps of 0.05 s


@pytest.mark.parametrize(
    ("spec", "status", "etype", "code"),
    [
        (
            {"error": 429, "message": "Rate limit reached", "headers": {"Retry-After": "1"}},
            429,
            "rate_limit_exceeded",
            "rate_limit_exceeded",
        ),
        (
            {"error": 400, "code": "context_length_exceeded", "message": "too long"},
            400,
            "invalid_request_error",
            "context_length_exceeded",
        ),
        (
            {"error": 400, "code": "content_policy_violation"},
            400,
            "invalid_request_error",
            "content_policy_violation",
        ),
        ({"error": 401}, 401, "authentication_error", "invalid_api_key"),
        ({"error": 403}, 403, "permission_denied", None),
        ({"error": 404}, 404, "not_found_error", "model_not_found"),
        ({"error": 500}, 500, "server_error", None),
        ({"error": 503}, 503, "service_unavailable", None),
    ],
)
def test_error_specs(
    srv: FakeOpenAI, spec: dict[str, Any], status: int, etype: str, code: str | None
) -> None:
    srv.script(spec)
    got, headers, raw = request(srv.base_url + "/chat/completions", chat_body(stream=True))
    assert got == status
    err = json.loads(raw)["error"]
    assert err["type"] == etype and err["code"] == code and err["message"]
    if "message" in spec:
        assert err["message"] == spec["message"]
    if status == 429:
        assert headers["Retry-After"] == "1"


def test_disconnect_truncates_stream(srv: FakeOpenAI) -> None:
    srv.script({"text": "partial answer that will be cut", "disconnect_after": 3, "transfer": "eof"})
    sock = raw_http(srv.port, "POST", "/v1/chat/completions", chat_body(stream=True))
    with sock:
        raw = read_all(sock)  # returns only because the server closed the socket
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    data = sse_data(body)
    assert len(data) == 3
    chunks = [json.loads(d) for d in data]
    assert content_of(chunks) == "partial answer that"
    assert b"[DONE]" not in body and b'"finish_reason": "stop"' not in body


def test_stall_before_headers_times_out_client(srv: FakeOpenAI) -> None:
    srv.script({"stall": 30, "text": "ab", "stall_after": 0})
    start = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        request(srv.base_url + "/chat/completions", chat_body(stream=True), timeout=0.3)
    assert time.monotonic() - start < 2


def test_stall_mid_stream_then_stop_releases_connection(srv: FakeOpenAI) -> None:
    srv.script({"stall": 30, "text": "ab cd ef", "stall_after": 1, "transfer": "eof"})
    sock = raw_http(srv.port, "POST", "/v1/chat/completions", chat_body(stream=True), timeout=0.3)
    with sock:
        got = b""
        while b"\n\n" not in got.partition(b"\r\n\r\n")[2]:
            got += sock.recv(65536)
        body = got.partition(b"\r\n\r\n")[2]
        assert content_of([json.loads(d) for d in sse_data(body)]) == "ab"
        with pytest.raises(TimeoutError):  # really stalls: nothing more arrives
            sock.recv(65536)
        sock.settimeout(3)
        start = time.monotonic()
        srv.stop()  # must end the 30 s stall promptly
        rest = read_all(sock)
        assert time.monotonic() - start < 2
    assert b"[DONE]" not in rest


def test_client_disconnect_is_silent(srv: FakeOpenAI, capfd: pytest.CaptureFixture[str]) -> None:
    srv.script({"text": " ".join(["word"] * 50), "delay": 0.01})
    sock = raw_http(srv.port, "POST", "/v1/chat/completions", chat_body(stream=True))
    sock.recv(100)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    sock.close()
    time.sleep(0.3)  # let the server hit the broken pipe
    assert request(srv.url + "/v1/models")[0] == 200  # still serving
    srv.stop()
    assert srv.errors == []
    assert capfd.readouterr().err == ""


# --------------------------------------------------------------------------- recording / misc


def test_requests_are_recorded(srv: FakeOpenAI) -> None:
    request(
        srv.base_url + "/chat/completions",
        chat_body("hello"),
        headers={"Authorization": "Bearer sk-secret"},
    )
    request(srv.url + "/nope?x=1", b"\x00\xffnot json", method="POST")
    reqs = srv.requests
    assert [(r.method, r.path) for r in reqs] == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/nope?x=1"),
    ]
    assert reqs[0].headers["authorization"] == "Bearer sk-secret"
    assert all(k == k.lower() for k in reqs[0].headers)
    assert reqs[0].body["messages"][0]["content"] == "hello"
    assert reqs[1].body == b"\x00\xffnot json"
    assert reqs[0].time <= reqs[1].time
    assert srv.requests_to("/nope") == [reqs[1]]
    srv.reset()
    assert srv.requests == []


def test_unknown_path_is_json_404(srv: FakeOpenAI) -> None:
    status, headers, raw = request(srv.base_url + "/does/not/exist", {"a": 1})
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert json.loads(raw)["error"]["code"] == "unknown_url"


def test_script_rejects_unknown_keys(srv: FakeOpenAI) -> None:
    with pytest.raises(ValueError, match="txt"):
        srv.script({"txt": "typo"})
    with pytest.raises(ValueError, match="family"):
        srv.script({"text": "x"}, family="nope")


def test_api_key_enforced_when_configured() -> None:
    with FakeOpenAI(api_key="sk-good") as srv:
        bad = request(srv.base_url + "/models", headers={"Authorization": "Bearer sk-bad"})
        good = request(srv.base_url + "/models", headers={"Authorization": "Bearer sk-good"})
    assert bad[0] == 401 and json.loads(bad[2])["error"]["code"] == "invalid_api_key"
    assert good[0] == 200


def test_stop_closes_keep_alive_connections(srv: FakeOpenAI) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=2)
    conn.request("GET", "/v1/models")
    assert conn.getresponse().read()
    srv.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/v1/models")
        conn.getresponse().read()
    conn.close()


# --------------------------------------------------------------------------- models / ollama


def test_models_list_is_configurable(srv: FakeOpenAI) -> None:
    obj = json.loads(request(srv.base_url + "/models")[2])
    assert obj["object"] == "list"
    assert [m["id"] for m in obj["data"]] == ["fake-small", "fake-large"]
    assert all(m["object"] == "model" and m["owned_by"] == "fake" for m in obj["data"])
    srv.models = ["only-one"]
    assert [m["id"] for m in json.loads(request(srv.base_url + "/models")[2])["data"]] == [
        "only-one"
    ]
    assert request(srv.base_url + "/models/only-one")[0] == 200
    assert request(srv.base_url + "/models/missing")[0] == 404
    srv.script({"error": 401}, family="models")
    assert request(srv.base_url + "/models")[0] == 401


def test_ollama_tags_chat_pull_delete(srv: FakeOpenAI) -> None:
    tags = json.loads(request(srv.url + "/api/tags")[2])["models"]
    assert [m["name"] for m in tags] == ["llama3.2:latest"]
    assert (
        tags[0]["model"] == "llama3.2:latest"
        and isinstance(tags[0]["size"], int)
        and tags[0]["details"]
    )

    srv.script({"text": "Hi from llama", "usage": {"prompt_tokens": 7}})
    status, headers, raw = request(
        srv.url + "/api/chat",
        {"model": "llama3.2", "messages": [{"role": "user", "content": "hello there"}]},
    )
    assert status == 200 and headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in raw.decode().splitlines()]
    assert all(not x["done"] for x in lines[:-1]) and lines[-1]["done"] is True
    assert "".join(x["message"]["content"] for x in lines[:-1]) == "Hi from llama"
    assert all(x["model"] == "llama3.2" for x in lines)
    assert lines[-1]["done_reason"] == "stop"
    assert lines[-1]["prompt_eval_count"] == 7 and lines[-1]["eval_count"] == 3

    _, _, raw = request(srv.url + "/api/pull", {"model": "qwen3:0.6b"})
    progress = [json.loads(line) for line in raw.decode().splitlines()]
    assert progress[0] == {"status": "pulling manifest"}
    downloads = [p for p in progress if p.get("status") == "downloading"]
    assert downloads and downloads[-1]["completed"] == downloads[-1]["total"] == 1000
    assert [d["completed"] for d in downloads] == sorted(d["completed"] for d in downloads)
    assert downloads[0]["digest"].startswith("sha256:")
    assert progress[-1] == {"status": "success"}
    assert "qwen3:0.6b" in [
        m["name"] for m in json.loads(request(srv.url + "/api/tags")[2])["models"]
    ]

    assert request(srv.url + "/api/delete", {"model": "qwen3:0.6b"}, method="DELETE")[0] == 200
    assert request(srv.url + "/api/delete", {"model": "qwen3:0.6b"}, method="DELETE")[0] == 404


def test_ollama_chat_non_stream_and_error(srv: FakeOpenAI) -> None:
    srv.script({"text": "whole"}, {"error": 500, "message": "boom"})
    obj = json.loads(request(srv.url + "/api/chat", chat_body(stream=False))[2])
    assert obj["done"] is True and obj["message"]["content"] == "whole"
    status, _, raw = request(srv.url + "/api/chat", chat_body())
    assert status == 500 and json.loads(raw) == {"error": "boom"}


# --------------------------------------------------------------------------- images


def test_stdlib_png_is_valid() -> None:
    data = make_png(5, 3, index=1)
    assert png_size(data) == (5, 3)
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + chunk) & 0xFFFFFFFF
        if tag == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == 3 * (1 + 5 * 3)  # filter byte + RGB per row


def test_images_b64_default_size_and_n(srv: FakeOpenAI) -> None:
    status, _, raw = request(
        srv.base_url + "/images/generations",
        {"model": "img", "prompt": "a cat", "size": "48x32", "n": 2},
    )
    assert status == 200
    obj = json.loads(raw)
    assert isinstance(obj["created"], int) and len(obj["data"]) == 2
    images = [base64.b64decode(d["b64_json"]) for d in obj["data"]]
    assert all(image_size(img) == (48, 32) for img in images)
    assert images[0] != images[1]


def test_images_url_mode_served_by_same_server(srv: FakeOpenAI) -> None:
    srv.script({"image": {"as": "url", "size": "20x10", "revised_prompt": "a nicer cat"}})
    obj = json.loads(request(srv.base_url + "/images/generations", {"prompt": "a cat"})[2])
    item = obj["data"][0]
    assert item["revised_prompt"] == "a nicer cat"
    assert item["url"].startswith(srv.url + "/files/")
    status, headers, data = request(item["url"])
    assert status == 200 and headers["Content-Type"].startswith("image/")
    assert image_size(data) == (20, 10)


def test_images_bad_payload_broken_url_and_error(srv: FakeOpenAI) -> None:
    srv.script(
        {"image": {"bad_payload": True}},
        {"image": {"broken_url": True}},
        {"error": 400, "code": "content_policy_violation", "message": "no"},
        family="images",
    )
    bad = base64.b64decode(
        json.loads(request(srv.base_url + "/images/generations", {"prompt": "x"})[2])["data"][0][
            "b64_json"
        ]
    )
    assert not bad.startswith(b"\x89PNG")
    url = json.loads(request(srv.base_url + "/images/generations", {"prompt": "x"})[2])["data"][0][
        "url"
    ]
    assert request(url)[0] == 404
    status, _, raw = request(srv.base_url + "/images/generations", {"prompt": "x"})
    assert status == 400 and json.loads(raw)["error"]["code"] == "content_policy_violation"


# --------------------------------------------------------------------------- speech


def test_speech_wav_pcm_and_other_formats(srv: FakeOpenAI) -> None:
    words = "one two three four"
    status, headers, data = request(
        srv.base_url + "/audio/speech", {"model": "tts", "input": words, "voice": "a"}
    )
    assert status == 200 and headers["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.getnframes() == round(0.05 * 4 * 24000)
        assert any(w.readframes(w.getnframes()))  # not silence

    _, headers, pcm = request(
        srv.base_url + "/audio/speech", {"input": words, "response_format": "pcm"}
    )
    assert headers["Content-Type"] == "audio/pcm" and len(pcm) == 2 * round(0.05 * 4 * 24000)

    srv.script({"speech": {"duration": 0.2}})
    _, headers, data = request(
        srv.base_url + "/audio/speech", {"input": words, "response_format": "mp3"}
    )
    assert headers["Content-Type"] == "audio/mpeg"
    with wave.open(io.BytesIO(data)) as w:
        assert w.getnframes() == round(0.2 * 24000)

    srv.script({"error": 429}, family="speech")
    assert request(srv.base_url + "/audio/speech", {"input": words})[0] == 429


# --------------------------------------------------------------------------- subprocess


def test_subprocess_print_url_and_control_endpoints() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", "0", "--print-url"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        status, _, raw = request(url + "/_script", [{"text": "scripted over http"}, {"error": 503}])
        assert status == 200 and json.loads(raw)["queued"] == 2
        _, _, raw = request(
            url + "/v1/chat/completions",
            chat_body(stream=True),
            headers={"Authorization": "Bearer sk-sub"},
        )
        assert content_of([json.loads(d) for d in sse_data(raw)[:-1]]) == "scripted over http"
        assert request(url + "/v1/chat/completions", chat_body())[0] == 503
        recorded = json.loads(request(url + "/_requests")[2])
        assert [r["path"] for r in recorded] == ["/v1/chat/completions"] * 2
        assert recorded[0]["headers"]["authorization"] == "Bearer sk-sub"
        assert request(url + "/_script", [{"bogus": 1}])[0] == 400
        assert request(url + "/_reset", {})[0] == 200
        assert json.loads(request(url + "/_requests")[2]) == []
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert err == ""
