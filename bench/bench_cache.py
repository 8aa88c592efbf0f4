"""Benchmark (issue 15, response cache): a cache hit vs a warm ``ask``.

With the warm core running (the default path), ``termchat ask --cache -o temperature 0 "…"``
answered from the response cache (no warm-core request, no provider call) vs the same ``ask``
without ``--cache``, answered by the warm core from the loopback server's echo model.
Goal: hit ÷ warm ask <= 1.1. The server's request count is checked: hits make none.

    python bench/bench_cache.py [N]     # N rounds, alternating (default 9)
"""

from __future__ import annotations

import json
import resource
import sys
import urllib.request

from bench_warm import stop_core, wait_core
from common import (
    LoopbackServer,
    alternate,
    bench_env,
    compile_sources,
    load_average,
    median,
    run_timed,
    termchat_cmd,
    write_endpoint_config,
)


def run_cpu(cmd: list[str], env: dict[str, str], cpu: list[float]) -> float:
    """Wall seconds of one run (as :func:`common.run_timed`); appends its CPU seconds (user +
    system, the child's) to ``cpu`` — less sensitive to the machine's load than wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = run_timed(cmd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def chat_requests(base_url: str) -> int:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_requests", timeout=5) as r:
        return sum(1 for q in json.load(r) if q.get("path") == "/v1/chat/completions")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    compile_sources()
    tc = termchat_cmd()
    env = bench_env()
    print(f"load average {load_average()}, {n} rounds, alternating")
    srv = LoopbackServer()
    try:
        write_endpoint_config(env, srv.base_url)
        wait_core(env)
        base = [*tc, "ask", "-m", "fake/fake-small", "-o", "temperature", "0"]
        warm_ask = [*base, "what is the echo?"]
        hit = [*base, "--cache", "the cached question"]
        srv.script([{"echo": True}] * (3 * n + 4))
        run_timed(warm_ask, env)
        run_timed(hit, env)  # the miss that fills the cache
        before = chat_requests(srv.base_url)
        cpu_warm: list[float] = []
        cpu_hit: list[float] = []
        s = alternate(n, {"warm": lambda: run_cpu(warm_ask, env, cpu_warm),
                          "hit": lambda: run_cpu(hit, env, cpu_hit)})
        after = chat_requests(srv.base_url)
        assert after - before == n, f"cache hits made requests: {after - before - n}"
        a, b = median(s["hit"]), median(s["warm"])
        print(f"cache hit {a:.3f} s   warm ask (echo model) {b:.3f} s   ratio {a / b:.2f}"
              f"  (goal <= 1.1; {n} hits, 0 requests to the server)")
        c, d = median(cpu_hit), median(cpu_warm)
        print(f"CPU (client process) cache hit {c:.3f} s   warm ask {d:.3f} s   ratio {c / d:.2f}")
        print("  hit samples  " + " ".join(f"{x:.3f}" for x in s["hit"]))
        print("  warm samples " + " ".join(f"{x:.3f}" for x in s["warm"]))
    finally:
        stop_core(env)
        srv.stop()


if __name__ == "__main__":
    main()
