"""MCP servers as tool providers: :class:`McpHub` starts the servers declared in the config
(``[mcp.servers.NAME]``, :mod:`termchat.mcp_config`) on first use, keeps each one for the whole
chat (or ``ask``), lists their tools and calls them, and stops them on :meth:`McpHub.close`.

Built on the official ``mcp`` SDK (imported on first use only: about 1 s). Every server lives on
one daemon thread with its own asyncio loop (``termchat-mcp``); callers in any thread block on a
future, so the chat app's loop and the CLI's main thread both use the same object.

* stdio: the SDK spawns ``command args`` in ``cwd`` (its own process group) with the SDK's short
  list of inherited variables (HOME, PATH, SHELL, TERM, USER, LOGNAME) plus ``env`` — no
  provider key reaches it. Its stderr goes line by line to termchat's log file
  (``termchat.mcp.NAME``, redacted), never to the terminal.
* streamable HTTP: ``url`` with ``Authorization: Bearer TOKEN``, the token read from the keys
  file (entry ``token_key``, default ``mcp.NAME``); the token is registered for redaction and
  never logged or shown.

Failures are :class:`McpServerError` (a :class:`~termchat.core.errors.TermchatError`): one line
naming the server — will not start (command not found, exits at once, no answer within
:data:`START_TIMEOUT_S`), died mid-call, timed out. A server that died is started again on its
next use. A call's output is text (:func:`result_text`), cut at :data:`MAX_RESULT_CHARS` with a
note saying so.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError, TermchatError, TimeoutError_, one_line, register_secret
from ..mcp_config import McpServerConfig

#: Seconds a server has to start and answer ``initialize`` and ``tools/list``.
START_TIMEOUT_S = 30.0
#: Longest tool output handed on, in characters; the rest is cut and the cut is said.
MAX_RESULT_CHARS = 100_000
#: Seconds :meth:`McpHub.close` waits for the servers to stop (the SDK closes stdin, then
#: SIGTERM after 2 s, SIGKILL after 2 s more).
CLOSE_WAIT_S = 6.0
#: Longest server stderr line written to the log, in characters.
_LOG_LINE_CHARS = 2000


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


def _root_causes(exc: BaseException) -> list[BaseException]:
    """The leaves of an exception (group) tree, causes followed, in order."""
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for sub in exc.exceptions:
            out.extend(_root_causes(sub))
        return out
    return [exc]


def _why(exc: BaseException, srv: McpServerConfig) -> str:
    """A short reason for a start or call failure, from the exception tree."""
    leaves = _root_causes(exc)
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


class _Server:
    """One running (or starting) server: its task on the hub's loop and its session."""

    def __init__(self, cfg: McpServerConfig) -> None:
        self.cfg = cfg
        self.session: Any = None
        self.tools: list[McpTool] = []
        self.ready: asyncio.Future[None] | None = None
        self.stop: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.dead: str | None = None  # why it ended, once it has
        self.started_s = 0.0  # seconds its start took


