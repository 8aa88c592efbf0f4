"""`termchat chat` with the warm core on (the default): replies stream from the warm core
process over its Unix socket; without one that can run, they are computed in-process."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Markdown

from termchat import warm
from tests.tui.helpers import make_app, type_and_send, wait_for, wait_idle, wait_streamed_text


@pytest.fixture
def warm_home(whome, monkeypatch):
    """A short home (for the socket) with the warm core enabled."""
    monkeypatch.delenv("TERMCHAT_NO_WARM", raising=False)
    monkeypatch.setenv("OLLAMA_API_BASE", "http://127.0.0.1:9")
    return whome


def _status() -> dict:
    return warm.control("status", warm.socket_path())


async def test_reply_streams_from_the_warm_core(warm_home, fake):
    fake.script({"text": "An answer from the **warm** core.",
                 "usage": {"prompt_tokens": 4, "completion_tokens": 6}})
    app = make_app(warm_home, fake)
    assert app.core.use_warm
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "hello")
        await wait_for(pilot, lambda: fake.requests_to("/v1/chat/completions"), 120,
                       "the request to reach the server")
        await wait_idle(pilot)
        rows = app.store.messages(app.conv.id)
        assert [(r.role, r.content) for r in rows] == [
            ("user", "hello"), ("assistant", "An answer from the **warm** core.")]
        assert rows[1].completion_tokens == 6 and not rows[1].interrupted
        # the core process served it (one request), not this process
        st = _status()
        assert st["served"] == 1 and st["pid"] != __import__("os").getpid()
        view = app.conversation.message_views()[-1]
        assert "warm" in view.query_one(Markdown).source


async def test_escape_cancels_the_stream_in_the_warm_core(warm_home, fake):
    fake.script({"text": "word " * 600, "tokens_per_second": 40})
    app = make_app(warm_home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "talk")
        await wait_streamed_text(pilot, 120)
        await pilot.press("escape")
        await wait_idle(pilot)
        row = app.store.messages(app.conv.id)[-1]
        assert row.role == "assistant" and row.interrupted
        # what had arrived when Esc was pressed (one word or more, by the machine's load)
        assert row.content.startswith("word") and ("word " * 600).startswith(row.content)
        assert len(row.content) < len("word " * 600)
        # the hang-up cancelled the request in the core: nothing stays active there
        deadline = time.monotonic() + 10
        while _status()["active"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _status()["active"] == 0


async def test_without_a_usable_warm_core_the_reply_is_computed_here(warm_home, fake):
    (warm_home / "run").write_text("a file where the socket directory should be")
    fake.script({"text": "computed in-process"})
    app = make_app(warm_home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "hi")
        await wait_for(pilot, lambda: fake.requests_to("/v1/chat/completions"), 120,
                       "the request to reach the server")
        await wait_idle(pilot)
        assert app.store.messages(app.conv.id)[-1].content == "computed in-process"
        assert not app.core.use_warm
        assert (warm_home / "run").is_file()  # left alone


async def test_a_warm_core_killed_mid_stream_keeps_the_partial_reply(warm_home, fake):
    import os
    import signal

    from termchat.tui.widgets.message import NoticeView

    fake.script({"text": "word " * 600, "tokens_per_second": 40})
    app = make_app(warm_home, fake, extra_config="retries = 0\n")
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "talk")
        await wait_streamed_text(pilot, 120)
        os.kill(_status()["pid"], signal.SIGKILL)
        await wait_idle(pilot)
        row = app.store.messages(app.conv.id)[-1]
        assert row.role == "assistant" and row.interrupted
        assert row.content.startswith("word word")
        notices = [str(n.render()) for n in app.conversation.query(NoticeView)]
        assert any("warm core" in n for n in notices), notices
