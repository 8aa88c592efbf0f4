"""What the core reads of the user's settings: a small protocol the fronts' configuration meets.

The core never imports the fronts' configuration module (``termchat.config``); a front hands
it an object with this shape — :class:`termchat.config.Config` is one, the warm core's
per-request settings another — or ``None`` for the built-in defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Settings(Protocol):
    """The settings the core reads.

    Attributes:
        data: the config file's parsed TOML (``local_models`` is read from it).
        aliases: user aliases, name -> model id (``[aliases]``).
        endpoints: named OpenAI-compatible endpoints (``[endpoints.NAME]`` tables).
    """

    @property
    def data(self) -> Mapping[str, Any]: ...

    @property
    def aliases(self) -> dict[str, str]: ...

    @property
    def endpoints(self) -> dict[str, dict[str, Any]]: ...

    def get(self, key: str) -> Any:
        """The effective value of a setting (``timeout``, ``retries``, ``retry_max_wait``,
        ``default_model``…)."""


class Values(Protocol):
    """The part of :class:`Settings` the request runners need: ``get(key)`` alone (the warm
    core passes the client's values this way)."""

    def get(self, key: str) -> Any: ...


def local_models(settings: Settings | None) -> dict[str, Any]:
    """The ``[local_models]`` table (name -> GGUF path), ``{}`` without one."""
    if settings is None:
        return {}
    table = settings.data.get("local_models", {})
    return dict(table) if isinstance(table, Mapping) else {}


def setting(settings: Values | None, key: str, default: Any) -> Any:
    """``settings.get(key)``, or ``default`` without settings."""
    return default if settings is None else settings.get(key)
