"""Provider failures to termchat errors, decided from facts rather than wording.

LiteLLM's exception classes and messages change between minor versions (1.109 reports a dropped
stream as a 500 "Stream ended before a finish_reason was received" where 1.106 ended silently,
and stopped typing content-policy 400s as such). So the classification here rests on what
termchat can read for itself:

- the HTTP **status** of the provider's answer (``status_code`` on the exception or its
  ``response``), 529 included (Anthropic's "overloaded");
- the provider's **error code / type / status string** from its JSON error body — OpenAI
  ``error.code``/``error.type`` (``content_policy_violation``, ``context_length_exceeded``,
  ``insufficient_quota``…), Anthropic ``error.type`` (``overloaded_error``,
  ``rate_limit_error``…), Gemini ``error.status`` (``RESOURCE_EXHAUSTED``, ``UNAVAILABLE``…) —
  found on the exception's ``body``/``code``/``type`` attributes, its ``response``, its cause
  chain, or a JSON object embedded in its message;
- **where** it happened: an exception raised while reading a stream whose HTTP answer was
  already 200, with no provider error body, is a dropped connection (exit 4) whatever LiteLLM
  calls it — the engine knows whether the provider sent its finish reason;
- transport exceptions by type (``httpx``/``openai`` connection and timeout classes, Python's
  ``ConnectionError``/``TimeoutError``).

LiteLLM's own exception class names are used only where no status or code is available.
Retryability is the :attr:`TermchatError.retryable` flag set here, not a test on the message.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import (
    AuthenticationError,
    BudgetExceededError,
    ConnectionFailedError,
    ContentPolicyError,
    ContextWindowExceededError,
    InterruptedError_,
    ModelNotFoundError,
    ProviderError,
    RateLimitError,
    TermchatError,
    TimeoutError_,
    UsageError,
    one_line,
    redact,
)

if TYPE_CHECKING:
    from .catalog import ResolvedModel

# Provider error codes (lower-cased) by what they mean. Sources: OpenAI's error codes guide,
# Anthropic's "Errors" page (error.type), Google's API error model (error.status).
CONTENT_POLICY_CODES = frozenset({
    "content_policy_violation", "content_filter", "moderation_blocked", "safety",
    "image_generation_user_error", "prohibited_content", "blocked",
})
CONTEXT_WINDOW_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})
RATE_LIMIT_CODES = frozenset({"rate_limit_exceeded", "rate_limit_error", "resource_exhausted",
                              "too_many_requests"})
OVERLOADED_CODES = frozenset({"overloaded_error", "overloaded", "unavailable", "server_error",
                              "api_error", "internal", "internal_server_error",
                              "service_unavailable", "deadline_exceeded"})
AUTH_CODES = frozenset({"authentication_error", "invalid_api_key", "permission_error",
                        "permission_denied", "unauthenticated", "invalid_authentication"})
NOT_FOUND_CODES = frozenset({"not_found_error", "model_not_found", "not_found"})
# A LiteLLM proxy's error types (litellm.proxy._types.ProxyErrorTypes): a spent budget, and the
# key checks that fail — a key it does not know, or a virtual key on a proxy that has no database
# to look it up in (then only its master key works).
BUDGET_CODES = frozenset({"budget_exceeded"})
GATEWAY_KEY_CODES = frozenset({"auth_error", "token_not_found_in_db", "no_db_connection"})

# Exception classes of the HTTP stack (httpx, the OpenAI SDK) and of LiteLLM that mean the
# transport failed or timed out; matched by name along the cause chain (no import needed).
_TIMEOUT_NAMES = frozenset({"Timeout", "APITimeoutError", "ReadTimeout", "ConnectTimeout",
                            "WriteTimeout", "PoolTimeout", "TimeoutException"})
_TRANSPORT_NAMES = frozenset({"ConnectError", "RemoteProtocolError", "ReadError", "WriteError",
                              "NetworkError", "ProtocolError", "IncompleteRead",
                              "ClientPayloadError", "ServerDisconnectedError",
                              "ClientConnectionError", "ClientConnectorError", "ClientOSError"})
#: The SDKs' wrapper for a transport failure; LiteLLM also uses it for failures of its own, so
#: it counts only when no provider code says otherwise.
_CONNECTION_WRAPPERS = frozenset({"APIConnectionError"})


@dataclass
class Facts:
    """What termchat can read from a failure, independent of LiteLLM's wording.

    Attributes:
        status: the provider's HTTP status, or ``None`` (no HTTP answer, or none recorded).
        codes: the provider's error code/type/status strings, lower-cased, most specific first.
        message: the provider's own message when its body has one, else the exception's text;
            one line, keys redacted.
        names: class names along the exception's cause chain (``__cause__``/``__context__``).
        retry_after: seconds from ``Retry-After``/``retry-after-ms``, or ``None``.
        transport: the chain holds a transport failure (httpx/aiohttp connection or protocol
            error, Python's ``ConnectionError``): no complete HTTP answer arrived.
        adapter_error: the chain holds an exception raised by one of LiteLLM's provider
            adapters (``litellm.llms.*``, e.g. ``AnthropicError``): the provider's own answer,
            such as an error event inside a stream, was read and refused.
    """

    status: int | None = None
    codes: list[str] = field(default_factory=list)
    message: str = ""
    names: list[str] = field(default_factory=list)
    retry_after: float | None = None
    transport: bool = False
    adapter_error: bool = False

    def has(self, codes: frozenset[str]) -> bool:
        """Whether any of the provider's codes is in ``codes``."""
        return any(c in codes for c in self.codes)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes/contexts (each once, at most 8 deep)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 8:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for nxt in (getattr(e, "original_exception", None), e.__cause__, e.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    """JSON objects embedded in ``text`` (LiteLLM often puts the provider's body there; also
    Python-repr'd dicts with single quotes, which it prints as often)."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        chunk = text[m.start():]
        for candidate in (chunk, _repr_to_json(chunk)):
            try:
                obj, _ = decoder.raw_decode(candidate)
            except ValueError:
                continue
            if isinstance(obj, dict):
                yield obj
                break


def _repr_to_json(text: str) -> str:
    return text.replace("'", '"').replace(": None", ": null").replace(": True", ": true").replace(
        ": False", ": false"
    )


def _codes_and_message(body: Any) -> tuple[list[str], str | None]:
    """Provider codes and message from one error body (OpenAI, Anthropic, Gemini, Ollama)."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]  # Gemini sometimes answers with a one-element list
    if not isinstance(body, dict):
        return [], None
    codes: list[str] = []
    message = None
    err = body.get("error", body)
    if isinstance(err, str):  # Ollama: {"error": "model 'x' not found"}
        return [], err
    if isinstance(err, dict):
        for key in ("code", "type", "status"):
            v = err.get(key)
            if isinstance(v, str) and v and v.lower() not in ("error", "invalid_request_error"):
                codes.append(v.lower())
        if err.get("type") == "invalid_request_error":
            codes.append("invalid_request_error")
        if isinstance(err.get("message"), str):
            message = err["message"]
    if body.get("type") == "error" and not codes and isinstance(err, dict):
        codes.append(str(err.get("type", "")).lower())
    return [c for c in codes if c and not c.isdigit()], message


def _response_body(resp: Any) -> Any:
    try:
        return resp.json()
    except Exception:
        return None


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds from a ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms`` response
    header on a LiteLLM or OpenAI SDK exception (``litellm_response_headers`` or
    ``response.headers``), or ``None``."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        resp = getattr(exc, "response", None)
        headers = getattr(resp, "headers", None)
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms:
            return float(ms) / 1000.0
        ra = headers.get("retry-after")
        if ra is None:
            return None
        try:
            return max(0.0, float(ra))
        except ValueError:
            from email.utils import parsedate_to_datetime

            return max(0.0, parsedate_to_datetime(ra).timestamp() - time.time())
    except Exception:
        return None


_PREFIX = re.compile(r"^(?:litellm\.)?\w+(?:Error|Exception)?:\s*(?:\w+(?:Error|Exception)\s*-\s*)?")


def _clean_text(exc: BaseException) -> str:
    msg = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    for _ in range(3):
        new = _PREFIX.sub("", msg, count=1).strip()
        if new == msg or not new:
            break
        msg = new
    msg = re.sub(r"\s*Received Model Group=.*$", "", msg)
    msg = re.sub(r"\s*LiteLLM Retried:.*$", "", msg)
    return msg


def facts_of(exc: BaseException) -> Facts:
    """Read :class:`Facts` from an exception and its cause chain."""
    f = Facts()
    provider_message: str | None = None
    for e in _chain(exc):
        f.names.append(type(e).__name__)
        if type(e).__name__ in _TRANSPORT_NAMES or isinstance(e, ConnectionError):
            f.transport = True
        if type(e).__module__.startswith("litellm.llms."):
            f.adapter_error = True
        if f.status is None:
            for obj in (e, getattr(e, "response", None)):
                st = getattr(obj, "status_code", None)
                if isinstance(st, int) and 100 <= st <= 599:
                    f.status = st
                    break
        if f.retry_after is None:
            f.retry_after = retry_after_seconds(e)
        bodies = [getattr(e, "body", None), _response_body(getattr(e, "response", None))]
        if not type(e).__module__.startswith("litellm"):  # LiteLLM sets .type to its own names
            for attr in ("code", "type"):
                v = getattr(e, attr, None)
                if isinstance(v, str) and v:
                    bodies.append({"error": {attr: v}})
        bodies.extend(_json_objects(str(getattr(e, "message", "") or e)))
        for body in bodies:
            codes, message = _codes_and_message(body)
            f.codes.extend(c for c in codes if c not in f.codes)
            if message and provider_message is None:
                provider_message = message
    f.message = one_line(redact(provider_message or _clean_text(exc)), 240)
    return f


def classify(
    exc: BaseException, rm: ResolvedModel | None = None, *, mid_stream: bool = False
) -> TermchatError:
    """Map any exception from LiteLLM, the OpenAI SDK, httpx or the embedded model to a
    :class:`TermchatError` with a one-line message, a hint, the exit code and ``retryable``.

    ``mid_stream`` says the exception came while reading a stream the provider had already
    answered 200 to: without a provider error code it is a dropped connection (exit 4).
    """
    if isinstance(exc, TermchatError):
        return exc
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
        return InterruptedError_("interrupted")
    gateway = rm is not None and getattr(rm, "kind", None) == "litellm_proxy"
    who = (f"the gateway {rm.provider}" if gateway else rm.provider) if rm else "the provider"
    model = rm.id if rm else "the model"
    f = facts_of(exc)
    msg = f.message
    status = None if mid_stream else f.status  # mid-stream, the HTTP answer was a 200
    names = set(f.names)

    if isinstance(exc, asyncio.TimeoutError | TimeoutError) or names & _TIMEOUT_NAMES:
        plain = not msg or msg in ("TimeoutError", "Timeout")
        return TimeoutError_(
            f"{who} did not answer in time" + ("" if plain else f" ({msg})"),
            hint="raise the limit with `termchat config set timeout SECONDS`",
        )
    if f.transport or (not f.codes and names & _CONNECTION_WRAPPERS):
        # LiteLLM gives its APIConnectionError a status of 500 of its own: no HTTP answer came
        where = f" at {rm.api_base}" if rm and rm.api_base else ""
        if mid_stream:
            return ConnectionFailedError(
                f"the stream from {who}{where} ended before the answer was complete ({msg})",
                hint="try again")
        return ConnectionFailedError(f"could not reach {who}{where}: {msg}",
                                     hint="check the network, the server, or --api-base")
    if f.has(BUDGET_CODES):
        return BudgetExceededError(
            f"{who} refused the request: the budget is spent ({msg})",
            hint="ask the gateway's admin to raise the budget, or wait for it to reset"
            + (f" (`termchat doctor` shows the spend of {rm.provider}'s key)" if gateway and rm else ""),
        )
    if gateway and f.has(GATEWAY_KEY_CODES):
        why = ("it has no database for virtual keys, so it takes only its master key"
               if "no_db_connection" in f.codes else msg)
        return AuthenticationError(f"{who} did not accept the key: {why}", hint=_key_hint(rm, who))
    if f.has(CONTENT_POLICY_CODES) or (not f.codes and "ContentPolicyViolationError" in names):
        return ContentPolicyError(f"{who} refused the request on content-policy grounds: {msg}")
    if f.has(CONTEXT_WINDOW_CODES) or "ContextWindowExceededError" in names:
        return ContextWindowExceededError(
            f"the conversation does not fit {model}'s context window: {msg}",
            hint="start a new conversation, shorten the input, or pick a model with a larger context window",
        )
    if f.has(QUOTA_CODES):
        return ProviderError(
            f"{who} says the account has no quota left: {msg}",
            hint=f"check the plan and billing of your {who} account",
        )
    if "UnsupportedParamsError" in names:
        return UsageError(f"{model} does not take that option: {msg}")
    if f.has(AUTH_CODES) or status in (401, 403) or (
        status is None and names & {"AuthenticationError", "PermissionDeniedError"}
    ):
        return AuthenticationError(f"{who} rejected the key ({status or 401}): {msg}", hint=_key_hint(rm, who))
    if f.has(NOT_FOUND_CODES) or status == 404 or (status is None and "NotFoundError" in names):
        return ModelNotFoundError(
            f"{who} does not know model {model}: {msg}",
            hint="run `termchat models --provider " + (rm.provider if rm else "…") + "` for the list",
        )
    if f.has(RATE_LIMIT_CODES) or status == 429 or (status is None and not f.codes and "RateLimitError" in names):
        wait = f" (it asks to wait {f.retry_after:.0f} s)" if f.retry_after else ""
        return RateLimitError(f"{who} is rate limiting requests{wait}: {msg}", hint="wait and try again",
                              retry_after=f.retry_after)
    if f.has(OVERLOADED_CODES) or (status is not None and status >= 500):
        shown = status or (f.codes[0] if f.codes else "")
        return ProviderError(f"{who} had a server error ({shown}): {msg}", hint="try again in a moment",
                             retry_after=f.retry_after, retryable=True)
    if mid_stream and not f.codes:
        if f.adapter_error:  # an error event inside the stream (LiteLLM drops its type)
            return ProviderError(f"{who} reported an error in the middle of the answer: {msg}",
                                 hint="try again in a moment", retryable=True)
        where = f" at {rm.api_base}" if rm and rm.api_base else ""
        return ConnectionFailedError(
            f"the stream from {who}{where} ended before the answer was complete ({msg})",
            hint="try again")
    if status is None and names & {"InternalServerError", "ServiceUnavailableError", "BadGatewayError", "APIError"}:
        return ProviderError(f"{who} had a server error: {msg}", hint="try again in a moment",
                             retry_after=f.retry_after, retryable=True)
    if status in (400, 422) or (status is None and names & {"BadRequestError", "UnprocessableEntityError"}):
        return ProviderError(f"{who} rejected the request ({status or 400}): {msg}")
    return ProviderError(f"{who}: {msg}")


def _key_hint(rm: ResolvedModel | None, who: str) -> str:
    if rm is not None and getattr(rm, "key_source", None) == "option":
        return "the key given with --key (or --key-env) was rejected; check it"
    if rm is not None and getattr(rm, "kind", None) == "litellm_proxy":
        return (f"run `termchat keys set {rm.provider}` with the virtual key your gateway's "
                "admin gave you")
    if rm is not None and rm.key_env:
        return f"check {rm.key_env} or run `termchat keys set {rm.provider}`"
    return f"check the key for {who}"
