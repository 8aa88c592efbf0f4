"""Benchmarks of `termchat chat` (prints figures; not a timed test).

    .venv/bin/python bench/bench_tui.py [--tokens 20000] [--tps 2000]

1. First paint: seconds from process start to the first painted frame (headless), termchat's
   app vs an empty Textual app; the ratio (goal ≤ 1.5×).
2. Streaming: a scripted reply of N tokens (words) at T tokens/s of Markdown with code blocks
   and tables from the fake server (a separate process), in the app twice: through the warm
   core process (the default) and with the core in the app's process (``TERMCHAT_NO_WARM=1``).
   Also the same stream read by the core alone, no UI: the rate an in-process app can at best
   keep up with on this machine (LiteLLM costs about 0.7 ms of CPU per chunk), and how long
   LiteLLM takes to close a stream after its last chunk. In the app: key-press latency while
   streaming (p50/p95; goal p95 ≤ 100 ms), time from the last token to the final render painted
   (goal ≤ 1 s) and to the reply stored with its final header, CPU seconds per 1,000 tokens of
   the app process (and of the warm core process), RSS.
3. Long conversations: time to open a conversation of 1,000 messages until it is painted and
   interactive (goal ≤ 1 s), and RSS as conversations grow.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import compile_sources  # noqa: E402

FIRST_PAINT_TEMPLATE = r"""
import os, sys, time
T0 = float(sys.argv[2])
from textual.app import App
if sys.argv[1] == "empty":
    class Bench(App):
        def on_mount(self):
            self.call_after_refresh(self.done)
        def done(self):
            sys.stdout.write(f"{time.time() - T0:.4f}\n"); sys.stdout.flush(); self.exit()
    app = Bench()
else:
    %(imports)s
    class Bench(%(base)s):
        %(body)s
        async def on_mount(self, event):
            # Textual calls every class's own on_mount: stop it calling the app's a second time
            event.prevent_default()
            await super().on_mount()
            self.call_after_refresh(self.done)
        def done(self):
            sys.stdout.write(f"{time.time() - T0:.4f}\n"); sys.stdout.flush(); self.exit()
    app = %(make)s
app.run(headless=True, size=(110, 34))
"""


def first_paint_script(imports: str, base: str, make: str, body: str = "pass") -> str:
    """A script that prints the seconds from ``argv[2]`` (a start time) to the first painted
    frame of an empty Textual app (``argv[1] == "empty"``) or of the app class ``base`` made by
    ``make`` (after its ``on_mount``), headless at 110×34."""
    return FIRST_PAINT_TEMPLATE % {"imports": imports, "base": base, "make": make, "body": body}


def first_paint(script: str, name: str, env: dict[str, str], runs: int) -> dict[str, float]:
    """Median first-paint seconds of the empty app and of ``name`` (alternating runs)."""
    out: dict[str, list[float]] = {"empty": [], name: []}
    for _ in range(runs):
        for kind in ("empty", name):
            t0 = time.time()
            r = subprocess.run([sys.executable, "-c", script, kind, str(t0)],
                               capture_output=True, text=True, env=env, timeout=120)
            if r.returncode or not r.stdout.strip():
                raise RuntimeError(f"first-paint run failed: {r.stderr[-2000:]}")
            out[kind].append(float(r.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(v) for k, v in out.items()}


def rss_mb() -> float:
    """Resident set size of this process in MiB (from /proc)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_first_paint(home: Path, runs: int = 5) -> dict[str, float]:
    env = {**os.environ, "TERMCHAT_HOME": str(home), "TERMCHAT_NO_WARM": "1",
           "OLLAMA_API_BASE": "http://127.0.0.1:9"}
    script = first_paint_script(
        "from termchat.config import load_config; from termchat.store import Store; "
        "from termchat.tui.app import ChatApp",
        "ChatApp", 'Bench(load_config(), Store(), model="fake/m1")')
    return first_paint(script, "termchat", env, runs)


def print_rows(rows: list[tuple[str, str, str]], third: str) -> None:
    """Print ``(measure, value, goal or note)`` rows as an aligned table."""
    w = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(w)}  {'value':>12}  {third}")
    for name, value, extra in rows:
        print(f"{name.ljust(w)}  {value:>12}  {extra}")


