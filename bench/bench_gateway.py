"""Benchmark (gateway issue): warm ``termchat ask`` through a real LiteLLM proxy on loopback.

1. the proxy's added latency: warm ``ask`` through the proxy (``kind = "litellm_proxy"``) vs
   straight to the same upstream (the scripted loopback server) — reported, no target; and the
   same for one bare HTTP request (no termchat), to separate the proxy from termchat;
2. termchat's own overhead of the endpoint kind: warm ``ask`` to the proxy as a
   ``litellm_proxy`` endpoint vs as a plain OpenAI-compatible endpoint at the same proxy URL —
   goal <= 1.05 — in wall time, and in CPU seconds of the ``termchat ask`` process (what the
   client itself spends, apart from the servers' time and the machine's load); the
   ``litellm_proxy`` endpoint is also measured with ``send_metadata = false`` (the proxy then
   has no tags or metadata to record either).

    python bench/bench_gateway.py [N]     # N alternating rounds (default 15)

Needs ``.venv-proxy`` (``bash .ci/run`` installs it from ``requirements-proxy.lock``). Every
request goes to 127.0.0.1 only; the proxy and the warm core are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, alternate, bench_env, compile_sources, load_average, median, termchat_cmd

sys.path.insert(0, str(ROOT))
from tests.support.gateway import start_gateway  # the tests' proxy, reused


def write_config(env: dict[str, str], upstream: str, proxy: str, key: str) -> None:
    cfg = Path(env["TERMCHAT_HOME"]) / "config" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        f'[endpoints.direct]\napi_base = "{upstream}/v1"\n\n'
        f'[endpoints.team]\nkind = "litellm_proxy"\napi_base = "{proxy}"\napi_key = "{key}"\n\n'
        f'[endpoints.plain]\napi_base = "{proxy}/v1"\napi_key = "{key}"\n\n'
        f'[endpoints.quiet]\nkind = "litellm_proxy"\napi_base = "{proxy}"\napi_key = "{key}"\n'
        'send_metadata = false\n'
    )


CPU: dict[str, list[float]] = {}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ask(env: dict[str, str], model: str) -> float:
    """Wall seconds of one ``termchat ask -m model``; its CPU seconds go to ``CPU[model]``."""
    c0, t0 = _cpu(), time.perf_counter()
    out = subprocess.run([*termchat_cmd(), "ask", "-m", model, "--no-log", "hi"], env=env,
                         capture_output=True, text=True)
    dt = time.perf_counter() - t0
    CPU.setdefault(model, []).append(_cpu() - c0)
    if out.returncode != 0:
        raise SystemExit(f"ask -m {model} failed ({out.returncode}): {out.stderr.strip()}")
    return dt


def raw_post(url: str, key: str) -> float:
    body = json.dumps({"model": "fake-small", "messages": [{"role": "user", "content": "hi"}]})
    req = urllib.request.Request(f"{url}/v1/chat/completions", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {key}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    t0 = time.perf_counter()
    with opener.open(req, timeout=30) as resp:
        resp.read()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rounds", nargs="?", type=int, default=15)
    args = ap.parse_args()
    compile_sources()
    workdir = Path(tempfile.mkdtemp(prefix="tcgw", dir="/tmp"))
    t0 = time.perf_counter()
    gw = start_gateway(workdir / "proxy")
    started = time.perf_counter() - t0
    env = bench_env(workdir / "home")
    try:
        write_config(env, gw.upstream.url, gw.url, gw.master_key)
        subprocess.run([*termchat_cmd(), "warm", "start", "--wait", "120"], env=env, check=True,
                       capture_output=True)
        for model in ("direct/fake-small", "team/fake-small", "plain/fake-small",
                      "quiet/fake-small"):
            ask(env, model)  # warm every connection and the proxy's first-call work
        raw_post(gw.upstream.url, "x")
        raw_post(gw.url, gw.master_key)
        load = load_average()
        asks = alternate(args.rounds, {
            "direct": lambda: ask(env, "direct/fake-small"),
            "team": lambda: ask(env, "team/fake-small"),
            "plain": lambda: ask(env, "plain/fake-small"),
            "quiet": lambda: ask(env, "quiet/fake-small"),
        })
        raw = alternate(args.rounds * 2, {
            "direct": lambda: raw_post(gw.upstream.url, "x"),
            "proxy": lambda: raw_post(gw.url, gw.master_key),
        })
    finally:
        subprocess.run([*termchat_cmd(), "warm", "stop"], env=env, capture_output=True)
        gw.stop()
    m = {k: median(v) for k, v in asks.items()}
    c = {k.split("/")[0]: median(v[-args.rounds:]) for k, v in CPU.items()}
    r = {k: median(v) for k, v in raw.items()}
    print(f"LiteLLM proxy {gw_version()} on loopback; started in {started:.1f} s; "
          f"{args.rounds} alternating rounds; load {load}")
    print("warm `termchat ask` (one short answer), median wall seconds:")
    print(f"  straight to the upstream (plain endpoint)      {m['direct']:.3f} s")
    print(f"  through the proxy, kind = litellm_proxy        {m['team']:.3f} s")
    print(f"  through the proxy, plain OpenAI-compatible     {m['plain']:.3f} s")
    print(f"  through the proxy, litellm_proxy, metadata off {m['quiet']:.3f} s")
    print(f"proxy's added latency, termchat ask:   +{(m['team'] - m['direct']) * 1000:.0f} ms "
          f"({m['team'] / m['direct']:.2f}x)")
    print(f"proxy's added latency, one bare POST:  +{(r['proxy'] - r['direct']) * 1000:.0f} ms "
          f"({r['direct'] * 1000:.1f} ms -> {r['proxy'] * 1000:.1f} ms)")
    print(f"kind litellm_proxy / plain endpoint, same proxy URL: {m['team'] / m['plain']:.3f}x "
          f"wall (goal <= 1.05); metadata off {m['quiet'] / m['plain']:.3f}x")
    print(f"  CPU of the termchat ask process: litellm_proxy {c['team'] * 1000:.1f} ms, plain "
          f"{c['plain'] * 1000:.1f} ms, metadata off {c['quiet'] * 1000:.1f} ms: "
          f"{c['team'] / c['plain']:.3f}x")
    return 0


def gw_version() -> str:
    out = subprocess.run([str(ROOT / ".venv-proxy" / "bin" / "python"), "-c",
                          "import importlib.metadata as m; print(m.version('litellm'))"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


if __name__ == "__main__":
    sys.exit(main())
