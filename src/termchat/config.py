"""Settings and API keys.

Precedence, lowest first: built-in defaults < ``config.toml`` < environment < command line.
The config file is TOML at ``paths.config_file()``, read with ``tomllib`` and written with
``tomli-w`` (atomically; a malformed file is never overwritten). One schema, :data:`SETTINGS`,
drives defaults, type checks, ``termchat config set`` and the docs.

Keys live apart from the config, in ``keys.toml`` (mode 0600). A key for a provider is looked up as
``--key`` > the provider's environment variable (LiteLLM's names, e.g. ``ANTHROPIC_API_KEY``) >
the keys file; that order and the keys file's policy are the core's (:mod:`termchat.core.keys`),
re-exported here. :class:`Config` is what the fronts hand the core as its
:class:`termchat.core.settings.Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths
from .config_tables import (
    GROUP_SUBTABLES,
    check_budget_providers,
    check_presets,
)
from .core.errors import ConfigError, UsageError
from .core.keys import _read_toml_text, read_toml

MiB = 1024 * 1024


@dataclass(frozen=True)
class Setting:
    """One setting: its Python type, default value, environment variable, a one-line doc and,
    for numbers, the allowed range.

    ``low``/``high`` bound a numeric value (``None``: unbounded on that side); ``low_open``
    makes the lower bound exclusive (``timeout > 0``). Numeric values must also be finite
    (TOML's ``nan``/``inf`` and ``float("nan")`` are refused).
    """

    type: type
    default: Any
    doc: str
    env: str | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def range_text(self) -> str:
        """The allowed range in words, e.g. ``> 0 and ≤ 86,400`` or ``0 to 20`` (``""`` for a
        setting without one)."""
        if self.type not in (int, float) or (self.low is None and self.high is None):
            return ""
        def fmt(v: float) -> str:
            return f"{int(v):,}" if float(v).is_integer() else f"{v:,}"

        if self.low is not None and self.high is not None and not self.low_open:
            return f"{fmt(self.low)} to {fmt(self.high)}"
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '≥'} {fmt(self.low)}")
        if self.high is not None:
            parts.append(f"≤ {fmt(self.high)}")
        return " and ".join(parts)

    def in_range(self, value: Any) -> bool:
        """Whether a value of the right type is finite and inside the range (always ``True``
        for non-numeric settings)."""
        if self.type not in (int, float) or isinstance(value, bool):
            return True
        import math

        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


SETTINGS: dict[str, Setting] = {
    "default_model": Setting(
        str, None, "Model id or alias used when -m is not given.", env="TERMCHAT_MODEL"
    ),
    "timeout": Setting(
        float,
        120.0,
        "Seconds to wait for a connection, the first byte and each streamed chunk.",
        env="TERMCHAT_TIMEOUT",
        low=0, low_open=True, high=86400,
    ),
    "retries": Setting(
        int,
        3,
        "Retries on 429, 5xx and connection errors (before any text arrived).",
        env="TERMCHAT_RETRIES",
        low=0, high=20,
    ),
    "retry_max_wait": Setting(
        float,
        30.0,
        "Longest wait in seconds between retries; a longer Retry-After fails at once.",
        low=0, high=86400,
    ),
    "max_input_bytes": Setting(
        int, 8 * MiB, "Largest standard input `ask` accepts, in bytes.", env="TERMCHAT_MAX_INPUT",
        low=1, high=1024 * MiB,
    ),
    "log": Setting(bool, True, "Store conversations in the history (off: like --no-log)."),
    "image.model": Setting(str, "openai/gpt-image-1", "Default model for `termchat image`."),
    "image.dir": Setting(str, None, "Directory for images when -o is not given (default: cwd)."),
    "speech.model": Setting(str, "openai/gpt-4o-mini-tts", "Default model for `termchat speak`."),
    "speech.voice": Setting(str, "alloy", "Default voice for `termchat speak`."),
    "transcription.model": Setting(
        str, None, "Default model for `termchat transcribe` and voice input (unset: a provider "
        "whose key is set, else the embedded local/whisper-tiny.en)."
    ),
    "transcription.max_upload_bytes": Setting(
        int, None, "Largest file sent to a transcription provider in one request, in bytes "
        "(unset: the provider's limit, 25 MiB for OpenAI); larger audio is cut at silences.",
        low=64 * 1024, high=1024 * MiB,
    ),
    "warm_core.enabled": Setting(
        bool, True, "Use the warm core for `ask` (TERMCHAT_NO_WARM=1 turns it off)."
    ),
    "warm_core.idle_seconds": Setting(
        float, 600.0, "Seconds the warm core waits idle before it exits.", low=1, high=30 * 86400
    ),
    "tui.theme": Setting(str, "textual-dark", "Textual theme of `termchat chat`."),
    "tui.show_sidebar": Setting(bool, True, "Show the conversation list in `termchat chat`."),
    "privacy.send_metadata": Setting(
        bool, True, "Tell a LiteLLM proxy gateway (kind = \"litellm_proxy\") who asks: user, "
        "tags, conversation id. Never sent to plain providers."
    ),
    "budget.daily_usd": Setting(
        float, None, "Spending limit per day (local midnight to midnight), USD, all providers.",
        low=0,
    ),
    "budget.monthly_usd": Setting(
        float, None, "Spending limit per calendar month, USD, all providers.", low=0
    ),
    # fallback chains and the response cache (termchat.chains, termchat.client.routing)
    "fallback_on_auth": Setting(
        bool, False, "Also fall back to the next model of a chain when a key is rejected (401/403)."
    ),
    "cache.enabled": Setting(
        bool, False, "Answer repeated questions from the response cache (like --cache)."
    ),
    "cache.ttl_seconds": Setting(
        float, 7 * 86400.0, "Seconds a cached reply stays valid.", low=0, low_open=True,
        high=10 * 365 * 86400,
    ),
    "cache.sampled": Setting(
        bool, False, "Also cache sampled replies (temperature > 0 or not set)."
    ),
    # tools (#13): lists are TOML arrays; `config set` takes them comma-separated
    "tools.enabled": Setting(list, [], "Tools every request gets (built-ins files, fetch, time, "
                             "shell; MCP server NAME; NAME.tool)."),
    "tools.allow": Setting(list, [], "Tools that run without asking (names as in tools.enabled)."),
    "tools.roots": Setting(list, [], "Folders the file tools may read besides the working directory."),
    "tools.max_rounds": Setting(int, 8, "Tool rounds per request.", low=1, high=100),
    "tools.timeout": Setting(float, 30.0, "Seconds one tool call may run.", low=0, low_open=True,
                             high=86400),
    "tools.max_output": Setting(int, 32 * 1024, "Bytes of a tool's output sent to the model "
                                "(more is cut, with a note).", low=256, high=64 * MiB),
    "voice.auto_send": Setting(
        bool, False, "Chat voice mode: send the transcript at once instead of leaving it to edit."
    ),
    "voice.read_aloud": Setting(bool, False, "Chat: speak each reply sentence by sentence as it streams."),
    "voice.silence_seconds": Setting(
        float, 1.2, "Seconds of silence after speech that end a recording (0: only Enter stops it).",
        low=0, high=60,
    ),
    "voice.max_seconds": Setting(
        float, 120.0, "Longest recording in seconds (listen, ask --voice, chat voice mode).",
        low=1, high=3600,
    ),
}

# Dynamic tables: [aliases] NAME = "provider/model"; [endpoints.NAME] api_base/api_key/api_key_env;
# [keybindings] BINDING_ID = "key"; [local_models] NAME = "/path/to/model.gguf";
# [mcp.servers.NAME] command/args/env/cwd or url/token_key/timeout (see MCP_SERVER_FIELDS);
# [presets.NAME] (termchat.config_tables); [fallbacks] NAME = [models] (termchat.chains).
DYNAMIC_TABLES = ("aliases", "endpoints", "keybindings", "local_models", "mcp", "presets",
                  "fallbacks")
ENDPOINT_FIELDS = {"api_base": str, "api_key": str, "api_key_env": str, "models": list,
                   # a LiteLLM proxy gateway (kind = "litellm_proxy"; termchat.core.gateway):
                   "kind": str, "user": str, "tags": list, "send_metadata": bool}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_value(key: str, typ: type, raw: str) -> Any:
    """Parse a string (from the command line or an environment variable) into ``typ``.

    Raises :class:`UsageError` with the key's name when the text is not of that type.
    """
    try:
        if typ is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)
        if typ is int:
            return int(raw)
        if typ is float:
            return float(raw)
        if typ is list:
            return [item.strip() for item in raw.split(",") if item.strip()]
        return raw
    except ValueError:
        raise UsageError(f"{key} takes a {typ.__name__}, not {raw!r}") from None


def check_range(key: str, value: Any) -> Any:
    """Return ``value`` when it is inside ``key``'s range (see :class:`Setting`).

    Raises:
        UsageError: outside the range, or not finite: ``retries must be 0 to 20 (got -5)``.
    """
    setting = SETTINGS[key]
    if not setting.in_range(value):
        raise UsageError(f"{key} must be {setting.range_text()} (got {value!r})")
    return value


def key_line(text: str, key: str) -> int | None:
    """The 1-based line of a config file's ``text`` that sets the dotted ``key``
    (``timeout = …`` before any table, ``idle_seconds = …`` in ``[warm_core]``, or a dotted
    ``warm_core.idle_seconds = …``); ``None`` when no line matches (an inline table)."""
    import re

    parts = key.split(".")
    table: tuple[str, ...] = ()
    header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    assign = re.compile(r"^\s*([A-Za-z0-9_.\-\s\"']+?)\s*=")
    for n, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m:
            table = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
            continue
        m = assign.match(line)
        if m:
            name = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
            if table + name == tuple(parts):
                return n
    return None


def _get_dotted(data: Mapping[str, Any], key: str) -> Any:
    cur: Any = data
    for part in key.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


class Config:
    """The effective settings: defaults, then the config file, then the environment.

    Attributes:
        path: the config file path (it may not exist).
        data: the file's parsed TOML (an empty dict when there is no file).
    """

    def __init__(self, data: dict[str, Any], path: Path, env: Mapping[str, str] | None = None):
        self.path = path
        self.data = data
        self.env = os.environ if env is None else env
        self.overrides: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        """The effective value of a :data:`SETTINGS` key (command-line override > env > file >
        default). Raises ``KeyError`` for an unknown key."""
        setting = SETTINGS[key]
        if key in self.overrides:
            return self.overrides[key]
        if key == "warm_core.enabled" and self.env.get("TERMCHAT_NO_WARM", "").lower() in _TRUE:
            return False
        if setting.env and self.env.get(setting.env):
            try:
                return check_range(key, parse_value(key, setting.type, self.env[setting.env]))
            except UsageError as exc:
                raise ConfigError(f"{setting.env}: {exc.message}") from None
        value = _get_dotted(self.data, key)
        return setting.default if value is None else value

    def source(self, key: str) -> str:
        """Where :meth:`get` takes ``key`` from: ``command line``, ``env:NAME``, ``file`` or
        ``default``."""
        setting = SETTINGS[key]
        if key in self.overrides:
            return "command line"
        if key == "warm_core.enabled" and self.env.get("TERMCHAT_NO_WARM", "").lower() in _TRUE:
            return "env:TERMCHAT_NO_WARM"
        if setting.env and self.env.get(setting.env):
            return f"env:{setting.env}"
        return "file" if _get_dotted(self.data, key) is not None else "default"

    @property
    def aliases(self) -> dict[str, str]:
        """User aliases from the ``[aliases]`` table: name -> model id."""
        return dict(self.data.get("aliases", {}))

    @property
    def endpoints(self) -> dict[str, dict[str, Any]]:
        """Named OpenAI-compatible endpoints from ``[endpoints.NAME]`` tables."""
        return {k: dict(v) for k, v in self.data.get("endpoints", {}).items()}

    @property
    def keybindings(self) -> dict[str, str]:
        """Binding id -> key(s), from ``[keybindings]`` (used by the TUI's keymap)."""
        return dict(self.data.get("keybindings", {}))

    def effective(self) -> dict[str, Any]:
        """Every :data:`SETTINGS` key with its effective value (for ``config show``)."""
        return {k: self.get(k) for k in SETTINGS}


def unknown_keys(data: Mapping[str, Any]) -> list[str]:
    """Keys of a config file's ``data`` that termchat does not read (a typo, or a setting of
    another version), dotted, each with a suggestion when one is close:
    ``["retriez (did you mean retries?)", "endpoints.fake.retries"]``. They are ignored, never
    an error; ``termchat config show`` and ``termchat doctor`` list them."""
    import difflib

    known = set(SETTINGS)
    out: list[str] = []

    def note(prefix: str, name: str, choices: list[str]) -> None:
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.75)
        hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
        out.append(f"{prefix}{name}{hint}")

    groups = {k.split(".")[0] for k in known if "." in k}
    top = sorted({k.split(".")[0] for k in known} | set(DYNAMIC_TABLES))
    for key, value in data.items():
        if key in DYNAMIC_TABLES or key in known:
            continue
        if key in groups and not isinstance(value, dict):
            continue  # a group that is not a table: a type error, reported by validation
        if key in groups:
            subs = [k.split(".", 1)[1] for k in known if k.startswith(key + ".")]
            subs += list(GROUP_SUBTABLES.get(key, ()))
            for sub in value:
                if sub not in subs:
                    note(f"{key}.", sub, subs)
            continue
        note("", key, top)
    for name, ep in (data.get("endpoints") or {}).items():
        if isinstance(ep, dict):
            for field in ep:
                if field not in ENDPOINT_FIELDS:
                    note(f"endpoints.{name}.", field, list(ENDPOINT_FIELDS))
    return out


def _validate(data: dict[str, Any], path: Path, text: str | None = None) -> None:
    """Check the types and ranges of known keys (:data:`SETTINGS`), that setting groups
    (``[warm_core]``, ``[tui]``…) are tables, and the shape of dynamic tables. ``text`` is the
    file's text, to name the line of a bad value.

    Raises:
        ConfigError: ``PATH, line N: retries must be 0 to 20 (got -5)`` (exit 3).
    """

    def bad(key: str, want: str) -> ConfigError:
        line = key_line(text, key) if text else None
        where = f"{path}, line {line}" if line else str(path)
        return ConfigError(
            f"{where}: {key} must be {want}",
            hint=f"edit the file, or run `termchat config unset {key}`",
        )

    for group in sorted({k.split(".")[0] for k in SETTINGS if "." in k}):
        if group in data and not isinstance(data[group], dict):
            raise bad(group, f"a table (a [{group}] section), not a {type(data[group]).__name__}")
    for key, setting in SETTINGS.items():
        value = _get_dotted(data, key)
        if value is None:
            continue
        typ = setting.type
        ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise bad(key, f"a {typ.__name__}")
        if not setting.in_range(value):
            raise bad(key, f"{setting.range_text()} (got {value!r})")
    for table in DYNAMIC_TABLES:
        if table in data and not isinstance(data[table], dict):
            raise bad(table, "a table")
    for name, target in data.get("aliases", {}).items():
        if not isinstance(target, str):
            raise bad(f"aliases.{name}", "a string (a model id)")
    for name, ep in data.get("endpoints", {}).items():
        if not isinstance(ep, dict) or not isinstance(ep.get("api_base"), str):
            raise bad(f"endpoints.{name}.api_base", "a URL string")
        for field, typ in ENDPOINT_FIELDS.items():
            if field in ep and not isinstance(ep[field], typ):
                raise bad(f"endpoints.{name}.{field}", f"a {typ.__name__}")
        if ep.get("kind", "openai") not in ("openai", "litellm_proxy"):
            raise bad(f"endpoints.{name}.kind", '"openai" or "litellm_proxy"')
    check_budget_providers(data, bad)
    check_presets(data, bad)
    for name, chain in (data.get("fallbacks") or {}).items():  # [fallbacks] shapes
        if not isinstance(chain, list) or not all(isinstance(m, str) for m in chain):
            raise bad(f"fallbacks.{name}", "a list of model names")
    from .mcp_config import validate as _validate_mcp

    _validate_mcp(data, bad)


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file and the settings' environment variables. Raises
    :class:`ConfigError` (exit 3) when either is malformed or out of range; the file is never
    modified by loading."""
    path = paths.config_file()
    data, text = _read_toml_text(path)
    _validate(data, path, text)
    cfg = Config(data, path, env)
    if data.get("fallbacks"):  # names that resolve, no loops
        from .chains import check as check_chains

        check_chains(cfg, text, key_line)
    for key, setting in SETTINGS.items():  # environment values: typed and in range, now
        if setting.env and cfg.env.get(setting.env):
            cfg.get(key)
    return cfg


# ---------------------------------------------------------------------------------------------
# Keys: the keys file and its policy live in the core (:mod:`termchat.core.keys`); these names
# stay importable from here.

from .core.keys import (  # noqa: E402
    check_keys_file,
    keys_file_mode_ok,
    mask,
    pop_keys_warnings,
    read_keys,
    remove_key,
    save_key,
)

__all__ = [
    "SETTINGS", "Config", "Setting", "check_keys_file", "check_range", "key_line",
    "keys_file_mode_ok", "load_config", "mask", "parse_value", "pop_keys_warnings", "read_keys",
    "read_toml", "remove_key", "save_key", "unknown_keys",
]
