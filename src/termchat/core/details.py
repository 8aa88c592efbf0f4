"""Everything known about one model or alias: the ``termchat models info`` document.

The catalog entry, the key status (in :func:`termchat.core.keys.resolve_key`'s order), and —
for local models — whether it is served now: a file that exists (embedded, ``[local_models]``,
``local/<path.gguf>``), Ollama's model list or an endpoint's (:mod:`termchat.core.probes`,
:data:`DETAIL_PROBE_TIMEOUT` seconds each). The front only formats the result.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from . import catalog as cat
from .keys import mask
from .listing import KeyStatus, aliases_by_id, row_from_info
from .probes import describe_error, ollama_id, ollama_ids, probe_endpoint
from .settings import Settings, local_models

#: Seconds a local server gets to say whether it serves the model.
DETAIL_PROBE_TIMEOUT = 1.0

_log = logging.getLogger("termchat")


def _local_live(bare: str, config: Settings | None) -> tuple[str, bool]:
    """``(source, live)`` of a ``local/…`` model: an installed embedded model or an existing file."""
    if bare == "smollm2":
        return "embedded", cat.embedded_available()
    if bare.startswith("whisper-"):
        from . import stt_local

        return "embedded", stt_local.available()
    named = local_models(config)
    if bare in named:
        return "local_models", os.path.isfile(os.path.expanduser(str(named[bare])))
    return "local_models", bare.endswith(".gguf") and os.path.isfile(os.path.expanduser(bare))


def _endpoint_live(api_base: str, key: str | None, bare: str) -> bool:
    try:
        return bare in probe_endpoint(api_base, key, DETAIL_PROBE_TIMEOUT)
    except Exception as exc:  # any failure means "not served now"; the reason goes to the log
        _log.debug("endpoint %s did not list its models: %s", api_base, describe_error(exc))
        return False


def model_details(
    name: str, config: Settings | None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Everything known about a model or alias (the ``models info --json`` object): every key
    of a listing row (:meth:`termchat.core.listing.ModelRow.to_dict`) plus ``input``,
    ``litellm_model``, ``api_base``, ``key_env``, ``key_masked``, ``in_catalog``, ``live``
    (``None`` for cloud models) and ``catalog`` (the raw entry).

    Raises:
        ModelNotFoundError: unknown model/alias (exit 2), with suggestions.
        ConfigError: the config is invalid (exit 3).
    """
    from . import stt_local
    from .transcribe import resolve_transcription_model

    rm = cat.resolve_model(name, config, require_key=False, env=env)
    if stt_local.is_embedded(rm.id):  # the embedded speech-to-text model, not a chat model
        rm = resolve_transcription_model(rm.id, config)
    info = dict(rm.info)
    provider, bare = rm.id.split("/", 1)
    endpoints = cat.all_endpoints(config)
    in_catalog = bool(cat.model_info(rm.id)) or (provider in endpoints and bool(info))
    if not info and provider in ("ollama", "ollama_chat"):
        info = dict(cat.model_info("ollama/" + bare))
        in_catalog = bool(info)
    keys = KeyStatus(config, env)
    source = "catalog"
    live: bool | None = None
    if provider == cat.LOCAL_PROVIDER:
        source, live = _local_live(bare, config)
    elif provider in ("ollama", "ollama_chat"):
        source = "ollama"
        live = ollama_id(bare) in ollama_ids(env, DETAIL_PROBE_TIMEOUT)
    elif provider in endpoints and rm.api_base is not None:
        source = f"endpoint:{provider}"
        live = _endpoint_live(str(endpoints[provider]["api_base"]), keys.key(provider), bare)
    if source == "catalog" and not in_catalog:
        source = "unlisted"
    row = row_from_info(rm.id, info, keys, aliases_by_id(config), source=source, live=bool(live))
    key = keys.key(provider) if row.key == "set" else None
    doc = row.to_dict()
    doc.update(
        input=name,
        litellm_model=rm.litellm_model,
        api_base=rm.api_base,
        key_env=rm.key_env,
        key_masked=mask(key) if key else None,
        in_catalog=in_catalog,
        live=live,
        catalog={k: v for k, v in info.items() if k != "key"},
    )
    return doc
