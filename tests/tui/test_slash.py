"""The slash-command registry: dispatch, the help screen and prompt completion all read it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from termchat.tui.slash import COMMANDS, SlashRegistry
from tests.tui.helpers import make_app, wait_for

TUI = Path(__file__).resolve().parents[2] / "src" / "termchat" / "tui"


class FakePrompt:
    def __init__(self) -> None:
        self.cleared = 0
        self.restored: list[str] = []

    def clear(self) -> None:
        self.cleared += 1

    def restore(self, text: str) -> None:
        self.restored.append(text)


class FakeApp:
    """What the handlers call on the app, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.prompt = FakePrompt()
        self.conv = object()

    def _rec(name):  # a recorder factory, used in the class body
        def call(self, *args, **kwargs):
            self.calls.append((name, *args))
            return name
        return call

    notify = _rec("notify")
    action_pick_model = _rec("action_pick_model")
    switch_model = _rec("switch_model")
    set_system = _rec("set_system")
    action_system_dialog = _rec("action_system_dialog")
    action_export = _rec("action_export")
    export = _rec("export")
    action_help = _rec("action_help")
    action_pick_preset = _rec("action_pick_preset")
    use_preset = _rec("use_preset")
    action_tools = _rec("action_tools")
    enable_tools = _rec("enable_tools")

    def image(self, arg, line):  # the worker's coroutine, as a marker
        return ("image", arg, line)

    def speak(self, arg, line):
        return ("speak", arg, line)

    def run_worker(self, work, group=None):
        self.calls.append(("run_worker", work, group))

    async def action_new_conversation(self):
        self.calls.append(("action_new_conversation",))


# every registered command, with a line and the app call it must make
EXPECTED = {
    "/model": [("/model", "action_pick_model"), ("/model fake/x", "switch_model")],
    "/system": [("/system", "action_system_dialog"), ("/system Be terse.", "set_system")],
    "/image": [("/image a red square", "run_worker")],
    "/speak": [("/speak", "run_worker")],
    "/clear": [("/clear", "action_new_conversation")],
    "/export": [("/export", "action_export"), ("/export json out.json", "export")],
    "/help": [("/help", "action_help")],
    "/preset": [("/preset", "action_pick_preset"), ("/preset terse", "use_preset")],
    "/tools": [("/tools", "action_tools"), ("/tools clock time", "enable_tools")],
}


def test_every_command_is_tested_here():
    assert set(EXPECTED) == set(COMMANDS.names())


@pytest.mark.parametrize("line,call", [c for cases in EXPECTED.values() for c in cases])
async def test_each_command_dispatches(line, call):
    app = FakeApp()
    assert await COMMANDS.dispatch(app, line) is True
    assert app.prompt.cleared == 1
    assert [c[0] for c in app.calls if c[0] != "notify"] == [call]
    if call == "run_worker":
        name, _, arg = line.partition(" ")
        assert app.calls[-1][1:] == ((name[1:], arg, line), "media")


async def test_command_arguments_reach_the_handlers():
    app = FakeApp()
    await COMMANDS.dispatch(app, "/export json  out.json ")
    assert ("export", "json", Path("out.json")) in app.calls
    await COMMANDS.dispatch(app, "/system   Be terse.")
    assert ("set_system", "Be terse.") in app.calls
    await COMMANDS.dispatch(app, "/tools clock, time")
    assert ("enable_tools", ["clock", "time"]) in app.calls


async def test_unknown_command_is_reported_and_keeps_the_prompt():
    app = FakeApp()
    assert await COMMANDS.dispatch(app, "/frobnicate a cat") is False
    assert app.prompt.cleared == 0
    assert app.calls == [("notify", "unknown command /frobnicate; /help lists them")]


def test_completion_and_help_list_exactly_the_registered_commands():
    names = COMMANDS.names()
    assert names == [c.name for c in COMMANDS] and len(names) == len(COMMANDS)
    assert COMMANDS.complete("/") == names
    assert COMMANDS.complete("/s") == ["/system", "/speak"]
    assert COMMANDS.complete("/he") == ["/help"] and COMMANDS.complete("/zz") == []
    assert [u.split()[0] for u, _ in COMMANDS.help_rows()] == names


def test_a_registry_refuses_bad_and_twice_declared_names():
    reg = SlashRegistry()
    reg.command("/a", "X", "a")(lambda app, arg, line: None)
    with pytest.raises(ValueError):
        reg.command("/a")(lambda app, arg, line: None)
    with pytest.raises(ValueError):
        reg.command("b")
    assert reg.help_rows() == [("/a X", "a")]


def test_no_other_list_of_slash_commands_in_the_app():
    """Dispatch, help and completion have no hand-written list: no tui module other than the
    registry spells a command's name as a string, except where a message quotes it."""
    for path in TUI.rglob("*.py"):
        if path.name == "slash.py":
            continue
        tree = ast.parse(path.read_text())
        consts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        assert not [c for c in consts if c in COMMANDS.names()], path


async def test_help_screen_and_tab_completion_in_the_app(home, fake):
    from textual.widgets import Markdown

    from termchat.tui.screens.help import HelpScreen

    app = make_app(home, fake, load_core=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen)
        source = screen.query_one(Markdown).source
        shown = re.findall(r"^\| `(/\w+)", source, re.M)
        assert shown == COMMANDS.names()
        await pilot.press("escape")
        await pilot.pause()
        app.prompt.focus()
        app.prompt.text = "/he"
        app.prompt.move_cursor(app.prompt.document.end)
        await pilot.press("tab")
        assert app.prompt.text == "/help " and app.focused is app.prompt
        app.prompt.text = "/s"
        await pilot.press("tab")
        assert app.prompt.text == "/s" and app.focused is app.prompt  # two match: listed
        app.prompt.text = "/sp"
        await pilot.press("tab")
        assert app.prompt.text == "/speak "
        app.prompt.text = "hello /"
        await pilot.press("tab")  # not a command being typed: Tab moves the focus
        assert app.focused is not app.prompt
