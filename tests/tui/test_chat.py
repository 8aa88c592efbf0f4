"""Pilot tests of `termchat chat` against the scripted loopback server (no mocks)."""

from __future__ import annotations

import json

from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownFence

from termchat.tui.screens.copy import CopyScreen
from termchat.tui.screens.help import HelpScreen
from termchat.tui.screens.model_picker import ModelPicker
from termchat.tui.widgets.message import NoticeView
from tests.support.fake_openai import make_png
from tests.tui.helpers import make_app, type_and_send, wait_for, wait_idle, wait_streamed_text

NO_RETRY = "retries = 0\n"
REPLY = (
    "Here is **code**:\n\n```python\ndef double(x):\n    return x * 2\n```\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\nDone."
)


def chat_bodies(fake):
    return [r.body for r in fake.requests_to("/v1/chat/completions")]


async def replied(pilot, fake, n: int) -> None:
    """Wait until the server got its ``n``-th chat request and the app is idle again."""
    await wait_for(pilot, lambda: len(chat_bodies(fake)) == n, what=f"chat request {n}")
    await wait_idle(pilot)


async def test_reply_streams_renders_and_is_stored(home, fake):
    fake.script({"text": REPLY, "usage": {"prompt_tokens": 3, "completion_tokens": 17}})
    app = make_app(home, fake)
    async with app.run_test(size=(110, 36)) as pilot:
        await type_and_send(pilot, "show me code")
        await wait_for(pilot, lambda: chat_bodies(fake), what="the request to reach the server")
        await wait_idle(pilot)
        rows = app.store.messages(app.conv.id)
        assert [(r.role, r.content) for r in rows] == [("user", "show me code"), ("assistant", REPLY)]
        assert rows[1].model == "fake/m1" and rows[1].completion_tokens == 17
        assert not rows[1].interrupted
        reply = app.conversation.message_views()[-1]
        assert reply.message_id == rows[1].id
        assert reply.query(MarkdownFence) and reply.query("MarkdownTable")  # (not exported)
        assert app.prompt.text == ""
        status = str(app.query_one("#status").render())
        assert "fake/m1" in status and "20 tokens" in status
        body = chat_bodies(fake)[-1]
        assert body["model"] == "m1" and body["stream"] is True
        assert body["messages"][-1] == {"role": "user", "content": "show me code"}


async def test_follow_up_sends_history(home, fake):
    fake.script({"text": "first answer"}, {"text": "second answer"})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "one")
        await replied(pilot, fake, 1)
        await type_and_send(pilot, "two")
        await replied(pilot, fake, 2)
        msgs = chat_bodies(fake)[-1]["messages"]
        assert [m["content"] for m in msgs] == ["one", "first answer", "two"]


async def test_escape_cancels_and_keeps_partial_reply(home, fake):
    fake.script({"text": "word " * 400, "tokens_per_second": 40})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "talk")
        view = await wait_streamed_text(pilot)
        assert app.busy
        await pilot.press("escape")
        await wait_idle(pilot)
        rows = app.store.messages(app.conv.id)
        assert rows[-1].role == "assistant" and rows[-1].interrupted
        assert rows[-1].content.startswith("word word")
        assert len(rows[-1].content) < len("word " * 400)
        assert view.has_class("interrupted") and "interrupted" in view._header_text


async def test_provider_error_is_a_notice_and_prompt_is_restored(home, fake):
    fake.script({"error": 401, "message": "bad key sk-abcdefghijklmnop"})
    app = make_app(home, fake, extra_config=NO_RETRY)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "my precious prompt")
        await wait_for(pilot, lambda: app.conversation.query(NoticeView), what="the notice")
        await wait_idle(pilot)
        assert app.prompt.text == "my precious prompt"
        notice = str(app.conversation.query_one(NoticeView).render())
        assert "rejected the key" in notice and "sk-abcdefghijklmnop" not in notice
        assert app.store.messages(app.conv.id) == []  # the failed prompt is not in the history
        assert not app.conversation.message_views()


