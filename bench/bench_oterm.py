"""The chat app's streaming workload in oterm, for a side-by-side look (prints figures).

    python3 -m venv /tmp/otermvenv && /tmp/otermvenv/bin/pip install oterm==0.26.1
    /tmp/otermvenv/bin/python bench/bench_oterm.py [--tokens 20000] [--tps 2000] [--runs 5]

oterm (a Textual chat app for Ollama and other providers, through pydantic-ai) runs with the
same Textual version as termchat here (8.2.8). It talks to the same scripted loopback server
(``tests/support/fake_openai.py``) through its Ollama provider (``OLLAMA_URL``; pydantic-ai
uses the server's OpenAI-compatible ``/v1`` API), and gets the same Markdown of about N tokens
at T tokens/s that ``bench/bench_tui.py`` streams into termchat. Measured like there, from
oterm's own streaming calls (``ChatItem.append_text`` / ``finish_stream``):

1. first paint of oterm with one saved chat vs an empty Textual app (the same script shape);
2. key-press latency while the reply streams (p50/p95/max; a key every 0.1 s into oterm's
   prompt), last token → final render painted, CPU seconds of the (single) process per
   1,000 tokens, RSS.

This file is run with oterm's interpreter; it imports nothing from termchat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_tui import (  # noqa: E402 (stdlib only)
    first_paint,
    first_paint_script,
    markdown_text,
    print_rows,
    rss_mb,
    stream_figures,
)

FIRST_PAINT = first_paint_script(
    "import os, oterm.app.oterm as m; from oterm.app.oterm import OTerm",
    "OTerm", "Bench()",
    # the app's CSS path is relative to the class's file, which a -c script has not
    body="CSS_PATH = os.path.join(os.path.dirname(m.__file__), OTerm.CSS_PATH)")


async def save_chat() -> None:
    from oterm.store.store import Store
    from oterm.types import ChatModel

    store = await Store.get_store()
    await store.save_chat(ChatModel(name="bench", model="m1", provider="ollama"))


async def stream(url: str, tokens: int, tps: int) -> dict[str, float]:
    from oterm.app.oterm import OTerm
    from oterm.app.widgets import chat as chat_mod

    text = markdown_text(tokens)
    words = len(text.split())
    body = json.dumps([{"text": text, "tokens_per_second": tps,
                        "usage": {"prompt_tokens": 5, "completion_tokens": words}}]).encode()
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{url}/_script", data=body, method="POST",
                                                  headers={"Content-Type": "application/json"})).read()
    marks: dict[str, float] = {}
    item_cls = chat_mod.ChatItem
    orig_append, orig_finish = item_cls.append_text, item_cls.finish_stream

    async def append_text(self, delta):
        if self.author != "user" and delta:
            marks["last_write"] = time.perf_counter()
            marks.setdefault("first_write", marks["last_write"])
        await orig_append(self, delta)

    async def finish_stream(self):
        await orig_finish(self)
        marks["finish_done"] = time.perf_counter()
        self.app.call_after_refresh(lambda: marks.setdefault("painted", time.perf_counter()))

    item_cls.append_text, item_cls.finish_stream = append_text, finish_stream
    app = OTerm()
    latencies: list[float] = []
    async with app.run_test(size=(110, 34)) as pilot:
        deadline = time.monotonic() + 60
        while not app.query(chat_mod.ChatContainer):
            if time.monotonic() > deadline:
                raise RuntimeError("oterm showed no chat")
            await pilot.pause(0.05)
        container = app.query_one(chat_mod.ChatContainer)
        while container.agent is None and time.monotonic() < deadline:
            await pilot.pause(0.05)
        container.inference_task = asyncio.create_task(container.response_task("go"))
        while "first_write" not in marks:
            if container.inference_task.done():
                raise RuntimeError(f"oterm's reply failed: {container.inference_task.exception()}")
            await asyncio.sleep(0.005)
        cpu0 = time.process_time()
        area = container.query_one("#promptArea")
        area.focus()
        while "finish_done" not in marks:
            before = len(area.text)
            t0 = time.perf_counter()
            app.simulate_key("x")
            while len(area.text) == before:
                await asyncio.sleep(0.0005)
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.1)
        while "painted" not in marks:
            await asyncio.sleep(0.005)
        await pilot.pause()
        cpu = time.process_time() - cpu0
        await container.inference_task
    return stream_figures(words, marks, latencies, cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=20000)
    ap.add_argument("--tps", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5, help="first-paint runs (median)")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="oterm-bench-"))
    (data / "config.json").write_text(json.dumps({"splash-screen": False}))
    fake = subprocess.Popen([sys.executable, str(ROOT / "tests/support/fake_openai.py"), "--port", "0",
                             "--print-url"], stdout=subprocess.PIPE, text=True)
    try:
        url = fake.stdout.readline().strip()
        os.environ.update(OTERM_DATA_DIR=str(data), OLLAMA_URL=url, PYDANTIC_AI_NO_BANNER="1")
        asyncio.run(save_chat())
        fp = first_paint(FIRST_PAINT, "oterm", dict(os.environ), args.runs)
        rss0 = rss_mb()
        st = asyncio.run(stream(url, args.tokens, args.tps))
    finally:
        fake.terminate()
        fake.wait(5)
    rows = [
        ("first paint, empty Textual app", f"{fp['empty']:.3f} s", ""),
        ("first paint, oterm (one saved chat)", f"{fp['oterm']:.3f} s", ""),
        ("first paint ratio", f"{fp['oterm'] / fp['empty']:.2f}×", ""),
        (f"[oterm] stream: {st['tokens']:,} tokens at {args.tps}/s", f"{st['stream_s']:.1f} s",
         f"{st['tokens'] / st['stream_s']:.0f} tokens/s"),
        (f"[oterm] key latency while streaming, p50 ({st['keys']} keys)", f"{st['key_p50_ms']:.1f} ms", ""),
        ("[oterm] key latency while streaming, p95", f"{st['key_p95_ms']:.1f} ms", ""),
        ("[oterm] key latency while streaming, max", f"{st['key_max_ms']:.1f} ms", ""),
        ("[oterm] last token → final render painted", f"{st['final_render_s']:.3f} s", ""),
        ("[oterm] CPU per 1,000 tokens, app process", f"{st['cpu_per_1k']:.3f} s", ""),
        ("[oterm] RSS after the stream", f"{st['rss_mb']:.0f} MiB", f"+{st['rss_mb'] - rss0:.0f} MiB"),
    ]
    print_rows(rows, "note")


if __name__ == "__main__":
    main()
