"""Asking local servers what they serve: one Ollama probe, one endpoint probe, one id form.

Stdlib ``urllib`` only (no LiteLLM), proxies bypassed for loopback addresses, each request with
a short timeout. Ollama's names (``llama3.2:latest``) become termchat ids with
:func:`ollama_id` (``ollama_chat/llama3.2``: the ``:latest`` tag is implied, other tags are
kept) everywhere: the listing, ``models info``, the default-model pick and the completion cache.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

#: Seconds each local server gets to answer a listing probe.
PROBE_TIMEOUT = 0.8

DEFAULT_OLLAMA_BASE = "http://127.0.0.1:11434"

_log = logging.getLogger("termchat")


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine (``localhost``, ``127.*``, ``::1``)."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


_is_loopback = is_loopback


def http_json(
    url: str,
    *,
    timeout: float,
    method: str = "GET",
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    limit: int = 5_000_000,
) -> Any:
    """One HTTP request with a JSON answer. Proxies are bypassed for loopback addresses.

    Raises ``OSError`` (``urllib.error.URLError``/``HTTPError``, timeouts) or ``ValueError`` (the
    answer is not JSON).
    """
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    opener = (
        urllib.request.build_opener(urllib.request.ProxyHandler({}))
        if is_loopback(url)
        else urllib.request.build_opener()
    )
    with opener.open(req, timeout=timeout) as resp:
        raw = resp.read(limit)
    return json.loads(raw) if raw.strip() else None


def describe_error(exc: BaseException) -> str:
    """A short reason for a failed probe: ``connection refused``, ``timed out``, ``HTTP 404``…"""
    import socket
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    if isinstance(exc, ValueError):
        return "the answer is not JSON"
    text = str(getattr(reason, "strerror", None) or reason)
    return " ".join(text.split())[:120] or type(exc).__name__


def ollama_base(env: Mapping[str, str] | None = None) -> str:
    """Ollama's base URL (no ``/v1``): ``OLLAMA_API_BASE`` or ``http://127.0.0.1:11434``."""
    env = os.environ if env is None else env
    return (env.get("OLLAMA_API_BASE") or DEFAULT_OLLAMA_BASE).rstrip("/")


def ollama_id(name: str) -> str:
    """Ollama's model name (``llama3.2:latest``) as a termchat id (``ollama_chat/llama3.2``);
    the ``:latest`` tag is implied, other tags are kept."""
    if name.endswith(":latest"):
        name = name[: -len(":latest")]
    return f"ollama_chat/{name}"


def probe_ollama(base: str, timeout: float = PROBE_TIMEOUT) -> list[str]:
    """Model names Ollama serves at ``base`` (``GET /api/tags``).

    Raises ``OSError``/``ValueError`` when it does not answer with a model list in time.
    """
    data = http_json(f"{base.rstrip('/')}/api/tags", timeout=timeout)
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ValueError("no model list in the answer")
    return [str(m["name"]) for m in data["models"] if isinstance(m, dict) and m.get("name")]


def probe_endpoint(api_base: str, key: str | None, timeout: float = PROBE_TIMEOUT) -> list[str]:
    """Model ids an OpenAI-compatible server lists at ``{api_base}/models``.

    Raises ``OSError``/``ValueError`` when it does not answer with a model list in time.
    """
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = http_json(f"{api_base.rstrip('/')}/models", timeout=timeout, headers=headers)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError("no model list in the answer")
    return [str(m["id"]) for m in data["data"] if isinstance(m, dict) and m.get("id")]


def run_all(tasks: list[Callable[[], None]], deadline_s: float) -> None:
    """Run callables in daemon threads and wait at most ``deadline_s`` seconds for them all
    (a thread still stuck afterwards is abandoned; it cannot hold the process at exit)."""
    threads = [threading.Thread(target=t, daemon=True) for t in tasks]
    for t in threads:
        t.start()
    end = time.monotonic() + deadline_s
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))




def ollama_ids(env: Mapping[str, str] | None = None, timeout: float = PROBE_TIMEOUT) -> list[str]:
    """The ids (:func:`ollama_id`) of the models Ollama at :func:`ollama_base` serves, or ``[]``
    when it does not answer within ``timeout`` seconds (the reason goes to the log)."""
    from http.client import HTTPException

    base = ollama_base(env)
    try:
        return [ollama_id(n) for n in probe_ollama(base, timeout)]
    except (OSError, ValueError, HTTPException) as exc:
        _log.debug("Ollama at %s did not list its models: %s", base, describe_error(exc))
        return []
