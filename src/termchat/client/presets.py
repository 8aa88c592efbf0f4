"""Presets: saved model configurations, ``[presets.NAME]`` tables of the config file.

A preset holds ``model`` (id or alias), ``system`` (the system prompt), ``options`` (model
options, as ``-o`` gives them), ``tools`` (tool names, kept for the tools feature and passed
through as they are), ``fallbacks`` (model names tried in turn when the model fails before any
text) and an optional ``description``. ``termchat ask -p NAME`` and the chat app's preset
picker start from a preset; flags given on the command line win over it.

Shapes are checked by :mod:`termchat.config_tables` when the config is loaded (errors name the
key and line); files for ``termchat presets import`` are checked the same way. Presets are
written with ``tomli-w``, atomically, and an existing preset is replaced only when asked.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config_tables import PRESET_FIELDS, check_preset
from ..core.errors import ConfigError, UsageError


@dataclass
class Preset:
    """One preset (see the module doc); ``name`` is its table name."""

    name: str
    model: str | None = None
    system: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    description: str | None = None

    @classmethod
    def from_table(cls, name: str, table: dict[str, Any]) -> Preset:
        """A preset from its (already checked) TOML table."""
        return cls(
            name=name, model=table.get("model"), system=table.get("system"),
            options=dict(table.get("options") or {}), tools=list(table.get("tools") or []),
            fallbacks=list(table.get("fallbacks") or []), description=table.get("description"),
        )

    def to_table(self) -> dict[str, Any]:
        """The TOML table: only the fields that are set, in :data:`PRESET_FIELDS` order."""
        out: dict[str, Any] = {}
        for name in PRESET_FIELDS:
            value = getattr(self, name)
            if value not in (None, [], {}):
                out[name] = value
        return out

    def summary(self) -> str:
        """One line: ``model · system "…" · 2 options · fallbacks gpt, local``."""
        parts = [self.model or "(default model)"]
        if self.system:
            s = " ".join(self.system.split())
            parts.append(f'system "{s[:40]}{"…" if len(s) > 40 else ""}"')
        if self.options:
            parts.append(", ".join(f"{k}={v}" for k, v in self.options.items()))
        if self.tools:
            parts.append("tools " + ", ".join(self.tools))
        if self.fallbacks:
            parts.append("fallbacks " + ", ".join(self.fallbacks))
        return " · ".join(parts)


def all_presets(config: Any) -> dict[str, Preset]:
    """The presets of a loaded config (checked on load), by name, in file order."""
    table = config.data.get("presets") or {}
    return {name: Preset.from_table(name, t) for name, t in table.items()}


def get_preset(config: Any, name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        UsageError: no such preset (exit 2), with the closest names.
    """
    presets = all_presets(config)
    if name in presets:
        return presets[name]
    close = difflib.get_close_matches(name, list(presets), n=3)
    hint = (f"did you mean {', '.join(close)}?" if close else
            "`termchat presets list` shows them; `termchat presets save NAME -m …` makes one")
    raise UsageError(f"no preset {name!r}", hint=hint)


def preset_from_flags(name: str, model: str | None, system: str | None,
                      options: dict[str, Any], fallbacks: list[str] | None = None,
                      tools: list[str] | None = None, description: str | None = None) -> Preset:
    """A preset made from command-line flags (``presets save NAME -m … -s … -o …``).

    Raises:
        UsageError: nothing to save (no model, system prompt, option or fallback).
    """
    preset = Preset(name, model, system, dict(options), list(tools or []),
                    list(fallbacks or []), description)
    if not preset.to_table():
        raise UsageError("nothing to save", hint="give -m MODEL, -s SYSTEM, -o NAME VALUE or "
                         "--fallback MODEL")

    def bad(key: str, want: str) -> Exception:
        return UsageError(f"{key} must be {want}")

    check_preset(name, preset.to_table(), bad)
    return preset


def _file_bad(path: Path, text: str) -> Any:
    from ..config import key_line

    def bad(key: str, want: str) -> Exception:
        line = key_line(text, key) if text else None
        where = f"{path}, line {line}" if line else str(path)
        return ConfigError(f"{where}: {key} must be {want}", hint="fix the file")

    return bad


def save_presets(presets: list[Preset], *, force: bool = False) -> Path:
    """Write ``presets`` into the config file's ``[presets]`` table (atomically; the rest of
    the file is kept as its data). Returns the config path.

    Raises:
        UsageError: a preset of that name exists and ``force`` is false (exit 2); the file is
            then untouched.
        ConfigError: the config file is malformed (never rewritten then).
    """
    import tomli_w

    from .. import paths
    from ..core.keys import _read_toml_text

    path = paths.config_file()
    data, _text = _read_toml_text(path)
    table = data.setdefault("presets", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: presets must be a table", hint="fix the file")
    clash = [p.name for p in presets if p.name in table]
    if clash and not force:
        raise UsageError(f"preset {', '.join(clash)} exists already",
                         hint="--force replaces it; `termchat presets show NAME` shows it")
    for p in presets:
        table[p.name] = p.to_table()
    paths.atomic_write(path, tomli_w.dumps(data).encode("utf-8"))
    return path


def export_text(presets: list[Preset]) -> str:
    """TOML with one ``[presets.NAME]`` table per preset (what ``presets import`` reads)."""
    import tomli_w

    return tomli_w.dumps({"presets": {p.name: p.to_table() for p in presets}})


def read_preset_file(path: Path) -> list[Preset]:
    """The presets of a TOML file of ``[presets.NAME]`` tables, checked like the config's.

    Raises:
        ConfigError: unreadable, not TOML, no ``[presets]`` table, or a bad preset — the
            message names the file, the line and the key (exit 3).
    """
    from ..core.keys import _read_toml_text

    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    data, text = _read_toml_text(path)
    bad = _file_bad(path, text)
    presets = data.get("presets")
    if not isinstance(presets, dict) or not presets:
        raise ConfigError(f"{path}: no [presets.NAME] table",
                          hint="`termchat presets export` writes the format")
    extra = [k for k in data if k != "presets"]
    if extra:
        raise bad(extra[0], "absent: a preset file holds only [presets.NAME] tables")
    for name, table in presets.items():
        check_preset(name, table, bad)
    return [Preset.from_table(n, t) for n, t in presets.items()]
