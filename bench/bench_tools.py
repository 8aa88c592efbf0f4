"""Benchmark (tools issue #13): termchat's own overhead per tool round, against the loopback
server, in-process (target <= 20 ms) and through the warm core (target <= 40 ms).

One request makes ROUNDS tool rounds; each round the scripted model calls one tool that returns
at once. Per round, termchat's overhead is the time from the moment the round's ``ToolCall``
reached the front (the model's stream had ended) to the moment the server received the next
round's request, minus the tool's own run time (``ToolResult.duration_s``): parsing and handing
over the calls, consent and the round's event loop, (warm: the socket hop both ways), building
the next request and LiteLLM starting it. The model's time (the server answering) is outside
that window. Beside it, for scale: the first round's time from ``chat()`` to the server having
the request (what any request pays to start, tools or not).

    python bench/bench_tools.py [--rounds 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

from common import (
    HERE,
    LoopbackServer,
    bench_env,
    load_average,
    termchat_cmd,
    write_endpoint_config,
)

TARGETS = {"in-process": 0.020, "warm core": 0.040}


def server_times(srv: LoopbackServer) -> list[float]:
    """``time.time()`` at which the server had read each chat request, in order."""
    with urllib.request.urlopen(srv.url + "/_requests", timeout=5) as r:
        reqs = json.loads(r.read())
    return [q["time"] for q in reqs if q["path"].startswith("/v1/chat/completions")]


def reset(srv: LoopbackServer) -> None:
    req = urllib.request.Request(srv.url + "/_reset", data=b"{}", method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def one_request(client, srv, rm, rounds: int) -> tuple[list[float], float]:
    """Per-round overheads (seconds) of one request with ``rounds`` tool rounds, and the
    request-start time of its first round."""
    from termchat.client.tools import Tool, ToolSet
    from termchat.core.types import ChatRequest, Message, ToolCall, ToolResult

    reset(srv)
    srv.script([{"tool_calls": [{"name": "noop", "arguments": {"i": i}}], "arg_pieces": 2}
                for i in range(rounds)] + [{"text": "done"}])
    ts = ToolSet([Tool("noop", "does nothing", {"type": "object", "properties": {}},
                       lambda args: "ok")], yes=True, max_rounds=rounds + 1)
    req = ChatRequest(model=rm.id, messages=[Message("user", "go")], tools=ts.schemas(),
                      max_rounds=rounds + 1)
    call_at: list[float] = []
    tool_s: list[float] = []
    t0 = time.time()
    for ev in client.chat(req, rm, ts):
        if isinstance(ev, ToolCall):
            call_at.append(time.time())
        elif isinstance(ev, ToolResult):
            tool_s.append(ev.duration_s)
    recv = server_times(srv)
    assert len(recv) == rounds + 1 and len(call_at) == rounds, (len(recv), len(call_at))
    return [recv[i + 1] - call_at[i] - tool_s[i] for i in range(rounds)], recv[0] - t0


def measure(name: str, client, srv, rm, rounds: int, repeat: int) -> dict[str, float]:
    one_request(client, srv, rm, 3)  # warm up both paths (LiteLLM's first call is slow)
    per_round: list[float] = []
    starts: list[float] = []
    for _ in range(repeat):
        o, s = one_request(client, srv, rm, rounds)
        per_round += o
        starts.append(s)
    per_round.sort()
    return {"median": statistics.median(per_round),
            "p90": per_round[int(0.9 * (len(per_round) - 1))],
            "start": statistics.median(starts), "n": len(per_round)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()

    srv = LoopbackServer()
    env = bench_env()
    write_endpoint_config(env, srv.base_url)
    os.environ.update(env)
    os.environ.pop("TERMCHAT_NO_WARM", None)
    sys.path.insert(0, str(HERE.parent / "src"))
    from termchat import warm
    from termchat.client.local import LocalCore
    from termchat.client.warm_core import WarmCore
    from termchat.config import load_config
    from termchat.core.catalog import resolve_model

    subprocess.run([*termchat_cmd(), "warm", "start", "--wait", "120"], env=env, check=True,
                   capture_output=True)
    try:
        cfg = load_config()
        rm = resolve_model("fake/fake-small", cfg)
        rows = {
            "in-process": measure("in-process", LocalCore(cfg), srv, rm, a.rounds, a.repeat),
            "warm core": measure("warm core", WarmCore(cfg, warm.socket_path()), srv, rm,
                                 a.rounds, a.repeat),
        }
    finally:
        subprocess.run([*termchat_cmd(), "warm", "stop"], env=env, capture_output=True)
        srv.stop()
    print(f"tool-round overhead, {a.rounds} rounds x {a.repeat} requests; load {load_average()}")
    print(f"{'path':<12} {'median':>9} {'p90':>9} {'target':>8} {'median/target':>14} "
          f"{'first round: call -> server':>30}")
    for name, r in rows.items():
        print(f"{name:<12} {r['median'] * 1000:7.1f}ms {r['p90'] * 1000:7.1f}ms "
              f"{TARGETS[name] * 1000:6.0f}ms {r['median'] / TARGETS[name]:14.2f} "
              f"{r['start'] * 1000:28.1f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
