"""Fallback chains: which models are tried, in order, when a model fails before any text arrived.

The config's ``[fallbacks]`` table maps a model (an alias or a model id, as written) or
``default`` to a list of models::

    [fallbacks]
    claude = ["gpt", "gemini", "local"]
    default = ["local"]

A chain is followed transitively: when ``claude``'s chain names ``gpt`` and ``gpt`` has a
chain of its own, ``gpt``'s models come right after ``gpt`` (each model at most once). The
``default`` chain applies to a model that has no chain of its own (never to the models of a
chain). ``--fallback MODEL`` (repeatable) replaces the configured chain for one call.

Checked when the config is loaded (:func:`check`): every name must resolve (alias, model id,
endpoint model), and no chain may lead back to a model already on the way (``a → b → a``);
either is a :class:`~termchat.core.errors.ConfigError` naming the key, the line and the model
(exit 3). Light: imports only the core's catalog (no LiteLLM).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .core.errors import ConfigError, TermchatError

DEFAULT_KEY = "default"


def table(config: Any) -> dict[str, list[str]]:
    """The ``[fallbacks]`` table of ``config`` (``{}`` when there is none), as written."""
    data = getattr(config, "data", None) or {}
    raw = data.get("fallbacks") or {}
    return {str(k): [str(x) for x in v] for k, v in raw.items() if isinstance(v, list)}


def model_id(name: str, config: Any) -> str:
    """The canonical model id of an alias or id (no key needed).

    Raises:
        TermchatError: the name does not resolve (unknown alias, model or provider).
    """
    from .core.catalog import resolve_model

    return resolve_model(name, config, require_key=False).id


def check(config: Any, text: str | None = None,
          key_line: Callable[[str, str], int | None] | None = None) -> None:
    """Validate the ``[fallbacks]`` table of a loaded config (``text``: the file's text and
    ``key_line(text, dotted_key)`` its line finder, :func:`termchat.config.key_line`, to name
    the line). Types are checked by :func:`termchat.config._validate`; here the names and loops.

    Raises:
        ConfigError: ``PATH, line N: fallbacks.claude: unknown model or alias 'gtp'`` or
            ``PATH, line N: fallbacks: a loop: claude → gpt → claude`` (exit 3).
    """
    chains = table(config)
    if not chains:
        return
    path = getattr(config, "path", "config.toml")

    def _where(path: Any, text: str | None, key: str) -> str:
        line = _line_of(text, key.split(".", 1)[1]) if text else None
        if line is None and text and key_line is not None:
            line = key_line(text, key)
        return f"{path}, line {line}" if line else str(path)
    ids: dict[str, str] = {}

    def resolve(name: str, key: str) -> str:
        if name not in ids:
            try:
                ids[name] = model_id(name, config)
            except TermchatError as exc:
                raise ConfigError(
                    f"{_where(path, text, f'fallbacks.{key}')}: fallbacks.{key}: {exc.message}",
                    hint="fix the name (see `termchat models`), or remove it from [fallbacks]",
                ) from None
        return ids[name]

    graph: dict[str, list[tuple[str, str]]] = {}
    label: dict[str, str] = {}
    for key, names in chains.items():
        entries = [(resolve(n, key), n) for n in names]
        if key == DEFAULT_KEY:
            continue
        src = resolve(key, key)
        label.setdefault(src, key)
        graph.setdefault(src, []).extend(entries)
    for key, names in chains.items():
        src = None if key == DEFAULT_KEY else ids[key]
        for n in names:
            if ids[n] == src:
                raise ConfigError(
                    f"{_where(path, text, f'fallbacks.{key}')}: fallbacks.{key}: a model cannot "
                    f"fall back to itself ({n})",
                    hint=f"remove {n!r} from fallbacks.{key}",
                )
    loop = _find_loop(graph)
    if loop:
        names = " → ".join(label.get(i, i) for i in loop)
        raise ConfigError(
            f"{_where(path, text, f'fallbacks.{label.get(loop[0], loop[0])}')}: fallbacks: a "
            f"loop: {names}",
            hint="a chain must not lead back to a model on the way; remove one of the entries",
        )


def _line_of(text: str, name: str) -> int | None:
    """The 1-based line of ``text`` that sets ``name`` in the ``[fallbacks]`` table (a bare or
    quoted key: model ids hold ``/`` and ``.``), or ``None``."""
    import re

    table = ""
    for n, line in enumerate(text.splitlines(), 1):
        head = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line)
        if head:
            table = head.group(1).strip()
            continue
        if table != "fallbacks" or "=" not in line:
            continue
        left = line.split("=", 1)[0].strip()
        if left.strip("\"'") == name:
            return n
    return None


def _find_loop(graph: Mapping[str, Sequence[tuple[str, str]]]) -> list[str] | None:
    """A cycle in ``graph`` (id → [(id, name)]) as ``[a, b, …, a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt, _ in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in list(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def chain_for(config: Any, primary: str, rm_id: str, extra: Sequence[str] | None = None) -> list[str]:
    """The names to try after the model the user asked for, in order, without repeats and
    without the primary itself.

    ``primary``: the name as typed (alias or id); ``rm_id``: its resolved id. ``extra``: the
    ``--fallback`` names (or a preset's), which replace the configured chain when given. The
    configured chain is the one keyed by ``primary``, else by another name of the same model
    id, else ``default``; each entry's own chain follows it (see the module docstring).
    """
    if extra:
        out: list[str] = []
        for n in extra:
            if n not in out and n != primary:
                out.append(n)
        return out
    chains = table(config)
    if not chains:
        return []
    ids: dict[str, str] = {}

    def idof(name: str) -> str:
        if name not in ids:
            try:
                ids[name] = model_id(name, config)
            except TermchatError:
                ids[name] = name
        return ids[name]

    by_id: dict[str, list[str]] = {}
    for key, names in chains.items():
        if key != DEFAULT_KEY:
            by_id.setdefault(idof(key), []).extend(names)
    first = chains[primary] if primary in chains and primary != DEFAULT_KEY else by_id.get(rm_id)
    if first is None:
        first = chains.get(DEFAULT_KEY, [])
    out, seen = [], {rm_id}

    def walk(names: Sequence[str]) -> None:
        for n in names:
            i = idof(n)
            if i in seen:
                continue
            seen.add(i)
            out.append(n)
            walk(by_id.get(i, []))

    walk(first)
    return out
