"""Tools in `termchat chat` (Pilot), against the loopback server scripting tool calls and real
MCP servers (mcp-server-time from PyPI; the SDK-written test server): the consent dialog
(y / n / always), each call as a collapsible block, Esc during a tool run, a server that will
not start, replay of stored calls, and the same through the warm core."""

from __future__ import annotations

import sys

import pytest

from termchat.tui.screens.consent import ConsentScreen
from termchat.tui.widgets.message import NoticeView
from termchat.tui.widgets.toolblock import ToolBlock
from tests.conftest import ROOT
from tests.support.fake_tools import chat_bodies, tool_results
from tests.test_mcp import TIME_SERVER, time_server
from tests.tui.helpers import make_app, type_and_send, wait_for, wait_idle


def servers(enabled: str = '["clock"]', allow: str = "[]") -> str:
    time_server()  # fails in CI (skips elsewhere) when mcp-server-time is missing
    return (f"[tools]\nenabled = {enabled}\nallow = {allow}\n"
            f'[mcp.servers.clock]\ncommand = "{TIME_SERVER}"\n'
            f'[mcp.servers.t]\ncommand = "{sys.executable}"\n'
            f'args = ["-m", "tests.support.mcp_servers", "stdio"]\ncwd = "{ROOT}"\n'
            '[mcp.servers.broken]\ncommand = "/nonexistent/mcp-server"\n')


PARIS = {"tool_calls": [{"name": "clock_get_current_time", "id": "call_p",
                         "arguments": {"timezone": "Europe/Paris"}}], "text": "Checking. "}


@pytest.fixture(autouse=True)
def _stop_servers():
    yield
    from termchat.client.mcp import shutdown

    shutdown()


def last_notice(app) -> str:
    """The text of the app's newest notification."""
    return list(app._notifications)[-1].message


def blocks(app) -> list[ToolBlock]:
    return list(app.conversation.query(ToolBlock))


async def consent(pilot) -> ConsentScreen:
    dialog = await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConsentScreen)
                            and pilot.app.screen.query("#no") and pilot.app.screen,
                            what="the consent dialog")
    await pilot.pause()
    return dialog


async def test_yes_runs_the_mcp_tool_and_shows_a_block(home, fake):
    fake.script(PARIS, {"text": "It is evening in Paris."})
    app = make_app(home, fake, extra_config=servers())
    async with app.run_test(size=(110, 36)) as pilot:
        await type_and_send(pilot, "what time is it in Paris?")
        dialog = await consent(pilot)
        assert dialog.tool == "clock.get_current_time" and dialog.source == "clock"
        assert '"timezone": "Europe/Paris"' in str(dialog.query_one(".consent-args Static")
                                                    .render())
        await pilot.press("y")
        await wait_idle(pilot)
        assert "Europe/Paris" in tool_results(fake, 1)["call_p"]
        [block] = blocks(app)
        assert block.collapsed and block.ok
        assert str(block.title).startswith("⚙ clock.get_current_time · ") and block.title.endswith(" s")
        assert "Europe/Paris" in str(block._result_view.render())
        rows = app.store.messages(app.conv.id)
        assert rows[-1].content == "Checking. It is evening in Paris."
        assert rows[-1].tool_rounds[0]["calls"][0]["name"] == "clock.get_current_time"
        assert chat_bodies(fake)[0]["tools"][0]["function"]["name"] == "clock_get_current_time"
        await pilot.click(block._title)  # opens the block
        await pilot.pause()
        assert not block.collapsed


async def test_no_sends_a_refusal_and_always_stops_asking(home, fake):
    fake.script(PARIS, {"text": "I may not look."}, PARIS, {"text": "Now I looked."},
                PARIS, {"text": "Again."})
    app = make_app(home, fake, extra_config=servers())
    async with app.run_test(size=(110, 36)) as pilot:
        await type_and_send(pilot, "time?")
        await consent(pilot)
        await pilot.press("n")
        await wait_idle(pilot)
        assert tool_results(fake, 1)["call_p"] == "error: refused: the user declined this call"
        assert str(blocks(app)[0].title) == "⚙ clock.get_current_time · refused"
        await type_and_send(pilot, "please, always")
        await consent(pilot)
        await pilot.press("a")
        await wait_idle(pilot)
        assert "Europe/Paris" in tool_results(fake, 3)["call_p"]
        await type_and_send(pilot, "once more")
        await wait_for(pilot, lambda: len(chat_bodies(fake)) == 6, what="the third answer")
        await wait_idle(pilot)
        assert not isinstance(app.screen, ConsentScreen)  # "always": not asked again
        assert "Europe/Paris" in tool_results(fake, 5)["call_p"]
        await app.action_new_conversation()  # a new conversation forgets "always"
        assert app.session.tools.toolset.always == set()


