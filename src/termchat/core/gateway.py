"""A LiteLLM proxy as a team gateway: the ``litellm_proxy`` endpoint kind.

A named endpoint with ``kind = "litellm_proxy"`` (``[endpoints.team]``) is a LiteLLM proxy
(``litellm --config config.yaml``): OpenAI-compatible, with virtual keys, spend per key,
router fallbacks and its own health routes. termchat treats it as an OpenAI-compatible endpoint
for every operation (``openai/<model>`` at ``<root>/v1``, so chat, images, speech and any later
operation that reads :class:`~termchat.core.catalog.ResolvedModel` inherit it), and adds what
only a gateway has:

- **live models with their details**: ``GET /v1/models`` (ids) and ``GET /model/info`` (per
  model the proxy's ``model_info``: USD per token, context window, mode, ``supports_*`` flags —
  the same field names as LiteLLM's price map), see :func:`probe_models`. The details are kept
  in ``paths.cache_dir()/gateway_models.json`` so a request is priced without asking again;
- **attribution**: the request headers :func:`request_headers` builds — ``x-litellm-end-user-id``
  (the person; the proxy reads it on every route, no proxy setting needed),
  ``x-litellm-tags`` (``termchat`` and the endpoint's ``tags``) and
  ``x-litellm-spend-logs-metadata`` (JSON: ``client``, ``conversation_id``), which LiteLLM
  1.106 reads into its request metadata, spend logs and callbacks. Sent only to
  ``litellm_proxy`` endpoints, never to a plain provider, and not at all when
  ``[privacy] send_metadata = false`` (or the endpoint's ``send_metadata = false``);
- **health and key checks** (:func:`health`, :func:`key_accepted`) and the key's **spend and
  budget** (:func:`key_info`, ``GET /key/info``; that route needs the proxy's database).

Stdlib ``urllib`` only (no LiteLLM); every request has a timeout in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import paths
from .modelcache import GATEWAY_CACHE
from .probes import http_json

#: The ``kind`` of a named endpoint that is a LiteLLM proxy.
KIND = "litellm_proxy"
#: Endpoint kinds: ``openai`` (any OpenAI-compatible server, the default) and :data:`KIND`.
ENDPOINT_KINDS = ("openai", KIND)
#: The tag every request through a gateway carries.
CLIENT_TAG = "termchat"

#: Fields of the proxy's ``model_info`` termchat keeps (LiteLLM's price-map names).
_INFO_FIELDS = (
    "mode", "max_input_tokens", "max_output_tokens", "max_tokens", "input_cost_per_token",
    "output_cost_per_token", "output_cost_per_image", "input_cost_per_character",
    "output_cost_per_second", "litellm_provider",
)


def is_proxy(endpoint: Mapping[str, Any] | None) -> bool:
    """Whether an ``[endpoints.NAME]`` table is a LiteLLM proxy (``kind = "litellm_proxy"``)."""
    return endpoint is not None and endpoint.get("kind") == KIND


def proxy_root(api_base: str) -> str:
    """The proxy's root URL (health, ``/key/info``, ``/model/info`` live there): ``api_base``
    without a trailing ``/`` or ``/v1``. ``http://gw:4000/v1/`` -> ``http://gw:4000``."""
    base = api_base.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def openai_base(api_base: str) -> str:
    """The OpenAI-compatible base URL of a proxy: ``<root>/v1``."""
    return proxy_root(api_base) + "/v1"


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


# ---------------------------------------------------------------------------------------------
# Attribution


def attribution(endpoint: Mapping[str, Any], settings: Any, env: Mapping[str, str] | None = None
                ) -> dict[str, Any] | None:
    """What termchat tells a gateway about who asks: ``{"user": str, "tags": [str]}``, or
    ``None`` when nothing is sent (``[privacy] send_metadata = false``, or the endpoint's own
    ``send_metadata = false``).

    ``user`` is the endpoint's ``user`` setting, else the login name (``getpass.getuser()``);
    ``tags`` are ``termchat`` then the endpoint's ``tags``. ``settings`` is the front's
    :class:`~termchat.core.settings.Settings` (``get("privacy.send_metadata")``) or ``None``.
    """
    if endpoint.get("send_metadata") is False:
        return None
    if settings is not None:
        try:
            if settings.get("privacy.send_metadata") is False:
                return None
        except KeyError:  # settings without a privacy section: the default (send)
            pass
    user = endpoint.get("user")
    if not isinstance(user, str) or not user:
        import getpass

        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no login name (a container without a passwd entry)
            user = None
    tags = [CLIENT_TAG] + [str(t) for t in endpoint.get("tags", []) or [] if str(t) != CLIENT_TAG]
    return {"user": user, "tags": tags}


