"""Which tools a request gets: ``-T NAME`` specs and config ``tools.enabled`` → a
:class:`~termchat.client.tools.ToolSet`.

A spec names a built-in tool (``read_file``) or group (``files``, ``fetch``, ``time``,
``shell``), every tool of the MCP server ``NAME``, or one tool of it as ``NAME.tool``. MCP
servers come from :func:`mcp_providers` (the module ``termchat.client.mcp``, when present,
provides them from config ``[mcp.servers.NAME]``); a server is started only when a spec names
it.
"""

from __future__ import annotations

from typing import Any

from ...core.errors import UsageError
from .base import Consent, Tool, ToolProvider
from .toolset import DEFAULT_MAX_OUTPUT, DEFAULT_MAX_ROUNDS, DEFAULT_TIMEOUT, ToolSet


def mcp_providers(config: Any) -> dict[str, ToolProvider]:
    """The configured MCP servers by name, none started: ``termchat.client.mcp.providers(config)``
    when that module is installed with termchat, else ``{}``."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("termchat.client.mcp") is None:
        return {}
    return dict(importlib.import_module("termchat.client.mcp").providers(config))


def _setting(config: Any, key: str, default: Any) -> Any:
    try:
        value = config.get(key)
    except (KeyError, AttributeError):
        return default
    return default if value is None else value


def resolve_specs(specs: list[str], config: Any, providers: dict[str, ToolProvider] | None = None,
                  roots: list[str] | None = None) -> list[Tool]:
    """The tools the specs name, in order, each once.

    Raises:
        UsageError: a spec that names no built-in, no MCP server and no server's tool (the
            hint lists what exists), exit 2.
        TermchatError: an MCP server the specs name cannot start (from its provider).
    """
    from .builtins import builtin_tools

    builtins = builtin_tools(config, roots)
    by_name = {t.name: t for group in builtins.values() for t in group}
    provs = providers if providers is not None else None
    out: dict[str, Tool] = {}
    for raw in specs:
        spec = str(raw).strip()
        if spec in builtins:
            found = builtins[spec]
        elif spec in by_name:
            found = [by_name[spec]]
        else:
            if provs is None:
                provs = mcp_providers(config)
            server, dot, tool = spec.partition(".")
            if server not in provs:
                servers = ", ".join(sorted(provs)) or "none configured"
                raise UsageError(f"unknown tool {spec!r}",
                                 hint=f"built-ins: {', '.join(builtins)}; MCP servers: {servers}")
            tools = provs[server].tools()
            found = [t for t in tools if not dot or t.name == spec]
            if not found:
                have = ", ".join(t.name for t in tools) or "none"
                raise UsageError(f"the MCP server {server!r} has no tool {tool!r}",
                                 hint=f"its tools: {have}")
        for t in found:
            out.setdefault(t.name, t)
    return list(out.values())


def build_toolset(config: Any, specs: list[str] | None = None, *, consent: Consent | None = None,
                  yes: bool = False, allow: list[str] | None = None,
                  providers: dict[str, ToolProvider] | None = None,
                  on_result: Any = None) -> ToolSet:
    """The :class:`ToolSet` of a request or conversation.

    ``specs``: the ``-T`` values; ``None`` takes config ``tools.enabled``. ``allow``: names that
    run without asking besides config ``tools.allow`` (``ask`` passes its ``-T`` values when
    there is no terminal). ``consent``: the front's, ``None`` when nobody can be asked.
    Limits come from config ``tools.timeout`` (s), ``tools.max_output`` (bytes) and
    ``tools.max_rounds``; the file tools' extra folders from ``tools.roots``.

    Raises:
        UsageError: an unknown spec (see :func:`resolve_specs`).
    """
    if specs is None:
        specs = list(_setting(config, "tools.enabled", []))
    tools = resolve_specs(specs, config, providers) if specs else []
    return ToolSet(
        tools, consent=consent, yes=yes,
        allow=[*_setting(config, "tools.allow", []), *(allow or [])],
        timeout=float(_setting(config, "tools.timeout", DEFAULT_TIMEOUT)),
        max_output=int(_setting(config, "tools.max_output", DEFAULT_MAX_OUTPUT)),
        max_rounds=int(_setting(config, "tools.max_rounds", DEFAULT_MAX_ROUNDS)),
        on_result=on_result,
    )
