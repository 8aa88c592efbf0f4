"""Budgets and presets in the chat app: the budget check around each reply (ChatSession driven
directly, in-process core), today's spend in the status bar and the preset picker (Pilot),
against the loopback server with catalog prices (tests/support/priced.py)."""

from __future__ import annotations

import pytest

from tests.support.priced import REPLY, write_catalog
from tests.tui.helpers import make_app, type_and_send, wait_for, wait_idle
from tests.tui.test_session import chat_bodies, make_session

PRICED = "openai/gpt-budget"


@pytest.fixture
def priced(home, fake, monkeypatch):
    """OpenAI's variables point at the loopback server; the catalog prices gpt-budget."""
    from termchat.core import catalog

    monkeypatch.setenv("TERMCHAT_CATALOG", str(write_catalog(home)))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
    catalog.reset_caches()
    yield
    catalog.reset_caches()


async def test_session_refuses_over_budget_and_passes_once(home, fake, priced):
    from termchat.tui.session import Transcript

    fake.script(REPLY, REPLY)
    s = make_session(home, fake, model=PRICED, extra="retries = 0\n[budget]\ndaily_usd = 0.015\n",
                     options={"max_tokens": 10})
    assert "today $0.0000 of $0.0150 (0%)" in s.status_bits()
    turn = await s.send("hi")
    assert turn.outcome.error is None and abs(turn.outcome.cost_usd - 0.02) < 1e-9
    assert "today $0.0200 of $0.0150 (133%)" in s.status_bits()
    with s.store.db as db:
        assert db.execute("SELECT count(*) FROM budget_holds").fetchone()[0] == 0

    turn = await s.send("again")
    assert turn.withdrawn and turn.text == "again"
    assert turn.outcome.error is not None and turn.outcome.error.exit_code == 1
    assert "daily budget reached: $0.0200 spent today" in turn.outcome.error.message
    assert len(chat_bodies(fake)) == 1

    s.over_budget = True
    view = Transcript()
    turn = await s.send("again", view=view)
    assert turn.outcome.error is None and turn.reply_id is not None
    assert any(st.startswith("over the daily budget (--over-budget): $0.0200 spent today")
               for st in view.statuses), view.statuses
    assert len(chat_bodies(fake)) == 2
    assert s.over_budget is False
    turn = await s.send("once more")
    assert turn.withdrawn and len(chat_bodies(fake)) == 2


async def test_status_bar_shows_today_against_the_budget(home, fake, priced):
    fake.script(REPLY)
    app = make_app(home, fake, model=PRICED,
                   extra_config="retries = 0\n[budget]\ndaily_usd = 1.0\n", options={"max_tokens": 10})
    async with app.run_test(size=(120, 30)) as pilot:
        status = lambda: str(app.query_one("#status").render())  # noqa: E731
        assert "today $0.0000 of $1.00 (0%)" in status()
        await type_and_send(pilot, "hi")
        await wait_for(pilot, lambda: chat_bodies(fake), what="the request")
        await wait_idle(pilot)
        await wait_for(pilot, lambda: "today $0.0200 of $1.00 (2%)" in status(),
                       what="the spend in the status bar")


async def test_status_bar_shows_what_a_team_gateway_reports(home, fake, monkeypatch):
    """A ``litellm_proxy`` endpoint: its ``/key/info`` figures (the loopback server answers as
    LiteLLM 1.106's proxy does) show in the status line after the first frame and are asked
    again after each reply."""
    monkeypatch.setenv("TEAM_KEY", "sk-team-123456")
    fake.key_info = {"spend": 3.25, "max_budget": 10.0}
    gateway = (f'[endpoints.team]\nkind = "litellm_proxy"\napi_base = "{fake.base_url}"\n'
               'api_key_env = "TEAM_KEY"\n')
    fake.script({"text": "hello"})
    app = make_app(home, fake, extra_config=gateway)
    async with app.run_test(size=(140, 30)) as pilot:
        status = lambda: str(app.query_one("#status").render())  # noqa: E731
        await wait_for(pilot, lambda: "team $3.2500 of $10.00" in status(),
                       what="the gateway's spend in the status bar")
        fake.key_info = {"spend": 10.5, "max_budget": 10.0}
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        await wait_for(pilot, lambda: "team $10.5000 of $10.00 (over budget)" in status(),
                       what="the spend asked again after the reply")
        assert len(fake.requests_to("/key/info")) >= 2


async def test_status_bar_without_a_budget_says_nothing_of_spend(home, fake):
    app = make_app(home, fake)
    async with app.run_test(size=(120, 30)):
        assert "today" not in str(app.query_one("#status").render())


PRESETS = ('[presets.terse]\nmodel = "fake/terse-model"\nsystem = "Be terse."\n'
           'fallbacks = ["fake/backup"]\n[presets.terse.options]\ntemperature = 0.1\n'
           '[presets.other]\nmodel = "fake/other"\n')


async def test_preset_picker_from_the_slash_command_and_the_palette(home, fake):
    from termchat.tui.spend import PresetPicker

    fake.script({"text": "short"})
    app = make_app(home, fake, extra_config=PRESETS)
    async with app.run_test(size=(120, 30)) as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Use a preset" in titles
        await type_and_send(pilot, "/preset")
        await wait_for(pilot, lambda: isinstance(app.screen, PresetPicker), what="the picker")
        await pilot.press("enter")  # the first preset: terse
        await wait_for(pilot, lambda: app.model == "fake/terse-model", what="the preset")
        assert app.session.system == "Be terse." and app.session.options == {"temperature": 0.1}
        assert app.session.fallbacks == ["fake/backup"]
        assert "system prompt set" in str(app.query_one("#status").render())
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: chat_bodies(fake), what="the request")
        await wait_idle(pilot)
        body = chat_bodies(fake)[-1]
        assert body["model"] == "terse-model" and body["temperature"] == 0.1
        assert body["messages"][0] == {"role": "system", "content": "Be terse."}

        await type_and_send(pilot, "/preset other")
        await wait_for(pilot, lambda: app.model == "fake/other", what="the named preset")
        await type_and_send(pilot, "/preset nope")
        await pilot.pause()
        assert app.prompt.text == "/preset nope"  # given back, with a notice
        assert app.model == "fake/other"

        app.prompt.text = ""
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Use a preset")
        command.callback()
        await wait_for(pilot, lambda: isinstance(app.screen, PresetPicker), what="the picker")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PresetPicker), what="closed")
        assert app.model == "fake/other"
