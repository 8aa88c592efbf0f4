"""The OpenAI SDK client termchat hands LiteLLM for OpenAI-compatible media calls.

LiteLLM's image path ignores ``max_retries=0`` for OpenAI-compatible providers (it sets the
SDK's default of 2 retries), and its OpenAI speech path drops extra request headers; a client
of termchat's own fixes both: its ``max_retries`` stays 0 whatever LiteLLM sets, and it carries
a gateway's attribution headers (:func:`termchat.core.gateway.request_headers`) on every
request. Any operation that passes ``client=no_retry_client(rm, timeout)`` to LiteLLM inherits
both.
"""

from __future__ import annotations

import os
from typing import Any

from .gateway import request_headers


def no_retry_client(rm: Any, timeout: float) -> Any:
    """An ``AsyncOpenAI`` client for ``rm`` (a :class:`~termchat.core.catalog.ResolvedModel`):
    its base URL and key (else ``OPENAI_BASE_URL``/``OPENAI_API_BASE``/``OPENAI_API_KEY``),
    ``timeout`` seconds, no SDK retries, and the gateway's attribution headers when ``rm`` is a
    LiteLLM proxy model that sends them. The caller closes it (``await client.close()``)."""
    from openai import AsyncOpenAI

    class _NoRetryAsyncOpenAI(AsyncOpenAI):
        @property  # type: ignore[override]
        def max_retries(self) -> int:
            return 0

        @max_retries.setter
        def max_retries(self, value: int) -> None:
            pass

    base = rm.api_base or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
    return _NoRetryAsyncOpenAI(
        api_key=rm.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
        base_url=base or None,
        timeout=timeout,
        max_retries=0,
        default_headers=request_headers(getattr(rm, "gateway", None)) or None,
    )
