"""Fallback chains and the response cache in the chat app: ChatSession driven directly
(in-process core) and the app through Pilot with the warm core, against the loopback server."""

from __future__ import annotations

import pytest

from tests.tui.helpers import make_app, type_and_send, wait_for, wait_idle
from tests.tui.test_session import chat_bodies, make_session

CONF = 'retries = 0\n[fallbacks]\n"fake/m1" = ["fake/m2", "fake/m3"]\n'


async def test_session_falls_back_and_stores_the_model_that_answered(home, fake):
    from termchat.tui.session import Transcript

    fake.script({"error": 429, "message": "slow"}, {"error": 503}, {"text": "third time"})
    s = make_session(home, fake, extra=CONF)
    view = Transcript()
    turn = await s.send("hello", view=view)
    assert turn.outcome.error is None and turn.outcome.text == "third time"
    assert turn.outcome.model == "fake/m3"
    assert [b["model"] for b in chat_bodies(fake)] == ["m1", "m2", "m3"]
    assert any("answered by fake/m3" in n for n in turn.outcome.notices)
    assert any("fake/m1 failed before any text (rate limited" in n for n in turn.outcome.notices)
    rows = s.store.messages(s.conv.id)
    assert [(r.role, r.model) for r in rows][-1] == ("assistant", "fake/m3")


async def test_session_never_falls_back_after_text_nor_on_a_rejected_key(home, fake):
    fake.script({"text": "alpha beta gamma", "disconnect_after": 1}, {"text": "unused"})
    s = make_session(home, fake, extra=CONF)
    turn = await s.send("q")
    assert turn.outcome.text and turn.outcome.error is not None
    assert turn.outcome.error.exit_code == 4
    assert [b["model"] for b in chat_bodies(fake)] == ["m1"]
    fake.reset()
    fake.script({"error": 401}, {"text": "unused"})
    turn = await s.send("q2")
    assert turn.withdrawn and "rejected the key" in turn.outcome.error.message
    assert [b["model"] for b in chat_bodies(fake)] == ["m1"]


async def test_session_fallback_flag_covers_a_missing_key(home, fake):
    fake.script({"text": "from the endpoint"})
    s = make_session(home, fake, model="openai/gpt-4o-mini", extra="retries = 0\n")
    s.fallbacks = ["fake/m2"]
    turn = await s.send("q")
    assert turn.outcome.text == "from the endpoint" and turn.outcome.model == "fake/m2"
    assert any("no API key for openai" in n for n in turn.outcome.notices)
    assert [b["model"] for b in chat_bodies(fake)] == ["m2"]


async def test_session_cache_hit_needs_no_request_and_is_stored_cached(home, fake):
    fake.script({"text": "deterministic", "usage": {"prompt_tokens": 3, "completion_tokens": 1}})
    s = make_session(home, fake, extra="retries = 0\n", options={"temperature": 0})
    s.cache = True
    first = await s.send("same")
    s.new()
    s.options = {"temperature": 0}
    second = await s.send("same")
    assert second.outcome.text == "deterministic" and second.outcome.cached
    assert not first.outcome.cached and second.outcome.cost_usd == 0.0
    assert len(chat_bodies(fake)) == 1
    assert s.store.messages(s.conv.id)[-1].cached


@pytest.fixture
def warm_home(whome, monkeypatch):
    monkeypatch.delenv("TERMCHAT_NO_WARM", raising=False)
    monkeypatch.setenv("OLLAMA_API_BASE", "http://127.0.0.1:9")
    return whome


async def test_app_falls_back_through_the_warm_core_and_replays_a_cached_reply(warm_home, fake):
    from termchat import warm

    fake.script({"error": 500, "message": "boom"}, {"text": "answer from m2"},
                {"text": "to be cached"})
    app = make_app(warm_home, fake, extra_config=CONF + "[cache]\nenabled = true\n",
                   options={"temperature": 0})
    assert app.core.use_warm
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: len(fake.requests_to("/v1/chat/completions")) >= 2, 120,
                       "the chain to reach the second model")
        await wait_idle(pilot)
        rows = app.store.messages(app.conv.id)
        assert (rows[-1].model, rows[-1].content) == ("fake/m2", "answer from m2")
        assert warm.control("status", warm.socket_path())["served"] == 2
        await type_and_send(pilot, "again")
        await wait_idle(pilot)
        assert app.store.messages(app.conv.id)[-1].content == "to be cached"
        n = len(fake.requests_to("/v1/chat/completions"))
        # regenerate: the same messages to the same model at temperature 0 — a hit, no request
        await pilot.press("ctrl+r")
        await wait_idle(pilot)
        await wait_for(pilot, lambda: app.store.messages(app.conv.id)[-1].cached, 30,
                       "the cached reply to be stored")
        rows = app.store.messages(app.conv.id)
        assert len(rows) == 4 and rows[-1].content == "to be cached" and rows[-1].cost_usd == 0.0
        assert len(fake.requests_to("/v1/chat/completions")) == n
        assert warm.control("status", warm.socket_path())["served"] == 3
