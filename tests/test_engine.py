"""The provider core against the scripted loopback server, in-process (real HTTP, real LiteLLM)."""

from __future__ import annotations

import asyncio
import time

import pytest

from termchat.config import load_config
from termchat.core import engine
from termchat.core.catalog import resolve_model
from termchat.core.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ContentPolicyError,
    ContextWindowExceededError,
    ModelNotFoundError,
    ProviderError,
    RateLimitError,
    TimeoutError_,
)
from termchat.core.types import (
    ChatRequest,
    Finished,
    Message,
    Notice,
    ReasoningDelta,
    TextDelta,
    Usage,
    event_from_dict,
    event_to_dict,
)
from tests.conftest import write_config


def _req(fake, text="hi", **kw):
    return ChatRequest(
        model="openai/gpt-4o-mini", messages=[Message("user", text)], api_base=fake.base_url, **kw
    )


async def _collect(req, config=None):
    config = config or load_config()
    events = []
    try:
        async for ev in engine.stream_chat(req, config):
            events.append(ev)
    except Exception as exc:
        return events, exc
    return events, None


def _text(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_stream_text_usage_cost_and_finish(home, fake):
    fake.script({"text": "Hello brave new world", "usage": {"prompt_tokens": 10, "completion_tokens": 4}})
    events, err = await _collect(_req(fake))
    assert err is None
    assert _text(events) == "Hello brave new world"
    assert sum(isinstance(e, TextDelta) for e in events) == 4  # streamed word by word
    usage = next(e for e in events if isinstance(e, Usage))
    assert (usage.prompt_tokens, usage.completion_tokens) == (10, 4)
    # gpt-4o-mini is priced in the catalog: 10 * 1.5e-7 + 4 * 6e-7 USD
    assert usage.cost_usd == pytest.approx(10 * 1.5e-7 + 4 * 6e-7)
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.finish_reason == "stop"
    assert fin.model == "openai/gpt-4o-mini" and fin.ttft_s is not None
    body = fake.requests_to("/v1/chat/completions")[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "hi"}]


async def test_long_stream_keeps_provider_usage_and_ends_promptly(home, fake):
    # LiteLLM's copy of the chunks is thinned as they come (engine._trim_chunks): the
    # provider's own usage still comes through, exactly
    text = "".join(f"w{i} " for i in range(3000))
    fake.script({"text": text, "usage": {"prompt_tokens": 7, "completion_tokens": 2999}})
    events, err = await _collect(_req(fake))
    assert err is None and _text(events) == text
    usage = [e for e in events if isinstance(e, Usage)]
    assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == [(7, 2999)]
    assert isinstance(events[-1], Finished) and events[-1].finish_reason == "stop"


async def test_long_stream_without_provider_usage_counts_the_whole_text(home, fake):
    text = "".join(f"word{i} " for i in range(1000))
    fake.script({"text": text, "no_usage": True})
    events, err = await _collect(_req(fake))
    assert err is None and _text(events) == text
    (usage,) = [e for e in events if isinstance(e, Usage)]
    # counted by LiteLLM's tokenizer over the whole text, not over the chunks it still held
    assert usage.completion_tokens >= 1000


async def test_reasoning_deltas(home, fake):
    fake.script({"text": "42", "reasoning": "think hard"})
    events, err = await _collect(_req(fake))
    assert err is None
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "think hard"
    assert _text(events) == "42"


async def test_options_pass_through_and_no_stream(home, fake):
    fake.script({"text": "whole answer here"})
    events, err = await _collect(_req(fake, stream=False, options={"temperature": 0.2, "max_tokens": 7}))
    assert err is None
    assert _text(events) == "whole answer here"
    body = fake.requests_to("/v1/chat/completions")[0].body
    assert body["temperature"] == 0.2 and body["max_tokens"] == 7 and not body.get("stream")