async def test_dropped_stream_keeps_partial_reply_marked_interrupted(home, fake):
    fake.script({"text": "alpha beta gamma delta epsilon zeta", "disconnect_after": 3})
    app = make_app(home, fake, extra_config=NO_RETRY)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "go")
        await wait_for(pilot, lambda: app.conversation.query(NoticeView), what="the notice")
        await wait_idle(pilot)
        rows = app.store.messages(app.conv.id)
        assert rows[-1].role == "assistant" and rows[-1].interrupted
        assert rows[-1].content == "alpha beta gamma"
        assert rows[-1].error


async def test_unknown_model_is_a_notice_and_keeps_the_prompt(home, fake):
    app = make_app(home, fake, model="nosuchprovider/x")
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "hello?")
        await wait_for(pilot, lambda: app.conversation.query(NoticeView), what="the notice")
        assert "unknown provider" in str(app.conversation.query_one(NoticeView).render())
        assert app.prompt.text == "hello?"
        assert app.conv is None and not fake.requests_to("/v1/chat/completions")


async def test_control_sequences_render_as_harmless_text(home, fake):
    evil = "red \x1b[31mRED\x1b[0m bell\x07 title\x1b]0;pwned\x07 done"
    fake.script({"text": evil})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "x")
        await replied(pilot, fake, 1)
        assert app.store.messages(app.conv.id)[-1].content == evil  # verbatim in the store
        shown = app.conversation.message_views()[-1].query_one(Markdown).source
        assert "\x1b" not in shown and "\x07" not in shown and "␛[31mRED" in shown


async def test_newline_key_and_enter_sends_multiline(home, fake):
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        app.prompt.focus()
        await pilot.press("a", "ctrl+j", "b", "enter")
        await replied(pilot, fake, 1)
        assert chat_bodies(fake)[-1]["messages"][-1]["content"] == "a\nb"


async def test_model_picker_lists_live_models_and_switches(home, fake):
    fake.script({"text": "from large"})
    app = make_app(home, fake)
    async with app.run_test(size=(110, 36)) as pilot:
        await pilot.press("ctrl+l")
        picker = await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker) and app.screen)
        await wait_for(pilot, lambda: picker.live_loaded and picker.catalog_loaded, what="models")
        ids = {e.id for e in picker.entries}
        assert {"fake/fake-small", "fake/fake-large"} <= ids  # the endpoint's GET /models
        gpt = next(e for e in picker.entries if "gpt" in e.aliases)
        assert gpt.key is False and gpt.context and gpt.input_per_m is not None
        await pilot.press(*"fake-large")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ModelPicker))
        assert app.model == "fake/fake-large"
        await type_and_send(pilot, "hi")
        await replied(pilot, fake, 1)
        assert chat_bodies(fake)[-1]["model"] == "fake-large"
        assert app.store.messages(app.conv.id)[-1].model == "fake/fake-large"
        assert app.store.get_conversation(app.conv.id).model == "fake/fake-large"


async def test_switching_model_mid_conversation_records_each_model(home, fake):
    fake.script({"text": "one"}, {"text": "two"})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "a")
        await replied(pilot, fake, 1)
        await type_and_send(pilot, "/model fake/other")
        await pilot.pause()
        assert app.model == "fake/other"
        await type_and_send(pilot, "b")
        await replied(pilot, fake, 2)
        models = [r.model for r in app.store.messages(app.conv.id) if r.role == "assistant"]
        assert models == ["fake/m1", "fake/other"]


