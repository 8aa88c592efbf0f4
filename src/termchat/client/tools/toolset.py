"""The tools of one conversation and how a round of calls is answered (:class:`ToolSet`).

A round: the model's calls (``ToolCall`` events, in order) → for each, the tool is looked up
(an unknown name is an error result), its arguments decoded (malformed JSON, or not an object,
is an error result) and permission decided (``--yes``; the allow-list; "always" answered
earlier; else :class:`~termchat.client.tools.base.Consent` when the front can ask; else
refused) → the permitted calls run **concurrently**, each under its timeout → one
``ToolResult`` per call, in the calls' order. Every failure becomes text the model can read
(``error: …``); output above ``max_output`` bytes is cut with a note saying so.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from ...core.types import ToolCall, ToolResult
from .base import Consent, Tool, ToolError

#: Default seconds a call may take (config ``tools.timeout``).
DEFAULT_TIMEOUT = 30.0
#: Default bytes of a result sent to the model (config ``tools.max_output``), UTF-8.
DEFAULT_MAX_OUTPUT = 32 * 1024
#: Default tool rounds per request (config ``tools.max_rounds``).
DEFAULT_MAX_ROUNDS = 8

NO_TERMINAL = ("refused: there is no terminal to ask the user for consent; the user can rerun "
               "with --yes, or allow this tool with -T {spec} or the config's tools.allow")
SHELL_NEEDS_YES = ("refused: the shell tool asks before every command and there is no terminal "
                   "to ask; the user can rerun with --yes")


class ToolsCancelled(Exception):
    """The round was cancelled (:meth:`ToolSet.cancel`) while tools ran."""


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes (at a character boundary) with a note saying how
    much there was; unchanged when it fits."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    head = data[:limit].decode("utf-8", "ignore")
    return f"{head}\n[output truncated: {len(data):,} bytes, the first {limit:,} shown]"


def short_args(args: Any, width: int = 80) -> str:
    """Compact one-line JSON of ``args``, cut to ``width`` characters with ``…``."""
    try:
        text = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = str(args)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class ToolSet:
    """The enabled tools of one conversation (or one ``ask``), with the consent state.

    Args:
        tools: the tools (names unique; a later one with the same name replaces the earlier).
        consent: the front's :class:`Consent`, or ``None`` when nobody can be asked (a pipe).
        yes: run every call without asking (``--yes``).
        allow: names that run without asking: a tool's name, a built-in group (``files``) or a
            provider (MCP server) name (``-T`` in a pipe, config ``tools.allow``).
        timeout: seconds per call for tools without their own (config ``tools.timeout``).
        max_output: bytes of a result sent to the model (config ``tools.max_output``).
        max_rounds: tool rounds per request (config ``tools.max_rounds``).
        on_result: ``on_result(call, result)``, called as each result is ready (any thread
            of the round's; the CLI prints its stderr line there).
    """

    def __init__(self, tools: list[Tool] | tuple[Tool, ...] = (), *, consent: Consent | None = None,
                 yes: bool = False, allow: list[str] | tuple[str, ...] = (),
                 timeout: float = DEFAULT_TIMEOUT, max_output: int = DEFAULT_MAX_OUTPUT,
                 max_rounds: int = DEFAULT_MAX_ROUNDS, on_result: Any = None) -> None:
        self.tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)
        self.consent = consent
        self.yes = yes
        self.allow = set(allow)
        self.always: set[str] = set()
        self.timeout = timeout
        self.max_output = max_output
        self.max_rounds = max_rounds
        self.on_result = on_result
        self._lock = threading.Lock()
        self._loop: Any = None
        self._task: Any = None
        self._cancelled = False

    # -- the set ---------------------------------------------------------------------------

    def add(self, tool: Tool) -> None:
        """Add (or replace) a tool."""
        self.tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or ``None``."""
        return self.tools.get(name)

    def __bool__(self) -> bool:
        return bool(self.tools)

    def schemas(self) -> list[dict[str, Any]]:
        """``ChatRequest.tools``: every tool's OpenAI function-tool schema, in order."""
        return [t.schema() for t in self.tools.values()]

    def forget(self) -> None:
        """Forget the "always" answers (a new conversation starts)."""
        self.always.clear()

    def allowed(self, tool: Tool) -> bool:
        """Whether ``tool`` runs without asking (allow-list or an earlier "always")."""
        keys = {tool.name, tool.source}
        if tool.group:
            keys.add(tool.group)
        return bool(keys & self.allow) or tool.name in self.always

    # -- a round ---------------------------------------------------------------------------

    def _permit(self, call: ToolCall, tool: Tool, args: dict[str, Any]) -> str | None:
        """``None`` when the call may run, else the refusal sent to the model."""
        if self.yes:
            return None
        if not tool.always_ask and self.allowed(tool):
            return None
        if self.consent is None:
            return SHELL_NEEDS_YES if tool.always_ask else NO_TERMINAL.format(spec=tool.group or tool.name)
        shown = tool.describe(args) if tool.describe else short_args(args, 400)
        answer = self.consent.ask(call, tool, args, shown)
        if answer == "always" and not tool.always_ask:
            self.always.add(tool.name)
        if answer in ("yes", "always"):
            return None
        return "refused: the user declined this call"

    def run(self, calls: list[ToolCall]) -> list[ToolResult]:
        """Answer one round: a result per call, in order (see the module docstring). Blocks;
        call it from the thread that iterates the event stream.

        Raises:
            ToolsCancelled: :meth:`cancel` was called (running tools were stopped).
            KeyboardInterrupt: Ctrl+C while it ran (running tools were stopped).
        """
        results: list[ToolResult | None] = [None] * len(calls)
        todo: list[tuple[int, ToolCall, Tool, dict[str, Any]]] = []
        for i, call in enumerate(calls):
            if self._cancelled:
                raise ToolsCancelled()
            tool = self.tools.get(call.name)
            if tool is None:
                names = ", ".join(self.tools) or "none"
                results[i] = self._error(call, f"unknown tool {call.name!r} (available: {names})")
                continue
            try:
                args = json.loads(call.arguments) if call.arguments.strip() else {}
            except ValueError as exc:
                results[i] = self._error(call, f"the arguments are not valid JSON ({exc}); "
                                         "send a JSON object")
                continue
            if not isinstance(args, dict):
                results[i] = self._error(call, "the arguments must be a JSON object")
                continue
            refusal = self._permit(call, tool, args)
            if refusal is not None:
                results[i] = self._error(call, refusal)
                continue
            todo.append((i, call, tool, args))
        if todo:
            for i, res in self._run_concurrently(todo):
                results[i] = res
        return [r for r in results if r is not None]

    def _error(self, call: ToolCall, text: str) -> ToolResult:
        res = ToolResult(call.id, call.name, f"error: {text}", ok=False, round=call.round)
        if self.on_result is not None:
            self.on_result(call, res)
        return res

    def _run_concurrently(self, todo: list[tuple[int, ToolCall, Tool, dict[str, Any]]]) -> list[tuple[int, ToolResult]]:
        import asyncio

        async def main() -> list[tuple[int, ToolResult]]:
            with self._lock:
                self._loop = asyncio.get_running_loop()
                self._task = asyncio.current_task()
                if self._cancelled:
                    raise ToolsCancelled()
            return list(await asyncio.gather(*(self._one(i, c, t, a) for i, c, t, a in todo)))

        try:
            return asyncio.run(main())
        except asyncio.CancelledError:
            raise ToolsCancelled() from None
        finally:
            with self._lock:
                self._loop = self._task = None

    async def _one(self, i: int, call: ToolCall, tool: Tool, args: dict[str, Any]) -> tuple[int, ToolResult]:
        import asyncio

        limit = tool.timeout if tool.timeout is not None else self.timeout
        started = time.monotonic()
        ok = True
        try:
            async with asyncio.timeout(limit):
                out = await _invoke(tool, args)
            text = out if isinstance(out, str) else json.dumps(out, ensure_ascii=False, default=str)
        except TimeoutError:
            ok, text = False, f"error: the tool did not finish within {limit:g} s and was stopped"
        except ToolError as exc:
            ok, text = False, f"error: {exc}"
        except Exception as exc:  # any tool failure is the model's to read, never a traceback
            ok, text = False, f"error: {type(exc).__name__}: {exc}"
        res = ToolResult(call.id, call.name, truncate(text, self.max_output), ok=ok,
                         duration_s=time.monotonic() - started, round=call.round)
        if self.on_result is not None:
            self.on_result(call, res)
        return i, res

    def cancel(self) -> None:
        """Stop the running round (thread-safe, idempotent); :meth:`run` raises
        :class:`ToolsCancelled`. Later rounds are refused too: make a new request to reset
        (:meth:`reset`)."""
        with self._lock:
            self._cancelled = True
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)

    def reset(self) -> None:
        """Clear a :meth:`cancel` before the next request of the conversation."""
        self._cancelled = False


async def _invoke(tool: Tool, args: dict[str, Any]) -> Any:
    """Run ``tool.call(args)``: a coroutine function on this loop, a plain one in a daemon
    thread (abandoned, not joined, when the call is cancelled or times out)."""
    import asyncio
    import inspect

    if inspect.iscoroutinefunction(tool.call):
        return await tool.call(args)
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def work() -> None:
        try:
            out, exc = tool.call(args), None
        except BaseException as e:  # handed to the round
            out, exc = None, e
        try:
            loop.call_soon_threadsafe(_settle, fut, out, exc)
        except RuntimeError:  # the round is over (timed out or cancelled): nobody waits
            pass

    threading.Thread(target=work, name=f"tool {tool.name}", daemon=True).start()
    out = await fut
    if inspect.isawaitable(out):
        return await out
    return out


def _settle(fut: Any, value: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)
