"""The model list behind the picker: catalog chat models, aliases and live local models.

:func:`catalog_entries` reads LiteLLM's bundled map (no LiteLLM import, ~20 ms).
:func:`live_entries` asks the network (Ollama, configured endpoints' ``/models``) and must run
in a worker thread.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..core import catalog as cat


@dataclass
class ModelEntry:
    """One pickable model.

    Attributes:
        id: what is passed to ``resolve_model`` (a model id such as ``openai/gpt-5.5``).
        provider: provider or endpoint name.
        context: input tokens the model takes, or ``None`` when unknown.
        input_per_m / output_per_m: USD per million tokens, or ``None`` when unpriced.
        caps: capability words (``vision``, ``image``, ``speech``).
        key: ``True`` key set, ``False`` key missing, ``None`` no key needed.
        source: ``catalog``, ``local``, ``ollama`` or ``endpoint``.
        aliases: aliases that resolve to this id.
    """

    id: str
    provider: str
    context: int | None = None
    input_per_m: float | None = None
    output_per_m: float | None = None
    caps: tuple[str, ...] = ()
    key: bool | None = None
    source: str = "catalog"
    aliases: tuple[str, ...] = ()

    @property
    def search_text(self) -> str:
        """Lower-case text the fuzzy filter matches against."""
        return " ".join((self.id, *self.aliases, *self.caps, self.source)).lower()


def _caps(info: dict[str, Any]) -> tuple[str, ...]:
    caps = []
    if info.get("supports_vision"):
        caps.append("vision")
    if info.get("supports_image_output") or info.get("mode") == "image_generation":
        caps.append("image")
    if info.get("supports_audio_output") or info.get("mode") == "audio_speech":
        caps.append("speech")
    return tuple(caps)


def _per_m(v: Any) -> float | None:
    return None if v is None else float(v) * 1_000_000


def catalog_entries(config: Any, keys: dict[str, str] | None = None) -> list[ModelEntry]:
    """Chat models of the catalog, with aliases first (in alias order), then by id."""
    from ..config import read_keys

    try:
        keys = read_keys() if keys is None else keys
    except Exception:
        keys = {}
    aliases = cat.all_aliases(config)
    by_target: dict[str, list[str]] = {}
    for name, target in aliases.items():
        by_target.setdefault(target, []).append(name)
    key_cache: dict[str, bool | None] = {}

    def key_state(provider: str) -> bool | None:
        if provider not in key_cache:
            if provider not in cat.PROVIDER_KEY_ENV:
                key_cache[provider] = None
            else:
                key_cache[provider] = cat.lookup_key(provider, config, keys=keys)[0] is not None
        return key_cache[provider]

    out: list[ModelEntry] = []
    seen: set[str] = set()
    for target, names in by_target.items():
        info = cat.model_info(target)
        if info and info.get("mode") not in (None, "chat", "responses"):
            continue
        provider = target.split("/", 1)[0]
        out.append(_entry(target, provider, info, key_state(provider), tuple(names), "catalog"))
        seen.add(target)
    for mid, info in sorted(cat.catalog().items()):
        if info.get("mode") != "chat" or mid in seen:
            continue
        provider = mid.split("/", 1)[0]
        out.append(_entry(mid, provider, info, key_state(provider), (), "catalog"))
    return out


def _entry(mid, provider, info, key, aliases, source) -> ModelEntry:
    ctx = info.get("max_input_tokens")
    return ModelEntry(
        id=mid,
        provider=provider,
        context=ctx if isinstance(ctx, int) else None,
        input_per_m=_per_m(info.get("input_cost_per_token")),
        output_per_m=_per_m(info.get("output_cost_per_token")),
        caps=_caps(info),
        key=key,
        source=source,
        aliases=aliases,
    )


def _get_json(url: str, api_key: str | None, timeout: float) -> Any:
    req = urllib.request.Request(url)
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read(2_000_000))


def live_entries(config: Any, timeout: float = 1.0) -> list[ModelEntry]:
    """Models available right now: the embedded model (when installed), Ollama's models, and
    each configured OpenAI-compatible endpoint's ``GET /models``. Blocking (network, up to
    ``timeout`` seconds per server): call it from a worker thread. Unreachable servers are
    skipped."""
    import os

    out: list[ModelEntry] = []
    free = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}
    if cat.embedded_available():
        out.append(_entry(cat.DEFAULT_LOCAL_MODEL, "local", {**free, "max_input_tokens": 8192},
                          None, ("local",), "local"))
    for name in cat.probe_ollama(os.environ.get("OLLAMA_API_BASE"), timeout=min(timeout, 0.5)):
        out.append(_entry(f"ollama_chat/{name}", "ollama_chat", free, None, (), "ollama"))
    for name, ep in cat.all_endpoints(config).items():
        base = str(ep.get("api_base", "")).rstrip("/")
        if not base:
            continue
        ids: list[str] = [str(m) for m in ep.get("models", []) or []]
        try:
            data = _get_json(f"{base}/models", ep.get("api_key"), timeout)
            ids += [str(m["id"]) for m in data.get("data", []) if isinstance(m, dict) and "id" in m]
        except Exception:
            pass
        for mid in dict.fromkeys(ids):
            out.append(_entry(f"{name}/{mid}", name, free, None, (), "endpoint"))
    return out


def fuzzy_filter(entries: list[ModelEntry], query: str, limit: int = 200) -> list[ModelEntry]:
    """Entries matching ``query`` best first: every word must occur in order as a subsequence of
    the entry's text; contiguous matches and matches in the id's model part rank higher."""
    words = query.lower().split()
    if not words:
        return entries[:limit]
    scored: list[tuple[float, int, ModelEntry]] = []
    for i, e in enumerate(entries):
        text = e.search_text
        score = 0.0
        for w in words:
            pos = text.find(w)
            if pos >= 0:
                score += 10 + (5 if pos == 0 or text[pos - 1] in "/ -._" else 0)
                if any(a == w for a in e.aliases):
                    score += 20
                continue
            if not _subsequence(w, text):
                break
            score += 1
        else:
            scored.append((-score, i, e))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [e for _, _, e in scored[:limit]]


def _subsequence(word: str, text: str) -> bool:
    it = iter(text)
    return all(ch in it for ch in word)


def format_entry(e: ModelEntry) -> tuple[str, str]:
    """``(title, details)`` lines shown for an entry in the picker."""
    title = e.id + (f"  ({', '.join(e.aliases)})" if e.aliases else "")
    bits = [e.provider]
    if e.context:
        bits.append(f"{e.context // 1000}k ctx" if e.context >= 1000 else f"{e.context} ctx")
    if e.input_per_m is not None or e.output_per_m is not None:
        if not e.input_per_m and not e.output_per_m:
            bits.append("free")
        else:
            bits.append(f"${e.input_per_m or 0:.2f} in / ${e.output_per_m or 0:.2f} out per M")
    if e.caps:
        bits.append(" ".join(e.caps))
    if e.key is True:
        bits.append("key set")
    elif e.key is False:
        bits.append("no key")
    return title, " · ".join(bits)
