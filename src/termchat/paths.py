"""Where termchat keeps its files.

By default the platform's directories (``platformdirs``): config in ``user_config_dir``, the store
in ``user_data_dir``, logs in ``user_log_dir``, the warm core's socket in ``user_runtime_dir``.
``TERMCHAT_HOME=<dir>`` moves all of them under one directory (``config/``, ``data/``, ``logs/``,
``run/``); the tests use it.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "termchat"


def _home() -> Path | None:
    home = os.environ.get("TERMCHAT_HOME")
    return Path(home).expanduser() if home else None


def config_dir() -> Path:
    """Directory holding ``config.toml`` and ``keys.toml``."""
    home = _home()
    if home:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    """Directory holding the SQLite store ``termchat.db``."""
    home = _home()
    if home:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def log_dir() -> Path:
    """Directory holding ``termchat.log`` (LiteLLM's and termchat's log lines)."""
    home = _home()
    if home:
        return home / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir(APP))


def cache_dir() -> Path:
    """Directory for caches (the list of live local models used by shell completion)."""
    home = _home()
    if home:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP))


def runtime_dir() -> Path:
    """Private directory (mode 0700) for the warm core's socket: ``TERMCHAT_HOME/run``, else
    platformdirs' user runtime directory (``$XDG_RUNTIME_DIR/termchat``, or
    ``/tmp/runtime-UID/termchat`` without it)."""
    home = _home()
    if home:
        return home / "run"
    import warnings

    import platformdirs

    with warnings.catch_warnings():
        # without XDG_RUNTIME_DIR platformdirs falls back to /tmp/runtime-UID and says so on
        # stderr; termchat checks that directory itself (ours, 0700: termchat.warm.private_dir)
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir(APP))


def config_file() -> Path:
    """``config.toml`` inside :func:`config_dir`."""
    return config_dir() / "config.toml"


def keys_file() -> Path:
    """``keys.toml`` inside :func:`config_dir` (mode 0600)."""
    return config_dir() / "keys.toml"


def store_file() -> Path:
    """``termchat.db`` inside :func:`data_dir`."""
    return data_dir() / "termchat.db"


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same directory, fsync, rename.

    ``mode`` (e.g. ``0o600``) is applied to the temp file before any byte is written, so a secret
    is never readable by others even for an instant. Raises ``OSError`` on failure; the old file
    is then untouched.
    """
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
