"""The chat session without a screen: ChatSession driven directly against the scripted loopback
server and a real store on a temporary TERMCHAT_HOME (no Pilot, no widgets)."""

from __future__ import annotations

import pytest

from termchat.core.errors import TermchatError, UsageError
from tests.conftest import write_config

NO_RETRY = "retries = 0\n"


def chat_bodies(fake):
    return [r.body for r in fake.requests_to("/v1/chat/completions")]


def make_session(home, fake, *, model: str | None = "fake/m1", extra: str = "", **kwargs):
    from termchat.config import load_config
    from termchat.store import Store
    from termchat.tui.session import ChatSession
    from termchat.tui.turns import CoreLink

    write_config(home, extra + f'\n[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    config = load_config()
    return ChatSession(config, Store(), CoreLink(config, load=False), model=model, **kwargs)


async def test_send_stores_the_turn_and_sends_the_history(home, fake):
    from termchat.tui.session import Transcript

    fake.script({"text": "first answer", "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
                {"text": "second \x1b[31manswer"})
    s = make_session(home, fake)
    view = Transcript()
    turn = await s.send("one", view=view)
    assert turn.reply_id is not None and not turn.withdrawn and turn.outcome.text == "first answer"
    assert view.text == "first answer"
    assert [(r.role, r.content) for r in s.store.messages(s.conv.id)] == [
        ("user", "one"), ("assistant", "first answer")]
    assert s.store.get_conversation(s.conv.id).title == "one"
    assert s.status_bits()[:2] == ["model: fake/m1", "5 tokens"]
    second = Transcript()
    await s.send("two", view=second)
    assert "\x1b" not in second.text and "␛[31m" in second.text  # shown inert, stored verbatim
    assert s.store.messages(s.conv.id)[-1].content == "second \x1b[31manswer"
    assert [m["content"] for m in chat_bodies(fake)[-1]["messages"]] == ["one", "first answer", "two"]


async def test_a_request_that_fails_before_any_text_withdraws_the_question(home, fake):
    fake.script({"error": 401, "message": "bad key"})
    s = make_session(home, fake, extra=NO_RETRY)
    turn = await s.send("my precious prompt")
    assert turn.withdrawn and turn.text == "my precious prompt" and turn.reply_id is None
    assert turn.outcome.error is not None and "rejected the key" in turn.outcome.error.message
    assert s.store.messages(s.conv.id) == []


async def test_a_dropped_stream_keeps_the_partial_reply(home, fake):
    fake.script({"text": "alpha beta gamma delta", "disconnect_after": 2})
    s = make_session(home, fake, extra=NO_RETRY)
    turn = await s.send("go")
    assert not turn.withdrawn and turn.reply_id is not None
    row = s.store.get_message(turn.reply_id)
    assert row.interrupted and row.content == "alpha beta" and row.error


async def test_no_model_and_unknown_model_store_nothing(home, fake):
    from termchat.tui.session import NoModel

    s = make_session(home, fake, model=None)
    with pytest.raises(NoModel):
        await s.send("hello?")
    s.model = "nosuchprovider/x"
    with pytest.raises(TermchatError, match="unknown provider"):
        await s.send("hello?")
    assert s.conv is None and not chat_bodies(fake)


async def test_regenerate_replaces_the_last_reply(home, fake):
    fake.script({"text": "first try"}, {"text": "second try"})
    s = make_session(home, fake)
    assert await s.regenerate() is None  # nothing to answer yet
    await s.send("q")
    turn = await s.regenerate()
    assert turn is not None and turn.outcome.text == "second try" and turn.user_id is None
    assert [r.content for r in s.store.messages(s.conv.id)] == ["q", "second try"]
    assert [m["content"] for m in chat_bodies(fake)[-1]["messages"]] == ["q"]


async def test_edit_and_resend(home, fake):
    fake.script({"text": "old"}, {"text": "new"})
    s = make_session(home, fake)
    await s.send("typo questoin")
    assert await s.edit_and_resend("fixed question") is not None
    assert [r.content for r in s.store.messages(s.conv.id)] == ["fixed question", "new"]
    assert [m["content"] for m in chat_bodies(fake)[-1]["messages"]] == ["fixed question"]
    text, ids = s.take_back_last()
    assert text == "fixed question" and len(ids) == 2 and s.store.messages(s.conv.id) == []
    assert s.take_back_last() is None


async def test_system_prompt_options_and_model_switch(home, fake):
    fake.script({"text": "ok"}, {"text": "ok2"})
    s = make_session(home, fake, system="You are terse.", options={"temperature": 0.3})
    await s.send("hi")
    body = chat_bodies(fake)[-1]
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert body["temperature"] == 0.3
    conv = s.store.get_conversation(s.conv.id)
    assert conv.system == "You are terse." and conv.options == {"temperature": 0.3}
    s.set_system("Be kind.", {"max_tokens": 50})
    assert s.switch_model("fake/other") == "fake/other"
    with pytest.raises(TermchatError):
        s.switch_model("nosuchprovider/x")
    assert s.model == "fake/other"
    await s.send("again")
    body = chat_bodies(fake)[-1]
    assert body["model"] == "other" and body["max_tokens"] == 50 and "temperature" not in body
    assert body["messages"][0]["content"] == "Be kind."
    models = [r.model for r in s.store.messages(s.conv.id) if r.role == "assistant"]
    assert models == ["fake/m1", "fake/other"]
    assert s.store.get_conversation(s.conv.id).model == "fake/other"
    assert any(b == "system prompt set" for b in s.status_bits())


async def test_compare_keep_and_discard(home, fake):
    from termchat.tui.session import Transcript

    s = make_session(home, fake)
    with pytest.raises(UsageError, match="2 to 4"):
        s.set_compare("fake/a")
    with pytest.raises(TermchatError):
        s.set_compare(["fake/a", "nosuchprovider/x"])
    assert s.set_compare("fake/a, fake/b") == ["fake/a", "fake/b"]
    assert "next message compares: fake/a, fake/b" in s.status_bits()
    fake.script({"text": "answer A", "delay": 0.01}, {"text": "answer B", "delay": 0.01})
    views = [Transcript(), Transcript()]
    rnd = await s.compare("which?", views=views)
    texts = [o.text for o in rnd.outcomes]
    assert sorted(texts) == ["answer A", "answer B"] and [v.text for v in views] == texts
    assert sorted(b["model"] for b in chat_bodies(fake)) == ["a", "b"]
    keep = texts.index("answer B")
    mid = s.keep(keep)
    rows = s.store.messages(s.conv.id)
    assert [(r.role, r.content) for r in rows] == [("user", "which?"), ("assistant", "answer B")]
    assert rows[1].id == mid and s.model == rows[1].model and s.compare_models is None
    assert s.round is None
    # a second round, discarded: the question goes too
    s.set_compare(["fake/a", "fake/b"])
    fake.script({"text": "x"}, {"text": "y"})
    await s.compare("again?")
    with pytest.raises(UsageError):
        s.keep(7)
    assert s.discard() is not None and s.round is None
    assert [r.content for r in s.store.messages(s.conv.id)] == ["which?", "answer B"]
    assert s.set_compare("") is None and s.compare_models is None


async def test_new_open_rename_delete(home, fake):
    fake.script({"text": "apples are red"}, {"text": "pears are green"})
    s = make_session(home, fake, system="S", options={"temperature": 1.0})
    await s.send("about apples")
    first = s.conv.id
    s.new()
    assert s.conv is None and s.system is None and s.options == {}
    await s.send("about pears")
    second = s.conv.id
    assert [c.id for c in s.conversations()] == [second, first]
    rows = s.open(first)
    assert [r.content for r in rows] == ["about apples", "apples are red"]
    assert s.conv.id == first and s.system == "S" and s.options == {"temperature": 1.0}
    s.rename(first, "Apples")
    assert s.conv.title == "Apples"
    assert s.last_reply_text() == "apples are red"
    assert s.delete(second) is False and s.conv.id == first
    assert s.delete(first) is True and s.conv is None
    assert s.conversations() == []


async def test_the_asked_model_wins_over_the_opened_conversations(home, fake):
    s = make_session(home, fake, model="fake/asked")
    c = s.store.create_conversation("fake/stored", title="t")
    assert s.find_initial(c.id, False).id == c.id
    assert s.find_initial(None, True).id == c.id
    assert s.find_initial(None, False) is None
    s.open(c.id)
    assert s.model == "fake/asked"
    s.open(c.id)  # only the first time
    assert s.model == "fake/stored"
    assert s.set_default_model("fake/default") is False
