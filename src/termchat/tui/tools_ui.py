"""Tools in ``termchat chat``: which tools a conversation has, the consent dialog, and the tool
calls shown as blocks in the reply.

* :class:`ChatTools` (one per :class:`~termchat.tui.session.ChatSession`): the conversation's
  :class:`~termchat.client.tools.ToolSet`, built from config ``tools.enabled`` plus what
  ``/tools NAME…`` enabled, off the app's loop (naming an MCP server starts it); a server that
  will not start is reported (one line) and left out, the rest still work. The set is kept
  across the conversation's turns ("always" answers persist) and forgotten by a new or opened
  conversation. The turn itself is the client layer's (``Core.chat(req, rm, tools=…)``), the
  same for the warm core and in-process.
* :class:`ChatConsent`: the client layer asks from the stream's reader thread; the question is
  handed to the app's loop as a :class:`~termchat.tui.screens.consent.ConsentScreen` and the
  thread waits for the answer.
* :func:`show_event`: ``ToolCall``/``ToolResult`` events as :class:`ToolBlock` widgets above
  the reply's text (collapsed: tool, state, time; opened: arguments and result, neutralised).
* ``/tools`` lists the enabled tools and the configured MCP servers; ``/tools NAME…`` enables
  more for this chat (a built-in, an MCP server, or ``SERVER.tool``).

MCP servers are shared by the whole chat (:func:`termchat.client.mcp.shared_hub`): the SDK is
imported in the background after the first frame when servers are configured (:func:`prepare`),
and every server is stopped when the app exits (:func:`shutdown`).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from ..core.errors import TermchatError
from ..core.types import ToolCall, ToolResult


class ChatTools:
    """The tools of the open conversation.

    Args:
        config: the loaded :class:`termchat.config.Config`.

    Attributes:
        extra: specs enabled with ``/tools NAME`` (for the rest of the chat).
        consent: the app's :class:`ChatConsent` (``None``: nobody to ask, calls are refused
            unless allowed by config ``tools.allow``).
        on_error: ``on_error(text)`` for a spec that fails (an MCP server that will not start),
            called from a worker thread; ``None`` keeps them in :attr:`errors` only.
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self.extra: list[str] = []
        self.consent: Any = None
        self.on_error: Any = None
        self.errors: list[str] = []
        self.toolset: Any = None
        self._built_for: tuple[str, ...] | None = None
        self._lock = threading.Lock()

    def specs(self) -> list[str]:
        """Config ``tools.enabled`` then the ``/tools`` additions, each once."""
        try:
            enabled = list(self.config.get("tools.enabled") or [])
        except KeyError:
            enabled = []
        return list(dict.fromkeys([*enabled, *self.extra]))

    def build(self) -> Any:
        """The conversation's ToolSet (``None`` when no tool is enabled), built when the specs
        changed — blocking (an MCP server may start): call it off the app's loop. A spec that
        fails is reported through :attr:`on_error` and left out."""
        from ..client.tools import build_toolset, resolve_specs

        specs = tuple(self.specs())
        with self._lock:
            if specs == self._built_for:
                return self.toolset if self.toolset else None
            good = []
            for spec in specs:
                try:
                    resolve_specs([spec], self.config)
                    good.append(spec)
                except TermchatError as err:
                    text = f"tool {spec} left out: {err.message}"
                    self.errors.append(text)
                    if self.on_error is not None:
                        self.on_error(text)
            always = set(self.toolset.always) if self.toolset is not None else set()
            self.toolset = build_toolset(self.config, good, consent=self.consent)
            self.toolset.always |= always
            self._built_for = specs
            return self.toolset if self.toolset else None

    async def ready(self) -> Any:
        """:meth:`build` on a worker thread; the ToolSet (reset for a new request) or ``None``."""
        if not self.specs():
            return None
        ts = await asyncio.to_thread(self.build)
        if ts is not None:
            ts.consent = self.consent
            ts.reset()
        return ts

    def forget(self) -> None:
        """A new conversation: forget the "always" answers."""
        if self.toolset is not None:
            self.toolset.forget()

    def enable(self, specs: list[str]) -> None:
        """Enable more specs for the rest of the chat (checked at the next :meth:`build`)."""
        self.extra.extend(s for s in specs if s not in self.extra)

    def describe(self) -> list[str]:
        """Lines for ``/tools``: the enabled tools (with where they come from and whether they
        run without asking), then the configured MCP servers and their state."""
        lines = []
        ts = self.toolset
        if ts is not None and ts.tools:
            for tool in ts.tools.values():
                note = " (runs without asking)" if ts.allowed(tool) and not tool.always_ask else ""
                where = "built-in" if tool.source == "builtin" else f"MCP {tool.source}"
                lines.append(f"{tool.name}  [{where}]{note}")
        elif self.specs():
            lines.append(f"enabled: {', '.join(self.specs())} (loaded with the next message)")
        else:
            lines.append("no tools enabled (config tools.enabled, or /tools NAME)")
        from ..mcp_config import servers

        declared = servers(self.config.data)
        if declared:
            from ..client.mcp import shared_hub

            status = shared_hub(self.config).status()
            lines.append("MCP servers: " + ", ".join(f"{n} ({status.get(n, 'not started')})"
                                                      for n in declared))
        lines.extend(self.errors[-3:])
        return lines