async def test_regenerate_replaces_last_reply(home, fake):
    fake.script({"text": "first try"}, {"text": "second try"})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "q")
        await replied(pilot, fake, 1)
        await pilot.press("ctrl+r")
        await replied(pilot, fake, 2)
        rows = app.store.messages(app.conv.id)
        assert [r.content for r in rows] == ["q", "second try"]
        assert [m["content"] for m in chat_bodies(fake)[-1]["messages"]] == ["q"]
        views = app.conversation.message_views()
        assert [v.source for v in views] == ["q", "second try"]


async def test_edit_last_prompt_and_resend(home, fake):
    fake.script({"text": "old"}, {"text": "new"})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "typo questoin")
        await replied(pilot, fake, 1)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert app.prompt.text == "typo questoin"
        assert app.store.messages(app.conv.id) == []
        app.prompt.text = "fixed question"
        await pilot.press("enter")
        await replied(pilot, fake, 2)
        assert [r.content for r in app.store.messages(app.conv.id)] == ["fixed question", "new"]


async def test_copy_message_and_code_block(home, fake):
    fake.script({"text": REPLY})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "code please")
        await replied(pilot, fake, 1)
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, CopyScreen))
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, CopyScreen))
        assert app.clipboard == "def double(x):\n    return x * 2\n"
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, CopyScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, CopyScreen))
        assert app.clipboard == REPLY


async def test_attach_image_is_sent_and_stored(home, fake, tmp_path):
    png = tmp_path / "dot.png"
    png.write_bytes(make_png(4, 3))
    bad = tmp_path / "fake.png"
    bad.write_text("not an image")
    fake.script({"text": "a gradient"})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        assert not await app.attach_path(str(bad))
        assert await app.attach_path(str(png))
        bar = app.query_one("#attachments")
        assert bar.display and len(bar.attachments) == 1
        await type_and_send(pilot, "what is this?")
        await replied(pilot, fake, 1)
        content = chat_bodies(fake)[-1]["messages"][-1]["content"]
        assert content[0] == {"type": "text", "text": "what is this?"}
        assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
        row = app.store.messages(app.conv.id)[0]
        assert row.attachments[0]["name"] == "dot.png" and row.attachments[0]["mime"] == "image/png"
        assert not bar.display


async def test_attach_via_dialog(home, fake, tmp_path):
    from termchat.tui.widgets.prompt import AttachmentChip

    png = tmp_path / "p.png"
    png.write_bytes(make_png(2, 2))
    fake.script({"text": "a tiny square"})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        main = app.screen
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: app.screen is not main, what="the attach dialog")
        app.screen.query_one("Input").value = str(png)
        await pilot.press("enter")
        bar = main.query_one("#attachments")
        await wait_for(pilot, lambda: bar.attachments, what="the attachment")
        await wait_for(pilot, lambda: app.screen is main, what="the dialog to close")
        # shown: one chip naming the file, in a visible bar
        assert len(bar.attachments) == 1
        chips = list(bar.query(AttachmentChip))
        assert len(chips) == 1 and "p.png" in str(chips[0].label)
        assert bar.display and chips[0].region.area > 0
        # sent with the next message, then stored with it
        await type_and_send(pilot, "and this?")
        await replied(pilot, fake, 1)
        content = chat_bodies(fake)[-1]["messages"][-1]["content"]
        assert content[0] == {"type": "text", "text": "and this?"}
        assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
        row = app.store.messages(app.conv.id)[0]
        assert [(a["name"], a["mime"]) for a in row.attachments] == [("p.png", "image/png")]
        assert not bar.display and not bar.attachments


