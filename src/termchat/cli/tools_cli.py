"""``termchat ask``'s tools: the consent prompt on the terminal, the one stderr line per call,
and the tool set of one ``ask`` (``-T``, ``--yes``, ``--root``, config ``tools.*``).

Consent: when standard error is a terminal and the process has one (``/dev/tty``), each call
that is not allowed yet is shown on stderr — the tool and its arguments (the exact command for
the shell tool), control characters neutralised — and answered ``y`` (yes), ``n`` (no) or
``a`` (always, for the rest of this ``ask``) on the terminal, even when standard input is a
pipe. Without a terminal nobody can be asked: the tools named with ``-T`` (and config
``tools.allow``) run, the shell tool only with ``--yes``, anything else is refused and the
model is told why.
"""

from __future__ import annotations

import sys
from typing import Any

from ..render import sanitize, stderr_line


class TerminalConsent:
    """:class:`~termchat.client.tools.Consent` on the controlling terminal: the question on
    stderr, the answer read from ``/dev/tty`` (``tty`` — an open text file — in tests)."""

    def __init__(self, tty: Any = None) -> None:
        self._tty = tty

    @staticmethod
    def available() -> bool:
        """Whether stderr is a terminal and ``/dev/tty`` can be opened."""
        try:
            if not sys.stderr.isatty():
                return False
            with open("/dev/tty", "rb"):
                return True
        except OSError:
            return False

    def _read(self) -> str:
        if self._tty is None:
            self._tty = open("/dev/tty", encoding="utf-8", errors="replace")  # noqa: SIM115
        return self._tty.readline()

    def ask(self, call: Any, tool: Any, args: dict[str, Any], shown: str) -> str:
        """Show the call and read ``y``/``n``/``a``; an empty line or EOF is no. Ctrl+C
        raises ``KeyboardInterrupt`` (the request stops)."""
        choices = "[y]es / [n]o" if tool.always_ask else "[y]es / [n]o / [a]lways"
        what = "run this command" if tool.always_ask else "call"
        try:
            sys.stderr.write(f"termchat: the model wants to {what}: {sanitize(tool.name)}\n"
                             f"  {sanitize(shown)}\n  allow? {choices}: ")
            sys.stderr.flush()
        except (OSError, ValueError):
            return "no"
        while True:
            line = self._read()
            if not line:
                return "no"
            ans = line.strip().lower()
            if ans in ("y", "yes"):
                return "yes"
            if ans in ("n", "no", ""):
                return "no"
            if ans in ("a", "always") and not tool.always_ask:
                return "always"
            try:
                sys.stderr.write(f"  please answer {choices}: ")
                sys.stderr.flush()
            except (OSError, ValueError):
                return "no"


def call_line(call: Any, result: Any) -> str:
    """``tool NAME ARGS 0.12 s ok`` (or ``error: first line``), one line, at most ~160
    characters; neutralised when printed (:func:`termchat.render.stderr_line`)."""
    from ..client.tools.toolset import short_args

    try:
        import json

        args: Any = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        args = call.arguments
    status = "ok" if result.ok else " ".join(result.content.split())[:80]
    return f"termchat: tool {call.name} {short_args(args, 60)} {result.duration_s:.2f} s {status}"


def toolset_for_ask(config: Any, specs: list[str], yes: bool, roots: list[str]) -> Any:
    """The :class:`~termchat.client.tools.ToolSet` of one ``ask``, or ``None`` when no tool
    is enabled (``-T`` values, else config ``tools.enabled``).

    Raises:
        UsageError: an unknown ``-T`` name; ``--root`` that is not a folder.
    """
    import os

    from ..core.errors import UsageError

    enabled = specs or list(config.get("tools.enabled") or [])
    if not enabled:
        return None
    for r in roots:
        if not os.path.isdir(os.path.expanduser(r)):
            raise UsageError(f"--root {r}: not a folder")
    if roots:
        config.overrides["tools.roots"] = [*(config.get("tools.roots") or []), *roots]
    from ..client.tools import build_toolset
    from .complete import BUILTIN_TOOLS

    servers = (config.data.get("mcp") or {}).get("servers") or {}
    for name in sorted(set(enabled) & set(BUILTIN_TOOLS) & set(servers)):
        stderr_line(f"termchat: -T {name} is the built-in tool; the MCP server {name!r} is "
                    f"reached as -T {name}.TOOL (or rename it)", style="yellow")
    consent = TerminalConsent() if TerminalConsent.available() else None
    return build_toolset(
        config, enabled, consent=consent, yes=yes,
        allow=list(specs) if consent is None else None,
        on_result=lambda call, res: stderr_line(call_line(call, res), style="dim"),
    )
