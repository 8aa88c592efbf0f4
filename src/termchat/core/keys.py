"""API keys: the one resolution order, and the keys file.

A provider's key is ``--key`` (or ``api_key``, or ``--key-env``'s variable, which the front
reads) > the provider's environment variable (LiteLLM's names, e.g. ``ANTHROPIC_API_KEY``) >
the keys file (``keys.toml`` beside the config, ``[keys]`` table, mode 0600). A named endpoint
(``[endpoints.NAME]``) takes its ``api_key``, else the variable its ``api_key_env`` names.
:func:`resolve_key` is that order; :func:`termchat.core.catalog.resolve_model` and
:class:`termchat.core.listing.KeyStatus` both ask it.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import paths
from .errors import ConfigError

#: Provider -> the environment variable LiteLLM reads its key from. Providers not listed here
#: need no key (local servers) or authenticate otherwise (cloud credentials).
PROVIDER_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "cohere_chat": "COHERE_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    "perplexity": "PERPLEXITYAI_API_KEY",
    "cerebras": "CEREBRAS_API_KEY",
    "deepinfra": "DEEPINFRA_API_KEY",
    "huggingface": "HUGGINGFACE_API_KEY",
    "replicate": "REPLICATE_API_KEY",
    "ai21": "AI21_API_KEY",
    "nvidia_nim": "NVIDIA_NIM_API_KEY",
    "sambanova": "SAMBANOVA_API_KEY",
    "azure": "AZURE_API_KEY",
    "moonshot": "MOONSHOT_API_KEY",
}


# ---------------------------------------------------------------------------------------------
# Resolution


def resolve_key(
    provider: str,
    *,
    option: str | None = None,
    endpoint: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    keys: Mapping[str, str] | None = None,
) -> tuple[str | None, str | None]:
    """A provider's key and where it came from, in termchat's one order.

    ``option`` (``--key``) > for an endpoint, its ``api_key`` (``endpoint config``) or the
    variable its ``api_key_env`` names (``env:NAME``; when that variable is unset there is no
    key: the user named the one place it lives) > the provider's environment variable
    (``env:NAME``) > the keys file (``keys file``; ``keys`` defaults to its contents, read
    only when needed). Returns ``(key, source)``, or ``(None, None)``.

    Raises:
        ConfigError: the keys file is malformed or owned by another user (exit 3).
    """
    env = os.environ if env is None else env
    if option:
        return option, "option"
    if endpoint is not None:
        if endpoint.get("api_key"):
            return str(endpoint["api_key"]), "endpoint config"
        var = endpoint.get("api_key_env")
        if var:
            return (env[var], f"env:{var}") if env.get(var) else (None, None)
    var = PROVIDER_KEY_ENV.get(provider)
    if var and env.get(var):
        return env[var], f"env:{var}"
    if keys is None:
        keys = read_keys()
    if keys.get(provider):
        return keys[provider], "keys file"
    return None, None


def lookup_key(
    provider: str, env: Mapping[str, str] | None = None, keys: Mapping[str, str] | None = None
) -> tuple[str | None, str | None]:
    """:func:`resolve_key` without ``--key`` or an endpoint: environment variable > keys file."""
    return resolve_key(provider, env=env, keys=keys)


def mask(key: str) -> str:
    """A key shown safely: its first 3 and last 4 characters for keys of 16+ characters,
    otherwise only stars."""
    if len(key) >= 16:
        return f"{key[:3]}…{key[-4:]}"
    return "*" * min(len(key), 8)


# ---------------------------------------------------------------------------------------------
# TOML files


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file is ``{}``. Raises :class:`ConfigError` naming the file
    and the line of a syntax error."""
    return _read_toml_text(path)[0]


def _read_toml_text(path: Path) -> tuple[dict[str, Any], str]:
    """:func:`read_toml` and the file's text (``""`` for a missing file)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, ""
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
        return tomllib.loads(text), text
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", hint="fix or remove the file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}", hint="fix the file; termchat left it untouched") from None


# ---------------------------------------------------------------------------------------------
# The keys file


#: Warnings about the keys file found by :func:`read_keys`, not yet shown (see
#: :func:`pop_keys_warnings`); each is reported once per process.
_keys_warnings: list[str] = []
_keys_warned: set[str] = set()


def check_keys_file(path: Path | None = None) -> list[str]:
    """Check the keys file before its keys are used; returns warnings (one line each).

    Policy (README "Keys"):

    * a keys file owned by another user is refused — whoever owns it chooses the keys your
      requests are sent with (and it may be a planted file);
    * a symlink is followed, with a warning naming its target (the checks below apply to the
      target) — dotfile managers link files into place, but a link is also how a key file can
      end up somewhere others can read or replace;
    * a file readable or writable by group or others is used, with a warning and the fix
      (``chmod 600 PATH``).

    A missing file is fine (``[]``).

    Raises:
        ConfigError: the file (or the link's target) is owned by another user (exit 3).
    """
    path = path or paths.keys_file()
    out: list[str] = []
    try:
        lst = path.lstat()
    except FileNotFoundError:
        return out
    except OSError:
        return out  # reading it reports the problem
    if stat.S_ISLNK(lst.st_mode):
        target = os.path.realpath(path)
        out.append(f"termchat: warning: the keys file {path} is a symbolic link to {target}; "
                   "termchat follows it (replace the link with the file to silence this)")
    try:
        st = path.stat()
    except OSError:
        return out
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ConfigError(
            f"the keys file {path} is owned by another user (uid {st.st_uid}); "
            "termchat will not use keys from it",
            hint=f"remove it, or make it yours: chown {os.getuid()} {path} && chmod 600 {path}",
        )
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        out.append(f"termchat: warning: the keys file {path} is readable by other users "
                   f"(mode {stat.S_IMODE(st.st_mode):04o}); fix it with: chmod 600 {path}")
    return out


def pop_keys_warnings() -> list[str]:
    """The keys-file warnings :func:`read_keys` found that were not shown yet (each warning is
    returned once per process). The command line prints them on stderr; the TUI may ignore
    them."""
    out = list(_keys_warnings)
    _keys_warnings.clear()
    return out


def read_keys() -> dict[str, str]:
    """Provider -> key from ``keys.toml`` (``[keys]`` table). Missing file: ``{}``.

    The file is checked first (:func:`check_keys_file`): its warnings are queued for
    :func:`pop_keys_warnings`.

    Raises:
        ConfigError: the file is malformed, or owned by another user (exit 3).
    """
    for warning in check_keys_file():
        if warning not in _keys_warned:
            _keys_warned.add(warning)
            _keys_warnings.append(warning)
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
