"""Anthropic, Gemini and Ollama on their own wire formats (issue #9, item 7).

Every other chat test speaks OpenAI's format; here the loopback server speaks Anthropic's
Messages API (SSE events), Gemini's generateContent/streamGenerateContent and Ollama's /api/chat
(tests/support/fake_providers.py), and LiteLLM's own adapters for those providers are pointed at
it with the variables LiteLLM documents (``ANTHROPIC_API_BASE``, ``GEMINI_API_BASE``,
``OLLAMA_API_BASE``) — or with termchat's ``--api-base``. Through the real CLI in a subprocess,
through the engine in-process, and through the chat app (Pilot).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from termchat.config import load_config
from termchat.core import engine
from termchat.core.catalog import cost_usd, model_info
from termchat.core.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ContextWindowExceededError,
    ModelNotFoundError,
    ProviderError,
    RateLimitError,
    TimeoutError_,
)
from termchat.core.types import ChatRequest, Finished, Message, Notice, TextDelta, Usage
from tests.conftest import write_config
from tests.support.fake_providers import FakeProviders


@dataclass(frozen=True)
class Wire:
    """One provider's wire format: the model id termchat is given, and how its calls look."""

    name: str
    model: str

    def calls(self, srv: FakeProviders) -> list[Any]:
        """The chat requests this provider's adapter sent to the server."""
        if self.name == "anthropic":
            return srv.requests_to("/v1/messages")
        if self.name == "gemini":
            return srv.gemini_requests()
        return srv.requests_to("/api/chat")

    def streamed(self, call: Any) -> bool:
        """Whether a recorded request asked for a streamed answer, in this wire's terms."""
        if self.name == "gemini":
            return ":streamGenerateContent" in call.path and "alt=sse" in call.path
        return call.body.get("stream") is True

    def sent_text(self, call: Any) -> str:
        """The text of the last user message of a recorded request."""
        if self.name == "gemini":
            parts = call.body["contents"][-1]["parts"]
            return "".join(p.get("text", "") for p in parts)
        content = call.body["messages"][-1]["content"]
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content)
        return content


ANTHROPIC = Wire("anthropic", "anthropic/claude-haiku-4-5")
GEMINI = Wire("gemini", "gemini/gemini-2.5-flash")
OLLAMA = Wire("ollama_chat", "ollama_chat/llama3.2")
WIRES = [pytest.param(w, id=w.name) for w in (ANTHROPIC, GEMINI, OLLAMA)]

ANTHROPIC_KEY = "sk-ant-api03-wirecheck-0123456789abcdef"
GEMINI_KEY = "AIzaWireCheckWireCheckWireCheck012345"
KEYS = {"anthropic": ANTHROPIC_KEY, "gemini": GEMINI_KEY}

#: A provider's retryable error, as that provider sends it: Anthropic's 529 overloaded_error,
#: Google's 429 RESOURCE_EXHAUSTED, Ollama's 503 (model still loading / server busy).
RETRYABLE = {
    "anthropic": {"error": 529, "type": "overloaded_error", "message": "Overloaded"},
    "gemini": {"error": 429, "type": "RESOURCE_EXHAUSTED",
               "message": "Resource has been exhausted (e.g. check quota)."},
    "ollama_chat": {"error": 503, "message": "server busy, please try again.  maximum pending "
                                             "requests exceeded"},
}

#: A rejected key, as each provider says it.
AUTH_ERRORS = [
    pytest.param(ANTHROPIC, {"error": 401, "type": "authentication_error",
                             "message": "invalid x-api-key"}, id="anthropic-401"),
    pytest.param(GEMINI, {"error": 403, "type": "PERMISSION_DENIED",
                          "message": "Method doesn't allow unregistered callers (callers without "
                                     "established identity). Please use API Key or other form of "
                                     "API consumer identity to call this API."},
                 id="gemini-403"),
    # how Google actually answers a wrong key: 400 INVALID_ARGUMENT, reason API_KEY_INVALID
    pytest.param(GEMINI, {"error": 400, "reason": "API_KEY_INVALID"}, id="gemini-400-key-invalid"),
    pytest.param(OLLAMA, {"error": 401, "message": "unauthorized"}, id="ollama-401"),
]