async def test_escape_during_a_tool_run_keeps_the_partial_answer(home, fake):
    fake.script({"tool_calls": [{"name": "t_sleep", "arguments": {"seconds": 30}}],
                 "text": "Let me wait. "}, {"text": "never sent"})
    app = make_app(home, fake, extra_config=servers('["t.sleep"]', '["t"]'))
    async with app.run_test(size=(110, 36)) as pilot:
        await type_and_send(pilot, "wait")
        await wait_for(pilot, lambda: blocks(app) and "running" in str(blocks(app)[0].title),
                       what="the running block")
        await pilot.press("escape")
        await wait_idle(pilot, timeout=20)
        rows = app.store.messages(app.conv.id)
        assert rows[-1].content == "Let me wait. " and rows[-1].interrupted
        assert len(chat_bodies(fake)) == 1  # the model was not asked again
        hub = app.session.tools.toolset.get("t.sleep").call  # the server itself stays up
        assert hub is not None
        from termchat.client.mcp import shared_hub

        assert shared_hub(app.config).started("t")


async def test_untrusted_output_is_neutralised_and_replayed(home, fake):
    fake.script({"tool_calls": [{"name": "t_ansi", "id": "call_a", "arguments": {}}]},
                {"text": "Done."})
    app = make_app(home, fake, extra_config=servers('["t.ansi"]', '["t.ansi"]'))
    async with app.run_test(size=(110, 36)) as pilot:
        await type_and_send(pilot, "colours")
        await wait_idle(pilot)
        [block] = blocks(app)
        shown = str(block._result_view.render())
        assert "\x1b" not in shown and "\x07" not in shown and "RED" in shown
        assert "\x1b[31m" in tool_results(fake, 1)["call_a"]  # the model got the text as it came
        cid = app.conv.id
    again = make_app(home, fake, extra_config=servers('["t.ansi"]', '["t.ansi"]'),
                     conversation_id=cid)
    async with again.run_test(size=(110, 36)) as pilot:
        await wait_for(pilot, lambda: blocks(again), what="the stored block")
        [block] = blocks(again)
        assert block.tool_name == "t.ansi" and block.ok
        assert "\x1b" not in str(block._result_view.render())


async def test_a_server_that_will_not_start_is_left_out_with_a_notice(home, fake):
    fake.script({"text": "No tools needed."})
    app = make_app(home, fake, extra_config=servers('["broken", "clock"]'))
    async with app.run_test(size=(110, 36)) as pilot:
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        texts = [n.message for n in app._notifications]
        assert any("tool broken left out: MCP server 'broken' did not start: command not "
                   "found: /nonexistent/mcp-server" in t for t in texts), texts
        sent = [t["function"]["name"] for t in chat_bodies(fake)[0]["tools"]]
        assert sent == ["clock_get_current_time", "clock_convert_time"]
        assert app.store.messages(app.conv.id)[-1].content == "No tools needed."
        assert not app.conversation.query(NoticeView)


async def test_slash_tools_lists_and_enables(home, fake):
    fake.script({"tool_calls": [{"name": "t_echo", "id": "e", "arguments": {"text": "hey"}}]},
                {"text": "ok"})
    app = make_app(home, fake, extra_config=servers("[]", '["t"]'))
    async with app.run_test(size=(110, 36)) as pilot:
        await type_and_send(pilot, "/tools")
        await pilot.pause()
        assert "no tools enabled" in last_notice(app)
        assert "MCP servers: clock (not started), t (not started)" in last_notice(app)
        await type_and_send(pilot, "/tools t.echo")
        await type_and_send(pilot, "echo please")
        await wait_idle(pilot)
        assert tool_results(fake, 1)["e"] == "hey"
        app.action_tools()
        await pilot.pause()
        assert "t.echo  [MCP t] (runs without asking)" in last_notice(app)


@pytest.fixture
def warm_home(whome, monkeypatch):
    """A short home (for the socket) with the warm core enabled."""
    monkeypatch.delenv("TERMCHAT_NO_WARM", raising=False)
    monkeypatch.setenv("OLLAMA_API_BASE", "http://127.0.0.1:9")
    return whome


async def test_the_same_through_the_warm_core(warm_home, fake):
    """The warm core streams the calls; the MCP server runs here, after the dialog's yes."""
    fake.script(PARIS, {"text": "Evening."})
    app = make_app(warm_home, fake, extra_config=servers())
    assert app.core.use_warm
    async with app.run_test(size=(110, 36)) as pilot:
        await type_and_send(pilot, "time in Paris?")
        await consent(pilot)
        await pilot.press("y")
        await wait_idle(pilot, timeout=120)
        assert "Europe/Paris" in tool_results(fake, 1)["call_p"]
        [block] = blocks(app)
        assert block.ok and block.title.endswith(" s")
        assert app.store.messages(app.conv.id)[-1].content == "Checking. Evening."
        from termchat import warm

        assert warm.control("status", warm.socket_path())["served"] >= 1  # the warm core served it
