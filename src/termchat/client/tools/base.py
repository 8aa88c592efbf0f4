"""What a tool is to termchat, and what a front implements to let one run.

* :class:`Tool` — a name, a description, a JSON schema of its arguments, a ``call(args)``
  (plain or ``async``) that returns text, and an optional timeout. Built-in tools
  (:mod:`termchat.client.tools.builtins`) and MCP servers' tools are both Tools.
* :class:`ToolProvider` — a source of several tools under one name (an MCP server ``NAME``,
  whose tools are named ``NAME.tool``).
* :class:`Consent` — the front's question to the user: ``ask(call, tool)`` → ``"yes"``,
  ``"no"`` or ``"always"`` (for the rest of the conversation).
* :class:`ToolError` — a failure a tool reports in words (sent to the model as ``error: …``).

No asyncio, no I/O at import: the fronts import this on demand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

#: The user's answer to a consent question.
Decision = Literal["yes", "no", "always"]


class ToolError(Exception):
    """A tool's expected failure (a path outside the allowed folders, an HTTP 404…): the model
    receives ``error: <message>``; any other exception is sent as ``error: <Type>: <message>``."""


@dataclass
class Tool:
    """One tool the model may call.

    Attributes:
        name: termchat's name: ``read_file`` for a built-in, ``NAME.tool`` for the tool ``tool``
            of the MCP server ``NAME``. Any characters; the core maps it to a name providers
            accept (``[A-Za-z0-9_-]{1,64}``) and back.
        description: what it does, for the model (one paragraph).
        parameters: a JSON schema of its arguments (``{"type": "object", "properties": …}``).
        call: ``call(args) -> str`` or ``async def call(args) -> str``; ``args`` is the decoded
            JSON object. A plain function runs in its own daemon thread (a timeout abandons it;
            it should time itself out too); a coroutine is cancelled on timeout or Ctrl+C/Esc.
            Raise :class:`ToolError` for a failure the model should read as such.
        timeout: seconds one call may take; ``None`` takes the tool set's (config
            ``tools.timeout``, default 30).
        source: ``"builtin"`` or the MCP server's name (what ``-T NAME`` and ``tools.allow``
            match besides the tool's own name).
        group: a built-in's group name for ``-T`` (``files`` for ``read_file`` and
            ``list_folder``), else ``None``.
        always_ask: ask before every call even when allowed or answered "always" (the shell
            tool); in a pipe it runs only with ``--yes``.
        describe: ``describe(args) -> str``, the one line a consent prompt shows (the exact
            command for the shell tool); ``None``: the arguments as compact JSON.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    call: Callable[[dict[str, Any]], str | Awaitable[str]]
    timeout: float | None = None
    source: str = "builtin"
    group: str | None = None
    always_ask: bool = False
    describe: Callable[[dict[str, Any]], str] | None = field(default=None, repr=False)

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool form ``ChatRequest.tools`` takes."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description,
                         "parameters": self.parameters},
        }


class ToolProvider(Protocol):
    """A named source of tools (an MCP server). ``tools()`` may start it (lazily, on first use)
    and raises :class:`~termchat.core.errors.TermchatError` when it cannot; ``close()`` stops
    it (idempotent). The tools it returns are named ``f"{name}.{tool}"`` and have
    ``source == name``."""

    name: str

    def tools(self) -> list[Tool]: ...

    def close(self) -> None: ...


class Consent(Protocol):
    """How a front asks the user whether a tool call may run.

    ``ask`` is called in the thread that iterates the chat's event stream (the CLI's main
    thread; the chat app's reader thread, which must hand the question to its UI loop and
    block until answered), once per call that needs asking, one at a time, before the round's
    allowed calls run together. ``args`` is the decoded arguments; ``shown`` the one line to
    show (``tool.describe(args)`` or compact JSON). Return ``"always"`` to allow this tool
    without asking for the rest of the :class:`~termchat.client.tools.ToolSet`'s life (one
    conversation); it is treated as ``"yes"`` for ``always_ask`` tools."""

    def ask(self, call: Any, tool: Tool, args: dict[str, Any], shown: str) -> Decision: ...