async def test_system_prompt_and_options(home, fake):
    fake.script({"text": "ok"}, {"text": "ok2"})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "/system You are terse.")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one("#opt-temperature").value = "0.3"
        app.screen.query_one("#opt-max-tokens").value = "50"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.options == {"temperature": 0.3, "max_tokens": 50}
        assert app.system == "You are terse."
        await type_and_send(pilot, "hi")
        await replied(pilot, fake, 1)
        body = chat_bodies(fake)[-1]
        assert body["messages"][0] == {"role": "system", "content": "You are terse."}
        assert body["temperature"] == 0.3 and body["max_tokens"] == 50
        conv = app.store.get_conversation(app.conv.id)
        assert conv.system == "You are terse." and conv.options == {"temperature": 0.3, "max_tokens": 50}
        # bad input is refused in the dialog
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one("#opt-temperature").value = "hot"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "temperature must be a number" in str(app.screen.query_one("#system-error").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.options["temperature"] == 0.3


async def test_sidebar_open_rename_delete(home, fake):
    from termchat.store import Store

    other = Store()
    c1 = other.create_conversation("fake/m1", title="apples")
    other.add_message(c1.id, "user", "about apples")
    other.add_message(c1.id, "assistant", "apples are red", model="fake/m1")
    app = make_app(home, fake)
    async with app.run_test(size=(110, 30)) as pilot:
        ol = app.sidebar.option_list
        assert ol.option_count == 1
        ol.focus()
        ol.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.conv is not None and app.conv.id == c1.id)
        assert [v.source for v in app.conversation.message_views()] == ["about apples", "apples are red"]
        # a second instance writes to the same store; the list shows it after a refresh
        c2 = other.create_conversation("fake/m1", title="pears")
        app.refresh_sidebar()
        assert ol.option_count == 2
        ol.focus()
        ol.highlighted = ol.get_option_index(c2.id)
        await pilot.press("r")
        await pilot.pause()
        app.screen.query_one("Input").value = "Pears, renamed"
        await pilot.press("enter")
        await pilot.pause()
        assert other.get_conversation(c2.id).title == "Pears, renamed"
        ol.focus()
        ol.highlighted = ol.get_option_index(c2.id)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("escape")  # cancelled: kept
        await pilot.pause()
        assert other.get_conversation(c2.id)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: ol.option_count == 1)
        assert [c.id for c in other.list_conversations()] == [c1.id]


async def test_sidebar_toggle_is_remembered(home, fake):
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.sidebar.display
        await pilot.press("ctrl+b")
        assert not app.sidebar.display
    from termchat.config import load_config

    assert load_config().get("tui.show_sidebar") is False
    app2 = make_app(home, None)
    async with app2.run_test(size=(100, 30)):
        assert not app2.sidebar.display


async def test_search_opens_the_conversation(home, fake):
    from termchat.store import Store

    s = Store()
    for i in range(3):
        c = s.create_conversation("fake/m1", title=f"conv {i}")
        s.add_message(c.id, "user", f"question {i}")
        s.add_message(c.id, "assistant", "the zebra answer" if i == 1 else "plain answer")
    target = next(c for c in s.list_conversations() if c.title == "conv 1")
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+f")
        await pilot.pause()
        await pilot.press(*"zebra")
        await wait_for(pilot, lambda: app.screen.query_one("OptionList").option_count == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.conv is not None and app.conv.id == target.id)
        assert app.conversation.message_views()[-1].has_class("found")


async def test_export_markdown_and_json_never_overwrites(home, fake, tmp_path):
    fake.script({"text": "exported answer"})
    app = make_app(home, fake)
    md = tmp_path / "conv.md"
    js = tmp_path / "conv.json"
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "to export")
        await replied(pilot, fake, 1)
        await type_and_send(pilot, f"/export md {md}")
        await pilot.pause()
        assert "## Assistant (fake/m1)" in md.read_text() and "exported answer" in md.read_text()
        await type_and_send(pilot, f"/export json {js}")
        await pilot.pause()
        data = json.loads(js.read_text())
        assert [m["content"] for m in data["messages"]] == ["to export", "exported answer"]
        md.write_text("precious")
        await type_and_send(pilot, f"/export md {md}")
        await pilot.pause()
        assert md.read_text() == "precious"
        assert app.prompt.text == f"/export md {md}"  # kept to fix the path
        app.prompt.text = ""
        await pilot.press("f3")
        await pilot.pause()
        dest = tmp_path / "dialog.md"
        app.screen.query_one("#export-path").value = str(dest)
        await pilot.press("enter")
        await pilot.pause()
        assert dest.exists()


