"""Model listing: catalog rows, live local models, key status, and the caches completion reads.

Nothing here imports LiteLLM. The catalog is LiteLLM's bundled JSON read as data
(:mod:`termchat.core.catalog`); local servers are asked with ``urllib`` (stdlib), each with a short
timeout (:data:`PROBE_TIMEOUT` seconds), all at once in daemon threads, so a listing never waits
longer than about one timeout for servers that do not answer. A server that does not answer is
simply absent from the live list.

Every fetch of the live models rewrites the ``local_models.json`` cache that shell completion
reads (see :mod:`termchat.core.modelcache`).

Prices in rows are USD per million tokens; context windows and output limits are tokens.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import catalog as cat
from . import gateway, modelcache, stt_local
from .keys import PROVIDER_KEY_ENV, read_keys, resolve_key
from .probes import (  # noqa: F401  (re-exported: the listing's probes, under their old names)
    PROBE_TIMEOUT,
    _is_loopback,
    describe_error,
    http_json,
    ollama_base,
    ollama_id,
    probe_endpoint,
    probe_ollama,
    run_all,
)
from .settings import Settings, local_models

_log = logging.getLogger("termchat")

#: ``--mode`` names -> the catalog's ``mode`` value.
MODE_NAMES: dict[str, str] = {
    "chat": "chat",
    "image": "image_generation",
    "speech": "audio_speech",
    "transcription": "audio_transcription",
    "embedding": "embedding",
}

#: Providers that run on the user's machine and take no key.
KEYLESS_PROVIDERS = frozenset(
    {"local", "ollama", "ollama_chat", "lm_studio", "llamafile", "hosted_vllm", "lemonade"}
)

# Catalog flag -> capability name, in display order.
_CAPABILITY_FLAGS: list[tuple[str, str]] = [
    ("supports_vision", "vision"),
    ("supports_function_calling", "tools"),
    ("supports_reasoning", "reasoning"),
    ("supports_web_search", "search"),
    ("supports_pdf_input", "pdf"),
    ("supports_audio_input", "audio-in"),
    ("supports_audio_output", "audio-out"),
    ("supports_response_schema", "json-schema"),
    ("supports_prompt_caching", "caching"),
]
# Catalog mode -> capability name (chat-like modes add none).
_MODE_CAPABILITY = {
    "image_generation": "image",
    "image_edit": "image-edit",
    "audio_speech": "speech",
    "audio_transcription": "transcription",
    "embedding": "embedding",
    "video_generation": "video",
}
_CHAT_MODES = {"chat", "completion", "responses"}


# ---------------------------------------------------------------------------------------------
# Rows


@dataclass
class ModelRow:
    """One model in a listing.

    Attributes:
        id: model id (``provider/model``).
        provider: the part before the first ``/`` (an endpoint name for endpoint models).
        mode: the catalog's mode (``chat``, ``image_generation``, ``audio_speech``, …); live
            models the catalog does not know are ``chat``.
        aliases: alias names that resolve to this id (built-in and user).
        context_window: input tokens (``max_input_tokens``), or ``None``.
        max_output_tokens: output tokens, or ``None``.
        input_usd_per_mtok / output_usd_per_mtok: USD per million tokens, or ``None``.
        capabilities: e.g. ``["vision", "tools", "reasoning"]`` or ``["image"]``.
        key: ``set``, ``missing``, ``not needed`` (local) or ``unknown`` (a provider that
            authenticates in a way termchat does not check).
        key_source: ``env:NAME``, ``keys file``, ``endpoint config``, or ``None``.
        source: ``catalog``, ``embedded``, ``local_models``, ``ollama`` or ``endpoint:NAME``.
        live: served right now by a local server that answered (or an installed local file).
        deprecation_date: ``YYYY-MM-DD`` from the catalog, or ``None``.
    """

    id: str
    provider: str
    mode: str = "chat"
    aliases: list[str] = field(default_factory=list)
    context_window: int | None = None
    max_output_tokens: int | None = None
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    capabilities: list[str] = field(default_factory=list)
    key: str = "unknown"
    key_source: str | None = None
    source: str = "catalog"
    live: bool = False
    deprecation_date: str | None = None

    @property
    def available(self) -> bool:
        """Usable now: its key is set, or a local server/file serves it."""
        return self.key == "set" or self.live

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``termchat models --json``): every attribute plus ``available``.
        (Built by hand: ``dataclasses.asdict`` deep-copies and is 20x slower over the catalog.)"""
        return {
            "id": self.id,
            "provider": self.provider,
            "mode": self.mode,
            "aliases": list(self.aliases),
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
            "input_usd_per_mtok": self.input_usd_per_mtok,
            "output_usd_per_mtok": self.output_usd_per_mtok,
            "capabilities": list(self.capabilities),
            "key": self.key,
            "key_source": self.key_source,
            "source": self.source,
            "live": self.live,
            "available": self.available,
            "deprecation_date": self.deprecation_date,
        }


