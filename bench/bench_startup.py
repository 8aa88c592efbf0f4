"""Benchmark (core/`ask` issue): start-up and one in-process answer.

1. ``termchat --help`` vs a bare Typer app's ``--help`` (goal: ratio <= 1.3).
2. ``termchat ask --no-warm`` for a one-word answer from the loopback server, in-process (it
   imports LiteLLM), vs a minimal script that imports litellm and streams the same request
   (goal: ratio <= 1.1).

    python bench/bench_startup.py [N]     # N rounds, alternating (default 7)
"""

from __future__ import annotations

import sys

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

MINIMAL = """
import os
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm, asyncio
litellm.suppress_debug_info = True
async def main():
    r = await litellm.acompletion(model="openai/fake-small", api_base=BASE, api_key="x",
        messages=[{"role": "user", "content": "hi"}], stream=True, max_retries=0,
        stream_options={"include_usage": True})
    async for c in r:
        if c.choices and c.choices[0].delta.content:
            print(c.choices[0].delta.content, end="", flush=True)
asyncio.run(main())
"""


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    compile_sources()
    tc = termchat_cmd()
    env = bench_env()
    print(f"load average {load_average()}, {n} rounds, alternating")

    bare = [sys.executable, str(HERE / "bare_app.py"), "--help"]
    run_timed([*tc, "--help"], env)
    run_timed(bare, env)
    s = alternate(n * 3, {"termchat": lambda: run_timed([*tc, "--help"], env),
                          "bare": lambda: run_timed(bare, env)})
    a, b = median(s["termchat"]), median(s["bare"])
    print(f"--help        termchat {a:.3f} s   bare Typer {b:.3f} s   ratio {a / b:.2f}  (goal <= 1.3)")

    srv = LoopbackServer()
    try:
        write_endpoint_config(env, srv.base_url)
        script = MINIMAL.replace("BASE", repr(srv.base_url))
        ask = [*tc, "ask", "--no-warm", "--no-log", "-m", "fake/fake-small", "hi"]
        run_timed(ask, env)
        srv.script([{"text": "Hello."}] * (2 * n + 2))
        s = alternate(n, {"termchat": lambda: run_timed(ask, env),
                          "minimal": lambda: run_timed([sys.executable, "-c", script], env)})
        a, b = median(s["termchat"]), median(s["minimal"])
        print(f"ask in-process termchat {a:.3f} s   minimal litellm script {b:.3f} s   ratio {a / b:.2f}  (goal <= 1.1)")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
