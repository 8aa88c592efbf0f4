"""Editing the config file: ``termchat config set|unset`` and the fronts' own writes (the chat
app's theme and sidebar, ``aliases add``, ``models default``). Every write is checked with the
same rules as loading (:func:`termchat.config._validate`) and replaces the file atomically; a
file that does not parse is never rewritten."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import paths
from .config import ENDPOINT_FIELDS, SETTINGS, _validate, check_range, parse_value
from .config_tables import PROVIDER_BUDGET_FIELDS
from .core.errors import ConfigError, UsageError
from .core.keys import _read_toml_text, read_toml


def _check_key_name(key: str) -> tuple[str, ...]:
    parts = tuple(key.split("."))
    if key in SETTINGS:
        return parts
    if parts[0] == "aliases" and len(parts) == 2:
        return parts
    if parts[0] in ("keybindings", "local_models") and len(parts) == 2:
        return parts
    if parts[0] == "endpoints" and len(parts) == 3 and parts[2] in ENDPOINT_FIELDS:
        return parts
    if parts[:2] == ("budget", "providers") and len(parts) == 4 and parts[3] in PROVIDER_BUDGET_FIELDS:
        return parts
    import difflib

    close = difflib.get_close_matches(key, list(SETTINGS), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "run `termchat config show` for the keys"
    raise UsageError(f"unknown setting {key!r}", hint=hint)


def _write(data: dict[str, Any]) -> Path:
    import tomli_w

    path = paths.config_file()
    paths.atomic_write(path, tomli_w.dumps(data).encode("utf-8"))
    return path


def set_value(key: str, raw: str) -> Any:
    """Set ``key`` to the text ``raw`` in the config file, typed by the schema; returns the typed
    value. ``endpoints.NAME.models`` and ``.tags`` take a comma-separated list. Refuses (ConfigError) to
    rewrite a malformed file."""
    parts = _check_key_name(key)
    data, text = _read_toml_text(paths.config_file())
    if key in SETTINGS:
        value: Any = parse_value(key, SETTINGS[key].type, raw)
        try:
            check_range(key, value)
        except UsageError as exc:
            raise UsageError(exc.message, hint=f"{paths.config_file()} was not changed") from None
    elif parts[0] == "endpoints" and parts[2] in ("models", "tags"):
        value = [m.strip() for m in raw.split(",") if m.strip()]
    elif parts[0] == "endpoints" and parts[2] == "send_metadata":
        value = parse_value(key, bool, raw)
    elif parts[:2] == ("budget", "providers"):  # USD ≥ 0, checked below with the file's rules
        value = parse_value(key, float, raw)
    else:
        value = raw
    cur = data
    for part in parts[:-1]:
        nxt = cur.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{paths.config_file()}: {part} is not a table")
        cur = nxt
    cur[parts[-1]] = value
    _validate(data, paths.config_file(), text)
    _write(data)
    return value


def unset_value(key: str) -> bool:
    """Remove ``key`` from the config file; returns whether it was there."""
    parts = _check_key_name(key)
    data = read_toml(paths.config_file())
    cur: Any = data
    chain = []
    for part in parts[:-1]:
        if not isinstance(cur, dict) or part not in cur:
            return False
        chain.append((cur, part))
        cur = cur[part]
    if not isinstance(cur, dict) or parts[-1] not in cur:
        return False
    del cur[parts[-1]]
    for parent, part in reversed(chain):  # drop tables left empty
        if parent[part] == {}:
            del parent[part]
    _write(data)
    return True
