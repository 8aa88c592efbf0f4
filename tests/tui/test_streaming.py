"""Long replies: chunked streaming, parking off-screen chunks, the final render (Pilot, against
the scripted loopback server)."""

from __future__ import annotations

from termchat.tui.widgets.reply import ChatFence, block_starts, split_chunks
from tests.tui.helpers import make_app, type_and_send, wait_for, wait_idle


def long_markdown(parts: int) -> str:
    out = []
    for i in range(parts):
        code = "".join(f"def f{i}_{j}(x):\n    return x * {j}\n" for j in range(3))
        out.append(
            f"## Part {i}\n\nSome words about part {i} to read.\n\n```python\n{code}```\n\n"
            f"| name | value |\n|---|---|\n| a{i} | {i} |\n| b{i} | {2 * i} |\n"
        )
    return "\n".join(out)


def test_split_chunks_keeps_blocks_whole():
    text = long_markdown(30)
    chunks = split_chunks(text)
    assert len(chunks) > 1 and "".join(chunks) == text
    # every chunk starts a block and parses to whole blocks: no fence cut in two
    assert sum(len(block_starts(c)) for c in chunks) == len(block_starts(text))
    assert all(c.count("```") % 2 == 0 for c in chunks)
    # link reference definitions resolve across the text: such a text stays whole
    assert split_chunks(text + "\n[x]: https://example.com\n") == [text + "\n[x]: https://example.com\n"]


async def test_fast_long_reply_streams_in_chunks_and_ends_whole(home, fake):
    text = long_markdown(40)
    fake.script({"text": text, "tokens_per_second": 3000})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_and_send(pilot, "long please")
        await wait_for(pilot, lambda: fake.requests_to("/v1/chat/completions"),
                       what="the request to reach the server")
        await wait_idle(pilot, 120)
        assert app.store.messages(app.conv.id)[-1].content == text
        view = app.conversation.message_views()[-1]
        chunks = view.chunks
        assert len(chunks) > 4
        assert "".join(c.text for c in chunks) == text
        # the chunks far above the bottom are parked; the last one is rendered
        assert any(c.parked for c in chunks) and not chunks[-1].parked
        # a parked chunk holds its text, not widgets
        assert all(c.md is None and not c.children for c in chunks if c.parked)
        # every rendered code block was parsed from its real opening fence
        fences = list(view.query(ChatFence))
        assert fences and all(f.lexer == "python" for f in fences)
        # scrolling to the top renders the first chunk
        app.conversation.scroll_home(animate=False, immediate=True)
        await wait_for(pilot, lambda: not chunks[0].parked, what="the first chunk shown")
        assert chunks[0].md is not None and chunks[0].md.source == chunks[0].text


async def test_opening_a_long_reply_parks_what_is_off_screen(home, fake):
    from termchat.store import Store

    text = long_markdown(40)
    s = Store()
    c = s.create_conversation("fake/m1", title="long")
    for i in range(10):
        s.add_message(c.id, "user", f"question {i}")
        s.add_message(c.id, "assistant", text if i == 3 else f"answer {i}", model="fake/m1")
    app = make_app(home, fake, conversation_id=c.id)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.conversation.message_views())
        await pilot.pause()
        views = app.conversation.message_views()
        long_view = next(v for v in views if v.source == text)
        chunks = long_view.chunks
        assert len(chunks) > 4
        # far above the bottom: never rendered (no Markdown widgets), an estimated height
        assert chunks[0].parked and chunks[0].md is None
        assert sum(ch.md is None for ch in chunks) >= len(chunks) - 1
        assert not views[-1].chunks[0].parked


async def test_virtualize_while_a_reply_is_being_mounted(home, fake):
    # the conversation may look at a reply before its body is composed (seen in CI: the app
    # died with NoMatches from a scheduled virtualize)
    from termchat.tui.widgets.message import MessageView

    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        view = MessageView("assistant", "text still to be composed")
        app.conversation.mount(view)  # not awaited: added, not composed yet
        assert view.chunks == []
        await app.conversation.virtualize()
        await pilot.pause()
        assert view.is_mounted and len(view.chunks) == 1
