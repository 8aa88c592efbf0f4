"""The MCP servers of one process, run with the official ``mcp`` SDK: :class:`McpHub` starts
the servers declared in the config (``[mcp.servers.NAME]``, :mod:`termchat.mcp_config`) on
first use, keeps each one until :meth:`McpHub.close` (a whole chat, or one ``ask``), lists
their tools and calls them.

The SDK is imported on first use only (about 1 s; :meth:`McpHub.prepare` does it ahead, in the
background). Every server lives on one daemon thread with its own asyncio loop
(``termchat-mcp``); all the hub's state changes there, and callers in any thread wait on a
future, so the chat app's loop and the CLI's main thread use the same object.

* stdio: the SDK spawns ``command args`` in ``cwd`` (in its own process group) with the SDK's
  short list of inherited variables (HOME, PATH, SHELL, TERM, USER, LOGNAME) plus ``env`` — no
  provider key reaches it. Its stderr goes line by line to termchat's log file (logger
  ``termchat.mcp.NAME``, redacted), never to the terminal.
* streamable HTTP: ``url`` with ``Authorization: Bearer TOKEN``, the token read from the keys
  file (entry ``token_key``, default ``mcp.NAME``); it is registered for redaction and never
  logged or shown.

Failures are :class:`~termchat.client.mcp_parts.McpServerError`: one line naming the server —
will not start (command not found, exits at once, refuses the token, no answer within
``start_timeout``), died mid-call, protocol errors; :class:`~termchat.core.errors.TimeoutError_`
for a call past its timeout. A server that died is started again on its next use.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..core.errors import ConfigError, InterruptedError_, TimeoutError_, register_secret
from ..mcp_config import McpServerConfig
from .mcp_parts import McpResult, McpServerError, McpTool, name_is_closed, result_text, root_causes
from .mcp_parts import why as _why

#: Seconds a server has, by default, to start and answer ``initialize`` and ``tools/list``.
START_TIMEOUT_S = 30.0
#: Seconds :meth:`McpHub.close` waits for the servers to stop (the SDK closes stdin, then
#: sends SIGTERM after 2 s and SIGKILL after 2 s more).
CLOSE_WAIT_S = 6.0
#: Seconds a caller waits beyond the hub's own limits: the SDK's first import (1–3 s on a busy
#: machine) runs on the hub's loop before a start's time limit begins.
_SLACK_S = 30.0
#: Longest server stderr line written to the log, in characters.
_LOG_LINE_CHARS = 2000


class _Server:
    """One running (or starting) server: its task on the hub's loop and its session."""

    def __init__(self, cfg: McpServerConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.cfg = cfg
        self.session: Any = None
        self.tools: list[McpTool] = []
        self.ready: asyncio.Future[None] = loop.create_future()
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.dead: str | None = None  # why it ended, once it has
        self.started_s = 0.0  # seconds its start took
        self.http_status = 0  # the last HTTP error status a streamable-HTTP server answered


class McpHub:
    """The MCP servers of one chat or one ``ask``: started lazily, reused, stopped by
    :meth:`close` (also at interpreter exit). Thread-safe; the public methods block their
    caller, except :meth:`submit`.

    Args:
        servers: the declared servers by name (:func:`termchat.mcp_config.servers`).
        keys: the keys file's entries (for HTTP tokens); read with
            :func:`termchat.core.keys.read_keys` when first needed if ``None``.
        start_timeout: seconds a server has to start (:data:`START_TIMEOUT_S`).
    """

    def __init__(self, servers: Mapping[str, McpServerConfig],
                 keys: Mapping[str, str] | None = None,
                 start_timeout: float = START_TIMEOUT_S) -> None:
        self.servers = dict(servers)
        self.start_timeout = start_timeout
        self._keys = keys
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: dict[str, _Server] = {}
        self._closed = False

    # ---- public ------------------------------------------------------------------------------

    def config(self, name: str) -> McpServerConfig:
        """The declared server ``name``. Raises :class:`ConfigError` for an undeclared one."""
        try:
            return self.servers[name]
        except KeyError:
            known = ", ".join(self.servers) or "none"
            raise ConfigError(f"no MCP server named {name!r} (configured: {known})",
                              hint="declare it as [mcp.servers.NAME] in the config file") from None

    def prepare(self) -> None:
        """Import the SDK on the hub's thread now, without waiting (the chat app calls this
        after its first frame, so that a server's first use costs only its own start)."""
        loop = self._loop_get()

        def load() -> None:
            import mcp.client.session
            import mcp.client.stdio  # noqa: F401

        loop.call_soon_threadsafe(load)

    def tools(self, name: str) -> list[McpTool]:
        """The tools of server ``name``, starting it if needed (the listing is read once per
        start). Raises :class:`McpServerError` when it will not start, :class:`ConfigError`
        for an undeclared server."""
        cfg = self.config(name)
        fut = asyncio.run_coroutine_threadsafe(self._ensure(cfg, self._token(cfg)),
                                               self._loop_get())
        return list(self._wait(fut, self.start_timeout + _SLACK_S, None).tools)

    def started(self, name: str) -> bool:
        """Whether server ``name`` is running now (started and not dead)."""
        srv = self._running.get(name)
        return bool(srv and srv.session is not None and srv.dead is None)

    def start_seconds(self, name: str) -> float | None:
        """How long the running server ``name`` took to start (spawn or connect,
        ``initialize`` and ``tools/list``), in seconds; ``None`` when it is not running."""
        return self._running[name].started_s if self.started(name) else None

    def submit(self, name: str, tool: str, arguments: dict[str, Any] | None = None, *,
               timeout: float | None = None) -> concurrent.futures.Future[McpResult]:
        """Start calling ``tool`` of server ``name`` (starting the server if needed); the
        future's result is an :class:`McpResult`, or one of the errors :meth:`call` lists.
        Cancelling the future stops the call (the SDK tells the server)."""
        cfg = self.config(name)
        limit = cfg.timeout if timeout is None else timeout
        return asyncio.run_coroutine_threadsafe(
            self._call(cfg, self._token(cfg), tool, arguments or {}, limit), self._loop_get())

    def call(self, name: str, tool: str, arguments: dict[str, Any] | None = None, *,
             timeout: float | None = None, cancel: threading.Event | None = None) -> McpResult:
        """Call ``tool`` of server ``name`` with ``arguments`` and wait for its result.

        ``timeout`` (seconds) defaults to the server's ``timeout``; ``cancel`` set from any
        thread stops the call. A result the server flags as an error is returned with
        ``is_error`` set, not raised.

        Raises:
            McpServerError: the server would not start, died during the call (it is started
                again on its next use), or answered with a protocol error.
            TimeoutError_: no result within ``timeout`` (exit 4).
            InterruptedError_: ``cancel`` was set (exit 130).
        """
        limit = self.config(name).timeout if timeout is None else timeout
        fut = self.submit(name, tool, arguments, timeout=limit)
        return self._wait(fut, self.start_timeout + limit + _SLACK_S, cancel)

    def status(self) -> dict[str, str]:
        """Name -> ``running``, ``starting``, ``not started`` or ``stopped: WHY`` for every
        declared server."""
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

    def stop(self, name: str) -> None:
        """Stop server ``name`` if it runs (bounded by :data:`CLOSE_WAIT_S`); its next use
        starts it again."""
        loop = self._loop
        if loop is None or self._closed or name not in self._running:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop([name]), loop).result(CLOSE_WAIT_S)
        except BaseException as exc:  # a server that would not stop: logged, abandoned
            _log().warning("MCP server %s did not stop: %r", name, exc)

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
            asyncio.run_coroutine_threadsafe(self._stop(list(self._running)), loop).result(
                CLOSE_WAIT_S)
        except BaseException as exc:  # a server that would not stop: logged, abandoned
            _log().warning("MCP servers did not stop within %.0f s: %r", CLOSE_WAIT_S, exc)
        loop.call_soon_threadsafe(loop.stop)

    # ---- internals (the coroutines run on the hub's loop) ----------------------------------

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

    @staticmethod
    def _wait(fut: concurrent.futures.Future[Any], limit: float,
              cancel: threading.Event | None) -> Any:
        deadline = time.monotonic() + limit
        while True:
            step = max(0.0, deadline - time.monotonic())
            try:
                return fut.result(min(step, 0.05) if cancel is not None else step)
            except concurrent.futures.TimeoutError:
                if cancel is not None and cancel.is_set():
                    fut.cancel()
                    raise InterruptedError_("the tool call was stopped") from None
                if time.monotonic() >= deadline:
                    fut.cancel()
                    raise TimeoutError_("the MCP server did not answer in time") from None

    def _token(self, cfg: McpServerConfig) -> str | None:
        if not cfg.url:
            return None
        if self._keys is None:
            from ..core.keys import read_keys

            self._keys = read_keys()
        token = self._keys.get(cfg.token_key)
        if token:
            register_secret(token)
        return token

    async def _ensure(self, cfg: McpServerConfig, token: str | None) -> _Server:
        """The running server ``cfg.name``, started now if it is not (or died)."""
        srv = self._running.get(cfg.name)
        if srv is None or srv.dead is not None:
            srv = _Server(cfg, asyncio.get_running_loop())
            self._running[cfg.name] = srv
            srv.task = asyncio.get_running_loop().create_task(self._serve(srv, token))
        await asyncio.shield(srv.ready)
        return srv

    async def _serve(self, srv: _Server, token: str | None) -> None:
        """The server's whole life, in one task (the SDK's contexts are entered and left here)."""
        from contextlib import AsyncExitStack

        from mcp.client.session import ClientSession

        cfg = srv.cfg
        t0 = time.perf_counter()
        errlog = None
        try:
            async with asyncio.timeout(self.start_timeout) as start_limit, AsyncExitStack() as stack:
                if cfg.url:
                    read, write = await stack.enter_async_context(_http_transport(srv, token))
                else:
                    from mcp.client.stdio import StdioServerParameters, stdio_client

                    loop = asyncio.get_running_loop()
                    errlog = _StderrToLog(
                        cfg.name, lambda: loop.call_soon_threadsafe(self._gone, srv))
                    stack.callback(errlog.close)
                    params = StdioServerParameters(command=cfg.command or "", args=list(cfg.args),
                                                   env=dict(cfg.env) or None, cwd=cfg.cwd)
                    try:
                        read, write = await stack.enter_async_context(
                            stdio_client(params, errlog=errlog.writer))
                    finally:
                        errlog.close()  # the server has its own copy; EOF means it exited
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                tools = await _list_all(session)
                start_limit.reschedule(None)  # started: no limit from here on
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
            if srv.http_status in (401, 403):
                why = (f"{cfg.url} refused the bearer token (HTTP {srv.http_status})" if token
                       else f"{cfg.url} wants a bearer token (HTTP {srv.http_status}); store it "
                            f"with: termchat keys set {cfg.token_key}")
            elif srv.http_status:
                why = f"{cfg.url} answered HTTP {srv.http_status}"
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
                srv.ready.exception()  # retrieved here: no "never retrieved" warning
        finally:
            srv.session = None
            if srv.dead is None:
                srv.dead = "stopped"

    def _gone(self, srv: _Server) -> None:
        """A started stdio server exited between calls: its next use starts it again (a call
        sent meanwhile fails as "exited during the call")."""
        if srv.session is not None and srv.dead is None and not srv.stop.is_set():
            _log().warning("MCP server %s exited; it is started again at its next use",
                           srv.cfg.name)
            srv.dead = "it exited"
            srv.stop.set()

    async def _call(self, cfg: McpServerConfig, token: str | None, tool: str,
                    arguments: dict[str, Any], limit: float) -> McpResult:
        srv = await self._ensure(cfg, token)
        name = cfg.name
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                result = await srv.session.call_tool(tool, arguments)
        except TimeoutError:
            raise TimeoutError_(f"MCP tool {name}.{tool} gave no result within {limit:g} s",
                                hint=f"raise [mcp.servers.{name}] timeout") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = _why(exc, cfg)
            if srv.dead is not None or "exited" in reason or name_is_closed(exc):
                srv.dead = srv.dead or "it exited"
                reason = "the server exited during the call (it restarts on next use)"
                srv.stop.set()
            raise McpServerError(f"MCP tool {name}.{tool} failed: {reason}") from None
        return McpResult(result_text(result), bool(getattr(result, "is_error", False)),
                         time.perf_counter() - started)

    async def _stop(self, names: list[str]) -> None:
        tasks = []
        for name in names:
            srv = self._running.get(name)
            if srv is None:
                continue
            srv.stop.set()
            if srv.task is not None and not srv.task.done():
                tasks.append(srv.task)
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_WAIT_S - 0.5)


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


