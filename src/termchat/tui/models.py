"""The model list behind the picker: catalog chat models, aliases and live local models.

:func:`catalog_entries` reads LiteLLM's bundled map (no LiteLLM import); :func:`live_entries`
asks the network (Ollama, endpoints' ``/models``) and must run in a worker thread. Both build on
:mod:`termchat.core.listing`, the same rows ``termchat models`` shows.
"""

from __future__ import annotations

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


#: Capabilities the picker shows (the issue's "vision, image, speech"); the CLI listing shows all.
_PICKER_CAPS = ("vision", "image", "speech")
_KEY_STATE = {"set": True, "missing": False}


def _entry(row: Any) -> ModelEntry:
    """A picker entry from a :class:`termchat.core.listing.ModelRow`."""
    source = row.source
    if source in ("embedded", "local_models"):
        source = "local"
    elif source.startswith("endpoint:"):
        source = "endpoint"
    return ModelEntry(
        id=row.id,
        provider=row.provider,
        context=row.context_window,
        input_per_m=row.input_usd_per_mtok,
        output_per_m=row.output_usd_per_mtok,
        caps=tuple(c for c in row.capabilities if c in _PICKER_CAPS),
        key=_KEY_STATE.get(row.key),
        source=source,
        aliases=tuple(row.aliases),
    )


def catalog_entries(config: Any) -> list[ModelEntry]:
    """Chat models of the catalog (read as data, no LiteLLM import), aliased ones first in
    alias order, then by id; rows built by :mod:`termchat.core.listing` like ``termchat
    models`` builds them."""
    from ..core import listing

    keys = listing.KeyStatus(config)
    by_id = listing.aliases_by_id(config)
    out: list[ModelEntry] = []
    seen: set[str] = set()
    for target in dict.fromkeys(listing.alias_targets(config).values()):
        info = cat.model_info(target)
        if info and info.get("mode") not in (None, "chat", "responses"):
            continue
        out.append(_entry(listing.row_from_info(target, info, keys, by_id)))
        seen.add(target)
    for mid, info in sorted(cat.catalog().items()):
        if info.get("mode") == "chat" and mid not in seen:
            out.append(_entry(listing.row_from_info(mid, info, keys, by_id)))
    return out


def live_entries(config: Any, timeout: float = 1.0) -> list[ModelEntry]:
    """Models available right now — the embedded model, ``[local_models]``, Ollama and each
    endpoint's ``GET /models`` — through :func:`termchat.core.listing.fetch_live` (which also
    refreshes the completion cache). Blocking, up to ``timeout`` seconds per server: call it
    from a worker thread. Unreachable servers are skipped."""
    from ..core import listing

    live = listing.fetch_live(config, timeout=timeout)
    keys = listing.KeyStatus(config)
    by_id = listing.aliases_by_id(config)
    return [
        _entry(listing.row_from_info(m.id, m.info, keys, by_id, source=m.source, live=True))
        for m in live.models
    ]


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
