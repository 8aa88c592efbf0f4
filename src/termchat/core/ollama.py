"""Ollama model management over its HTTP API (stdlib ``urllib``; no LiteLLM).

``POST /api/pull`` streams NDJSON progress objects (``{"status": "pulling manifest"}``,
``{"status": "downloading", "digest": …, "total": <bytes>, "completed": <bytes>}``, …,
``{"status": "success"}``) or ``{"error": "…"}``; ``DELETE /api/delete`` removes a model.
The base URL is ``OLLAMA_API_BASE`` or ``http://127.0.0.1:11434`` (see
:func:`termchat.core.probes.ollama_base`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import (
    ConnectionFailedError,
    ModelNotFoundError,
    ProviderError,
    TimeoutError_,
    UsageError,
)
from .probes import describe_error, is_loopback, ollama_base, probe_ollama

_FIX = "start it with `ollama serve`, or point OLLAMA_API_BASE at it"


def ollama_name(model: str) -> str:
    """``ollama/NAME`` or ``ollama_chat/NAME`` -> ``NAME`` (what Ollama's API takes).

    Raises:
        UsageError: the id does not name an Ollama model (exit 2).
    """
    provider, sep, name = model.partition("/")
    if not sep or provider not in ("ollama", "ollama_chat") or not name.strip():
        raise UsageError(
            f"{model!r} is not an Ollama model id",
            hint="write it as ollama/NAME, e.g. termchat models pull ollama/llama3.2",
        )
    return name.strip()


def _open(url: str, body: dict[str, Any], method: str, timeout: float) -> Any:
    import urllib.request

    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method=method,
        headers={"Content-Type": "application/json"},
    )
    handlers = [urllib.request.ProxyHandler({})] if is_loopback(url) else []
    return urllib.request.build_opener(*handlers).open(req, timeout=timeout)


def _http_error_message(exc: Any) -> str:
    try:
        data = json.loads(exc.read(100_000) or b"{}")
    except (OSError, ValueError):  # no readable JSON body: the status says it
        return f"HTTP {exc.code}"
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {exc.code}"


def _network_error(exc: BaseException, base: str) -> Exception:
    reason = describe_error(exc)
    if reason == "timed out":
        return TimeoutError_(f"Ollama at {base} did not answer in time", hint=_FIX)
    return ConnectionFailedError(f"could not reach Ollama at {base}: {reason}", hint=_FIX)


def pull(
    name: str, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> Iterator[dict[str, Any]]:
    """Pull ``name`` (Ollama's name, e.g. ``llama3.2``); yields each progress object as it
    arrives. ``timeout`` is seconds to wait for the connection and for each line.

    Raises:
        ConnectionFailedError / TimeoutError_: Ollama cannot be reached (exit 4).
        ProviderError: Ollama answers with an error, or the stream ends before ``success``
            (exit 1); the message is Ollama's.
    """
    import urllib.error

    base = ollama_base(env)
    try:
        resp = _open(f"{base}/api/pull", {"model": name, "stream": True}, "POST", timeout)
    except urllib.error.HTTPError as exc:
        raise ProviderError(f"Ollama could not pull {name}: {_http_error_message(exc)}") from None
    except (OSError, ValueError) as exc:
        raise _network_error(exc, base) from None
    done = False
    with resp:
        try:
            for raw in resp:
                line = raw.strip()
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                if event.get("error"):
                    raise ProviderError(f"Ollama could not pull {name}: {event['error']}")
                yield event
                if event.get("status") == "success":
                    done = True
        except (OSError, ValueError) as exc:
            raise _network_error(exc, base) from None
    if not done:
        raise ProviderError(
            f"the pull of {name} ended before Ollama reported success",
            hint="run the same command again; Ollama resumes where it stopped",
        )


def delete(name: str, env: Mapping[str, str] | None = None, timeout: float = 30.0) -> None:
    """Remove ``name`` from Ollama.

    Raises:
        ModelNotFoundError: Ollama has no such model (exit 2).
        ConnectionFailedError / TimeoutError_: Ollama cannot be reached (exit 4).
        ProviderError: any other error answer (exit 1).
    """
    import urllib.error

    base = ollama_base(env)
    try:
        with _open(f"{base}/api/delete", {"model": name}, "DELETE", timeout) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        msg = _http_error_message(exc)
        if exc.code == 404:
            raise ModelNotFoundError(
                f"Ollama has no model {name}: {msg}", hint="`termchat models --provider ollama` lists them"
            ) from None
        raise ProviderError(f"Ollama could not remove {name}: {msg}") from None
    except (OSError, ValueError) as exc:
        raise _network_error(exc, base) from None


def tags(env: Mapping[str, str] | None = None, timeout: float = 2.0) -> list[str]:
    """Model names Ollama serves now; raises like :func:`delete` when it cannot be reached."""
    from http.client import HTTPException

    base = ollama_base(env)
    try:
        return probe_ollama(base, timeout)
    except (OSError, ValueError, HTTPException) as exc:
        raise _network_error(exc, base) from None