async def test_slash_commands(home, fake):
    fake.script({"text": "x"})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "/frobnicate a cat")
        await pilot.pause()
        assert app.prompt.text == "/frobnicate a cat"  # unknown: not sent, text kept
        assert not fake.requests_to("/v1/chat/completions")
        await type_and_send(pilot, "/help")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await pilot.pause()
        await type_and_send(pilot, "hello")
        await replied(pilot, fake, 1)
        first = app.conv.id
        await type_and_send(pilot, "/clear")
        await pilot.pause()
        assert app.conv is None and not app.conversation.message_views()
        assert app.store.get_conversation(first).message_count == 2
        await type_and_send(pilot, "/model")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker))


async def test_keybindings_are_remapped_from_config(home, fake):
    app = make_app(home, fake, extra_config='[keybindings]\n"chat.model" = "f9"\n"chat.help" = "f10"\n')
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker))
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f10")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert ("f9", "Model", "chat.model") in app.screen.rows


async def test_prompt_keys_are_remapped_from_config(home, fake):
    fake.script({"text": "ok"})
    app = make_app(home, fake, extra_config=(
        '[keybindings]\n"prompt.newline" = "f6"\n"prompt.send" = "f7,ctrl+e"\n'))
    async with app.run_test(size=(100, 30)) as pilot:
        app.prompt.focus()
        # the letters of the new keys are typed as letters; the keys do what they are mapped to
        await pilot.press("o", "f", "f", "6", "f6", "c", "t", "r", "l", "e", "7", "enter", "x")
        assert app.prompt.text == "off6\nctrle7\nx"
        assert chat_bodies(fake) == []
        await pilot.press("f7")
        await replied(pilot, fake, 1)
        assert chat_bodies(fake)[-1]["messages"][-1]["content"] == "off6\nctrle7\nx"
        await wait_for(pilot, lambda: app.prompt.text == "", what="the prompt to clear")
        app.prompt.text = "again"
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: len(chat_bodies(fake)) == 2, what="chat request 2")


async def test_theme_is_remembered(home, fake):
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        app.theme = "nord"
        await pilot.pause()
    from termchat.config import load_config

    assert load_config().get("tui.theme") == "nord"
    app2 = make_app(home, None)
    async with app2.run_test(size=(100, 30)):
        assert app2.theme == "nord"


async def test_palette_has_termchat_commands(home, fake):
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)):
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Switch model", "Compare models", "Search history", "Export conversation"} <= titles
        assert any("theme" in t.lower() for t in titles)


async def test_compare_panes_keep_one_answer(home, fake):
    fake.script({"text": "answer A", "delay": 0.01}, {"text": "answer B", "delay": 0.01},
                {"text": "follow-up"})
    app = make_app(home, fake)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        app.screen.query_one("Input").value = "fake/a, fake/b"
        await pilot.press("enter")
        await pilot.pause()
        assert app.compare_models == ["fake/a", "fake/b"]
        await type_and_send(pilot, "which?")
        await replied(pilot, fake, 2)
        assert app.panes is not None and len(app.panes.panes) == 2
        texts = sorted(p.view.source for p in app.panes.panes)
        assert texts == ["answer A", "answer B"]
        keep = next(i for i, p in enumerate(app.panes.panes) if p.view.source == "answer B")
        app_models = app.panes.models
        await type_and_send(pilot, "blocked")  # refused while panes are open
        await pilot.pause()
        assert len(chat_bodies(fake)) == 2
        app.prompt.text = ""
        app.panes.focus()
        await pilot.press(str(keep + 1))
        await wait_for(pilot, lambda: app.panes is None)
        rows = app.store.messages(app.conv.id)
        assert [(r.role, r.content) for r in rows] == [("user", "which?"), ("assistant", "answer B")]
        assert app.model == rows[1].model == app_models[keep] and app.compare_models is None
        await type_and_send(pilot, "more")
        await replied(pilot, fake, 3)
        msgs = chat_bodies(fake)[-1]["messages"]
        assert [m["content"] for m in msgs] == ["which?", "answer B", "more"]


