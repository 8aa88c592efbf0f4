"""Tools (#13) below the CLI: the tool set (consent order, concurrency, timeouts, cancel), the
tool-call accumulator and provider-safe names, the round limit, the warm protocol's checks, the
history replay and the fetch tool — against the loopback server and real sockets."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from dataclasses import replace

import pytest

from termchat.client.tools import Tool, ToolError, ToolsCancelled, ToolSet
from termchat.core.toolwire import CallAccumulator, wire_names
from termchat.core.types import ToolCall, ToolResult, Usage
from termchat.turn import Outcome, history_messages
from tests.conftest import write_config
from tests.support.fake_tools import chat_bodies, sent_tools, tool_results


def _tool(name, fn, **kw):
    return Tool(name, f"the {name} tool", {"type": "object", "properties": {}}, fn, **kw)


def _call(name, args="{}", cid=None):
    return ToolCall(cid or name, name, args)


# -- the accumulator ---------------------------------------------------------------------------

def test_accumulator_joins_fragments_by_index_and_splits_reused_indexes():
    acc = CallAccumulator()
    acc.feed([{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}])
    acc.feed([{"index": 1, "id": "b", "function": {"name": "g", "arguments": '{"x'}}])
    acc.feed([{"index": 0, "function": {"arguments": '{"y": '}}])
    acc.feed([{"index": 1, "function": {"arguments": '": 1}'}}, {"index": 0, "function": {"arguments": "2}"}}])
    assert [(c.id, c.name, c.arguments) for c in acc.calls({})] == [
        ("a", "f", '{"y": 2}'), ("b", "g", '{"x": 1}')]
    # an adapter that numbers every call 0: a new id starts a new call
    acc = CallAccumulator()
    acc.feed([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}])
    acc.feed([{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{"}}])
    acc.feed([{"index": 0, "function": {"arguments": "}"}}])
    assert [(c.id, c.name, c.arguments) for c in acc.calls({"g": "mcp.g"})] == [
        ("a", "f", "{}"), ("b", "mcp.g", "{}")]


def test_wire_names_are_safe_unique_and_stable():
    tools = [{"function": {"name": n}} for n in ("time.now", "time_now", "a" * 80, "x y")]
    names = wire_names(tools)
    assert names == {"time.now": "time_now", "time_now": "time_now_2", "a" * 80: "a" * 64,
                     "x y": "x_y"}
    assert wire_names(tools) == names


# -- the tool set ------------------------------------------------------------------------------

def test_calls_run_concurrently_sync_and_async():
    async def slow_async(args):
        await asyncio.sleep(0.5)
        return "async done"

    def slow_sync(args):
        time.sleep(0.5)
        return {"sync": "done"}

    ts = ToolSet([_tool("a", slow_async), _tool("s", slow_sync)], yes=True)
    started = time.monotonic()
    res = ts.run([_call("a"), _call("s"), _call("a", cid="a2")])
    assert time.monotonic() - started < 0.9
    assert [r.content for r in res] == ["async done", '{"sync": "done"}', "async done"]
    assert all(r.ok and r.duration_s >= 0.45 for r in res)


def test_errors_timeouts_and_output_cap_become_results():
    def boom(args):
        raise ValueError("boom")

    def refuses(args):
        raise ToolError("no such thing")

    def hangs(args):
        time.sleep(30)

    ts = ToolSet([_tool("boom", boom), _tool("refuses", refuses),
                  _tool("hangs", hangs, timeout=0.3), _tool("big", lambda a: "é" * 5000)],
                 yes=True, max_output=1001)
    started = time.monotonic()
    res = ts.run([_call("boom"), _call("refuses"), _call("hangs"), _call("big"),
                  _call("big", "[1, 2]", cid="notobj")])
    assert time.monotonic() - started < 3  # the hanging thread was abandoned, not joined
    assert res[0].content == "error: ValueError: boom" and not res[0].ok
    assert res[1].content == "error: no such thing"
    assert res[2].content == "error: the tool did not finish within 0.3 s and was stopped"
    assert res[3].content.startswith("é" * 500) and "\n[output truncated: 10,000 bytes, the first 1,001 shown]" in res[3].content
    assert res[4].content == "error: the arguments must be a JSON object"


def test_cancel_from_another_thread_stops_the_round():
    stopped = threading.Event()

    async def forever(args):
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    ts = ToolSet([_tool("f", forever)], yes=True)
    threading.Timer(0.3, ts.cancel).start()
    started = time.monotonic()
    with pytest.raises(ToolsCancelled):
        ts.run([_call("f")])
    assert time.monotonic() - started < 2 and stopped.is_set()
    ts.reset()
    assert ts.run([]) == []


def test_consent_order_always_and_allow_list():
    asked = []

    class Answers:
        def __init__(self, *answers):
            self.answers = list(answers)

        def ask(self, call, tool, args, shown):
            asked.append((tool.name, shown))
            return self.answers.pop(0)

    sh = _tool("shell", lambda a: "ran", always_ask=True, describe=lambda a: a["command"])
    t = _tool("t", lambda a: "t", group="time")
    m = _tool("srv.x", lambda a: "x", source="srv")
    ts = ToolSet([sh, t, m], consent=Answers("always", "always", "no", "yes"), allow=["srv"])
    res = ts.run([_call("t"), _call("t", cid="t2"), _call("srv.x"),
                  _call("shell", '{"command": "ls -l"}'), _call("shell", '{"command": "rm x"}', cid="s2")])
    assert [r.content for r in res] == ["t", "t", "x", "ran", "error: refused: the user declined this call"]
    assert asked == [("t", "{}"), ("shell", "ls -l"), ("shell", "rm x")]
    ts.forget()
    assert not ts.allowed(t) and ts.allowed(m)


# -- rounds through the in-process core and the loopback server --------------------------------

@pytest.fixture
def local(home, fake):
    from termchat.client.local import LocalCore
    from termchat.config import load_config
    from termchat.core.catalog import resolve_model

    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    cfg = load_config()
    return LocalCore(cfg), resolve_model("fake/x", cfg)


def _run(core, rm, ts, text="go", **kw):
    from termchat.core.types import ChatRequest, Message

    req = ChatRequest(model=rm.id, messages=[Message("user", text)], tools=ts.schemas(), **kw)
    return list(core.chat(req, rm, ts))


def test_dotted_names_round_trip_and_round_limit(local, fake):
    core, rm = local
    ts = ToolSet([_tool("srv.get-thing", lambda a: "thing")], yes=True)
    fake.script({"tool_calls": [{"name": "srv_get-thing", "arguments": {}, "id": "c1"}]},
                {"tool_calls": [{"name": "srv_get-thing", "arguments": {}, "id": "c2"}]},
                {"tool_calls": [{"name": "srv_get-thing", "arguments": {}, "id": "c3"}],
                 "text": "still going"})
    events = _run(core, rm, ts, max_rounds=2)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.name, c.round) for c in calls] == [("srv.get-thing", 1), ("srv.get-thing", 2)]
    bodies = chat_bodies(fake)
    assert sent_tools(bodies[0]) == ["srv_get-thing"]
    assert bodies[1]["messages"][1]["tool_calls"][0]["function"]["name"] == "srv_get-thing"
    assert "tool_choice" not in bodies[1] and bodies[2]["tool_choice"] == "none"
    assert any("after 2 rounds" in getattr(e, "text", "") for e in events)
    assert tool_results(fake, 2) == {"c1": "thing", "c2": "thing"}
    o = Outcome()
    for e in events:
        o.apply(e)
    assert o.text == "still going" and o.prompt_tokens == 30 and len(o.tool_rounds) == 2


def test_a_model_that_cannot_call_tools_gets_none(local, fake):
    core, rm = local
    rm = replace(rm, info={"supports_function_calling": False})
    fake.script({"text": "plain"})
    events = _run(core, rm, ToolSet([_tool("t", lambda a: "t")]))
    assert "cannot call tools" in events[0].text
    assert "tools" not in chat_bodies(fake)[0]


def test_non_streamed_tool_calls(local, fake):
    core, rm = local
    ts = ToolSet([_tool("t", lambda a: "tee")], yes=True)
    fake.script({"tool_calls": [{"name": "t", "arguments": {}, "id": "n1"}], "text": "a"}, {"text": "b"})
    events = _run(core, rm, ts, stream=False)
    assert [type(e).__name__ for e in events] == [
        "TextDelta", "Usage", "ToolCall", "ToolResult", "TextDelta", "Usage", "Finished"]
    assert tool_results(fake, 1) == {"n1": "tee"}


# -- outcome, history, protocol ----------------------------------------------------------------

def test_usage_adds_up_and_an_unpriced_round_makes_the_cost_unknown():
    o = Outcome()
    o.apply(Usage(10, 2, 0.5))
    o.apply(Usage(5, 1, 0.25))
    assert (o.prompt_tokens, o.completion_tokens, o.cost_usd) == (15, 3, 0.75)
    o.apply(Usage(1, 1, None))
    assert o.cost_usd is None and o.prompt_tokens == 16


def test_history_replays_rounds_and_a_call_cut_short():
    from termchat.store import StoredMessage

    rounds = [{"at": 4, "calls": [{"id": "a", "name": "t", "arguments": "{}"}],
               "results": [{"id": "a", "name": "t", "content": "A", "ok": True}]},
              {"at": 9, "calls": [{"id": "b", "name": "t", "arguments": "{}"}], "results": []}]
    rows = [StoredMessage(1, "c", "user", "q"),
            StoredMessage(2, "c", "assistant", "one two", tool_rounds=rounds),
            StoredMessage(3, "c", "user", "q2"),
            StoredMessage(4, "c", "assistant", "", tool_rounds=rounds[:1])]
    msgs = [m.to_provider() for m in history_messages(rows)]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant", "tool", "user",
                                         "assistant", "tool"]
    assert msgs[1]["content"] == "one " and msgs[1]["tool_calls"][0]["id"] == "a"
    assert msgs[2] == {"role": "tool", "tool_call_id": "a", "content": "A"}
    assert msgs[3]["content"] == "two" and msgs[4]["content"] == "error: interrupted"
    assert msgs[6]["content"] is None


def test_warm_protocol_checks_tool_results_and_tool_messages():
    from termchat import __version__
    from termchat.warm_protocol import PROTOCOL, ProtocolError, tool_results_from
    from termchat.warm_server import parse_request

    calls = [ToolCall("a", "t", "{}"), ToolCall("b", "t", "{}")]
    good = {"tool_results": [{"id": "a", "content": "x", "ok": True, "duration_s": 0.1},
                             {"id": "b", "content": "y", "name": "t", "round": 1}]}
    assert [r.content for r in tool_results_from(json.dumps(good).encode(), calls)] == ["x", "y"]
    for bad in (b"not json", b'{"tool_results": 3}', b'{"tool_results": [{"id": "a"}]}',
                json.dumps({"tool_results": good["tool_results"][:1]}).encode(),
                json.dumps({"tool_results": [{"id": "a", "content": 1}, {"id": "b", "content": ""}]}).encode(),
                json.dumps({"tool_results": [{"id": "a", "content": "", "ok": 1},
                                             {"id": "b", "content": ""}]}).encode(),
                json.dumps({"tool_results": [{"id": "a", "content": "", "evil": 1},
                                             {"id": "b", "content": ""}]}).encode()):
        with pytest.raises(ProtocolError):
            tool_results_from(bad, calls)
    model = {"id": "x", "provider": "p", "litellm_model": "p/x", "info": {}}
    req = {"model": "x", "tools": [{"type": "function", "function": {"name": "t"}}], "max_rounds": 3,
           "messages": [{"role": "assistant", "content": "", "tool_calls": [
               {"id": "a", "name": "t", "arguments": "{}", "round": 1}]},
               {"role": "tool", "content": "r", "tool_call_id": "a"}]}
    line = {"op": "chat", "version": __version__, "protocol": PROTOCOL, "request": req, "model": model}
    assert parse_request(json.dumps(line).encode())["request"]["max_rounds"] == 3
    req["messages"][0]["tool_calls"][0]["arguments"] = {"not": "text"}
    with pytest.raises(ProtocolError, match="arguments"):
        parse_request(json.dumps(line).encode())


# -- built-ins ----------------------------------------------------------------------------------

class _Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/page":
            body = (b"<html><head><title>T</title><style>p{}</style><script>var x=1;</script></head>"
                    b"<body><h1>Head&amp;line</h1><p>First <b>para</b>.</p><div>Second</div></body></html>")
            kind = "text/html; charset=utf-8"
        elif self.path == "/big":
            body, kind = b"y" * (3 * 1024 * 1024), "text/plain"
        else:
            body, kind = b"\x00\x01binary", "application/octet-stream"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_fetch_url_html_to_text_size_cap_and_refusals():
    from termchat.client.tools.builtins import FETCH_MAX_BYTES, fetch_url

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        text = asyncio.run(fetch_url({"url": f"{base}/page"}))
        assert text == "T\n\nHead&line\n\nFirst para.\n\nSecond"  # blocks apart, no script/style
        big = asyncio.run(fetch_url({"url": f"{base}/big"}))
        assert big.endswith(f"[download stopped at {FETCH_MAX_BYTES:,} bytes]")
        assert len(big) < FETCH_MAX_BYTES + 100
        with pytest.raises(ToolError, match="is not text"):
            asyncio.run(fetch_url({"url": f"{base}/bin"}))
        with pytest.raises(ToolError, match="http:// or https://"):
            asyncio.run(fetch_url({"url": "file:///etc/passwd"}))
    finally:
        srv.shutdown()
        srv.server_close()
    with pytest.raises(ToolError, match="could not fetch"):
        asyncio.run(fetch_url({"url": base + "/gone"}))


def test_results_are_json_able_events():
    from termchat.core.types import event_from_dict, event_to_dict

    for ev in (ToolCall("a", "srv.t", '{"x": 1}', 2), ToolResult("a", "srv.t", "out", False, 0.5, 2)):
        assert event_from_dict(json.loads(json.dumps(event_to_dict(ev)))) == ev
