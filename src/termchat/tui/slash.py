"""The chat app's slash commands, in one registry: :data:`COMMANDS`.

Each command is declared once, with :meth:`SlashRegistry.command` on its handler, and that
declaration is all there is: the prompt's dispatch (:meth:`SlashRegistry.dispatch`), the help
screen's table (:meth:`SlashRegistry.help_rows`) and Tab completion in the prompt
(:meth:`SlashRegistry.complete`) read it. A handler gets the app, the argument (stripped) and
the whole line (to give back to the prompt when the command fails).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Handler = Callable[[Any, str, str], Any]
"""``handler(app, arg, line)``; may be a coroutine function."""


@dataclass(frozen=True)
class SlashCommand:
    """A slash command: ``name`` (with its ``/``), its ``args`` as the help shows them, one
    line of ``help``, and the ``handler``."""

    name: str
    args: str
    help: str
    handler: Handler

    @property
    def usage(self) -> str:
        """``/name ARGS``."""
        return f"{self.name} {self.args}" if self.args else self.name


class SlashRegistry:
    """Slash commands by name, in the order they were declared."""

    def __init__(self) -> None:
        self._commands: dict[str, SlashCommand] = {}

    def command(self, name: str, args: str = "", help: str = "") -> Callable[[Handler], Handler]:
        """Declare the decorated function as the handler of ``name``."""
        if not name.startswith("/") or " " in name:
            raise ValueError(f"a slash command is one word that starts with '/': {name!r}")

        def register(handler: Handler) -> Handler:
            if name in self._commands:
                raise ValueError(f"{name} is declared twice")
            self._commands[name] = SlashCommand(name, args, help, handler)
            return handler

        return register

    def __iter__(self) -> Iterator[SlashCommand]:
        return iter(self._commands.values())

    def __len__(self) -> int:
        return len(self._commands)

    def get(self, name: str) -> SlashCommand | None:
        """The command called ``name`` (with its ``/``), or ``None``."""
        return self._commands.get(name)

    def names(self) -> list[str]:
        """Every command's name, in declaration order."""
        return list(self._commands)

    def complete(self, prefix: str) -> list[str]:
        """The names that start with ``prefix`` (``"/"`` gives them all)."""
        return [n for n in self._commands if n.startswith(prefix)]

    def help_rows(self) -> list[tuple[str, str]]:
        """``(usage, help)`` of every command, for the help screen."""
        return [(c.usage, c.help) for c in self]

    async def dispatch(self, app: Any, line: str) -> bool:
        """Run the command on ``line`` (``/name [arg]``). An unknown one is reported and the
        prompt keeps its text (False); a known one clears the prompt and runs (True)."""
        name, _, arg = line.strip().partition(" ")
        cmd = self.get(name)
        if cmd is None:
            app.notify(f"unknown command {name}; /help lists them", severity="error")
            return False
        app.prompt.clear()
        result = cmd.handler(app, arg.strip(), line)
        if inspect.isawaitable(result):
            await result
        return True


COMMANDS = SlashRegistry()
"""The chat app's slash commands."""


@COMMANDS.command("/model", "[NAME]", "switch model (no name: open the picker)")
def _model(app: Any, arg: str, line: str) -> None:
    if not arg:
        app.action_pick_model()
    elif not app.switch_model(arg):
        app.prompt.restore(line)


@COMMANDS.command("/system", "[TEXT]", "set the system prompt (no text: open the dialog)")
def _system(app: Any, arg: str, line: str) -> None:
    if arg:
        app.set_system(arg)
        app.notify("system prompt set")
    else:
        app.action_system_dialog()


@COMMANDS.command("/image", "PROMPT", "generate an image with `image.model` and save it "
                  "(image.dir or the current directory)")
def _image(app: Any, arg: str, line: str) -> None:
    app.run_worker(app.image(arg, line), group="media")


@COMMANDS.command("/speak", "[TEXT]", "speak the text, or the last reply, with `speech.model`; "
                  "save the WAV and play it")
def _speak(app: Any, arg: str, line: str) -> None:
    app.run_worker(app.speak(arg, line), group="media")


@COMMANDS.command("/clear", "", "start a new conversation (the current one stays in the history)")
async def _clear(app: Any, arg: str, line: str) -> None:
    await app.action_new_conversation()


@COMMANDS.command("/export", "[md|json] [PATH]", "export this conversation (no path: open the dialog)")
def _export(app: Any, arg: str, line: str) -> None:
    parts = arg.split(maxsplit=1)
    fmt = parts[0] if parts and parts[0] in ("md", "json") else None
    rest = parts[1] if fmt and len(parts) > 1 else (arg if not fmt else "")
    if app.conv is None:
        app.notify("nothing to export yet", severity="warning")
    elif rest:
        fmt = fmt or ("json" if rest.endswith(".json") else "md")
        if app.export(fmt, Path(rest)) is None:
            app.prompt.restore(line)
    else:
        app.action_export()


@COMMANDS.command("/help", "", "this screen")
def _help(app: Any, arg: str, line: str) -> None:
    app.action_help()


@COMMANDS.command("/tools", "[NAME…]", "list the enabled tools and MCP servers; with names, "
                  "enable more for this chat (built-in, MCP server, or SERVER.tool)")
def _tools(app: Any, arg: str, line: str) -> None:
    if arg:
        app.enable_tools(arg.replace(",", " ").split())
    else:
        app.action_tools()


@COMMANDS.command("/preset", "[NAME]", "use a saved preset: model, system prompt, options and "
                  "fallbacks (no name: open the picker)")
def _preset(app: Any, arg: str, line: str) -> None:
    if not arg:
        app.action_pick_preset()
    elif not app.use_preset(arg):
        app.prompt.restore(line)