class McpHub:
    """The MCP servers of one chat or one ``ask``: started lazily, reused, stopped by
    :meth:`close` (also at interpreter exit). Thread-safe; every method blocks its caller.

    Args:
        servers: the declared servers by name (:func:`termchat.mcp_config.servers`).
        keys: the keys file's entries (for HTTP tokens); read with
            :func:`termchat.core.keys.read_keys` when first needed if ``None``.
    """

    def __init__(self, servers: Mapping[str, McpServerConfig],
                 keys: Mapping[str, str] | None = None) -> None:
        self.servers = dict(servers)
        self._keys = keys
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: dict[str, _Server] = {}
        self._closed = False

    # ---- public, blocking ------------------------------------------------------------------

    def config(self, name: str) -> McpServerConfig:
        """The declared server ``name``. Raises :class:`ConfigError` for an undeclared one."""
        try:
            return self.servers[name]
        except KeyError:
            known = ", ".join(self.servers) or "none"
            raise ConfigError(f"no MCP server named {name!r} (configured: {known})",
                              hint="declare it as [mcp.servers.NAME] in the config file") from None

    def tools(self, name: str) -> list[McpTool]:
        """The tools of server ``name``, starting it if needed (their listing is read once per
        start). Raises :class:`McpServerError` when it will not start (within
        :data:`START_TIMEOUT_S`), :class:`ConfigError` for an undeclared server or a missing
        token."""
        return list(self._ensure(name).tools)

    def started(self, name: str) -> bool:
        """Whether server ``name`` is running now (started and not dead)."""
        srv = self._running.get(name)
        return bool(srv and srv.session is not None and srv.dead is None)

    def start_seconds(self, name: str) -> float | None:
        """How long the running server ``name`` took to start (spawn/connect, ``initialize``
        and ``tools/list``), in seconds; ``None`` when it is not running."""
        srv = self._running.get(name)
        return srv.started_s if srv and srv.dead is None and srv.session is not None else None

    def call(self, name: str, tool: str, arguments: dict[str, Any] | None = None, *,
             timeout: float | None = None, cancel: threading.Event | None = None) -> McpResult:
        """Call ``tool`` of server ``name`` with ``arguments`` and wait for its result.

        ``timeout`` (seconds) defaults to the server's ``timeout``; ``cancel`` set from any
        thread stops the call (the SDK sends ``notifications/cancelled``) and raises
        :class:`~termchat.core.errors.InterruptedError_`. A result the server flags as an error
        is returned with ``is_error`` set, not raised.

        Raises:
            McpServerError: the server would not start, died during the call, or answered
                with a protocol error (it is restarted on its next use).
            TimeoutError_: no result within ``timeout`` (exit 4).
            InterruptedError_: ``cancel`` was set.
        """
        srv = self._ensure(name)
        limit = srv.cfg.timeout if timeout is None else timeout
        started = time.perf_counter()
        fut = asyncio.run_coroutine_threadsafe(self._call(srv, tool, arguments or {}, limit),
                                               self._loop_get())
        result = self._wait(fut, limit + 5.0, cancel)
        return McpResult(result_text(result), bool(getattr(result, "is_error", False)),
                         time.perf_counter() - started)

    def status(self) -> dict[str, str]:
        """Name -> ``running``, ``not started`` or ``stopped: WHY`` for every declared server."""
        out = {}
        for name in self.servers:
            srv = self._running.get(name)
            if srv is None:
                out[name] = "not started"
            elif srv.dead:
                out[name] = f"stopped: {srv.dead}"
            else:
                out[name] = "running" if srv.session is not None else "starting"
        return out

    def close(self) -> None:
        """Stop every running server (bounded by :data:`CLOSE_WAIT_S`) and the hub's loop
        thread. Idempotent; the hub can not be used afterwards."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop = self._loop
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop_all(), loop).result(CLOSE_WAIT_S)
        except BaseException as exc:  # a server that would not stop: logged, abandoned
            _log().warning("MCP servers did not stop within %.0f s: %r", CLOSE_WAIT_S, exc)
        loop.call_soon_threadsafe(loop.stop)

    # ---- internals ---------------------------------------------------------------------------

    def _loop_get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise McpServerError("the MCP servers were already stopped")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="termchat-mcp", daemon=True).start()
                self._loop = loop
                atexit.register(self.close)
            return self._loop

    def _wait(self, fut: concurrent.futures.Future[Any], limit: float,
              cancel: threading.Event | None) -> Any:
        from ..core.errors import InterruptedError_

        deadline = time.monotonic() + limit
        while True:
            try:
                return fut.result(0.05 if cancel is not None else max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                if cancel is not None and cancel.is_set():
                    fut.cancel()
                    raise InterruptedError_("the tool call was stopped") from None
                if time.monotonic() >= deadline:
                    fut.cancel()
                    raise TimeoutError_("the MCP server did not answer in time") from None

    def _ensure(self, name: str) -> _Server:
        cfg = self.config(name)
        loop = self._loop_get()
        with self._lock:
            srv = self._running.get(name)
            if srv is None or srv.dead is not None:
                srv = _Server(cfg)
                self._running[name] = srv
                token = self._token(cfg) if cfg.url else None
                asyncio.run_coroutine_threadsafe(self._spawn(srv, token), loop).result()
        assert srv.ready is not None
        fut = asyncio.run_coroutine_threadsafe(_await(srv.ready), loop)
        self._wait(fut, START_TIMEOUT_S + 5.0, None)
        return srv

    def _token(self, cfg: McpServerConfig) -> str | None:
        if self._keys is None:
            from ..core.keys import read_keys

            self._keys = read_keys()
        token = self._keys.get(cfg.token_key)
        if token:
            register_secret(token)
        return token

    async def _spawn(self, srv: _Server, token: str | None) -> None:
        loop = asyncio.get_running_loop()
        srv.ready = loop.create_future()
        srv.stop = asyncio.Event()
        srv.task = loop.create_task(self._serve(srv, token))

    async def _serve(self, srv: _Server, token: str | None) -> None:
        """The server's whole life, in one task (the SDK's contexts are entered and left here)."""
        from contextlib import AsyncExitStack

        from mcp.client.session import ClientSession

        assert srv.ready is not None and srv.stop is not None
        cfg = srv.cfg
        t0 = time.perf_counter()
        errlog = None
        try:
            async with AsyncExitStack() as stack:
                if cfg.url:
                    read, write = await stack.enter_async_context(_http_transport(cfg, token))
                else:
                    from mcp.client.stdio import StdioServerParameters, stdio_client

                    errlog = _StderrToLog(cfg.name)
                    stack.callback(errlog.close)
                    params = StdioServerParameters(command=cfg.command or "", args=list(cfg.args),
                                                   env=dict(cfg.env) or None, cwd=cfg.cwd)
                    read, write = await stack.enter_async_context(
                        stdio_client(params, errlog=errlog.writer))
                session = await stack.enter_async_context(ClientSession(read, write))
                async with asyncio.timeout(START_TIMEOUT_S):
                    await session.initialize()
                    tools = await _list_all(session)
                srv.tools = [McpTool(cfg.name, t.name, t.description or "",
                                     dict(t.input_schema or {"type": "object"})) for t in tools]
                srv.session = session
                srv.started_s = time.perf_counter() - t0
                _log().info("MCP server %s started in %.3f s (%d tools)", cfg.name,
                            srv.started_s, len(srv.tools))
                srv.ready.set_result(None)
                await srv.stop.wait()
        except BaseException as exc:  # every failure becomes one line
            why = _why(exc, cfg)
            if errlog is not None and errlog.exited_early(exc):
                why = "it exited at once (its messages are in termchat's log)"
            if isinstance(exc, asyncio.CancelledError):
                why = "stopped"
            srv.dead = why
            _log().warning("MCP server %s ended: %s (%r)", cfg.name, why, exc)
            if not srv.ready.done():
                srv.ready.set_exception(McpServerError(
                    f"MCP server {cfg.name!r} did not start: {why}",
                    hint=f"check [mcp.servers.{cfg.name}] in the config; the server's own "
                         "messages are in termchat's log"))
        finally:
            srv.session = None
            if srv.dead is None:
                srv.dead = "stopped"

    async def _call(self, srv: _Server, tool: str, arguments: dict[str, Any],
                    limit: float) -> Any:
        session = srv.session
        if session is None:
            raise McpServerError(f"MCP server {srv.cfg.name!r} is not running: {srv.dead}")
        name = srv.cfg.name
        try:
            async with asyncio.timeout(limit):
                return await session.call_tool(tool, arguments)
        except TimeoutError:
            raise TimeoutError_(f"MCP tool {name}.{tool} gave no result within {limit:g} s",
                                hint=f"raise [mcp.servers.{name}] timeout") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            why = _why(exc, srv.cfg)
            if srv.dead is not None or "exited" in why or name_is_closed(exc):
                srv.dead = srv.dead or "it exited"
                why = "the server exited during the call (it restarts on next use)"
                assert srv.stop is not None
                srv.stop.set()
            raise McpServerError(f"MCP tool {name}.{tool} failed: {why}") from None

    async def _stop_all(self) -> None:
        tasks = []
        for srv in self._running.values():
            if srv.stop is not None:
                srv.stop.set()
            if srv.task is not None and not srv.task.done():
                tasks.append(srv.task)
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_WAIT_S - 0.5)


async def _await(fut: asyncio.Future[None]) -> None:
    await asyncio.shield(fut)


async def _list_all(session: Any) -> list[Any]:
    """Every tool of a session, following ``nextCursor`` pages (at most 100 pages)."""
    from mcp.types import PaginatedRequestParams

    out: list[Any] = []
    cursor = None
    for _ in range(100):
        page = await session.list_tools(
            params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        out.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return out


def _http_transport(cfg: McpServerConfig, token: str | None) -> Any:
    """The SDK's streamable-HTTP transport for ``cfg.url``, with the bearer token when there is
    one (connect timeout 10 s; reads may take the call's timeout)."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else None
    client = create_mcp_http_client(
        headers=headers, timeout=httpx2.Timeout(10.0, read=max(cfg.timeout, 30.0) + 5.0))
    return _owned(client, streamable_http_client(cfg.url or "", http_client=client))


def _owned(client: Any, transport: Any) -> Any:
    """``transport`` (an async context) that also closes the HTTP ``client`` it was given."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def run():  # type: ignore[no-untyped-def]
        async with client, transport as streams:
            yield streams

    return run()


class _StderrToLog:
    """A pipe whose write end is a stdio server's stderr; a daemon thread writes each line to
    termchat's log (logger ``termchat.mcp.NAME``, redacted). Remembers the last lines, to tell
    "exited at once" from other start failures."""

    def __init__(self, name: str) -> None:
        rfd, wfd = os.pipe()
        self.writer = os.fdopen(wfd, "w", encoding="utf-8", errors="replace")
        self._reader = os.fdopen(rfd, "r", encoding="utf-8", errors="replace")
        self.lines = 0
        self._name = name
        threading.Thread(target=self._pump, name=f"mcp-stderr-{name}", daemon=True).start()

    def _pump(self) -> None:
        log = _log().getChild(f"mcp.{self._name}")
        with self._reader:
            for line in self._reader:
                self.lines += 1
                log.info("stderr: %s", line.rstrip()[:_LOG_LINE_CHARS])

    def exited_early(self, exc: BaseException) -> bool:
        """Whether a start failure looks like the process ending (the session's stream closed)
        rather than a missing command or a timeout."""
        return any("Connection closed" in str(leaf) or name_is_closed(leaf)
                   for leaf in _root_causes(exc))

    def close(self) -> None:
        """Close our copy of the write end (the pump ends once the child's copy closes too)."""
        try:
            self.writer.close()
        except OSError:
            pass


def _log() -> Any:
    from ..logs import get_logger, route_loggers

    route_loggers(("mcp", "httpx2", "httpcore2"))
    return get_logger()


def hub_from_config(cfg: Any) -> McpHub:
    """An :class:`McpHub` for the servers a loaded :class:`termchat.config.Config` declares
    (nothing is started)."""
    from ..mcp_config import servers

    return McpHub(servers(cfg.data))