def per_million(value: Any) -> float | None:
    """A per-token USD price as USD per million tokens (rounded to 6 decimals), or ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(float(value) * 1_000_000, 6)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def capabilities(info: Mapping[str, Any]) -> list[str]:
    """Capability names of a catalog entry: mode-derived (``image``, ``speech``,
    ``transcription``, ``embedding``…) first, then flags (``vision``, ``tools``, ``reasoning``…)."""
    caps: list[str] = []
    mode = info.get("mode")
    if isinstance(mode, str) and mode not in _CHAT_MODES:
        caps.append(_MODE_CAPABILITY.get(mode, mode.replace("_", "-")))
    caps += [name for flag, name in _CAPABILITY_FLAGS if info.get(flag) is True]
    return caps


def alias_targets(config: Settings | None) -> dict[str, str]:
    """Alias name -> the model id it ends at (chains followed, bare catalog names made
    canonical). Never raises; an alias to something unresolvable maps to its raw target."""
    aliases = cat.all_aliases(config)
    out: dict[str, str] = {}
    for name in aliases:
        target, _ = cat._expand_alias(name, aliases)
        if "/" not in target:
            target = cat._bare_index().get(target, target)
        out[name] = target
    return out


def aliases_by_id(config: Settings | None) -> dict[str, list[str]]:
    """Model id -> the aliases that resolve to it (sorted)."""
    rev: dict[str, list[str]] = {}
    for name, target in sorted(alias_targets(config).items()):
        rev.setdefault(target, []).append(name)
    return rev


class KeyStatus:
    """Key status per provider, computed once per provider (reads the keys file once), in the
    order of :func:`termchat.core.keys.resolve_key` — the same one requests use.

    ``status(provider)`` -> ``(status, source)``; see :class:`ModelRow` for the values.
    """

    def __init__(self, config: Settings | None, env: Mapping[str, str] | None = None):
        from .errors import ConfigError

        self.config = config
        self.env = os.environ if env is None else env
        self.endpoints = cat.all_endpoints(config)
        try:
            self.keys = read_keys()
        except ConfigError as exc:  # a malformed keys file: doctor reports it; listings carry on
            _log.debug("keys file not read for the listing: %s", exc.message)
            self.keys = {}
        self._memo: dict[str, tuple[str, str | None]] = {}

    def status(self, provider: str) -> tuple[str, str | None]:
        """``(status, source)`` for ``provider`` (an endpoint name, a LiteLLM provider…)."""
        if provider not in self._memo:
            self._memo[provider] = self._compute(provider)
        return self._memo[provider]

    def key(self, provider: str) -> str | None:
        """The key itself (for masking or an ``Authorization`` header), or ``None``."""
        return self._resolve(provider)[0]

    def _resolve(self, provider: str) -> tuple[str | None, str | None]:
        return resolve_key(provider, endpoint=self.endpoints.get(provider), env=self.env,
                           keys=self.keys)

    def _compute(self, provider: str) -> tuple[str, str | None]:
        ep = self.endpoints.get(provider)
        if ep is None and provider in KEYLESS_PROVIDERS:
            return "not needed", None
        key, source = self._resolve(provider)
        if key:
            return "set", source
        if ep is not None:
            needs_key = ep.get("api_key_env") or gateway.is_proxy(ep)  # a gateway always does
            return ("missing", None) if needs_key else ("not needed", None)
        return ("missing", None) if provider in PROVIDER_KEY_ENV else ("unknown", None)


def row_from_info(
    model_id: str,
    info: Mapping[str, Any],
    keys: KeyStatus,
    aliases: Mapping[str, list[str]],
    *,
    source: str = "catalog",
    live: bool = False,
) -> ModelRow:
    """Build a :class:`ModelRow` from a catalog entry (``{}`` for an unknown model)."""
    provider = model_id.split("/", 1)[0]
    status, key_source = keys.status(provider)
    mode = info.get("mode")
    dep = info.get("deprecation_date")
    return ModelRow(
        id=model_id,
        provider=provider,
        mode=mode if isinstance(mode, str) else "chat",
        aliases=list(aliases.get(model_id, [])),
        context_window=_int_or_none(info.get("max_input_tokens")),
        max_output_tokens=_int_or_none(info.get("max_output_tokens")),
        input_usd_per_mtok=per_million(info.get("input_cost_per_token")),
        output_usd_per_mtok=per_million(info.get("output_cost_per_token")),
        capabilities=capabilities(info),
        key=status,
        key_source=key_source,
        source=source,
        live=live,
        deprecation_date=dep if isinstance(dep, str) else None,
    )


# ---------------------------------------------------------------------------------------------
# Live local models


@dataclass
class LiveModel:
    """A model a local server (or file) serves now: its id, where it comes from (``embedded``,
    ``local_models``, ``ollama``, ``endpoint:NAME``) and its catalog entry (``{}`` if none)."""

    id: str
    source: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class ServerStatus:
    """The outcome of asking one local server for its models.

    Attributes:
        name: ``ollama`` or ``endpoint:NAME``.
        url: the URL that was asked.
        ok: whether it answered with a model list within the timeout.
        error: one line saying why not (``connection refused``, ``timed out``, ``HTTP 401``…).
        models: the model names it listed (as the server names them).
        configured: whether the user configured it (``[endpoints.NAME]`` in the config file, or
            ``OLLAMA_API_BASE`` for Ollama) rather than it being a built-in default.
    """

    name: str
    url: str
    ok: bool = False
    error: str | None = None
    models: list[str] = field(default_factory=list)
    configured: bool = False


@dataclass
class LiveResult:
    """Live local models and the state of every server asked (see :func:`fetch_live`)."""

    models: list[LiveModel] = field(default_factory=list)
    servers: list[ServerStatus] = field(default_factory=list)


def fetch_live(
    config: Settings | None,
    env: Mapping[str, str] | None = None,
    timeout: float = PROBE_TIMEOUT,
    write_cache: bool = True,
) -> LiveResult:
    """Ask every local source for its models, concurrently, and (by default) rewrite the
    ``local_models.json`` cache.

    Sources: the embedded model (``local/smollm2`` when installed), ``[local_models]`` entries
    whose file exists, Ollama (``/api/tags`` at :func:`ollama_base`), and every endpoint of
    :func:`termchat.core.catalog.all_endpoints` (``GET {api_base}/models``; for a LiteLLM proxy,
    ``kind = "litellm_proxy"``, ``/v1/models`` and ``/model/info`` with its prices, context
    windows and capabilities, remembered by :func:`termchat.core.gateway.write_details`). Each
    server has ``timeout`` seconds; one that does not answer contributes no models. Never raises.
    """
    env = os.environ if env is None else env
    result = LiveResult()
    local: list[LiveModel] = []
    if cat.embedded_available():
        local.append(LiveModel(cat.DEFAULT_LOCAL_MODEL, "embedded", _local_info()))
    for name, path in sorted(local_models(config).items()):
        if isinstance(path, str) and os.path.isfile(os.path.expanduser(path)):
            local.append(LiveModel(f"local/{name}", "local_models", _local_info()))

    keys = KeyStatus(config, env)
    user_endpoints = config.endpoints if config is not None else {}
    servers: list[ServerStatus] = [
        ServerStatus("ollama", ollama_base(env) + "/api/tags", configured=bool(env.get("OLLAMA_API_BASE")))
    ]
    probes: list[Callable[[], list[str]]] = [lambda: probe_ollama(ollama_base(env), timeout)]
    details: dict[str, dict[str, dict[str, Any]]] = {}  # proxy endpoint -> model -> its info
    for name, ep in cat.all_endpoints(config).items():
        base = str(ep.get("api_base", ""))
        key = keys.key(name)
        if gateway.is_proxy(ep):
            servers.append(ServerStatus(f"endpoint:{name}", gateway.openai_base(base) + "/models",
                                        configured=name in user_endpoints))
            probes.append(lambda base=base, key=key, name=name: _probe_proxy(
                name, base, key, timeout, details))
            continue
        servers.append(
            ServerStatus(f"endpoint:{name}", base.rstrip("/") + "/models",
                         configured=name in user_endpoints)
        )
        probes.append(lambda base=base, key=key: probe_endpoint(base, key, timeout))

    def task(status: ServerStatus, probe: Callable[[], list[str]]) -> Callable[[], None]:
        def run() -> None:
            try:
                status.models = probe()
                status.ok = True
            except Exception as exc:
                status.error = describe_error(exc)

        return run

    run_all([task(s, p) for s, p in zip(servers, probes, strict=True)], timeout + 0.3)
    for status in servers:
        if not status.ok and status.error is None:
            status.error = "timed out"

    models = list(local)
    for status in servers:
        if not status.ok:
            continue
        if status.name == "ollama":
            for name in status.models:
                mid = ollama_id(name)
                bare = mid.split("/", 1)[1]
                info = cat.model_info(f"ollama/{bare}") or cat.model_info(f"ollama/{name}")
                models.append(LiveModel(mid, "ollama", dict(info)))
        else:
            ep_name = status.name.split(":", 1)[1]
            for mid in status.models:
                info = dict(cat.model_info(f"openai/{mid}"))
                info.update(details.get(ep_name, {}).get(mid, {}))
                models.append(LiveModel(f"{ep_name}/{mid}", status.name, info))
    result.models = models
    result.servers = servers
    if write_cache:
        write_local_cache(models)
    return result


def _probe_proxy(name: str, base: str, key: str | None, timeout: float,
                 details: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Ask a LiteLLM proxy for its models and their details (:func:`gateway.probe_models`);
    files the details under ``details[name]`` and in the gateway cache; returns the ids."""
    found = gateway.probe_models(base, key, timeout)
    details[name] = dict(found)
    gateway.write_details(name, found)
    return [mid for mid, _ in found]


