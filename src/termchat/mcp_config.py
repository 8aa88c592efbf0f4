"""The ``[mcp.servers.NAME]`` tables of the config file: their fields, their checks, and the
servers they declare.

A stdio server::

    [mcp.servers.time]
    command = "mcp-server-time"
    args = ["--local-timezone", "Europe/Paris"]
    env = { TZ = "Europe/Paris" }      # added to HOME, PATH, SHELL, TERM, USER, LOGNAME only
    cwd = "/some/folder"               # default: termchat's working directory

A streamable-HTTP server::

    [mcp.servers.notes]
    url = "https://notes.example/mcp"
    token_key = "mcp.notes"            # its bearer token's entry in keys.toml (this default)

Both take ``timeout``: the seconds one tool call may take (default 60). Checked by
:func:`validate` when the config is loaded (:func:`termchat.config.load_config`), read by
:func:`servers`; :mod:`termchat.client.mcp` runs them. Imports nothing of termchat but the core's
errors (the config module calls it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .core.errors import ConfigError

#: Fields of an ``[mcp.servers.NAME]`` table and their TOML types.
FIELDS: dict[str, type | tuple[type, ...]] = {
    "command": str, "args": list, "env": dict, "cwd": str, "url": str, "token_key": str,
    "timeout": (int, float),
}
#: Seconds one tool call may take when the server's table sets no ``timeout``.
DEFAULT_CALL_TIMEOUT_S = 60.0
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class McpServerConfig:
    """One declared MCP server.

    Attributes:
        name: the table's name (letters, digits, ``-``, ``_``); its tools are ``name.tool``.
        command, args, env, cwd: how to start a stdio server (``command`` is ``None`` for HTTP).
        url: a streamable-HTTP server's endpoint (``None`` for stdio).
        token_key: the keys-file entry holding an HTTP server's bearer token.
        timeout: seconds one tool call may take.
    """

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    token_key: str = ""
    timeout: float = DEFAULT_CALL_TIMEOUT_S

    @property
    def transport(self) -> str:
        """``"stdio"`` or ``"http"`` (streamable HTTP)."""
        return "http" if self.url else "stdio"

    def target(self) -> str:
        """What the server is, for a listing: the command line or the URL (no token)."""
        if self.url:
            return self.url
        return " ".join([self.command or "", *self.args]).strip()


def validate(data: Mapping[str, Any], bad: Callable[[str, str], ConfigError]) -> None:
    """Check a config file's ``[mcp]`` table: only ``servers``, each a table named with letters,
    digits, ``-`` or ``_``, with exactly one of ``command``/``url``, only the fields of
    :data:`FIELDS` in their types (``args`` strings, ``env`` string values, ``timeout`` > 0 and
    ≤ 86,400 s, ``url`` http(s)).

    ``bad(key, want)`` builds the :class:`ConfigError` naming the file and line; it is raised.
    """
    mcp = data.get("mcp")
    if mcp is None:
        return
    if not isinstance(mcp, dict):
        raise bad("mcp", "a table ([mcp.servers.NAME] sections)")
    for key in mcp:
        if key != "servers":
            raise bad(f"mcp.{key}", "absent (only [mcp.servers.NAME] tables are read)")
    servers = mcp.get("servers", {})
    if not isinstance(servers, dict):
        raise bad("mcp.servers", "a table of [mcp.servers.NAME] tables")
    for name, srv in servers.items():
        where = f"mcp.servers.{name}"
        if not _NAME.fullmatch(name):
            raise bad(where, "named with letters, digits, '-' or '_' only")
        if not isinstance(srv, dict):
            raise bad(where, "a table")
        for key, value in srv.items():
            typ = FIELDS.get(key)
            if typ is None:
                raise bad(f"{where}.{key}", f"one of {', '.join(FIELDS)} (unknown field)")
            if not isinstance(value, typ) or isinstance(value, bool):
                want = "a number" if key == "timeout" else f"a {getattr(typ, '__name__', typ)}"
                raise bad(f"{where}.{key}", want)
        if ("command" in srv) == ("url" in srv):
            raise bad(where, "given a command (stdio) or a url (streamable HTTP), one of them")
        if not all(isinstance(a, str) for a in srv.get("args", [])):
            raise bad(f"{where}.args", "a list of strings")
        if not all(isinstance(v, str) for v in srv.get("env", {}).values()):
            raise bad(f"{where}.env", "a table of strings")
        t = srv.get("timeout")
        if t is not None and not (math.isfinite(t) and 0 < t <= 86400):
            raise bad(f"{where}.timeout", f"> 0 and ≤ 86,400 seconds (got {t!r})")
        if "url" in srv and not re.match(r"https?://", srv["url"]):
            raise bad(f"{where}.url", "an http:// or https:// URL")


def servers(data: Mapping[str, Any]) -> dict[str, McpServerConfig]:
    """The servers a (validated) config file's ``data`` declares, by name, in file order."""
    table = (data.get("mcp") or {}).get("servers") or {}
    out: dict[str, McpServerConfig] = {}
    for name, srv in table.items():
        out[name] = McpServerConfig(
            name=name,
            command=srv.get("command"),
            args=tuple(srv.get("args", ())),
            env=dict(srv.get("env", {})),
            cwd=srv.get("cwd"),
            url=srv.get("url"),
            token_key=srv.get("token_key") or f"mcp.{name}",
            timeout=float(srv.get("timeout", DEFAULT_CALL_TIMEOUT_S)),
        )
    return out