def request_headers(meta: Mapping[str, Any] | None, conversation_id: str | None = None
                    ) -> dict[str, str]:
    """The HTTP headers that carry :func:`attribution` ``meta`` to a LiteLLM proxy (``{}`` for
    ``None``): ``x-litellm-end-user-id``, ``x-litellm-tags`` (comma-separated) and
    ``x-litellm-spend-logs-metadata`` (JSON ``{"client": "termchat", "conversation_id": …}``).
    Header values are ASCII: characters outside it are escaped by ``json.dumps``/dropped."""
    if not meta:
        return {}
    headers: dict[str, str] = {}
    user = meta.get("user")
    if user:
        headers["x-litellm-end-user-id"] = _header_safe(str(user))
    tags = [_header_safe(t).replace(",", " ") for t in meta.get("tags", [])]
    if tags:
        headers["x-litellm-tags"] = ",".join(t for t in tags if t)
    logged: dict[str, Any] = {"client": CLIENT_TAG}
    if conversation_id:
        logged["conversation_id"] = conversation_id
    headers["x-litellm-spend-logs-metadata"] = json.dumps(logged, ensure_ascii=True)
    return headers


def _header_safe(text: str) -> str:
    return "".join(c for c in text if 32 <= ord(c) < 127).strip()


def call_extras(rm: Any, conversation_id: str | None = None, *, chat: bool = False
                ) -> dict[str, Any]:
    """Keyword arguments every LiteLLM call for ``rm`` adds (chat, images, speech, and any
    operation built the same way): ``{"extra_headers": {...}}`` for a gateway that takes
    attribution, else ``{}``. With ``chat`` also OpenAI's end-user field ``user`` in the chat
    body (as ``extra_body``: LiteLLM passes a named ``user`` only to OpenAI's own models), which
    the proxy reads as the end user too. ``rm`` is a
    :class:`~termchat.core.catalog.ResolvedModel`."""
    meta = getattr(rm, "gateway", None)
    headers = request_headers(meta, conversation_id)
    if not headers:
        return {}
    out: dict[str, Any] = {"extra_headers": headers}
    if chat and meta and meta.get("user"):
        out["extra_body"] = {"user": str(meta["user"])}
    return out


# ---------------------------------------------------------------------------------------------
# Live models and their details


def probe_models(api_base: str, key: str | None, timeout: float) -> list[tuple[str, dict[str, Any]]]:
    """The models a proxy serves, as ``[(model_name, info)]`` in ``/v1/models`` order.

    ``info`` holds the fields of the proxy's ``/model/info`` entry for that name that are set
    (prices in USD per token, token limits, ``mode``, ``supports_*`` flags), ``{}`` when the
    proxy gives none (``/model/info`` failing is not an error: the ids still count).

    Raises ``OSError``/``ValueError`` when ``/v1/models`` does not answer with a model list.
    """
    root = proxy_root(api_base)
    data = http_json(f"{root}/v1/models", timeout=timeout, headers=_auth(key))
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError("no model list in the answer")
    ids = [str(m["id"]) for m in data["data"] if isinstance(m, dict) and m.get("id")]
    infos: dict[str, dict[str, Any]] = {}
    try:
        detail = http_json(f"{root}/model/info", timeout=timeout, headers=_auth(key))
        for entry in (detail or {}).get("data", []) if isinstance(detail, dict) else []:
            if isinstance(entry, dict) and isinstance(entry.get("model_name"), str):
                infos.setdefault(entry["model_name"], model_details(entry.get("model_info")))
    except (OSError, ValueError):
        pass
    return [(i, infos.get(i, {})) for i in ids]


