"""The scripted loopback server, also speaking Anthropic's and Gemini's own wire formats.

:class:`FakeProviders` is :class:`~tests.support.fake_openai.FakeOpenAI` — the same scripting
(:meth:`script`, the ``chat`` family's spec keys, the ``requests`` log, stall/disconnect) — whose
handler also answers:

================================================================  ===============================
endpoint                                                          wire format
================================================================  ===============================
POST /v1/messages                                                 Anthropic Messages API: JSON,
                                                                  or SSE events when the body
                                                                  says ``"stream": true``
POST /v1beta/models/{model}:generateContent                       Gemini, JSON
POST /v1beta/models/{model}:streamGenerateContent?alt=sse         Gemini, SSE ``data:`` chunks
POST /api/chat                                                    Ollama, NDJSON (FakeOpenAI's)
================================================================  ===============================

Pointing LiteLLM at it with the variables its provider adapters read::

    ANTHROPIC_API_BASE = srv.url            # LiteLLM appends /v1/messages (ANTHROPIC_BASE_URL too)
    GEMINI_API_BASE    = srv.gemini_base    # srv.url + "/v1beta"; LiteLLM appends
                                            #   /models/{model}:{method}[?alt=sse]
    OLLAMA_API_BASE    = srv.url            # LiteLLM appends /api/chat

(or ``api_base=`` the same values). :meth:`FakeProviders.env` returns them, with dummy keys.

One spec vocabulary for every wire format (the ``chat`` family of fake_openai.py): ``text``,
``echo``, ``chunk``, ``delay``, ``tokens_per_second``, ``reasoning`` (Anthropic thinking
blocks, Gemini ``thought`` parts), ``usage`` in OpenAI's names (``prompt_tokens``,
``completion_tokens``; sent as Anthropic's ``input_tokens``/``output_tokens`` or Gemini's
``promptTokenCount``/``candidatesTokenCount``), ``no_usage``, ``finish_reason`` (``stop`` and
``length`` are translated to ``end_turn``/``max_tokens`` and ``STOP``/``MAX_TOKENS``; any other
value is sent as it is), ``stall``/``stall_after``, ``headers``, and:

``error``
    HTTP status of an error response in the provider's own shape. ``type`` is Anthropic's
    ``error.type`` or Google's ``error.status`` (default by status: 529 ``overloaded_error``,
    429 ``rate_limit_error`` / ``RESOURCE_EXHAUSTED``, …), ``message`` its message, ``reason``
    (Gemini) a ``google.rpc.ErrorInfo`` reason such as ``API_KEY_INVALID``.
``error_after``
    N: stream N text deltas, then the provider's in-stream error (Anthropic ``event: error``,
    Gemini a ``data: {"error": …}`` chunk) with ``type``/``message``, and end the stream.
``disconnect_after``
    N: stream N deltas, then close the connection without the provider's final events (no
    ``message_delta``/``message_stop``; no chunk with ``finishReason``; no ``"done": true``).
    Non-streamed: half of the JSON body, then the connection closes.

``error_after`` and ``reason`` mean something on the Anthropic and Gemini endpoints only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.fake_openai import (
    DEFAULT_CHAT_TEXT,
    FakeOpenAI,
    _count_words,
    _Handler,
    _last_user_text,
    split_pieces,
)

__all__ = ["ANTHROPIC_ERROR_TYPES", "GOOGLE_ERROR_STATUSES", "FakeProviders"]

#: HTTP status -> Anthropic's ``error.type`` (https://docs.anthropic.com/en/api/errors).
ANTHROPIC_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_ANTHROPIC_MESSAGES = {
    "invalid_request_error": "messages: field required",
    "authentication_error": "invalid x-api-key",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "model: not found",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
}

#: HTTP status -> Google's ``error.status`` (google.rpc.Code names).
GOOGLE_ERROR_STATUSES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_GOOGLE_MESSAGES = {
    "INVALID_ARGUMENT": "Request contains an invalid argument.",
    "UNAUTHENTICATED": "Request had invalid authentication credentials.",
    "PERMISSION_DENIED": "The caller does not have permission",
    "NOT_FOUND": "models/unknown is not found for API version v1beta",
    "RESOURCE_EXHAUSTED": "Resource has been exhausted (e.g. check quota).",
    "INTERNAL": "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    "UNAVAILABLE": "The model is overloaded. Please try again later.",
    "DEADLINE_EXCEEDED": "Deadline expired before operation could complete.",
}

# Spec keys this module adds to the chat family's (see the module docstring).
_EXTRA_KEYS = {"error_after", "reason"}

_GEMINI_PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")

_FINISH_ANTHROPIC = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_FINISH_GEMINI = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


class FakeProviders(FakeOpenAI):
    """:class:`FakeOpenAI` that also speaks the Anthropic Messages and Gemini APIs.

    Attributes (besides FakeOpenAI's):
        anthropic_base: what ``ANTHROPIC_API_BASE`` takes (``url``; LiteLLM adds ``/v1/messages``).
        gemini_base: what ``GEMINI_API_BASE`` takes (``url + "/v1beta"``).
        ollama_base: what ``OLLAMA_API_BASE`` takes (``url``).

    With ``api_key`` set, Anthropic requests need ``x-api-key: <api_key>`` (else 401
    ``authentication_error``) and Gemini requests ``x-goog-api-key: <api_key>`` (else 400
    ``INVALID_ARGUMENT`` / ``API_KEY_INVALID``, as Google answers a wrong key).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, autostart: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(host, port, autostart=False, **kwargs)
        self._httpd.RequestHandlerClass = _ProviderHandler
        self.anthropic_base = self.url
        self.gemini_base = self.url + "/v1beta"
        self.ollama_base = self.url
        if autostart:
            self.start()

    def __enter__(self) -> FakeProviders:
        self.start()
        return self

    @staticmethod
    def _family_of(spec: Any, default: str | None) -> str:
        if isinstance(spec, dict):
            spec = {k: v for k, v in spec.items() if k not in _EXTRA_KEYS}
        return FakeOpenAI._family_of(spec, default)

    def env(self, provider: str, key: str | None = None) -> dict[str, str]:
        """Environment variables that point LiteLLM's ``provider`` adapter here, with a key."""
        if provider == "anthropic":
            return {"ANTHROPIC_API_BASE": self.anthropic_base,
                    "ANTHROPIC_API_KEY": key or "sk-ant-api03-fake-key-0123456789"}
        if provider == "gemini":
            return {"GEMINI_API_BASE": self.gemini_base,
                    "GEMINI_API_KEY": key or "AIzaFakeKeyFakeKeyFakeKey0123456789"}
        if provider in ("ollama", "ollama_chat"):
            return {"OLLAMA_API_BASE": self.ollama_base}
        raise ValueError(f"no wire format for provider {provider!r}")

    def messages_requests(self) -> list[Any]:
        """Recorded Anthropic Messages API requests."""
        return self.requests_to("/v1/messages")

    def gemini_requests(self) -> list[Any]:
        """Recorded Gemini generateContent/streamGenerateContent requests."""
        return [r for r in self.requests if _GEMINI_PATH.match(r.path.split("?", 1)[0])]


def _sse(event: str | None, obj: Any, crlf: bool = False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    head = f"event: {event}{nl}" if event else ""
    return (head + "data: " + json.dumps(obj) + nl + nl).encode()


class _Plan:
    """What one scripted chat reply consists of, whatever the wire format."""

    def __init__(self, spec: dict[str, Any], last_user: str, prompt_words: int) -> None:
        self.spec = spec
        self.text = last_user if spec.get("echo") else str(spec.get("text", ""))
        chunk = int(spec.get("chunk") or 1)
        self.pieces = split_pieces(self.text, chunk)
        reasoning = spec.get("reasoning")
        self.reasoning = reasoning if isinstance(reasoning, str) else None
        self.rpieces = split_pieces(self.reasoning, chunk) if self.reasoning else []
        tps = spec.get("tokens_per_second")
        self.delay = 1.0 / float(tps) if tps else float(spec.get("delay") or 0.0)
        usage = {
            "prompt_tokens": prompt_words,
            "completion_tokens": len(self.pieces) + len(self.rpieces),
        }
        usage.update(spec.get("usage") or {})
        self.prompt_tokens = int(usage["prompt_tokens"])
        self.completion_tokens = int(usage["completion_tokens"])
        self.finish = spec.get("finish_reason", "stop")
        self.with_usage = not spec.get("no_usage")
        self.error_after = spec.get("error_after")


class _ProviderHandler(_Handler):
    server_version = "FakeProviders/1.0"

    def _route(self, path: str, body: Any) -> None:
        if self.command == "POST" and path == "/v1/messages":
            self._anthropic(body)
            return
        m = _GEMINI_PATH.match(path)
        if self.command == "POST" and m and m["method"] in (
            "generateContent",
            "streamGenerateContent",
        ):
            self._gemini(body, m["model"], m["method"] == "streamGenerateContent")
            return
        super()._route(path, body)

    def _plan(self, body: dict[str, Any], messages: Any) -> _Plan:
        spec = self.owner._next_spec("chat") or {"text": DEFAULT_CHAT_TEXT}
        extra = body.get("system") or body.get("system_instruction") or body.get(
            "systemInstruction"
        )
        words = _count_words(messages) + (_count_words({"system": extra}) if extra else 0)
        return _Plan(spec, _last_user_text(messages), words)

    def _delayed_json(self, plan: _Plan, status: int, payload: Any) -> None:
        """A non-streamed answer after the scripted delays; half of it with disconnect_after."""
        spec = plan.spec
        self._stall_before(spec)
        self.owner._wait(plan.delay * max(0, len(plan.pieces) + len(plan.rpieces) - 1))
        data = json.dumps(payload).encode()
        if spec.get("disconnect_after") is not None:
            self._send_head(status, "application/json", len(data), spec.get("headers"))
            self._write(data[: len(data) // 2])
            self._abort(spec.get("disconnect_mode", "close"))
            return
        self._send_bytes(status, data, "application/json", spec.get("headers"))

    # -- Anthropic --------------------------------------------------------------------

    def _anthropic_error(self, spec: dict[str, Any]) -> None:
        status = int(spec["error"])
        etype = spec.get("type") or ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        message = spec.get("message") or _ANTHROPIC_MESSAGES.get(etype, f"Scripted error {status}")
        payload = {
            "type": "error",
            "error": {"type": etype, "message": message},
            "request_id": f"req_fake{self.owner._new_id()}",
        }
        self._send_json(status, payload, spec.get("headers"))

    def _anthropic(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._anthropic_error({"error": 400, "message": "messages: Field required"})
            return
        key = self.owner.api_key
        if key is not None and self.headers.get("x-api-key") != key:
            self._anthropic_error({"error": 401})
            return
        plan = self._plan(body, body["messages"])
        spec = plan.spec
        if "error" in spec:
            self._stall_before(spec)
            self._anthropic_error(spec)
            return
        model = str(body.get("model") or "claude-fake")
        mid = f"msg_fake{self.owner._new_id()}"
        stop = _FINISH_ANTHROPIC.get(plan.finish, plan.finish)
        if not body.get("stream"):
            content: list[dict[str, Any]] = []
            if plan.reasoning is not None:
                content.append({"type": "thinking", "thinking": plan.reasoning,
                                "signature": "fakesig"})
            content.append({"type": "text", "text": plan.text})
            payload = {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": plan.prompt_tokens,
                    "output_tokens": plan.completion_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            }
            self._delayed_json(plan, 200, payload)
            return

        start = {
            "type": "message_start",
            "message": {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": plan.prompt_tokens if plan.with_usage else 0,
                    "output_tokens": 1,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            },
        }
        head = _sse("message_start", start) + _sse("ping", {"type": "ping"})
        deltas: list[bytes] = []
        index = 0
        if plan.rpieces:
            blk = [_sse("content_block_start", {
                "type": "content_block_start", "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            })]
            for i, p in enumerate(plan.rpieces):
                ev = _sse("content_block_delta", {
                    "type": "content_block_delta", "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": p},
                })
                deltas.append((b"".join(blk) if i == 0 else b"") + ev)
            deltas[-1] += _sse("content_block_delta", {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "signature_delta", "signature": "fakesig"},
            }) + _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        block_start = _sse("content_block_start", {
            "type": "content_block_start", "index": index,
            "content_block": {"type": "text", "text": ""},
        })
        for i, p in enumerate(plan.pieces or [""]):
            ev = _sse("content_block_delta", {
                "type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": p},
            })
            deltas.append((block_start if i == 0 else b"") + ev)
        deltas[0] = head + deltas[0]
        if plan.error_after is not None:
            n = int(plan.error_after)
            etype = spec.get("type") or "overloaded_error"
            err = _sse("error", {
                "type": "error",
                "error": {"type": etype,
                          "message": spec.get("message") or _ANTHROPIC_MESSAGES.get(etype, etype)},
            })
            pieces = deltas[:n] if n > 0 else [head]
            self._stream(spec, "text/event-stream; charset=utf-8", pieces, [err], plan.delay)
            return
        usage: dict[str, Any] = {"output_tokens": plan.completion_tokens if plan.with_usage else 0}
        tail = [
            _sse("content_block_stop", {"type": "content_block_stop", "index": index}),
            _sse("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": usage,
            }),
            _sse("message_stop", {"type": "message_stop"}),
        ]
        self._stream(spec, "text/event-stream; charset=utf-8", deltas, tail, plan.delay)

    # -- Gemini ------------------------------------------------------------------------

    def _google_error(self, spec: dict[str, Any]) -> None:
        status = int(spec["error"])
        gstatus = spec.get("type") or GOOGLE_ERROR_STATUSES.get(status, "UNKNOWN")
        message = spec.get("message") or (
            "API key not valid. Please pass a valid API key."
            if spec.get("reason") == "API_KEY_INVALID"
            else _GOOGLE_MESSAGES.get(gstatus, f"Scripted error {status}")
        )
        err: dict[str, Any] = {"code": status, "message": message, "status": gstatus}
        if spec.get("reason"):
            err["details"] = [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": spec["reason"],
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }]
        self._send_json(status, {"error": err}, spec.get("headers"))

    def _gemini(self, body: Any, model: str, stream: bool) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("contents"), list):
            self._google_error({"error": 400, "message": "* GenerateContentRequest.contents: "
                                                         "contents is not specified"})
            return
        key = self.owner.api_key
        if key is not None and self.headers.get("x-goog-api-key") != key:
            self._google_error({"error": 400, "reason": "API_KEY_INVALID",
                                "message": "API key not valid. Please pass a valid API key."})
            return
        contents = [
            {"role": c.get("role"), "content": c.get("parts")}
            for c in body["contents"] if isinstance(c, dict)
        ]
        plan = self._plan(body, contents)
        spec = plan.spec
        if "error" in spec:
            self._stall_before(spec)
            self._google_error(spec)
            return
        rid = f"fakeResp{self.owner._new_id()}"
        finish = _FINISH_GEMINI.get(plan.finish, plan.finish)
        full_usage = {
            "promptTokenCount": plan.prompt_tokens,
            "candidatesTokenCount": plan.completion_tokens,
            "totalTokenCount": plan.prompt_tokens + plan.completion_tokens,
        }

        def response(parts: list[dict[str, Any]], done: bool) -> dict[str, Any]:
            cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if done:
                cand["finishReason"] = finish
            out: dict[str, Any] = {"candidates": [cand]}
            if plan.with_usage:
                # Google sends usageMetadata on every chunk; the counts are whole on the last
                out["usageMetadata"] = full_usage if done else {
                    "promptTokenCount": plan.prompt_tokens,
                    "totalTokenCount": plan.prompt_tokens,
                }
            out["modelVersion"] = model
            out["responseId"] = rid
            return out

        if not stream or "alt=sse" not in self.path:
            parts: list[dict[str, Any]] = []
            if plan.reasoning is not None:
                parts.append({"text": plan.reasoning, "thought": True})
            parts.append({"text": plan.text})
            payload: Any = response(parts, True)
            if stream:  # streamGenerateContent without alt=sse: a JSON array, sent whole here
                payload = [payload]
            self._delayed_json(plan, 200, payload)
            return

        chunks = [response([{"text": p, "thought": True}], False) for p in plan.rpieces]
        chunks += [response([{"text": p}], False) for p in plan.pieces]
        events = [_sse(None, c, crlf=True) for c in chunks]
        if plan.error_after is not None:
            n = int(plan.error_after)
            gstatus = spec.get("type") or "RESOURCE_EXHAUSTED"
            code = next((c for c, s in GOOGLE_ERROR_STATUSES.items() if s == gstatus), 500)
            err = {"error": {"code": code, "status": gstatus,
                             "message": spec.get("message") or _GOOGLE_MESSAGES.get(gstatus, gstatus)}}
            self._stream(spec, "text/event-stream", events[:n], [_sse(None, err, crlf=True)],
                         plan.delay)
            return
        tail = [_sse(None, response([{"text": ""}], True), crlf=True)]
        self._stream(spec, "text/event-stream", events, tail, plan.delay)