class ChatConsent:
    """The client layer's :class:`~termchat.client.tools.Consent` in the chat app: each
    question is a :class:`~termchat.tui.screens.consent.ConsentScreen` on the app's loop; the
    asking thread (the stream's reader) waits for the answer. When the app is gone the answer
    is ``"no"``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def ask(self, call: ToolCall, tool: Any, args: dict[str, Any], shown: str) -> str:
        """``"yes"``, ``"no"`` or ``"always"`` for ``call`` of ``tool`` (blocks this thread)."""
        from .screens.consent import ConsentScreen

        done = threading.Event()
        answer: list[str] = []

        def answered(value: str | None) -> None:
            answer.append(value or "no")
            done.set()

        def push() -> None:
            self.app.push_screen(ConsentScreen(tool.name, tool.source, shown, call.arguments,
                                               always_ask=tool.always_ask), answered)

        try:
            self.app.call_from_thread(push)
        except Exception:  # the app is closing
            return "no"
        while not done.wait(0.2):
            if not self.app.is_running:
                return "no"
        return answer[0]


async def show_event(view: Any, ev: ToolCall | ToolResult) -> None:
    """Show a tool event in ``view``: a :class:`MessageView` gets a block per call (above its
    text) and a status line; a view without a screen (:class:`~termchat.tui.session.Transcript`)
    records the event in its ``tool_events`` list when it has one."""
    if not hasattr(view, "mount"):
        events = getattr(view, "tool_events", None)
        if events is not None:
            events.append(ev)
        return
    try:
        await _show(view, ev)
    except Exception:  # the view went away (the app is closing): the turn goes on regardless
        from ..logs import get_logger

        get_logger().warning("tool block not shown", exc_info=True)


async def _show(view: Any, ev: ToolCall | ToolResult) -> None:
    from .widgets.toolblock import ToolBlock

    blocks = await _blocks(view)
    if isinstance(ev, ToolCall):
        view.set_status(f"running {ev.name}…")
        await blocks.mount(ToolBlock(ev.id, ev.name, ev.arguments))
    else:
        block = blocks.block(ev.id)
        if block is None:
            block = ToolBlock(ev.id, ev.name, "")
            await blocks.mount(block)
        block.set_result(ev.content, ev.ok, ev.duration_s)
        view.set_status("waiting for the model…")


async def _blocks(view: Any) -> Any:
    """The view's :class:`ToolBlocks`, mounted above its body when it has none yet."""
    from .widgets.toolblock import ToolBlocks

    found = list(view.query_children(ToolBlocks))
    if found:
        return found[0]
    blocks = ToolBlocks()
    await view.mount(blocks, before=view.query_one(".msg-body"))
    return blocks


def prepare(config: Any) -> None:
    """After the first frame: when MCP servers are configured, import the SDK in the background
    (a server's first use then costs only its own start). Starts no server."""
    from ..mcp_config import servers

    if servers(config.data):
        from ..client.mcp import shared_hub

        shared_hub(config).prepare()


def shutdown() -> None:
    """Stop the MCP servers this app started (on exit)."""
    import sys

    mcp = sys.modules.get("termchat.client.mcp")
    if mcp is not None:
        mcp.shutdown()


def show_tools(app: Any) -> None:
    """Notify the enabled tools and the MCP servers' states (``/tools``, the palette's Tools).
    Reads the state only: starts no server."""
    from ..render import sanitize

    app.notify(sanitize("\n".join(app.session.tools.describe())), title="Tools", timeout=10,
               markup=False)