def model_details(model_info: Any) -> dict[str, Any]:
    """The fields of one ``/model/info`` ``model_info`` object termchat uses (set ones only):
    :data:`_INFO_FIELDS` and every ``supports_*`` flag that is ``True``."""
    if not isinstance(model_info, dict):
        return {}
    out = {k: model_info[k] for k in _INFO_FIELDS if model_info.get(k) is not None}
    out.update({k: True for k, v in model_info.items() if k.startswith("supports_") and v is True})
    return out


def write_details(endpoint: str, models: list[tuple[str, dict[str, Any]]]) -> None:
    """Remember a proxy's model details (``{"endpoint": {"model": info}}`` in
    :data:`GATEWAY_CACHE`), replacing that endpoint's; a failed write is ignored."""
    doc = _read_cache()
    doc[endpoint] = {mid: info for mid, info in models}
    try:
        paths.atomic_write(paths.cache_dir() / GATEWAY_CACHE, json.dumps(doc).encode())
    except OSError:
        pass


def cached_details(endpoint: str, model: str) -> dict[str, Any]:
    """The details :func:`write_details` kept for ``model`` of ``endpoint`` (``{}`` if none)."""
    info = _read_cache().get(endpoint, {}).get(model)
    return dict(info) if isinstance(info, dict) else {}


def _read_cache() -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads((paths.cache_dir() / GATEWAY_CACHE).read_bytes())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, dict)} if isinstance(doc, dict) else {}


# ---------------------------------------------------------------------------------------------
# Health, the key, spend


def health(api_base: str, timeout: float) -> Any:
    """``GET <root>/health/liveliness`` (LiteLLM 1.106 also serves ``/health/liveness`` and
    ``/health/readiness``; liveliness needs no key and touches no database): the proxy's answer
    (``"I'm alive!"``). Raises ``OSError``/``ValueError`` when it is down or answers otherwise."""
    return http_json(f"{proxy_root(api_base)}/health/liveliness", timeout=timeout)


def key_accepted(api_base: str, key: str | None, timeout: float) -> int:
    """Whether the proxy takes ``key``: ``GET <root>/v1/models`` with it; returns the number of
    models the key may use. Raises ``urllib.error.HTTPError`` (401/403: refused; 400 with
    ``no_db_connection``: a virtual key on a proxy without its database), other ``OSError`` or
    ``ValueError``."""
    data = http_json(f"{proxy_root(api_base)}/v1/models", timeout=timeout, headers=_auth(key))
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError("no model list in the answer")
    return len(data["data"])


def key_info(api_base: str, key: str | None, timeout: float) -> dict[str, Any]:
    """``GET <root>/key/info`` with ``key`` (the key asks about itself): the ``info`` object the
    proxy answers — ``spend`` (USD, in the current budget window when ``budget_duration`` is
    set), ``max_budget`` (USD or ``None``), ``budget_duration`` (``"30d"``…),
    ``budget_reset_at`` (ISO time), ``key_alias``, ``team_id``, ``models``…

    Raises ``OSError`` (a proxy without its database answers 400/500 here) or ``ValueError``
    (no ``info`` object in the answer).
    """
    data = http_json(f"{proxy_root(api_base)}/key/info", timeout=timeout, headers=_auth(key))
    if not isinstance(data, dict) or not isinstance(data.get("info"), dict):
        raise ValueError("no key information in the answer")
    return data["info"]


def error_code(exc: BaseException) -> str | None:
    """The proxy's error ``type`` (``auth_error``, ``no_db_connection``, ``budget_exceeded``…)
    from an ``urllib.error.HTTPError``'s JSON body, or ``None``."""
    import urllib.error

    if not isinstance(exc, urllib.error.HTTPError):
        return None
    try:
        body = json.loads(exc.read(65536) or b"null")
    except (OSError, ValueError):
        return None
    err = body.get("error") if isinstance(body, dict) else None
    code = err.get("type") if isinstance(err, dict) else None
    return code if isinstance(code, str) else None

