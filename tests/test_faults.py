"""Fault classification from facts (HTTP status, provider error code, where it happened), in the
shapes LiteLLM raises on each supported version — so that a LiteLLM upgrade that changes a
message or an exception class cannot change an exit code. The end-to-end versions of these
run against the loopback server in test_engine.py, test_cli_ask.py and test_providers_wire.py."""

from __future__ import annotations

import httpx
import pytest

from termchat.core.catalog import ResolvedModel
from termchat.core.engine import load_litellm
from termchat.core.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ContentPolicyError,
    ContextWindowExceededError,
    ProviderError,
    RateLimitError,
    TermchatError,
)
from termchat.core.faults import classify, facts_of
from termchat.core.media import _image_options

litellm = load_litellm()  # with termchat's import hygiene (no network, no banners)

RM = ResolvedModel(id="openai/gpt-x", provider="openai", litellm_model="openai/gpt-x",
                   key_env="OPENAI_API_KEY")


def _response(status: int, body: dict | None = None, headers: dict | None = None) -> httpx.Response:
    req = httpx.Request("POST", "https://provider.invalid/v1/chat/completions")
    return httpx.Response(status, json=body or {}, headers=headers or {}, request=req)


def test_a_stream_cut_as_litellm_1_109_reports_it_is_a_connection_error():
    # 1.109: the wrapper raises httpx.RemoteProtocolError("Stream ended before a finish_reason
    # was received"), mapped to a 500 InternalServerError with no provider body.
    cause = httpx.RemoteProtocolError("Stream ended before a finish_reason was received")
    exc = litellm.InternalServerError(
        message="litellm.InternalServerError: OpenAIException - Stream ended before a finish_reason was received",
        llm_provider="openai", model="gpt-x")
    exc.__cause__ = cause
    err = classify(exc, RM, mid_stream=True)
    assert isinstance(err, ConnectionFailedError) and err.exit_code == 4
    # the same 500 without the transport cause, read while streaming: still no provider body
    bare = litellm.InternalServerError(message="Stream ended before a finish_reason was received",
                                       llm_provider="openai", model="gpt-x")
    assert isinstance(classify(bare, RM, mid_stream=True), ConnectionFailedError)
    # before any stream, a 500 is the provider's server error, and worth a retry
    before = classify(bare, RM)
    assert type(before) is ProviderError and before.retryable and before.exit_code == 1


def test_a_provider_error_event_mid_stream_is_not_a_dropped_connection():
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    exc = litellm.InternalServerError(message=f"AnthropicException - {body}", llm_provider="anthropic",
                                      model="claude")
    err = classify(exc, RM, mid_stream=True)
    assert type(err) is ProviderError and err.retryable and "Overloaded" in err.message


def test_content_policy_is_recognised_by_the_providers_code_not_the_wording():
    body = {"error": {"code": "content_policy_violation", "type": "invalid_request_error",
                      "message": "Your request was rejected as a result of our safety system."}}
    exc = litellm.BadRequestError(message="litellm.BadRequestError: OpenAIException - Your request was "
                                  "rejected as a result of our safety system.", model="gpt-x",
                                  llm_provider="openai", response=_response(400, body), body=body)
    err = classify(exc, RM)
    assert isinstance(err, ContentPolicyError) and err.exit_code == 1
    assert err.message.endswith("rejected as a result of our safety system.")
    # the SDK's own exception, the code only in the response body
    import openai

    sdk = openai.BadRequestError("Error code: 400", response=_response(400, body), body=body)
    assert isinstance(classify(sdk, RM), ContentPolicyError)
    # wording alone proves nothing: a plain 400 that mentions a content policy is a bad request
    plain = litellm.BadRequestError(message="field 'content policy' is unknown", model="gpt-x",
                                    llm_provider="openai", response=_response(400, {}))
    assert type(classify(plain, RM)) is ProviderError


@pytest.mark.parametrize(
    "status, body, klass, retryable",
    [
        (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, ProviderError, True),
        (429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}, RateLimitError, True),
        (429, {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}, RateLimitError, True),
        (503, {"error": {"code": 503, "message": "The model is overloaded", "status": "UNAVAILABLE"}}, ProviderError, True),
        (429, {"error": {"code": "insufficient_quota", "message": "You exceeded your current quota"}}, ProviderError, False),
        (400, {"error": {"code": "context_length_exceeded", "message": "too long"}}, ContextWindowExceededError, False),
        (403, {"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}, AuthenticationError, False),
        (400, {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}, ProviderError, False),
    ],
)
def test_status_and_code_decide_class_and_retryability(status, body, klass, retryable):
    import openai

    exc = openai.APIStatusError(f"Error code: {status}", response=_response(status, body), body=body)
    err = classify(exc, RM)
    assert type(err) is klass, err
    assert err.retryable is retryable


def test_retry_after_and_retryable_survive_the_warm_core_protocol():
    exc = litellm.RateLimitError(message="slow", llm_provider="openai", model="gpt-x",
                                 response=_response(429, {}, {"retry-after": "3"}))
    assert facts_of(exc).retry_after == 3.0
    err = classify(exc, RM)
    assert isinstance(err, RateLimitError) and err.retry_after == 3.0
    back = TermchatError.from_dict(err.to_dict())
    assert isinstance(back, RateLimitError) and back.retryable
    quota = ProviderError("no quota", retryable=False)
    assert TermchatError.from_dict(quota.to_dict()).retryable is False


def test_a_key_given_with_key_is_named_in_the_hint():
    exc = litellm.AuthenticationError(message="bad key", llm_provider="openai", model="gpt-x")
    given = ResolvedModel(id="openai/gpt-x", provider="openai", litellm_model="openai/gpt-x",
                          key_env="OPENAI_API_KEY", key_source="option")
    assert "--key" in (classify(exc, given).hint or "")
    assert "OPENAI_API_KEY" in (classify(exc, RM).hint or "")


def test_image_options_litellm_may_refuse_travel_in_the_body():
    dalle = ResolvedModel(id="openai/dall-e-3", provider="openai", litellm_model="openai/dall-e-3")
    assert _image_options(dalle, {"size": "1024x1024", "style": "natural"}) == {
        "size": "1024x1024", "extra_body": {"style": "natural"}}
    other = ResolvedModel(id="gemini/imagen", provider="gemini", litellm_model="gemini/imagen")
    assert _image_options(other, {"size": "1024x1024"}) == {"size": "1024x1024"}