async def test_long_conversation_opens_fast_and_loads_older(home, fake):
    import time

    from termchat.store import Store

    s = Store()
    c = s.create_conversation("fake/m1", title="long")
    s.db.execute("BEGIN")
    for i in range(1000):
        s.db.execute(
            "INSERT INTO messages (conversation_id, role, content, created_at, model)"
            " VALUES (?, ?, ?, ?, ?)",
            (c.id, "user" if i % 2 == 0 else "assistant",
             f"message {i}\n\n```python\nprint({i})\n```" if i % 2 else f"question {i}", i, "fake/m1"),
        )
    s.db.execute("COMMIT")
    app = make_app(home, fake, conversation_id=c.id)
    t0 = time.perf_counter()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.conversation.message_views())
        await pilot.pause()
        elapsed = time.perf_counter() - t0
        views = app.conversation.message_views()
        assert len(views) <= app.conversation.WINDOW
        assert views[-1].source.startswith("message 999")
        assert elapsed < 10.0  # bench/bench_tui.py measures it; this only guards regressions
        first = app.conversation.first_mounted
        await app.conversation.load_older()
        assert app.conversation.first_mounted == first - app.conversation.PAGE
        expected = app.conversation.rows[first - app.conversation.PAGE].content
        assert app.conversation.message_views()[0].source == expected
        # scrolling to the top mounts the page before
        now = app.conversation.first_mounted
        app.conversation.scroll_to(y=0, animate=False, immediate=True)
        await wait_for(pilot, lambda: app.conversation.first_mounted < now, what="older messages")


def test_cli_help_does_not_import_textual(cli):
    import subprocess
    import sys

    code = "import sys; from termchat.cli import app; print(any(m.startswith('textual') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    r = cli("chat", "--help")
    assert r.returncode == 0 and "--cid" in r.stdout


def test_cli_chat_unknown_conversation_exits_2(cli):
    r = cli("chat", "--cid", "nope")
    assert r.returncode == 2 and "no conversation" in r.stderr


async def test_slash_image_and_speak_write_files(home, fake, tmp_path):
    out = tmp_path / "media"
    out.mkdir()
    fake.script({"text": "Spoken reply here."})
    app = make_app(home, fake, extra_config=(
        f'[image]\nmodel = "fake/gpt-image-1"\ndir = "{out}"\n[speech]\nmodel = "fake/tts-1"\n'))
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "/image a red square")
        await wait_for(pilot, lambda: list(out.glob("*.png")), what="the image file")
        png = next(out.glob("*.png"))
        assert png.name.startswith("a-red-square-") and png.read_bytes()[:4] == b"\x89PNG"
        body = fake.requests_to("/v1/images/generations")[0].body
        assert body["prompt"] == "a red square" and body["model"] == "gpt-image-1"
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        await type_and_send(pilot, "/speak")  # the last reply
        await wait_for(pilot, lambda: list(out.glob("*.wav")), what="the speech file")
        assert fake.requests_to("/v1/audio/speech")[0].body["input"] == "Spoken reply here."
        import wave

        with wave.open(str(next(out.glob("*.wav")))) as w:
            assert w.getnframes() > 0
        fake.script({"error": 400, "code": "content_policy_violation", "message": "no"}, family="images")
        await type_and_send(pilot, "/image something refused")
        await wait_for(pilot, lambda: app.prompt.text == "/image something refused", what="prompt restored")
        assert len(list(out.glob("*.png"))) == 1  # nothing written for the refusal
