"""The price/capability map as a file: where it is, its identity, and its parsed contents.

LiteLLM's bundled ``model_prices_and_context_window_backup.json`` (found with
``importlib.util.find_spec``, never by importing LiteLLM), or the file ``TERMCHAT_CATALOG``
names. :mod:`termchat.core.catalog` (look-ups, resolution) and :mod:`termchat.core.modelcache`
(the completion caches) both build on this module, and it imports neither.
"""

from __future__ import annotations

import importlib.util
import json
import os
from functools import cache
from pathlib import Path
from typing import Any


def litellm_package_dir() -> Path | None:
    """The installed ``litellm`` package directory, found without importing it (or ``None``)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def catalog_file() -> Path | None:
    """The price/capability map termchat reads: the file named by ``TERMCHAT_CATALOG`` (a JSON
    map in LiteLLM's format, e.g. a newer ``model_prices_and_context_window.json``), else
    LiteLLM's bundled ``model_prices_and_context_window_backup.json``; ``None`` when neither."""
    override = os.environ.get("TERMCHAT_CATALOG")
    if override:
        return Path(override).expanduser()
    pkg = litellm_package_dir()
    return None if pkg is None else pkg / "model_prices_and_context_window_backup.json"


@cache
def raw_catalog() -> dict[str, dict[str, Any]]:
    """The price/capability map of :func:`catalog_file`: key -> entry (``litellm_provider``,
    ``mode``, ``max_input_tokens``, ``input_cost_per_token`` USD, …). Empty when there is none
    or it cannot be read."""
    path = catalog_file()
    if path is None:
        return {}
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    data.pop("sample_spec", None)
    return {k: v for k, v in data.items() if isinstance(v, dict)}


@cache
def catalog() -> dict[str, dict[str, Any]]:
    """The catalog keyed by canonical model id ``provider/model`` (entries as in
    :func:`raw_catalog`, plus ``"key"``: the original LiteLLM key). Parses the JSON (~40 ms);
    single look-ups go through :func:`_index` instead."""
    return _build_catalog()


def _build_catalog() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, entry in raw_catalog().items():
        provider = entry.get("litellm_provider")
        if not isinstance(provider, str) or not provider:
            continue
        mid = key if key.startswith(provider + "/") else f"{provider}/{key}"
        out.setdefault(mid, {**entry, "key": key})
    return out


def catalog_stamp() -> str | None:
    """Identity of the catalog file (:func:`catalog_file`), ``"<path>:<size>:<mtime_ns>"``, or
    ``None`` when there is none (LiteLLM is not installed)."""
    path = catalog_file()
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"