def stream_figures(words: int, marks: dict[str, float], latencies: list[float], cpu: float
                   ) -> dict[str, float]:
    """The figures of one streamed reply: ``marks`` holds perf_counter() seconds of the first
    and last text written and of the final render painted; ``latencies`` the key presses'
    seconds; ``cpu`` the process's CPU seconds over the stream."""
    lat = sorted(latencies)
    return {
        "tokens": words,
        "stream_s": marks["last_write"] - marks["first_write"],
        "keys": len(lat),
        "key_p50_ms": 1000 * lat[len(lat) // 2],
        "key_p95_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.95))],
        "key_max_ms": 1000 * lat[-1],
        "final_render_s": marks["painted"] - marks["last_write"],
        "cpu_per_1k": cpu / words * 1000,
        "rss_mb": rss_mb(),
    }


def markdown_text(tokens: int) -> str:
    """Markdown of about ``tokens`` words: prose, code blocks and tables."""
    parts: list[str] = []
    n = 0
    i = 0
    while n < tokens:
        i += 1
        prose = f"Section {i} explains the idea with some words to read and think about. " * 3
        code = "```python\n" + "".join(f"def f{i}_{j}(x):\n    return x * {j} + {i}\n" for j in range(4)) + "```"
        table = "| name | value | note |\n|---|---|---|\n" + "".join(
            f"| row{j} | {i * j} | fine |\n" for j in range(4))
        block = f"## Part {i}\n\n{prose}\n\n{code}\n\n{table}\n"
        parts.append(block)
        n += len(block.split())
    return "\n".join(parts)


def _script(fake_url: str, text: str, tps: int, words: int) -> None:
    import json
    import urllib.request

    req = urllib.request.Request(f"{fake_url}/_script", data=json.dumps(
        [{"text": text, "tokens_per_second": tps, "usage": {"prompt_tokens": 5, "completion_tokens": words}}]
    ).encode(), method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


async def bench_floor(fake_url: str, tokens: int, tps: int) -> dict[str, float]:
    """The same stream read by the core alone (no UI): what the app can at best keep up with."""
    from termchat.config import load_config
    from termchat.core import engine
    from termchat.core.types import ChatRequest, Message, TextDelta

    text = markdown_text(tokens)
    words = len(text.split())
    _script(fake_url, text, tps, words)
    await asyncio.to_thread(engine.load_litellm)
    from termchat.tui.turns import events_in_core_thread

    req = ChatRequest(model="fake/m1", messages=[Message("user", "go")])
    cfg = load_config()
    first = last = cpu0 = 0.0
    # read on the same core thread as the app does (LiteLLM's HTTP clients belong to one loop)
    async for ev in events_in_core_thread(lambda: engine.stream_chat(req, cfg)):
        if isinstance(ev, TextDelta):
            last = time.perf_counter()
            if not first:
                first, cpu0 = last, time.process_time()
    end = time.perf_counter()
    return {"stream_s": last - first, "close_s": end - last,
            "cpu_per_1k": (time.process_time() - cpu0) / words * 1000}


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_warm_core() -> tuple[Path, int]:
    """Start this environment's warm core and wait until it answers; (socket, pid)."""
    from termchat import warm

    sock = warm.socket_path()
    warm.start_background(600.0, sock)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            return sock, int(warm.control("status", sock)["pid"])
        except warm.WarmUnavailable:
            time.sleep(0.1)
    raise RuntimeError("the warm core did not start")


async def bench_stream(home: Path, fake_url: str, tokens: int, tps: int, warm_pid: int | None = None
                       ) -> dict[str, float]:
    """The app streaming the scripted reply: through the warm core process (``warm_pid``,
    already running) or, without it, in-process on the core thread."""
    from termchat.config import load_config
    from termchat.core import engine
    from termchat.store import Store
    from termchat.tui.app import ChatApp
    from termchat.tui.widgets import message as message_mod

    text = markdown_text(tokens)
    words = len(text.split())
    _script(fake_url, text, tps, words)

    marks: dict[str, float] = {}
    cls = message_mod.MessageView
    orig_write, orig_finish, orig_tail = cls.write, cls.finish, cls._render_tail

    def mark_painted(view) -> None:
        # the final render of the whole text is done: note when the next frame is painted
        if view.settled_at is not None and "painted" not in marks:
            view.app.call_after_refresh(lambda: marks.setdefault("painted", time.perf_counter()))

    async def write(self, safe_text):
        marks["last_write"] = time.perf_counter()
        marks.setdefault("first_write", marks["last_write"])
        await orig_write(self, safe_text)

    async def render_tail(self):
        await orig_tail(self)
        if sum(map(len, self._streamed)) == len(text):
            mark_painted(self)

    async def finish(self, text, header, interrupted=False):
        marks["finish_start"] = time.perf_counter()
        await orig_finish(self, text, header, interrupted)
        marks["finish_done"] = time.perf_counter()
        mark_painted(self)

    cls.write, cls.finish, cls._render_tail = write, finish, render_tail
    if warm_pid is None:
        await asyncio.to_thread(engine.load_litellm)
    app = ChatApp(load_config(), Store(), model="fake/m1")
    assert app.core.use_warm == (warm_pid is not None)
    latencies: list[float] = []
    try:
        async with app.run_test(size=(110, 34)) as pilot:
            app.prompt.text = "go"
            await pilot.press("enter")
            while "first_write" not in marks:
                await asyncio.sleep(0.005)
            cpu0 = time.process_time()
            core0 = proc_cpu_s(warm_pid) if warm_pid else 0.0
            app.prompt.focus()
            while app.busy:
                before = len(app.prompt.text)
                t0 = time.perf_counter()
                app.simulate_key("x")
                while len(app.prompt.text) == before:
                    await asyncio.sleep(0.0005)
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0.1)
            while "finish_done" not in marks or "painted" not in marks:
                await asyncio.sleep(0.005)
            await pilot.pause()
            cpu = time.process_time() - cpu0
            core_cpu = proc_cpu_s(warm_pid) - core0 if warm_pid else 0.0
    finally:
        cls.write, cls.finish, cls._render_tail = orig_write, orig_finish, orig_tail
    return {
        **stream_figures(words, marks, latencies, cpu),
        "finished_s": marks["finish_done"] - marks["last_write"],
        "core_cpu_per_1k": core_cpu / words * 1000,
        "litellm_in_app": engine.litellm_loaded(),
    }


async def bench_open(home: Path, sizes: tuple[int, ...]) -> list[tuple[int, float, float]]:
    from termchat.config import load_config
    from termchat.store import Store
    from termchat.tui.app import ChatApp

    store = Store()
    out = []
    for n in sizes:
        conv = store.create_conversation("fake/m1", title=f"{n} messages")
        store.db.execute("BEGIN")
        for i in range(n):
            content = (f"Answer {i}\n\n```python\nprint({i})\n```\n\n| a | b |\n|---|---|\n| {i} | x |"
                       if i % 2 else f"Question {i}: what about {i}?")
            store.db.execute(
                "INSERT INTO messages (conversation_id, role, content, created_at, model,"
                " prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conv.id, "assistant" if i % 2 else "user", content, i, "fake/m1", 10, 20))
        store.db.execute("COMMIT")
        app = ChatApp(load_config(), Store(), model="fake/m1", load_core=False)
        async with app.run_test(size=(110, 34)) as pilot:
            await pilot.pause()
            t0 = time.perf_counter()
            await app.open_conversation(conv.id)
            await pilot.pause()
            # interactive: a key typed now lands in the prompt
            before = len(app.prompt.text)
            app.simulate_key("x")
            while len(app.prompt.text) == before:
                await asyncio.sleep(0.0005)
            elapsed = time.perf_counter() - t0
            out.append((n, elapsed, rss_mb()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=20000)
    ap.add_argument("--tps", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5, help="first-paint runs (median)")
    args = ap.parse_args()
    compile_sources()
    home = Path(tempfile.mkdtemp(prefix="tcbench", dir="/tmp"))  # short: a Unix socket lives here
    os.environ.update(TERMCHAT_HOME=str(home), TERMCHAT_NO_WARM="1", OLLAMA_API_BASE="http://127.0.0.1:9")
    fake = subprocess.Popen([sys.executable, str(ROOT / "tests/support/fake_openai.py"), "--port", "0",
                             "--print-url"], stdout=subprocess.PIPE, text=True)
    sock = None
    try:
        url = fake.stdout.readline().strip()
        (home / "config").mkdir(parents=True, exist_ok=True)
        (home / "config" / "config.toml").write_text(f'[endpoints.fake]\napi_base = "{url}/v1"\n')
        fp = bench_first_paint(home, args.runs)
        # through the warm core first, while this process has not imported LiteLLM
        del os.environ["TERMCHAT_NO_WARM"]
        sock, pid = start_warm_core()
        rss_w0 = rss_mb()
        warm_stream = asyncio.run(bench_stream(home, url, args.tokens, args.tps, warm_pid=pid))
        os.environ["TERMCHAT_NO_WARM"] = "1"
        floor = asyncio.run(bench_floor(url, args.tokens, args.tps))
        rss0 = rss_mb()
        stream = asyncio.run(bench_stream(home, url, args.tokens, args.tps))
        opened = asyncio.run(bench_open(home, (100, 1000, 5000)))
    finally:
        if sock is not None:
            from termchat import warm

            try:
                warm.control("stop", sock)
            except warm.WarmUnavailable:
                pass
        fake.terminate()
        fake.wait(5)

    rows = [
        ("first paint, empty Textual app", f"{fp['empty']:.3f} s", ""),
        ("first paint, termchat chat", f"{fp['termchat']:.3f} s", ""),
        ("first paint ratio", f"{fp['termchat'] / fp['empty']:.2f}×", "≤ 1.5×"),
        (f"core alone (no UI, in one process): {stream['tokens']:,} tokens at {args.tps}/s",
         f"{floor['stream_s']:.1f} s", f"{stream['tokens'] / floor['stream_s']:.0f} tokens/s"),
        ("core alone: last token → stream closed (LiteLLM)", f"{floor['close_s']:.2f} s", ""),
        ("core alone: CPU per 1,000 tokens", f"{floor['cpu_per_1k']:.3f} s", ""),
    ]
    for label, st, base in (("warm core (default)", warm_stream, rss_w0), ("in-process core", stream, rss0)):
        rows += [
            (f"[{label}] stream: {st['tokens']:,} tokens at {args.tps}/s", f"{st['stream_s']:.1f} s",
             f"{st['tokens'] / st['stream_s']:.0f} tokens/s"),
            (f"[{label}] key latency while streaming, p50 ({st['keys']} keys)",
             f"{st['key_p50_ms']:.1f} ms", ""),
            (f"[{label}] key latency while streaming, p95", f"{st['key_p95_ms']:.1f} ms", "≤ 100 ms"),
            (f"[{label}] key latency while streaming, max", f"{st['key_max_ms']:.1f} ms", ""),
            (f"[{label}] last token → final render painted", f"{st['final_render_s']:.3f} s", "≤ 1 s"),
            (f"[{label}] last token → reply stored, header final", f"{st['finished_s']:.3f} s", ""),
            (f"[{label}] CPU per 1,000 tokens, app process", f"{st['cpu_per_1k']:.3f} s", ""),
        ]
        if st["core_cpu_per_1k"]:
            rows.append((f"[{label}] CPU per 1,000 tokens, warm core process", f"{st['core_cpu_per_1k']:.3f} s", ""))
        rows.append((f"[{label}] app RSS after the stream", f"{st['rss_mb']:.0f} MiB",
                     f"+{st['rss_mb'] - base:.0f} MiB during the stream; LiteLLM in the app: "
                     + ("yes" if st["litellm_in_app"] else "no")))
    for n, secs, rss in opened:
        rows.append((f"open a {n:,}-message conversation", f"{secs:.3f} s", "≤ 1 s" if n == 1000 else ""))
        rows.append(("  RSS after opening it", f"{rss:.0f} MiB", ""))
    print_rows(rows, "goal")


if __name__ == "__main__":
    main()
