"""Snapshot of a stored conversation with tool calls (pytest-textual-snapshot): the calls as
collapsible blocks above the reply, one opened (arguments and result, control characters of the
result made visible), one failed. Stored figures only: nothing on screen varies between runs.
Update with ``pytest tests/tui/test_tools_snapshots.py --snapshot-update``."""

from __future__ import annotations

from tests.tui.helpers import make_app, wait_for

SIZE = (110, 34)
ROUNDS = [{"at": 10, "calls": [
    {"id": "c1", "name": "clock.get_current_time", "arguments": '{"timezone": "Europe/Paris"}'},
    {"id": "c2", "name": "t.ansi", "arguments": "{}"}],
    "results": [
    {"id": "c1", "name": "clock.get_current_time", "ok": True, "duration_s": 0.061,
     "content": '{"timezone": "Europe/Paris", "datetime": "2026-12-03T20:15:00+01:00"}'},
    {"id": "c2", "name": "t.ansi", "ok": False, "duration_s": 0.004,
     "content": "error: red \x1b[31mRED\x1b[0m bell\x07"}]}]


def test_stored_tool_calls(snap_compare, home, fake):
    from termchat.store import Store

    store = Store()
    cid = store.create_conversation("fake/m1", None, title="What time is it?").id
    store.add_message(cid, "user", "What time is it in Paris?")
    store.add_message(cid, "assistant", "Checking. It is **20:15** in Paris.", model="fake/m1",
                      completion_tokens=12, tool_rounds=ROUNDS)
    store.close()
    app = make_app(home, fake, load_core=False, conversation_id=cid)

    async def run_before(pilot) -> None:
        from termchat.tui.widgets.toolblock import ToolBlock

        blocks = await wait_for(pilot, lambda: list(app.conversation.query(ToolBlock)))
        blocks[0].collapsed = False
        app.prompt.blur()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
