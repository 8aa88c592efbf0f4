"""MCP servers as termchat tools: the configured servers (``[mcp.servers.NAME]``) as
:class:`~termchat.client.tools.ToolProvider` objects whose tools are named ``NAME.tool``.

:func:`providers` is what the tool registry (:func:`termchat.client.tools.registry.mcp_providers`)
asks for; nothing is started until a provider's :meth:`McpProvider.tools` is called. All the
providers of a process share one :class:`~termchat.client.mcp_hub.McpHub` (:func:`shared_hub`),
so a server started for one conversation of a chat is reused by the next, and by every ``ask``
round; :func:`shutdown` stops them (the fronts call it on exit; it also runs at interpreter
exit).

The parts: :mod:`termchat.client.mcp_hub` (servers' lives, on the SDK) and
:mod:`termchat.client.mcp_parts` (errors, tools, results as text).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from ..mcp_config import McpServerConfig
from .mcp_hub import McpHub
from .mcp_parts import McpResult, McpServerError, McpTool, result_text

__all__ = [
    "McpHub", "McpProvider", "McpResult", "McpServerError", "McpTool", "providers", "result_text",
    "shared_hub", "shutdown",
]

_lock = threading.Lock()
_hub: McpHub | None = None


def shared_hub(config: Any) -> McpHub:
    """The process's hub for the servers ``config`` (a :class:`termchat.config.Config`)
    declares. A config whose declarations changed gets a new hub (the old one is closed)."""
    from ..mcp_config import servers

    global _hub
    declared = servers(config.data)
    with _lock:
        if _hub is None or _hub.servers != declared or _hub._closed:
            if _hub is not None:
                _hub.close()
            _hub = McpHub(declared)
        return _hub


def shutdown() -> None:
    """Stop every MCP server this process started (each within a few seconds). Safe to call
    when none was started, and more than once."""
    global _hub
    with _lock:
        hub, _hub = _hub, None
    if hub is not None:
        hub.close()


class McpProvider:
    """One configured MCP server as a :class:`~termchat.client.tools.ToolProvider`.

    Attributes:
        name: the server's config name (each tool's ``source``).
        hub: the :class:`McpHub` that runs it.
    """

    def __init__(self, name: str, hub: McpHub) -> None:
        self.name = name
        self.hub = hub

    @property
    def config(self) -> McpServerConfig:
        """The server's ``[mcp.servers.NAME]`` table."""
        return self.hub.config(self.name)

    def tools(self) -> list[Any]:
        """Its tools as :class:`~termchat.client.tools.Tool` objects named ``NAME.tool``
        (``source`` = NAME, ``timeout`` = the server's), starting the server if needed.

        Raises:
            McpServerError: the server will not start (one line, naming it).
        """
        from .tools import Tool

        return [
            Tool(name=t.full_name, description=t.description or f"{t.name} (MCP server "
                 f"{self.name})", parameters=_object_schema(t.input_schema),
                 call=self._caller(t.name), timeout=self.config.timeout, source=self.name)
            for t in self.hub.tools(self.name)
        ]

    def _caller(self, tool: str) -> Any:
        hub, name = self.hub, self.name

        async def call(args: dict[str, Any]) -> str:
            """Run the tool on the hub's loop; cancelling this awaits cancels the call there."""
            from ..core.errors import TermchatError
            from .tools import ToolError

            try:
                result = await asyncio.wrap_future(hub.submit(name, tool, args))
            except TermchatError as exc:
                raise ToolError(exc.message) from None
            if result.is_error:
                raise ToolError(result.text or f"the MCP tool {name}.{tool} reported an error")
            return result.text

        return call

    def close(self) -> None:
        """Stop this server if it runs (its next use starts it again)."""
        self.hub.stop(self.name)


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's input schema as providers want it: an ``object`` schema with ``properties``."""
    out = dict(schema)
    out.setdefault("type", "object")
    if out.get("type") == "object":
        out.setdefault("properties", {})
    return out


def providers(config: Any) -> dict[str, McpProvider]:
    """The servers ``config`` declares, by name, as tool providers on the process's shared hub
    (:func:`shared_hub`); none is started."""
    hub = shared_hub(config)
    return {name: McpProvider(name, hub) for name in hub.servers}
