"""The shapes of two config tables: ``[budget.providers.NAME]`` (per-provider spending limits)
and ``[presets.NAME]`` (saved model configurations).

Pure checks on parsed TOML, shared by :func:`termchat.config.load_config` (the config file) and
``termchat presets import`` (a preset file): each problem is reported through the caller's
``bad(key, want)``, which turns a dotted key and what it must be into a
:class:`~termchat.core.errors.ConfigError` naming the file and line. Imports nothing of termchat
but the core's errors, so :mod:`termchat.config` can use it without a cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

#: ``bad(dotted_key, "a number ≥ 0")`` -> the error to raise.
Bad = Callable[[str, str], Exception]

#: The limits a ``[budget.providers.NAME]`` table may set (USD, ≥ 0).
PROVIDER_BUDGET_FIELDS = ("daily_usd", "monthly_usd")

#: Fields of a ``[presets.NAME]`` table and the TOML type each must have.
PRESET_FIELDS: dict[str, type] = {
    "model": str, "system": str, "options": dict, "tools": list, "fallbacks": list,
    "description": str,
}

#: Sub-tables of a settings group that are not settings themselves (``[budget.providers]``).
GROUP_SUBTABLES = {"budget": ("providers",)}


def is_usd(value: Any) -> bool:
    """Whether ``value`` is a finite, non-negative TOML number (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value >= 0


def check_budget_providers(data: Mapping[str, Any], bad: Bad) -> None:
    """Check ``[budget.providers.NAME]`` tables: each a table of ``daily_usd``/``monthly_usd``
    numbers ≥ 0. Raises what ``bad`` returns for the first problem."""
    budget = data.get("budget")
    if not isinstance(budget, Mapping) or "providers" not in budget:
        return
    providers = budget["providers"]
    if not isinstance(providers, Mapping):
        raise bad("budget.providers", "a table of [budget.providers.NAME] tables")
    for name, table in providers.items():
        if not isinstance(table, Mapping):
            raise bad(f"budget.providers.{name}",
                      "a table with daily_usd and/or monthly_usd (USD numbers)")
        for field, value in table.items():
            if field not in PROVIDER_BUDGET_FIELDS:
                raise bad(f"budget.providers.{name}.{field}",
                          "one of " + ", ".join(PROVIDER_BUDGET_FIELDS) + " (an unknown limit)")
            if not is_usd(value):
                raise bad(f"budget.providers.{name}.{field}",
                          f"a number of USD ≥ 0 (got {value!r})")


def check_preset(name: str, preset: Any, bad: Bad, prefix: str = "presets") -> None:
    """Check one preset table: known fields of the right types, ``tools``/``fallbacks`` lists of
    strings, ``options`` a table of scalar or list values. Raises what ``bad`` returns."""
    key = f"{prefix}.{name}"
    if not name.strip() or any(c.isspace() for c in name):
        raise bad(key, "named without spaces")
    if not isinstance(preset, Mapping):
        raise bad(key, "a table ([presets.NAME] with model, system, options, tools, fallbacks)")
    for field, value in preset.items():
        want = PRESET_FIELDS.get(field)
        if want is None:
            raise bad(f"{key}.{field}", "one of " + ", ".join(PRESET_FIELDS) + " (unknown field)")
        if not isinstance(value, want):
            raise bad(f"{key}.{field}", f"a {'table' if want is dict else want.__name__}")
        if want is list and not all(isinstance(v, str) and v.strip() for v in value):
            raise bad(f"{key}.{field}", "a list of names (strings)")
        if field == "model" and not value.strip():
            raise bad(f"{key}.model", "a model id or alias, not empty")
    for opt, value in (preset.get("options") or {}).items():
        if isinstance(value, dict):
            raise bad(f"{key}.options.{opt}", "a value (number, string, boolean or list)")


def check_presets(data: Mapping[str, Any], bad: Bad) -> None:
    """Check every ``[presets.NAME]`` table of parsed TOML ``data``."""
    presets = data.get("presets")
    if presets is None:
        return
    if not isinstance(presets, Mapping):
        raise bad("presets", "a table of [presets.NAME] tables")
    for name, preset in presets.items():
        check_preset(name, preset, bad)
