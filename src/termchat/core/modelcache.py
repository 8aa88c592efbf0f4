"""The two small cache files shell completion reads, so a TAB needs no network and no catalog parse.

Kept light on purpose (no dataclasses, nothing parsed at import): completion imports it on every
TAB. Both files live under ``paths.cache_dir()`` (:mod:`termchat.core.paths`) and are written atomically; a missing or broken
file is treated as empty or stale, never as an error.

``local_models.json`` — the live local models, rewritten every time they are fetched
(``termchat models``, ``termchat doctor``, after ``models pull``/``rm``)::

    {"version": 1, "fetched_at": <UNIX seconds>, "models": [{"id": str, "source": str}, ...]}

``source`` is ``embedded``, ``local_models``, ``ollama`` or ``endpoint:NAME``.

``catalog_ids.json`` — the catalog's model ids per mode, rebuilt when LiteLLM's bundled JSON
changes (its path, size and mtime in nanoseconds form ``key``); building it parses the 3 MB
catalog once (about 0.15 s), reading it takes about 2 ms::

    {"version": 2, "key": "<path>:<size>:<mtime_ns>",
     "modes": {"chat": [str], "image_generation": [str], "audio_speech": [str],
               "audio_transcription": [str]}}
"""

from __future__ import annotations

import json
import time

from . import paths
from .catalogfile import catalog_stamp

LOCAL_MODELS_CACHE = "local_models.json"
#: A LiteLLM proxy gateway's model details, per endpoint (:mod:`termchat.core.gateway`):
#: ``{"team": {"painter": {"mode": "image_generation", "input_cost_per_token": …}, …}}``.
GATEWAY_CACHE = "gateway_models.json"
CATALOG_IDS_CACHE = "catalog_ids.json"
CACHE_VERSION = 1
#: ``catalog_ids.json``'s own version (2: audio_transcription ids added; a version-1 file is
#: rebuilt once).
CATALOG_IDS_VERSION = 2

#: Catalog modes whose ids are cached for completion.
COMPLETION_MODES = ("chat", "image_generation", "audio_speech", "audio_transcription")


def write_local_cache(models: list[tuple[str, str]]) -> None:
    """Rewrite ``local_models.json`` from ``(id, source)`` pairs. A failure to write is ignored:
    the cache only helps completion."""
    doc = {
        "version": CACHE_VERSION,
        "fetched_at": time.time(),
        "models": [{"id": mid, "source": source} for mid, source in models],
    }
    try:
        paths.atomic_write(paths.cache_dir() / LOCAL_MODELS_CACHE, json.dumps(doc).encode())
    except OSError:
        pass


def read_local_cache() -> list[dict[str, str]]:
    """The cached live local models as ``[{"id": str, "source": str}]`` (``[]`` without a
    readable cache)."""
    try:
        doc = json.loads((paths.cache_dir() / LOCAL_MODELS_CACHE).read_bytes())
        return [
            {"id": str(m["id"]), "source": str(m.get("source", ""))}
            for m in doc.get("models", [])
            if isinstance(m, dict) and m.get("id")
        ]
    except (OSError, ValueError, AttributeError, TypeError):
        return []


def update_local_cache(source: str, ids: list[str]) -> None:
    """Replace the cached models of one ``source`` (e.g. ``ollama`` after a pull or rm) with
    ``ids``, keeping the others."""
    kept = [(m["id"], m["source"]) for m in read_local_cache() if m["source"] != source]
    write_local_cache(kept + [(i, source) for i in ids])


def write_catalog_ids(stamp: str | None = None) -> dict[str, list[str]]:
    """Parse the catalog and rewrite ``catalog_ids.json``; returns mode -> sorted ids."""
    from .catalogfile import catalog

    modes: dict[str, list[str]] = {m: [] for m in COMPLETION_MODES}
    for mid, entry in catalog().items():
        mode = entry.get("mode")
        if mode in modes:
            modes[mode].append(mid)
    for ids in modes.values():
        ids.sort()
    doc = {"version": CATALOG_IDS_VERSION, "key": stamp or catalog_stamp(), "modes": modes}
    try:
        paths.atomic_write(paths.cache_dir() / CATALOG_IDS_CACHE, json.dumps(doc).encode())
    except OSError:
        pass
    return modes


def _read_catalog_ids() -> dict | None:
    try:
        doc = json.loads((paths.cache_dir() / CATALOG_IDS_CACHE).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("version") == CATALOG_IDS_VERSION else None


def catalog_ids_stale() -> bool:
    """Whether ``catalog_ids.json`` is missing or was built from another LiteLLM JSON."""
    doc = _read_catalog_ids()
    return doc is None or doc.get("key") != catalog_stamp()


def catalog_ids() -> dict[str, list[str]]:
    """Catalog ids per mode of :data:`COMPLETION_MODES`, from the cache; rebuilt when stale.
    Every mode maps to ``[]`` when LiteLLM is not installed."""
    stamp = catalog_stamp()
    if stamp is None:
        return {m: [] for m in COMPLETION_MODES}
    doc = _read_catalog_ids()
    if doc is not None and doc.get("key") == stamp and isinstance(doc.get("modes"), dict):
        modes = doc["modes"]
        return {m: [str(i) for i in modes.get(m, []) if isinstance(i, str)] for m in COMPLETION_MODES}
    return write_catalog_ids(stamp)


def gateway_modes() -> dict[str, str]:
    """``{"team/painter": "image_generation", …}``: the mode of every gateway model the last
    listing saw that reported one, from :data:`GATEWAY_CACHE` (``{}`` without it). Completion
    offers a gateway's image and speech models after ``image -m``/``speak -m``, not ``ask -m``."""
    try:
        doc = json.loads((paths.cache_dir() / GATEWAY_CACHE).read_bytes())
        return {f"{ep}/{mid}": info["mode"] for ep, models in doc.items()
                for mid, info in models.items()
                if isinstance(info, dict) and isinstance(info.get("mode"), str)}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
