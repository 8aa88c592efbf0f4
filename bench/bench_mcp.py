"""Benchmark (MCP, issue #13): the first use of an MCP stdio server in chat costs no more than
the server's own start-up + 50 ms; later calls reuse it.

Server: ``mcp-server-time`` (PyPI, the test extra). Side by side, alternating, in one process
with the SDK already imported (the chat app imports it in the background after its first frame,
:func:`termchat.tui.tools_ui.prepare`):

* **the server's own start-up** — the official SDK alone: spawn it (``stdio_client``),
  ``initialize`` and ``tools/list`` (what any MCP client must do before the first call);
* **termchat's first use in chat** — what the chat app does for the first message of a
  conversation with ``tools.enabled = ["clock"]``: :meth:`termchat.tui.tools_ui.ChatTools.build`
  (the spec resolved, the server started through the shared hub, its tools made ``Tool``
  objects, the ``ToolSet`` built), from a new hub each time;
* **per call, later** — ``get_current_time`` on the running server: the SDK's ``call_tool``
  alone, termchat's :meth:`McpHub.call`, and a whole tool round through the conversation's
  ``ToolSet.run`` (argument decoding, permission, the round's loop, the result).

Each side stops its server, and waits for it to exit, outside its timing (a server dying during
the other side's start would load the machine). The verdict is the median of the rounds' paired
differences (each round's two runs back to back), steadier on a busy machine than the
difference of the two medians, which is printed too.

    python bench/bench_mcp.py [--rounds 7] [--calls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, load_average, median

sys.path.insert(0, str(ROOT / "src"))

TARGET_S = 0.050


def sdk_start(command: str) -> float:
    """Seconds for the SDK alone to spawn the server, initialize and list its tools (then it
    is stopped, outside the timing)."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    time.sleep(0.2)  # as the other side: the machine settles after the previous run

    async def run() -> float:
        with open("/dev/null", "w") as devnull:
            t0 = time.perf_counter()
            async with stdio_client(StdioServerParameters(command=command), errlog=devnull) as (
                    r, w), ClientSession(r, w) as s:
                await s.initialize()
                await s.list_tools()
                return time.perf_counter() - t0

    return asyncio.run(run())


def termchat_first_use(config) -> float:
    """Seconds for the chat's first-message tool set with the server ``clock`` (new hub)."""
    from termchat.client import mcp
    from termchat.tui.tools_ui import ChatTools

    mcp.shared_hub(config).prepare()  # a fresh hub (the last one was shut down): no server
    time.sleep(0.2)  # the SDK import (done after the first frame in the app) is not timed
    tools = ChatTools(config)
    t0 = time.perf_counter()
    ts = tools.build()
    spent = time.perf_counter() - t0
    assert ts is not None and "clock.get_current_time" in ts.tools, "the server did not start"
    _inside.append(spent - (mcp.shared_hub(config).start_seconds("clock") or 0.0))
    mcp.shutdown()  # stopped (and waited for) outside the timing, as the SDK side does
    return spent


#: Per first use: seconds of ChatTools.build outside the hub's own spawn-to-tools/list window.
_inside: list[float] = []


def per_call(config, calls: int) -> dict[str, float]:
    """Median seconds per ``get_current_time`` call on a running server, three ways."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from termchat.client import mcp
    from termchat.client.tools import ToolSet
    from termchat.core.types import ToolCall

    command = config.data["mcp"]["servers"]["clock"]["command"]
    args = {"timezone": "Europe/Paris"}

    async def sdk() -> list[float]:
        out = []
        with open("/dev/null", "w") as devnull:
            async with stdio_client(StdioServerParameters(command=command), errlog=devnull) as (
                    r, w), ClientSession(r, w) as s:
                await s.initialize()
                for _ in range(calls):
                    t0 = time.perf_counter()
                    await s.call_tool("get_current_time", args)
                    out.append(time.perf_counter() - t0)
        return out

    hub = mcp.shared_hub(config)
    hub.tools("clock")
    direct = []
    for _ in range(calls):
        t0 = time.perf_counter()
        hub.call("clock", "get_current_time", args)
        direct.append(time.perf_counter() - t0)
    ts = ToolSet(mcp.providers(config)["clock"].tools(), yes=True)
    rounds = []
    for i in range(calls):
        t0 = time.perf_counter()
        [res] = ts.run([ToolCall(f"c{i}", "clock.get_current_time", '{"timezone": "Europe/Paris"}')])
        rounds.append(time.perf_counter() - t0)
        assert res.ok, res.content
    return {"SDK call_tool": median(asyncio.run(sdk())), "McpHub.call": median(direct),
            "ToolSet round (1 call)": median(rounds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=50)
    opts = ap.parse_args()
    command = shutil.which("mcp-server-time", path=str(Path(sys.executable).parent))
    if command is None:
        sys.exit("mcp-server-time is not installed (pip install -e '.[test]')")
    home = Path(tempfile.mkdtemp(prefix="tcbm", dir="/tmp"))
    (home / "config").mkdir()
    (home / "config" / "config.toml").write_text(
        f'[tools]\nenabled = ["clock"]\n[mcp.servers.clock]\ncommand = "{command}"\n')
    import os

    os.environ["TERMCHAT_HOME"] = str(home)
    from termchat.config import load_config

    config = load_config()
    import mcp.client.session
    import mcp.client.stdio

    sdk_start(command)  # warm the file cache for both sides
    sdk, ours = [], []
    for _ in range(opts.rounds):
        sdk.append(sdk_start(command))
        ours.append(termchat_first_use(config))
    print(f"mcp-server-time, {opts.rounds} alternating rounds, load {load_average()}")
    s, o = median(sdk), median(ours)
    print(f"  server's own start-up (SDK: spawn, initialize, tools/list)  {s * 1000:7.1f} ms")
    print(f"  termchat's first use in chat (ChatTools.build)              {o * 1000:7.1f} ms")
    paired = median([b - a for a, b in zip(sdk, ours, strict=True)])
    verdict = "within" if paired <= TARGET_S else "OVER"
    print(f"  extra time, median of the paired differences (each round's two runs back to back): "
          f"{1000 * paired:+.1f} ms (target ≤ +{TARGET_S * 1000:.0f} ms: {verdict})")
    print(f"  difference of the medians {1000 * (o - s):+.1f} ms, ratio {o / s:.2f}")
    print(f"  termchat's work around the start (build minus the hub's spawn-to-tools/list): "
          f"{1000 * median(_inside):.1f} ms")
    print(f"per call on the running server (median of {opts.calls}):")
    for name, v in per_call(config, opts.calls).items():
        print(f"  {name:<24} {v * 1000:6.2f} ms")
    from termchat.client import mcp

    mcp.shutdown()
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
