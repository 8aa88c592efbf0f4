"""The plain parts of termchat's MCP client: its error, a server's tool, a call's result, a
result as text, and a failure in words. No SDK import (see :mod:`termchat.client.mcp_hub`)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from ..core.errors import TermchatError, one_line
from ..mcp_config import McpServerConfig

#: Longest tool output handed on, in characters; the rest is cut and the cut is said.
MAX_RESULT_CHARS = 100_000


class McpServerError(TermchatError):
    """An MCP server would not start, died, timed out or answered with a protocol error (exit 1).
    The message names the server: ``MCP server 'time' did not start: command not found: …``."""

    kind = "mcp"


@dataclass(frozen=True)
class McpTool:
    """One tool an MCP server offers.

    Attributes:
        server: the server's config name.
        name: the tool's name on that server (termchat calls it ``server.name``).
        description: the server's description (untrusted text; may be empty).
        input_schema: the JSON Schema of its arguments (an ``object`` schema).
    """

    server: str
    name: str
    description: str
    input_schema: dict[str, Any]

    @property
    def full_name(self) -> str:
        """``server.tool``, termchat's name for it."""
        return f"{self.server}.{self.name}"


@dataclass(frozen=True)
class McpResult:
    """A finished call: its text (:func:`result_text`), whether the server flagged it as an error
    (``isError``), and its wall time in seconds."""

    text: str
    is_error: bool
    duration_s: float


def result_text(result: Any, limit: int = MAX_RESULT_CHARS) -> str:
    """A ``CallToolResult`` as text for the model: text parts joined by newlines, images and
    audio as ``[image: MIME, N bytes]``, embedded text resources by their text, resource links by
    their URI; the structured content (JSON) when there are no parts. Cut at ``limit`` characters
    with ``[… output cut: N of M characters shown]``."""
    import json

    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind}: {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif kind == "resource":
            res = block.resource
            parts.append(getattr(res, "text", None) or f"[resource: {res.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource: {block.uri}]")
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    text = "\n".join(parts)
    if len(text) > limit:
        text = text[:limit] + f"\n[… output cut: {limit:,} of {len(text):,} characters shown]"
    return text


def root_causes(exc: BaseException) -> list[BaseException]:
    """The leaves of an exception (group) tree, in order (the SDK's task groups nest them)."""
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for sub in exc.exceptions:
            out.extend(root_causes(sub))
        return out
    return [exc]


def why(exc: BaseException, srv: McpServerConfig) -> str:
    """A short reason for a start or call failure of server ``srv``, from the exception tree:
    ``command not found: X``, ``no such folder: X``, ``cannot connect to URL``, ``no answer in
    time``, ``the server exited``, else the first leaf's message cut to 160 characters."""
    leaves = root_causes(exc)
    for leaf in leaves:
        if isinstance(leaf, FileNotFoundError):
            if srv.cwd and not os.path.isdir(srv.cwd):
                return f"no such folder: {srv.cwd}"
            return f"command not found: {srv.command}"
        if isinstance(leaf, PermissionError):
            return f"not allowed to run {srv.command}"
    for leaf in leaves:
        name = type(leaf).__name__
        if name in ("ConnectError", "ConnectTimeout"):
            return f"cannot connect to {srv.url}"
        if name == "HTTPStatusError":
            status = getattr(getattr(leaf, "response", None), "status_code", "?")
            if status in (401, 403):
                return f"{srv.url} refused the token (HTTP {status})"
            return f"{srv.url} answered HTTP {status}"
        if isinstance(leaf, (TimeoutError, asyncio.TimeoutError)) or name == "TooSlowError":
            return "no answer in time"
    for leaf in leaves:
        text = one_line(str(leaf), 160)
        if "Connection closed" in text or name_is_closed(leaf):
            return "the server exited"
        if text:
            return text
    return type(leaves[0]).__name__ if leaves else "unknown failure"


def name_is_closed(exc: BaseException) -> bool:
    """Whether ``exc`` is the SDK's or anyio's "the stream closed" (the server went away)."""
    return type(exc).__name__ in ("ClosedResourceError", "BrokenResourceError", "EndOfStream")