def _local_info() -> dict[str, Any]:
    """The catalog-like entry of an embedded model (free, chat, 8192-token context)."""
    return {"mode": "chat", "litellm_provider": cat.LOCAL_PROVIDER, "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0, "max_input_tokens": 8192}


def write_local_cache(models: list[LiveModel]) -> None:
    """Rewrite ``local_models.json`` with ``models`` (see :mod:`termchat.core.modelcache`)."""
    modelcache.write_local_cache([(m.id, m.source) for m in models])


# ---------------------------------------------------------------------------------------------
# The listing


def list_models(
    config: Settings | None,
    env: Mapping[str, str] | None = None,
    live: LiveResult | None = None,
) -> list[ModelRow]:
    """Every model: live local ones first (embedded, ``[local_models]``, Ollama, endpoints),
    the embedded speech-to-text model when installed, then the catalog sorted by id. ``live``
    defaults to :func:`fetch_live` (network probes)."""
    env = os.environ if env is None else env
    if live is None:
        live = fetch_live(config, env)
    keys = KeyStatus(config, env)
    by_id = aliases_by_id(config)
    rows: list[ModelRow] = []
    seen: set[str] = set()
    for m in live.models:
        if m.id in seen:
            continue
        seen.add(m.id)
        rows.append(row_from_info(m.id, m.info, keys, by_id, source=m.source, live=True))
    if stt_local.available():  # embedded speech-to-text: listed, not offered to chat
        info = {"mode": "audio_transcription", "litellm_provider": cat.LOCAL_PROVIDER,
                "input_cost_per_second": 0.0}
        rows.append(row_from_info(stt_local.EMBEDDED_STT_MODEL, info, keys, by_id,
                                  source="embedded", live=True))
    for ep_name, ep in ((k, v) for k, v in (config.endpoints if config else {}).items()):
        for name in ep.get("models", []) or []:
            mid = f"{ep_name}/{name}"
            if mid not in seen:
                seen.add(mid)
                rows.append(row_from_info(mid, cat.model_info(f"openai/{name}"), keys, by_id,
                                          source=f"endpoint:{ep_name}"))
    for mid in sorted(cat.catalog()):
        if mid not in seen:
            rows.append(row_from_info(mid, cat.catalog()[mid], keys, by_id))
    try:
        if modelcache.catalog_ids_stale():
            modelcache.write_catalog_ids()
    except OSError:  # the cache only helps completion
        _log.debug("catalog_ids.json not rewritten", exc_info=True)
    return rows


def filter_rows(
    rows: list[ModelRow],
    *,
    provider: str | None = None,
    mode: str | None = None,
    vision: bool = False,
    tools: bool = False,
    search: str | None = None,
    available: bool = False,
) -> list[ModelRow]:
    """Rows matching every given filter. ``provider`` ``ollama`` also matches ``ollama_chat``
    (and the reverse); ``mode`` is a catalog mode (see :data:`MODE_NAMES`); ``search`` is a
    case-insensitive substring of the id or an alias."""
    wanted = {provider} if provider else set()
    if wanted & {"ollama", "ollama_chat"}:
        wanted = {"ollama", "ollama_chat"}
    needle = search.lower() if search else None
    out = []
    for r in rows:
        if wanted and r.provider not in wanted:
            continue
        if mode and r.mode != mode:
            continue
        if vision and "vision" not in r.capabilities:
            continue
        if tools and "tools" not in r.capabilities:
            continue
        if available and not r.available:
            continue
        if needle and needle not in r.id.lower() and not any(needle in a.lower() for a in r.aliases):
            continue
        out.append(r)
    return out
