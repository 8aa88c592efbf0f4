"""termchat's error hierarchy.

Every failure a user can meet is one of these: a one-line ``message``, an optional ``hint`` (what
to run or set to fix it) and the process ``exit_code`` the CLI ends with. The codes are documented
in README.md:

====  =====================================================
0     ok
1     provider or other error
2     usage error (bad option, unknown model, bad input)
3     configuration or authentication
4     network or timeout
130   interrupted (Ctrl+C)
====  =====================================================

The core maps every LiteLLM/provider exception to one of these classes (see
``termchat.core.engine``), so fronts never see a LiteLLM object. Messages never contain API keys:
:func:`redact` is applied to every message built from provider text.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_NETWORK = 4
EXIT_INTERRUPTED = 130

# Shapes of secrets that may appear in provider error text (OpenAI "sk-…", Anthropic "sk-ant-…",
# Google "AIza…", bearer tokens, generic long key=value secrets).
_SECRET_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|x-api-key|key|token)\s*[=:]\s*['\"]?)[A-Za-z0-9._\-]{8,}"),
]
_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a key so that :func:`redact` removes it from any text, whatever its shape.

    Called by the core for every key it hands to a provider. Values shorter than 6 characters are
    ignored (too likely to match ordinary words).
    """
    if value and len(value) >= 6:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with known keys and key-shaped strings replaced by ``***``."""
    for secret in sorted(_extra_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    for pat in _SECRET_PATTERNS:
        if pat.groups:
            text = pat.sub(lambda m: m.group(1) + "***", text)
        else:
            text = pat.sub("***", text)
    return text


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace to single spaces and cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TermchatError(Exception):
    """Base of all termchat errors.

    Attributes:
        message: one line, no key material, no trailing period required.
        hint: optional one-line fix (a command to run, a variable to set), or ``None``.
        exit_code: the CLI's exit code for this error (see module docstring).
        retry_after: seconds the provider asked us to wait (rate limits), or ``None``.
        retryable: whether trying the same request again may succeed (rate limits, 5xx and
            "overloaded" answers, connection failures); the retry loops read only this. The
            class sets the default; :func:`termchat.core.faults.classify` sets it per error.
    """

    exit_code: ClassVar[int] = EXIT_ERROR
    kind: ClassVar[str] = "error"
    retryable_by_default: ClassVar[bool] = False

    def __init__(self, message: str, hint: str | None = None, *, retry_after: float | None = None,
                 retryable: bool | None = None):
        self.message = redact(one_line(message))
        self.hint = redact(one_line(hint)) if hint else None
        self.retry_after = retry_after
        self.retryable = self.retryable_by_default if retryable is None else retryable
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``{"type", "message", "hint", "exit_code", "retryable"}`` (used by
        ``--json`` and the warm core's protocol)."""
        return {
            "type": self.kind,
            "message": self.message,
            "hint": self.hint,
            "exit_code": self.exit_code,
            "retryable": self.retryable,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TermchatError:
        """Rebuild an error from :meth:`to_dict` output (the warm core sends errors this way)."""
        klass = _BY_KIND.get(data.get("type", "error"), TermchatError)
        retryable = data.get("retryable")
        return klass(data.get("message", "error"), data.get("hint"),
                     retryable=retryable if isinstance(retryable, bool) else None)


class UsageError(TermchatError):
    """Bad command-line input: unknown option value, empty prompt, binary stdin (exit 2)."""

    exit_code = EXIT_USAGE
    kind = "usage"


class ModelNotFoundError(TermchatError):
    """Unknown model id or alias, or the provider says the model does not exist (exit 2)."""

    exit_code = EXIT_USAGE
    kind = "model_not_found"


class ConfigError(TermchatError):
    """Malformed or invalid configuration; no usable model configured (exit 3)."""

    exit_code = EXIT_CONFIG
    kind = "configuration"


class AuthenticationError(TermchatError):
    """Missing or rejected API key (401/403) (exit 3)."""

    exit_code = EXIT_CONFIG
    kind = "authentication"


class RateLimitError(TermchatError):
    """The provider answered 429 and retries were exhausted (exit 1)."""

    kind = "rate_limited"
    retryable_by_default = True


class ContextWindowExceededError(TermchatError):
    """The prompt does not fit the model's context window (exit 1)."""

    kind = "context_window_exceeded"


class ContentPolicyError(TermchatError):
    """The provider refused the request on content-policy grounds (exit 1)."""

    kind = "content_policy"


class ProviderError(TermchatError):
    """Any other provider-side failure: 5xx, malformed response, bad request (exit 1)."""

    kind = "provider"


class ConnectionFailedError(TermchatError):
    """The provider could not be reached, or the connection dropped mid-stream (exit 4)."""

    exit_code = EXIT_NETWORK
    kind = "connection"
    retryable_by_default = True


class TimeoutError_(TermchatError):
    """The provider did not answer (or stalled mid-stream) past the timeout (exit 4)."""

    exit_code = EXIT_NETWORK
    kind = "timeout"


class InterruptedError_(TermchatError):
    """The user interrupted the request (Ctrl+C, Esc) (exit 130)."""

    exit_code = EXIT_INTERRUPTED
    kind = "interrupted"


_BY_KIND: dict[str, type[TermchatError]] = {
    k.kind: k
    for k in (
        TermchatError,
        UsageError,
        ModelNotFoundError,
        ConfigError,
        AuthenticationError,
        RateLimitError,
        ContextWindowExceededError,
        ContentPolicyError,
        ProviderError,
        ConnectionFailedError,
        TimeoutError_,
        InterruptedError_,
    )
}


class BudgetExceededError(ProviderError):
    """A gateway (LiteLLM proxy) refused the request because a budget — the key's, its team's,
    the end user's — is spent (the proxy's error type ``budget_exceeded``, HTTP 422 in LiteLLM
    1.106, 429 before); exit 1, never retried."""

    kind = "budget_exceeded"


_BY_KIND[BudgetExceededError.kind] = BudgetExceededError