@pytest.fixture
def wire_srv() -> Iterator[FakeProviders]:
    """The scripted loopback server, speaking every provider's wire format."""
    with FakeProviders() as srv:
        yield srv


def provider_env(srv: FakeProviders, w: Wire) -> dict[str, str]:
    """The provider's documented variables, pointing its LiteLLM adapter at ``srv``."""
    return srv.env(w.name, KEYS.get(w.name))


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "data" / "termchat.db")


def _expected_cost(w: Wire, prompt: int, completion: int) -> float | None:
    return cost_usd(model_info(w.model), prompt, completion)


def _assert_key_sent(w: Wire, call: Any) -> None:
    if w.name == "anthropic":
        assert call.headers["x-api-key"] == ANTHROPIC_KEY
        assert call.headers.get("anthropic-version")
    elif w.name == "gemini":
        assert call.headers["x-goog-api-key"] == GEMINI_KEY


# --------------------------------------------------------------------------- the server itself


def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    """POST JSON; a body cut short (the server closed mid-chunk) is returned as far as it came."""
    import http.client
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            try:
                return resp.status, dict(resp.headers), resp.read()
            except http.client.IncompleteRead as exc:
                return resp.status, dict(resp.headers), exc.partial
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _sse_events(raw: bytes) -> list[tuple[str | None, dict]]:
    out = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines.get("event"), json.loads(lines["data"])))
    return out


