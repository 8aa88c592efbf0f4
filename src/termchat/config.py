"""Settings and API keys.

Precedence, lowest first: built-in defaults < ``config.toml`` < environment < command line.
The config file is TOML at ``paths.config_file()``, read with ``tomllib`` and written with
``tomli-w`` (atomically; a malformed file is never overwritten). One schema, :data:`SETTINGS`,
drives defaults, type checks, ``termchat config set`` and the docs.

Keys live apart from the config, in ``keys.toml`` (mode 0600). A key for a provider is looked up as
``--key`` > the provider's environment variable (LiteLLM's names, e.g. ``ANTHROPIC_API_KEY``) >
the keys file.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths
from .core.errors import ConfigError, UsageError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Setting:
    """One setting: its Python type, default value, environment variable and a one-line doc."""

    type: type
    default: Any
    doc: str
    env: str | None = None


SETTINGS: dict[str, Setting] = {
    "default_model": Setting(
        str, None, "Model id or alias used when -m is not given.", env="TERMCHAT_MODEL"
    ),
    "timeout": Setting(
        float,
        120.0,
        "Seconds to wait for a connection, the first byte and each streamed chunk.",
        env="TERMCHAT_TIMEOUT",
    ),
    "retries": Setting(
        int,
        3,
        "Retries on 429, 5xx and connection errors (before any text arrived).",
        env="TERMCHAT_RETRIES",
    ),
    "retry_max_wait": Setting(
        float,
        30.0,
        "Longest wait in seconds between retries; a longer Retry-After fails at once.",
    ),
    "max_input_bytes": Setting(
        int, 8 * MiB, "Largest standard input `ask` accepts, in bytes.", env="TERMCHAT_MAX_INPUT"
    ),
    "log": Setting(bool, True, "Store conversations in the history (off: like --no-log)."),
    "image.model": Setting(str, "openai/gpt-image-1", "Default model for `termchat image`."),
    "image.dir": Setting(str, None, "Directory for images when -o is not given (default: cwd)."),
    "speech.model": Setting(str, "openai/gpt-4o-mini-tts", "Default model for `termchat speak`."),
    "speech.voice": Setting(str, "alloy", "Default voice for `termchat speak`."),
    "warm_core.enabled": Setting(
        bool, True, "Use the warm core for `ask` (TERMCHAT_NO_WARM=1 turns it off)."
    ),
    "warm_core.idle_seconds": Setting(
        float, 600.0, "Seconds the warm core waits idle before it exits."
    ),
    "tui.theme": Setting(str, "textual-dark", "Textual theme of `termchat chat`."),
    "tui.show_sidebar": Setting(bool, True, "Show the conversation list in `termchat chat`."),
}

# Dynamic tables: [aliases] NAME = "provider/model"; [endpoints.NAME] api_base/api_key/api_key_env;
# [keybindings] BINDING_ID = "key"; [local_models] NAME = "/path/to/model.gguf".
DYNAMIC_TABLES = ("aliases", "endpoints", "keybindings", "local_models")
ENDPOINT_FIELDS = {"api_base": str, "api_key": str, "api_key_env": str, "models": list}

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
        return raw
    except ValueError:
        raise UsageError(f"{key} takes a {typ.__name__}, not {raw!r}") from None


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
                return parse_value(key, setting.type, self.env[setting.env])
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
        if key in groups and isinstance(value, dict):
            subs = [k.split(".", 1)[1] for k in known if k.startswith(key + ".")]
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


def _validate(data: dict[str, Any], path: Path) -> None:
    """Check types of known keys and the shape of dynamic tables; raise :class:`ConfigError`."""

    def bad(key: str, want: str) -> ConfigError:
        return ConfigError(
            f"{path}: {key} must be {want}",
            hint=f"edit the file, or run `termchat config unset {key}`",
        )

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


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file is ``{}``. Raises :class:`ConfigError` naming the file
    and the line of a syntax error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", hint="fix or remove the file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}", hint="fix the file; termchat left it untouched") from None


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file. Raises :class:`ConfigError` (exit 3) when it is
    malformed; the file is never modified by loading."""
    path = paths.config_file()
    data = read_toml(path)
    _validate(data, path)
    return Config(data, path, env)


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
    value. ``endpoints.NAME.models`` takes a comma-separated list. Refuses (ConfigError) to
    rewrite a malformed file."""
    parts = _check_key_name(key)
    data = read_toml(paths.config_file())
    if key in SETTINGS:
        value: Any = parse_value(key, SETTINGS[key].type, raw)
    elif parts[0] == "endpoints" and parts[2] == "models":
        value = [m.strip() for m in raw.split(",") if m.strip()]
    else:
        value = raw
    cur = data
    for part in parts[:-1]:
        nxt = cur.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{paths.config_file()}: {part} is not a table")
        cur = nxt
    cur[parts[-1]] = value
    _validate(data, paths.config_file())
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


# ---------------------------------------------------------------------------------------------
# Keys


def read_keys() -> dict[str, str]:
    """Provider -> key from ``keys.toml`` (``[keys]`` table). Missing file: ``{}``."""
    data = read_toml(paths.keys_file())
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        raise ConfigError(f"{paths.keys_file()}: [keys] must be a table")
    return {k: v for k, v in keys.items() if isinstance(v, str)}


def _write_keys(keys: dict[str, str]) -> None:
    import tomli_w

    path = paths.keys_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    paths.atomic_write(path, tomli_w.dumps({"keys": keys}).encode("utf-8"), mode=0o600)


def save_key(provider: str, key: str) -> Path:
    """Store ``key`` for ``provider`` in the keys file (created with mode 0600)."""
    keys = read_keys()
    keys[provider] = key
    _write_keys(keys)
    return paths.keys_file()


def remove_key(provider: str) -> bool:
    """Remove ``provider``'s key from the keys file; returns whether it was there."""
    keys = read_keys()
    if provider not in keys:
        return False
    del keys[provider]
    _write_keys(keys)
    return True


def keys_file_mode_ok() -> bool:
    """Whether the keys file (if any) is readable by its owner only."""
    try:
        mode = paths.keys_file().stat().st_mode
    except FileNotFoundError:
        return True
    return not (mode & (stat.S_IRWXG | stat.S_IRWXO))


def mask(key: str) -> str:
    """A key shown safely: its first 3 and last 4 characters for keys of 16+ characters,
    otherwise only stars."""
    if len(key) >= 16:
        return f"{key[:3]}…{key[-4:]}"
    return "*" * min(len(key), 8)
