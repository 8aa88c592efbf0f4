"""Benchmark (warm-core issue): `termchat ask` with a one-word answer from the loopback server.

1. warm ``termchat ask`` vs ``llm`` (simonw/llm, same server through extra-openai-models.yaml)
   — goal <= 0.3 — and vs a bare Typer app's ``--help`` — goal <= 1.5;
2. cold ``termchat ask`` (no warm core yet: runs in-process, then starts one) vs
   ``termchat ask --no-warm`` (the in-process figure) — goal <= 1.1;
3. time to first token added by the warm path over a direct in-process call — goal <= 30 ms.

    python bench/bench_warm.py [N] [--llm PATH]   # N rounds (default 7); PATH to an `llm` binary

`llm` is not a termchat dependency: install it apart (``python -m venv /tmp/llmvenv &&
/tmp/llmvenv/bin/pip install llm==0.36``) and pass ``--llm /tmp/llmvenv/bin/llm``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    HERE,
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


def stop_core(env: dict[str, str]) -> None:
    subprocess.run([*termchat_cmd(), "warm", "stop"], env=env, capture_output=True)
    home = Path(env["TERMCHAT_HOME"]) / "run"
    for lock in home.glob("*.lock") if home.exists() else []:
        try:
            os.kill(int(lock.read_text().split()[0]), signal.SIGKILL)
        except (ValueError, OSError, IndexError):
            pass


def wait_core(env: dict[str, str]) -> None:
    subprocess.run([*termchat_cmd(), "warm", "start", "--wait", "120"], env=env, check=True,
                   capture_output=True)


def ttft_overhead(env: dict[str, str], base_url: str, rounds: int) -> tuple[float, float]:
    """Median seconds to the first TextDelta: in-process engine vs through the warm core,
    both with LiteLLM already imported and warmed up (measured in this process)."""
    os.environ.update(env)
    sys.path.insert(0, str(HERE.parent / "src"))
    from termchat import warm
    from termchat.config import load_config
    from termchat.core import engine
    from termchat.core.catalog import resolve_model
    from termchat.core.types import ChatRequest, Message, TextDelta

    cfg = load_config()
    rm = resolve_model("fake/fake-small", cfg)
    engine.load_litellm()
    sock = warm.socket_path()

    async def first(gen) -> float:
        t0 = time.perf_counter()
        async for ev in gen:
            if isinstance(ev, TextDelta):
                dt = time.perf_counter() - t0
                async for _ in gen:  # drain, so both sides do the same work
                    pass
                return dt
        raise RuntimeError("no text")

    def first_warm() -> float:
        t0 = time.perf_counter()
        gen = warm.request_events_sync(req(), rm, cfg, sock)
        for ev in gen:
            if isinstance(ev, TextDelta):
                dt = time.perf_counter() - t0
                for _ in gen:
                    pass
                return dt
        raise RuntimeError("no text")

    def req() -> ChatRequest:
        return ChatRequest(model=rm.id, messages=[Message("user", "hi")])

    async def run() -> tuple[list[float], list[float]]:
        direct, via = [], []
        for _ in range(3):  # warm both paths (first call costs ~1 s in LiteLLM)
            await first(engine.stream_chat(req(), cfg, rm))
            first_warm()
        for _ in range(rounds):
            direct.append(await first(engine.stream_chat(req(), cfg, rm)))
            via.append(first_warm())
        return direct, via

    d, v = asyncio.run(run())
    return median(d), median(v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=7)
    ap.add_argument("--llm", default=shutil.which("llm"))
    args = ap.parse_args()
    compile_sources()
    n = args.n
    tc = termchat_cmd()
    print(f"load average {load_average()}, {n} rounds, alternating")
    srv = LoopbackServer()
    env = bench_env()
    write_endpoint_config(env, srv.base_url)
    srv.script([{"text": "Hello."}] * 1000)
    ask = [*tc, "ask", "--no-log", "-m", "fake/fake-small", "hi"]
    try:
        # 2. cold vs in-process
        run_timed([*tc, "ask", "--no-warm", "--no-log", "-m", "fake/fake-small", "hi"], env)

        def cold() -> float:
            stop_core(env)
            t = run_timed(ask, env)
            stop_core(env)
            return t

        s = alternate(max(3, n // 2), {
            "cold": cold,
            "inproc": lambda: run_timed([*tc, "ask", "--no-warm", "--no-log", "-m", "fake/fake-small", "hi"], env),
        })
        c, i = median(s["cold"]), median(s["inproc"])
        print(f"cold ask {c:.3f} s   in-process ask {i:.3f} s   ratio {c / i:.2f}  (goal <= 1.1)")

        # 1. warm vs llm vs bare --help
        wait_core(env)
        run_timed(ask, env)
        sides = {"warm": lambda: run_timed(ask, env),
                 "bare": lambda: run_timed([sys.executable, str(HERE / "bare_app.py"), "--help"], env)}
        if args.llm:
            llm_home = Path(tempfile.mkdtemp(prefix="llmb", dir="/tmp"))
            (llm_home / "extra-openai-models.yaml").write_text(
                f"- model_id: fake\n  model_name: fake-small\n  api_base: \"{srv.base_url}\"\n"
            )
            llm_env = dict(env, LLM_USER_PATH=str(llm_home), OPENAI_API_KEY="x")
            run_timed([args.llm, "-m", "fake", "hi"], llm_env)
            sides["llm"] = lambda: run_timed([args.llm, "-m", "fake", "hi"], llm_env)
        s = alternate(n, sides)
        w, b = median(s["warm"]), median(s["bare"])
        line = f"warm ask {w:.3f} s   bare Typer --help {b:.3f} s   ratio {w / b:.2f}  (goal <= 1.5)"
        print(line)
        if "llm" in s:
            ll = median(s["llm"])
            ver = subprocess.run([args.llm, "--version"], capture_output=True, text=True).stdout.strip()
            print(f"warm ask {w:.3f} s   {ver} {ll:.3f} s   ratio {w / ll:.2f}  (goal <= 0.3)")
        else:
            print("llm not found: pass --llm PATH for the llm comparison")

        # 3. TTFT overhead
        d, v = ttft_overhead(env, srv.base_url, n * 3)
        print(f"first token: in-process {d * 1000:.1f} ms   via warm core {v * 1000:.1f} ms   "
              f"added {(v - d) * 1000:.1f} ms  (goal <= 30 ms)")
    finally:
        stop_core(env)
        srv.stop()


if __name__ == "__main__":
    main()