def test_server_speaks_anthropic_messages_events(wire_srv):
    wire_srv.script({"text": "Hi there", "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
                    {"text": "a b c", "disconnect_after": 1},
                    {"error": 529, "headers": {"retry-after": "3"}})
    body = {"model": "claude-x", "max_tokens": 10, "stream": True,
            "messages": [{"role": "user", "content": "hello"}]}
    status, headers, raw = _post(wire_srv.url + "/v1/messages", body)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = _sse_events(raw)
    assert [e for e, _ in events] == [
        "message_start", "ping", "content_block_start", "content_block_delta",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in events)
    assert events[0][1]["message"]["usage"]["input_tokens"] == 4
    assert [d["delta"] for n, d in events if n == "content_block_delta"] == [
        {"type": "text_delta", "text": "Hi"}, {"type": "text_delta", "text": " there"}]
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert events[-2][1]["usage"] == {"output_tokens": 2}

    _, _, raw = _post(wire_srv.url + "/v1/messages", body)  # cut after one delta
    assert [e for e, _ in _sse_events(raw)] == [
        "message_start", "ping", "content_block_start", "content_block_delta"]

    status, headers, raw = _post(wire_srv.url + "/v1/messages", body)
    assert status == 529 and headers["retry-after"] == "3"
    assert json.loads(raw)["type"] == "error"
    assert json.loads(raw)["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_server_speaks_gemini_generate_content(wire_srv):
    wire_srv.script({"text": "Hi there", "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
                    {"text": "whole", "finish_reason": "length"},
                    {"error": 429})
    body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    url = wire_srv.gemini_base + "/models/gemini-x:streamGenerateContent?alt=sse"
    status, _, raw = _post(url, body)
    assert status == 200
    chunks = [data for _, data in _sse_events(raw)]
    texts = [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks]
    assert texts == ["Hi", " there", ""]
    assert [c["candidates"][0].get("finishReason") for c in chunks] == [None, None, "STOP"]
    assert chunks[-1]["usageMetadata"] == {"promptTokenCount": 4, "candidatesTokenCount": 2,
                                           "totalTokenCount": 6}

    status, _, raw = _post(wire_srv.gemini_base + "/models/gemini-x:generateContent", body)
    cand = json.loads(raw)["candidates"][0]
    assert status == 200 and cand["content"]["parts"] == [{"text": "whole"}]
    assert cand["finishReason"] == "MAX_TOKENS"

    status, _, raw = _post(url, body)
    assert status == 429
    assert json.loads(raw)["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert json.loads(raw)["error"]["code"] == 429


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("w", WIRES)
def test_ask_streams_exact_text_over_the_providers_wire(cli, wire_srv, home, w):
    text = "Tides follow the moon.\n\nTwice a day, mostly."
    wire_srv.script({"text": text})
    r = cli("ask", "-m", w.model, "why tides?", env=provider_env(wire_srv, w))
    assert r.returncode == 0, r.stderr
    assert r.stdout == text
    assert r.stderr == ""
    (call,) = w.calls(wire_srv)
    assert w.streamed(call)
    assert w.sent_text(call) == "why tides?"
    _assert_key_sent(w, call)
    if w.name != "gemini":  # Gemini names the model in the URL
        assert call.body["model"] == w.model.split("/", 1)[1]
    else:
        assert "/models/gemini-2.5-flash:" in call.path


@pytest.mark.parametrize("w", WIRES)
def test_ask_json_and_u_report_the_providers_usage(cli, wire_srv, home, w):
    wire_srv.script({"text": "Four.", "usage": {"prompt_tokens": 11, "completion_tokens": 5}})
    r = cli("ask", "-m", w.model, "--json", "-u", "2+2?", env=provider_env(wire_srv, w))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["text"] == "Four." and doc["model"] == w.model
    assert doc["usage"] == {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    assert doc["finish_reason"] == "stop" and doc["interrupted"] is False
    expected = _expected_cost(w, 11, 5)
    if w.name == "ollama_chat":
        assert expected is None
    else:
        assert expected and doc["cost_usd"] == pytest.approx(expected)
    assert "usage: 11 prompt + 5 completion tokens" in r.stderr
    row = _db(home).execute(
        "SELECT content, model, prompt_tokens, completion_tokens, interrupted FROM messages "
        "WHERE role='assistant'"
    ).fetchone()
    assert row == ("Four.", w.model, 11, 5, 0)


@pytest.mark.parametrize("w", WIRES)
def test_ask_no_stream_over_the_providers_wire(cli, wire_srv, home, w):
    text = "A whole answer, sent at once."
    wire_srv.script({"text": text, "usage": {"prompt_tokens": 7, "completion_tokens": 6}})
    r = cli("ask", "-m", w.model, "--no-stream", "--json", "-u", "hi",
            env=provider_env(wire_srv, w))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["text"] == text and doc["finish_reason"] == "stop"
    assert doc["usage"] == {"prompt_tokens": 7, "completion_tokens": 6, "total_tokens": 13}
    assert "usage: 7 prompt + 6 completion tokens" in r.stderr
    (call,) = w.calls(wire_srv)
    assert not w.streamed(call)
    if w.name == "gemini":
        assert ":generateContent" in call.path


@pytest.mark.parametrize("w", WIRES)
def test_ask_retries_the_providers_retryable_error_then_succeeds(cli, wire_srv, home, w):
    write_config(home, "retry_max_wait = 0.2\n")
    wire_srv.script(RETRYABLE[w.name], {"text": "back again"})
    r = cli("ask", "-m", w.model, "hi", env=provider_env(wire_srv, w))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "back again"
    notices = [line for line in r.stderr.splitlines() if line.startswith("termchat:")]
    assert len(notices) == 1 and "retrying in" in notices[0], r.stderr
    assert len(w.calls(wire_srv)) == 2


@pytest.mark.parametrize("w, spec", AUTH_ERRORS)
def test_ask_rejected_key_is_exit_3_and_not_retried(cli, wire_srv, home, w, spec):
    wire_srv.script(spec, {"text": "must not be asked for"})
    r = cli("ask", "-m", w.model, "--json", "hi", env=provider_env(wire_srv, w))
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    assert doc["text"] == "" and doc["error"]["type"] == "authentication"
    assert "Traceback" not in r.stderr and r.stderr.count("\n") <= 2
    for secret in KEYS.values():
        assert secret not in r.stdout + r.stderr
    assert len(w.calls(wire_srv)) == 1


@pytest.mark.parametrize("w", WIRES)
def test_ask_cut_stream_is_exit_4_and_partial_text_kept_as_interrupted(cli, wire_srv, home, w):
    # three deltas, then the connection closes without the provider's final event
    # (Anthropic: no message_delta/message_stop; Gemini: no finishReason; Ollama: no done)
    wire_srv.script({"text": "one two three four five", "disconnect_after": 3})
    r = cli("ask", "-m", w.model, "count", "--json", env=provider_env(wire_srv, w))
    assert r.returncode == 4, r.stderr
    doc = json.loads(r.stdout)
    assert doc["text"] == "one two three"
    assert doc["error"]["type"] == "connection" and doc["error"]["exit_code"] == 4
    row = _db(home).execute(
        "SELECT content, interrupted, error FROM messages WHERE role='assistant'"
    ).fetchone()
    assert row[0] == "one two three" and row[1] == 1 and row[2]
    assert len(w.calls(wire_srv)) == 1  # text had started: never retried

    # the same cut, into a pipe: the partial text is printed as it came
    wire_srv.script({"text": "alpha beta gamma delta", "disconnect_after": 2})
    r = cli("ask", "-m", w.model, "again", env=provider_env(wire_srv, w))
    assert r.returncode == 4, r.stderr
    assert r.stdout == "alpha beta"
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("w", WIRES)
def test_ask_api_base_option_points_the_adapter_too(cli, wire_srv, home, w):
    base = wire_srv.gemini_base if w.name == "gemini" else wire_srv.url
    env = {k: v for k, v in provider_env(wire_srv, w).items() if "_BASE" not in k}
    wire_srv.script({"text": "via --api-base"})
    r = cli("ask", "-m", w.model, "--api-base", base, "hi", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "via --api-base"
    (call,) = w.calls(wire_srv)
    _assert_key_sent(w, call)


# --------------------------------------------------------------------------- the engine


@pytest.fixture
def point(monkeypatch, wire_srv):
    """``point(wire)``: set that provider's documented variables in this process."""

    def apply(w: Wire) -> FakeProviders:
        for k, v in provider_env(wire_srv, w).items():
            monkeypatch.setenv(k, v)
        return wire_srv

    return apply


def _req(w: Wire, text: str = "hi", **kw: Any) -> ChatRequest:
    return ChatRequest(model=w.model, messages=[Message("user", text)], **kw)


async def _collect(req: ChatRequest) -> tuple[list[Any], BaseException | None]:
    events: list[Any] = []
    try:
        async for ev in engine.stream_chat(req, load_config()):
            events.append(ev)
    except Exception as exc:
        return events, exc
    return events, None


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
@pytest.mark.parametrize("w", WIRES)
async def test_engine_text_usage_and_finish(home, point, w, stream):
    srv = point(w)
    text = "Hello brave new world"
    srv.script({"text": text, "usage": {"prompt_tokens": 10, "completion_tokens": 4}})
    events, err = await _collect(_req(w, "greet me", stream=stream))
    assert err is None, repr(err)
    assert _text(events) == text
    deltas = sum(isinstance(e, TextDelta) for e in events)
    assert deltas == (4 if stream else 1)  # word by word when streamed
    (usage,) = [e for e in events if isinstance(e, Usage)]
    assert (usage.prompt_tokens, usage.completion_tokens) == (10, 4)
    expected = _expected_cost(w, 10, 4)
    assert usage.cost_usd == (pytest.approx(expected) if expected is not None else None)
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.finish_reason == "stop" and fin.model == w.model
    (call,) = w.calls(srv)
    assert w.streamed(call) is stream and w.sent_text(call) == "greet me"


@pytest.mark.parametrize("w", WIRES)
async def test_engine_max_tokens_finish_is_length(home, point, w):
    srv = point(w)
    srv.script({"text": "cut at the", "finish_reason": "length"})
    events, err = await _collect(_req(w))
    assert err is None, repr(err)
    assert _text(events) == "cut at the"
    assert isinstance(events[-1], Finished) and events[-1].finish_reason == "length"


RETRY_CASES = [
    pytest.param(ANTHROPIC, RETRYABLE["anthropic"], id="anthropic-529-overloaded"),
    pytest.param(ANTHROPIC, {"error": 500, "type": "api_error"}, id="anthropic-500-api_error"),
    pytest.param(GEMINI, RETRYABLE["gemini"], id="gemini-429-resource-exhausted"),
    pytest.param(GEMINI, {"error": 503, "type": "UNAVAILABLE"}, id="gemini-503-unavailable"),
    pytest.param(GEMINI, {"error": 500, "type": "INTERNAL"}, id="gemini-500-internal"),
    pytest.param(OLLAMA, RETRYABLE["ollama_chat"], id="ollama-503"),
    pytest.param(OLLAMA, {"error": 500, "message": "llama runner process has terminated"},
                 id="ollama-500"),
]


@pytest.mark.parametrize("w, spec", RETRY_CASES)
async def test_engine_retryable_errors_are_retried_then_succeed(home, point, w, spec):
    write_config(home, "retry_max_wait = 0.2\n")
    srv = point(w)
    srv.script(spec, {"text": "ok now"})
    events, err = await _collect(_req(w))
    assert err is None, repr(err)
    assert _text(events) == "ok now"
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "retrying in 0.2 s" in notices[0]
    assert len(w.calls(srv)) == 2


async def test_engine_anthropic_429_honours_retry_after(home, point):
    srv = point(ANTHROPIC)
    srv.script({"error": 429, "type": "rate_limit_error", "headers": {"retry-after": "1"}},
               {"text": "finally"})
    t0 = time.monotonic()
    events, err = await _collect(_req(ANTHROPIC))
    assert err is None, repr(err)
    assert _text(events) == "finally"
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "retrying in 1.0 s" in notices[0]
    assert time.monotonic() - t0 >= 0.9
    assert len(ANTHROPIC.calls(srv)) == 2


@pytest.mark.parametrize("w", WIRES)
async def test_engine_retryable_errors_exhausted(home, point, w):
    spec = RETRYABLE[w.name]
    write_config(home, "retries = 1\nretry_max_wait = 0.1\n")
    srv = point(w)
    srv.script(spec, spec)
    events, err = await _collect(_req(w))
    assert isinstance(err, RateLimitError | ProviderError), repr(err)
    assert err.exit_code == 1
    assert len([e for e in events if isinstance(e, Notice)]) == 1
    assert len(w.calls(srv)) == 2


ERROR_CASES = [
    pytest.param(ANTHROPIC, {"error": 401}, AuthenticationError, 3, id="anthropic-401"),
    pytest.param(ANTHROPIC, {"error": 403, "type": "permission_error"}, AuthenticationError, 3,
                 id="anthropic-403-permission"),
    pytest.param(ANTHROPIC, {"error": 404, "type": "not_found_error",
                             "message": "model: claude-haiku-4-5"}, ModelNotFoundError, 2,
                 id="anthropic-404"),
    pytest.param(ANTHROPIC, {"error": 400, "type": "invalid_request_error",
                             "message": "max_tokens: Field required"}, ProviderError, 1,
                 id="anthropic-400"),
    pytest.param(ANTHROPIC, {"error": 400, "type": "invalid_request_error",
                             "message": "prompt is too long: 213153 tokens > 200000 maximum"},
                 ContextWindowExceededError, 1, id="anthropic-400-prompt-too-long"),
    pytest.param(GEMINI, {"error": 403, "type": "PERMISSION_DENIED"}, AuthenticationError, 3,
                 id="gemini-403"),
    pytest.param(GEMINI, {"error": 400, "reason": "API_KEY_INVALID"}, AuthenticationError, 3,
                 id="gemini-400-api-key-invalid"),
    pytest.param(GEMINI, {"error": 404, "type": "NOT_FOUND",
                          "message": "models/gemini-2.5-flash is not found for API version "
                                     "v1beta, or is not supported for generateContent."},
                 ModelNotFoundError, 2, id="gemini-404"),
    pytest.param(GEMINI, {"error": 400, "type": "INVALID_ARGUMENT",
                          "message": "Invalid value at 'generation_config.temperature'"},
                 ProviderError, 1, id="gemini-400-invalid-argument"),
    pytest.param(OLLAMA, {"error": 404, "message": "model \"llama3.2\" not found, try pulling it "
                                                   "first"}, ModelNotFoundError, 2,
                 id="ollama-404"),
    pytest.param(OLLAMA, {"error": 400, "message": "invalid options: temprature"},
                 ProviderError, 1, id="ollama-400"),
]


@pytest.mark.parametrize("w, spec, klass, code", ERROR_CASES)
async def test_engine_provider_errors_map_and_are_not_retried(home, point, w, spec, klass, code):
    srv = point(w)
    srv.script(spec, {"text": "must not be asked for"})
    events, err = await _collect(_req(w))
    assert isinstance(err, klass), repr(err)
    assert err.exit_code == code
    assert "\n" not in err.message and "Traceback" not in err.message
    for secret in KEYS.values():
        assert secret not in err.message and secret not in (err.hint or "")
    assert not [e for e in events if isinstance(e, Notice)]
    assert len(w.calls(srv)) == 1


@pytest.mark.parametrize("w", WIRES)
async def test_engine_cut_stream_keeps_text_and_is_a_connection_error(home, point, w):
    srv = point(w)
    srv.script({"text": "one two three four five six", "disconnect_after": 3})
    events, err = await _collect(_req(w))
    assert isinstance(err, ConnectionFailedError), repr(err)
    assert err.exit_code == 4
    assert _text(events) == "one two three"
    assert not any(isinstance(e, Finished) for e in events)
    assert len(w.calls(srv)) == 1  # text had started: no retry


@pytest.mark.parametrize("w", WIRES)
async def test_engine_cut_before_any_text_is_retried(home, point, w):
    # a non-streamed answer whose connection drops half-way: nothing was shown, so it is a
    # connection error like any other, retried
    write_config(home, "retry_max_wait = 0.2\n")
    srv = point(w)
    srv.script({"text": "lost answer", "disconnect_after": 0}, {"text": "second try"})
    events, err = await _collect(_req(w, stream=False))
    assert err is None, repr(err)
    assert _text(events) == "second try"
    assert len([e for e in events if isinstance(e, Notice)]) == 1
    assert len(w.calls(srv)) == 2


@pytest.mark.parametrize(
    "w, spec, klass",
    [
        pytest.param(ANTHROPIC, {"type": "overloaded_error", "message": "Overloaded"},
                     ProviderError, id="anthropic-event-error-overloaded"),
        pytest.param(GEMINI, {"type": "RESOURCE_EXHAUSTED"}, RateLimitError,
                     id="gemini-error-chunk-resource-exhausted"),
    ],
)
async def test_engine_in_stream_error_keeps_text_and_is_not_retried(home, point, w, spec, klass):
    srv = point(w)
    srv.script({"text": "alpha beta gamma delta", "error_after": 2, **spec}, {"text": "no"})
    events, err = await _collect(_req(w))
    assert isinstance(err, klass), repr(err)
    assert err.exit_code == 1
    assert _text(events) == "alpha beta"
    assert len(w.calls(srv)) == 1


@pytest.mark.parametrize(
    "w, spec",
    [
        # Anthropic answers 200, starts the event stream, then sends `event: error` overloaded
        pytest.param(ANTHROPIC, {"type": "overloaded_error", "message": "Overloaded"},
                     id="anthropic-event-error-overloaded"),
        pytest.param(ANTHROPIC, {"type": "api_error", "message": "Internal server error"},
                     id="anthropic-event-error-api_error"),
        pytest.param(GEMINI, {"type": "RESOURCE_EXHAUSTED"},
                     id="gemini-error-chunk-resource-exhausted"),
    ],
)
async def test_engine_in_stream_error_before_any_text_is_retried(home, point, w, spec):
    write_config(home, "retry_max_wait = 0.2\n")
    srv = point(w)
    srv.script({"text": "never shown", "error_after": 0, **spec}, {"text": "second try"})
    events, err = await _collect(_req(w))
    assert err is None, repr(err)
    assert _text(events) == "second try"
    assert len([e for e in events if isinstance(e, Notice)]) == 1
    assert len(w.calls(srv)) == 2


@pytest.mark.parametrize("w", WIRES)
async def test_engine_stall_mid_stream_times_out(home, point, w):
    write_config(home, "timeout = 1\nretries = 0\n")
    srv = point(w)
    srv.script({"text": "alpha beta gamma", "stall": 30, "stall_after": 1})
    t0 = time.monotonic()
    events, err = await _collect(_req(w))
    assert isinstance(err, TimeoutError_), repr(err)
    assert err.exit_code == 4
    assert _text(events) == "alpha"
    assert time.monotonic() - t0 < 8


async def test_engine_anthropic_base_url_variable_works_too(home, monkeypatch, wire_srv):
    # LiteLLM reads ANTHROPIC_BASE_URL (the Anthropic SDK's name) when ANTHROPIC_API_BASE is unset
    monkeypatch.setenv("ANTHROPIC_BASE_URL", wire_srv.anthropic_base)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    wire_srv.script({"text": "by the other name"})
    events, err = await _collect(_req(ANTHROPIC))
    assert err is None, repr(err)
    assert _text(events) == "by the other name"
    assert len(ANTHROPIC.calls(wire_srv)) == 1


async def test_engine_anthropic_system_prompt_and_history_on_the_wire(home, point):
    srv = point(ANTHROPIC)
    srv.script({"text": "Six."})
    req = ChatRequest(
        model=ANTHROPIC.model,
        messages=[Message("system", "Be terse."), Message("user", "2+2?"),
                  Message("assistant", "Four."), Message("user", "3+3?")],
        options={"max_tokens": 50, "temperature": 0.1},
    )
    events, err = await _collect(req)
    assert err is None and _text(events) == "Six."
    body = ANTHROPIC.calls(srv)[0].body
    # Anthropic takes the system prompt apart from the messages
    system = body["system"]
    system_text = system if isinstance(system, str) else "".join(b["text"] for b in system)
    assert system_text == "Be terse."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 50 and body["temperature"] == 0.1


async def test_engine_gemini_system_prompt_and_history_on_the_wire(home, point):
    srv = point(GEMINI)
    srv.script({"text": "Six."})
    req = ChatRequest(
        model=GEMINI.model,
        messages=[Message("system", "Be terse."), Message("user", "2+2?"),
                  Message("assistant", "Four."), Message("user", "3+3?")],
        options={"max_tokens": 50},
    )
    events, err = await _collect(req)
    assert err is None and _text(events) == "Six."
    body = GEMINI.calls(srv)[0].body
    sysi = body.get("system_instruction") or body.get("systemInstruction")
    assert "".join(p["text"] for p in sysi["parts"]) == "Be terse."
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    gen = body["generationConfig"]  # Google's JSON takes either spelling
    assert gen.get("maxOutputTokens", gen.get("max_output_tokens")) == 50


# --------------------------------------------------------------------------- the chat app


async def test_chat_app_streams_an_anthropic_reply(home, point):
    from textual.widgets import Markdown

    from tests.tui.helpers import make_app, type_and_send, wait_for, wait_idle

    srv = point(ANTHROPIC)
    reply = "Here is **bold** and a list:\n\n- one\n- two\n\nDone."
    srv.script({"text": reply, "usage": {"prompt_tokens": 3, "completion_tokens": 12},
                "delay": 0.01})
    app = make_app(home, None, model=ANTHROPIC.model)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "show me")
        await wait_for(pilot, lambda: ANTHROPIC.calls(srv), what="the Messages API request")
        await wait_idle(pilot)
        rows = app.store.messages(app.conv.id)
        assert [(r.role, r.content) for r in rows] == [("user", "show me"), ("assistant", reply)]
        assert rows[1].model == ANTHROPIC.model and rows[1].completion_tokens == 12
        assert not rows[1].interrupted
        view = app.conversation.message_views()[-1]
        assert view.role == "assistant" and "bold" in view.query_one(Markdown).source
        (call,) = ANTHROPIC.calls(srv)
        assert call.body["stream"] is True and call.headers["x-api-key"] == ANTHROPIC_KEY
        assert "15 tokens" in str(app.query_one("#status").render())