@pytest.mark.parametrize(
    "spec, klass, code",
    [
        ({"error": 401, "message": "Incorrect API key provided"}, AuthenticationError, 3),
        ({"error": 403, "message": "forbidden"}, AuthenticationError, 3),
        ({"error": 404, "message": "The model does not exist"}, ModelNotFoundError, 2),
        ({"error": 400, "code": "context_length_exceeded", "message": "maximum context length is 8 tokens"}, ContextWindowExceededError, 1),
        ({"error": 400, "code": "content_policy_violation", "message": "refused"}, ContentPolicyError, 1),
        ({"error": 400, "message": "bad field"}, ProviderError, 1),
    ],
)
async def test_http_errors_map_to_termchat_errors(home, fake, spec, klass, code):
    fake.script(spec)
    _events, err = await _collect(_req(fake))
    assert isinstance(err, klass), repr(err)
    assert err.exit_code == code
    assert "\n" not in err.message and "Traceback" not in err.message
    assert len(fake.requests_to("/v1/chat/completions")) == 1  # not retried


async def test_429_with_retry_after_is_retried_and_announced(home, fake):
    fake.script({"error": 429, "headers": {"Retry-After": "1"}}, {"text": "finally"})
    t0 = time.monotonic()
    events, err = await _collect(_req(fake))
    assert err is None
    assert _text(events) == "finally"
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "retrying in 1.0 s" in notices[0]
    assert time.monotonic() - t0 >= 0.9  # honoured the header
    assert len(fake.requests_to("/v1/chat/completions")) == 2


async def test_429_without_retry_after_backs_off_then_gives_up(home, fake):
    write_config(home, "retries = 2\nretry_max_wait = 0.3\n")
    fake.script({"error": 429}, {"error": 429}, {"error": 429})
    events, err = await _collect(_req(fake))
    assert isinstance(err, RateLimitError) and err.exit_code == 1
    assert len([e for e in events if isinstance(e, Notice)]) == 2
    assert len(fake.requests_to("/v1/chat/completions")) == 3


async def test_retry_after_longer_than_the_cap_fails_at_once(home, fake):
    write_config(home, "retry_max_wait = 2\n")
    fake.script({"error": 429, "headers": {"Retry-After": "60"}})
    t0 = time.monotonic()
    _, err = await _collect(_req(fake))
    assert isinstance(err, RateLimitError) and "60" in err.message
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_retried_then_succeeds(home, fake, status):
    write_config(home, "retry_max_wait = 0.2\n")
    fake.script({"error": status}, {"text": "ok now"})
    events, err = await _collect(_req(fake))
    assert err is None and _text(events) == "ok now"


async def test_5xx_exhausted_is_provider_error(home, fake):
    write_config(home, "retries = 1\nretry_max_wait = 0.1\n")
    fake.script({"error": 500}, {"error": 500})
    _, err = await _collect(_req(fake))
    assert isinstance(err, ProviderError) and err.exit_code == 1 and "500" in err.message


async def test_connection_refused(home):
    write_config(home, "retries = 0\n")
    req = ChatRequest(model="openai/gpt-4o-mini", messages=[Message("user", "x")], api_base="http://127.0.0.1:9/v1")
    _, err = await _collect(req)
    assert isinstance(err, ConnectionFailedError) and err.exit_code == 4


@pytest.mark.parametrize("transfer", ["chunked", "eof"])
async def test_stream_cut_off_keeps_text_and_is_a_connection_error(home, fake, transfer):
    # chunked: the body is cut mid-chunk (a protocol error below LiteLLM); eof: the connection
    # closes cleanly and only the missing finish reason tells (LiteLLM 1.106 ends silently)
    fake.script({"text": "one two three four five six", "disconnect_after": 3, "transfer": transfer})
    events, err = await _collect(_req(fake))
    assert isinstance(err, ConnectionFailedError) and err.exit_code == 4
    assert _text(events) == "one two three"
    assert len(fake.requests_to("/v1/chat/completions")) == 1  # text had started: no retry


async def test_stall_mid_stream_times_out(home, fake):
    write_config(home, "timeout = 1\nretries = 0\n")
    fake.script({"text": "alpha beta gamma", "stall": 30, "stall_after": 1})
    t0 = time.monotonic()
    events, err = await _collect(_req(fake))
    assert isinstance(err, TimeoutError_) and err.exit_code == 4
    assert _text(events) == "alpha"
    assert time.monotonic() - t0 < 8


async def test_cancellation_closes_the_stream(home, fake):
    fake.script({"text": " ".join(["w"] * 200), "delay": 0.02})
    got = []

    async def run():
        async for ev in engine.stream_chat(_req(fake), load_config()):
            if isinstance(ev, TextDelta):
                got.append(ev.text)

    task = asyncio.create_task(run())
    while len(got) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 3 <= len(got) < 200