def _http_transport(srv: _Server, token: str | None) -> Any:
    """The SDK's streamable-HTTP transport for the server's ``url``, with the bearer token when
    there is one (connect timeout 10 s; reads may take the call's timeout). HTTP error statuses
    are noted in ``srv.http_status`` (the SDK's errors do not carry them)."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    cfg = srv.cfg
    headers = {"Authorization": f"Bearer {token}"} if token else None
    client = create_mcp_http_client(
        headers=headers, timeout=httpx2.Timeout(10.0, read=max(cfg.timeout, 30.0) + 5.0))

    async def note_status(response: Any) -> None:
        if response.status_code >= 400 and response.request.method == "POST":
            srv.http_status = response.status_code

    client.event_hooks["response"].append(note_status)
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

    def __init__(self, name: str, on_eof: Any = None) -> None:
        rfd, wfd = os.pipe()
        self.writer = os.fdopen(wfd, "w", encoding="utf-8", errors="replace")
        self._reader = os.fdopen(rfd, "r", encoding="utf-8", errors="replace")
        self.lines = 0
        self._name = name
        self._on_eof = on_eof
        threading.Thread(target=self._pump, name=f"mcp-stderr-{name}", daemon=True).start()

    def _pump(self) -> None:
        log = _log().getChild(f"mcp.{self._name}")
        with self._reader:
            for line in self._reader:
                self.lines += 1
                log.info("stderr: %s", line.rstrip()[:_LOG_LINE_CHARS])
        if self._on_eof is not None:  # the server's stderr closed: it has exited
            self._on_eof()

    def exited_early(self, exc: BaseException) -> bool:
        """Whether a start failure looks like the process ending (the session's stream closed)
        rather than a missing command or a timeout."""
        return any("Connection closed" in str(leaf) or name_is_closed(leaf)
                   for leaf in root_causes(exc))

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