@pytest.fixture
def log_file(home):
    """termchat's log file under this test's home, really written to.

    The log handler is made once per process, for the TERMCHAT_HOME of the moment (that of
    whichever test logged first), and LiteLLM's loggers are routed to it once, when LiteLLM is
    loaded. So: point termchat's logger and the routed loggers at a new handler for this home,
    and put the previous ones back afterwards."""
    import logging

    from termchat import logs

    engine.load_litellm()
    names = ("termchat", *engine._NOISY_LOGGERS, "py.warnings")
    saved = {n: (logging.getLogger(n).handlers, logging.getLogger(n).level) for n in names}
    previous = logs._handler
    logs._handler = None
    logs.route_loggers((*engine._NOISY_LOGGERS, "py.warnings"))
    handler = logs._handler
    try:
        yield home / "logs" / "termchat.log"
    finally:
        handler.close()
        logs._handler = previous
        for n, (handlers, level) in saved.items():
            logging.getLogger(n).handlers = handlers
            logging.getLogger(n).setLevel(level)


async def test_keys_never_leak_into_errors(home, fake, log_file):
    import logging

    secret = "sk-test-SECRETSECRETSECRET1234"
    fake.script({"error": 401, "message": f"Incorrect API key provided: {secret}"})
    req = _req(fake, api_key=secret)
    _, err = await _collect(req)
    assert isinstance(err, AuthenticationError)
    assert secret not in str(err) and secret not in (err.hint or "")
    sent = fake.requests_to("/v1/chat/completions")[0].headers["authorization"]
    assert sent == f"Bearer {secret}"  # it did reach the provider
    # nor into the log file. The request above logged nothing there (at WARNING and up), so
    # log the provider's answer through two loggers termchat routes there (the OpenAI SDK's,
    # which LiteLLM's own redaction does not cover, and termchat's own), the key in the
    # arguments and in the message
    logging.getLogger("openai").warning("provider said: %s", f"Incorrect API key provided: {secret}")
    from termchat.logs import get_logger

    get_logger().error(f"request failed: Authorization: Bearer {secret}")
    text = log_file.read_text()  # it exists: it was written
    assert secret not in text
    assert "openai WARNING provider said: Incorrect API key provided: ***" in text
    assert "termchat ERROR request failed: Authorization: Bearer ***" in text


def test_events_round_trip_through_json():
    for ev in (TextDelta("a"), ReasoningDelta("b"), Usage(1, 2, 0.5), Notice("n"), Finished("stop", "m", 1.0, 0.1)):
        assert event_from_dict(event_to_dict(ev)) == ev


def test_resolution_endpoints_aliases_and_unknowns(home):
    write_config(home, '[aliases]\nfast = "mine/tiny"\n[endpoints.mine]\napi_base = "http://127.0.0.1:1/v1"\n')
    cfg = load_config()
    rm = resolve_model("fast", cfg)
    assert (rm.id, rm.provider, rm.litellm_model, rm.api_base, rm.alias) == (
        "mine/tiny", "mine", "openai/tiny", "http://127.0.0.1:1/v1", "fast")
    with pytest.raises(ModelNotFoundError) as e:
        resolve_model("cluade", cfg)
    assert e.value.exit_code == 2 and "claude" in (e.value.hint or "")
    with pytest.raises(ModelNotFoundError):
        resolve_model("nosuchprovider/x", cfg)
    with pytest.raises(AuthenticationError) as e:
        resolve_model("claude", cfg)
    assert "ANTHROPIC_API_KEY" in e.value.hint and "termchat keys set anthropic" in e.value.hint
    assert resolve_model("gpt-4o-mini", cfg, env={"OPENAI_API_KEY": "sk-x123456789"}).id == "openai/gpt-4o-mini"


def test_retry_after_forms():
    from email.utils import formatdate

    class Exc(Exception):
        def __init__(self, headers):
            self.litellm_response_headers = headers

    assert engine.retry_after_seconds(Exc({"retry-after": "7"})) == 7.0
    assert engine.retry_after_seconds(Exc({"retry-after-ms": "1500"})) == 1.5
    when = engine.retry_after_seconds(Exc({"retry-after": formatdate(time.time() + 30, usegmt=True)}))
    assert 25 <= when <= 31
    assert engine.retry_after_seconds(Exc({})) is None
    assert engine.retry_after_seconds(Exception("no headers")) is None
