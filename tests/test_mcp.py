"""The MCP client against real servers: `mcp-server-time` from PyPI (stdio), and servers written
with the official SDK in tests/support/mcp_servers.py (stdio faults; streamable HTTP with a
bearer token) — started, listed, called, reused, killed mid-call, timed out, refused."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from termchat.client.mcp_hub import McpHub
from termchat.client.mcp_parts import McpServerError
from termchat.core.errors import ConfigError, InterruptedError_, TimeoutError_
from termchat.mcp_config import McpServerConfig
from tests.conftest import ROOT, needs, write_config

TIME_SERVER = shutil.which("mcp-server-time", path=str(Path(sys.executable).parent))


def time_server() -> McpServerConfig:
    needs(TIME_SERVER is not None, "mcp-server-time is not installed (the test extra)")
    return McpServerConfig("time", command=TIME_SERVER, args=("--local-timezone", "UTC"))


def test_server() -> McpServerConfig:
    return McpServerConfig("t", command=sys.executable,
                           args=("-m", "tests.support.mcp_servers", "stdio"), cwd=str(ROOT),
                           timeout=20)


test_server.__test__ = False  # a helper, not a test


@pytest.fixture
def log_file(home: Path) -> Iterator[Path]:
    """termchat's log file, in this test's home (the process's log handler is swapped)."""
    import logging

    from termchat import logs

    names = ("termchat", "mcp", "httpx2", "httpcore2")
    saved = {n: (logging.getLogger(n).handlers, logging.getLogger(n).level) for n in names}
    previous, logs._handler = logs._handler, None
    logs.get_logger()
    handler = logs._handler
    try:
        yield home / "logs" / "termchat.log"
    finally:
        handler.close()
        logs._handler = previous
        for n, (handlers, level) in saved.items():
            logging.getLogger(n).handlers = handlers
            logging.getLogger(n).setLevel(level)


@pytest.fixture
def hub(home: Path, log_file: Path) -> Iterator[McpHub]:
    h = McpHub({"time": time_server(), "t": test_server(),
                "missing": McpServerConfig("missing", command="/nonexistent/mcp-server"),
                "quits": McpServerConfig("quits", command=sys.executable,
                                         args=("-c", "import sys; sys.stderr.write('bye\\n')"))})
    yield h
    h.close()


def test_time_server_from_pypi_lists_and_answers(hub: McpHub) -> None:
    tools = {t.full_name: t for t in hub.tools("time")}
    assert {"time.get_current_time", "time.convert_time"} <= set(tools)
    assert tools["time.get_current_time"].input_schema["required"] == ["timezone"]
    result = hub.call("time", "get_current_time", {"timezone": "Asia/Tokyo"})
    assert not result.is_error
    assert '"timezone": "Asia/Tokyo"' in result.text and "+09:00" in result.text
    bad = hub.call("time", "get_current_time", {"timezone": "Nowhere/Atlantis"})
    assert bad.is_error and "Nowhere/Atlantis" in bad.text


def test_a_started_server_is_reused_for_every_call(hub: McpHub) -> None:
    hub.tools("time")
    first = hub.start_seconds("time")
    assert first is not None and hub.status()["time"] == "running"
    pids = _children("mcp-server-time")
    for _ in range(3):
        hub.call("time", "convert_time", {"source_timezone": "UTC", "time": "12:00",
                                          "target_timezone": "Europe/Paris"})
    assert hub.start_seconds("time") == first  # no second start
    assert _children("mcp-server-time") == pids and len(pids) == 1
    hub.close()
    deadline = time.monotonic() + 8
    while _children("mcp-server-time") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children("mcp-server-time") == []  # stopped on close


def _children(name: str) -> list[int]:
    """Live processes whose command line mentions ``name`` and whose parent is this process."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if name.encode() in cmd and int(stat[1]) == os.getpid() and stat[0] not in "ZX":
            out.append(int(entry.name))
    return out


def test_results_errors_big_output(hub: McpHub) -> None:
    assert hub.call("t", "add", {"a": 2, "b": 40}).text == "42"
    failed = hub.call("t", "fail", {})
    assert failed.is_error and failed.text
    big = hub.call("t", "huge", {"chars": 250_000})
    assert big.text.startswith("x" * 1000)
    assert big.text.endswith("[… output cut: 100,000 of 250,000 characters shown]")
    raw = hub.call("t", "ansi", {}).text
    assert "\x1b[31m" in raw  # handed on as it came; the fronts neutralise it on screen


def test_a_server_that_exits_mid_call_is_reported_and_restarted(hub: McpHub,
                                                                log_file: Path) -> None:
    hub.tools("t")
    with pytest.raises(McpServerError) as err:
        hub.call("t", "die", {})
    assert err.value.message == ("MCP tool t.die failed: the server exited during the call "
                                 "(it restarts on next use)")
    assert hub.status()["t"].startswith("stopped")
    assert hub.call("t", "echo", {"text": "back"}).text == "back"  # started again
    log = log_file.read_text()
    assert "termchat.mcp.t INFO stderr: test server: exiting mid-call" in log


def test_a_server_that_dies_between_calls_is_started_again(hub: McpHub, log_file: Path) -> None:
    import signal

    hub.tools("t")
    [pid] = _children("tests.support.mcp_servers")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while hub.status()["t"] == "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hub.status()["t"] == "stopped: it exited"  # noticed without a call
    assert hub.call("t", "echo", {"text": "fresh"}).text == "fresh"  # the call was not lost
    assert len(_children("tests.support.mcp_servers")) == 1
    assert "MCP server t exited; it is started again at its next use" in log_file.read_text()


def test_servers_that_will_not_start(hub: McpHub, log_file: Path,
                                     capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(McpServerError) as err:
        hub.tools("missing")
    assert err.value.message == ("MCP server 'missing' did not start: command not found: "
                                 "/nonexistent/mcp-server")
    with pytest.raises(McpServerError) as err:
        hub.tools("quits")
    assert "did not start: it exited at once" in err.value.message
    mute = McpHub({"mute": McpServerConfig("mute", command=sys.executable,
                                           args=("-c", "import time; time.sleep(60)"))},
                  start_timeout=2.0)
    t0 = time.monotonic()
    try:
        with pytest.raises(McpServerError) as err:
            mute.tools("mute")
    finally:
        mute.close()
    assert err.value.message == "MCP server 'mute' did not start: no answer in time"
    assert time.monotonic() - t0 < 12
    assert "bye" not in capfd.readouterr().err  # a server's stderr never reaches the terminal
    log = log_file.read_text()
    assert "termchat.mcp.quits INFO stderr: bye" in log
    assert hub.status()["missing"] == "stopped: command not found: /nonexistent/mcp-server"


def test_timeout_and_cancel_stop_the_call_not_the_server(hub: McpHub) -> None:
    with pytest.raises(TimeoutError_) as err:
        hub.call("t", "sleep", {"seconds": 5}, timeout=0.5)
    assert err.value.message == "MCP tool t.sleep gave no result within 0.5 s"
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(InterruptedError_):
        hub.call("t", "sleep", {"seconds": 5}, cancel=stop)
    assert time.monotonic() - t0 < 2
    assert hub.call("t", "echo", {"text": "alive"}).text == "alive"


def test_undeclared_server(hub: McpHub) -> None:
    with pytest.raises(ConfigError) as err:
        hub.tools("nope")
    assert "no MCP server named 'nope'" in err.value.message


@pytest.fixture
def http_server() -> Iterator[str]:
    """The SDK-written streamable-HTTP server on a free port, bearer token ``s3cret-token-42``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.mcp_servers", "http", str(port),
                             "s3cret-token-42"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=str(ROOT))
    try:
        assert proc.stdout.readline().strip() == f"ready {port}".encode()
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


def test_streamable_http_with_a_bearer_token(log_file: Path, http_server: str) -> None:
    servers = {n: McpServerConfig(n, url=http_server, token_key=f"mcp.{n}")
               for n in ("good", "wrong", "none")}
    hub = McpHub(servers, keys={"mcp.good": "s3cret-token-42", "mcp.wrong": "not-the-token-99"})
    try:
        assert "good.echo" in [t.full_name for t in hub.tools("good")]
        assert hub.call("good", "echo", {"text": "over http"}).text == "over http"
        with pytest.raises(McpServerError) as err:
            hub.tools("wrong")
        assert err.value.message == (f"MCP server 'wrong' did not start: {http_server} refused "
                                     "the bearer token (HTTP 401)")
        with pytest.raises(McpServerError) as err:
            hub.tools("none")
        assert "wants a bearer token (HTTP 401); store it with: termchat keys set mcp.none" in (
            err.value.message)
    finally:
        hub.close()
    log = log_file.read_text()
    assert "MCP server wrong ended" in log  # the log was written
    assert "s3cret-token-42" not in log and "not-the-token-99" not in log


def test_the_token_comes_from_the_keys_file(home: Path, http_server: str) -> None:
    from termchat.client.mcp import providers, shutdown
    from termchat.config import load_config, save_key

    write_config(home, f'[mcp.servers.notes]\nurl = "{http_server}"\n')
    save_key("mcp.notes", "s3cret-token-42")
    try:
        provs = providers(load_config())
        assert [t.name for t in provs["notes"].tools()][:2] == ["notes.echo", "notes.add"]
    finally:
        shutdown()


def test_mcp_tools_run_through_the_tool_set(home: Path) -> None:
    """The registry's path: providers(config) → Tool objects → ToolSet.run answers ToolCalls.
    (The server is called "clock": `-T time` is the built-in date-and-time tool.)"""
    needs(TIME_SERVER is not None, "mcp-server-time is not installed (the test extra)")
    from termchat.client.mcp import providers, shutdown
    from termchat.client.tools import ToolSet, build_toolset
    from termchat.config import load_config
    from termchat.core.types import ToolCall

    write_config(home, f'[mcp.servers.clock]\ncommand = "{TIME_SERVER}"\n'
                 f'[mcp.servers.t]\ncommand = "{sys.executable}"\n'
                 f'args = ["-m", "tests.support.mcp_servers", "stdio"]\ncwd = "{ROOT}"\n')
    cfg = load_config()
    try:
        ts = build_toolset(cfg, ["clock", "t.echo", "t.die"], yes=True)
        assert set(ts.tools) == {"clock.get_current_time", "clock.convert_time", "t.echo", "t.die"}
        assert all(t.source in ("clock", "t") for t in ts.tools.values())
        results = ts.run([
            ToolCall("c1", "clock.get_current_time", '{"timezone": "Europe/Paris"}'),
            ToolCall("c2", "t.echo", '{"text": "hi"}'),
            ToolCall("c3", "clock.get_current_time", '{"timezone": "Nowhere/X"}'),
        ])
        assert [r.ok for r in results] == [True, True, False]
        assert "Europe/Paris" in results[0].content and results[1].content == "hi"
        assert results[2].content.startswith("error: ") and "Nowhere/X" in results[2].content
        died = ts.run([ToolCall("c4", "t.die", "{}")])[0]
        assert not died.ok and "the server exited during the call" in died.content
        again = ToolSet(list(ts.tools.values()), yes=True).run([ToolCall("c5", "t.echo",
                                                                         '{"text": "again"}')])
        assert again[0].content == "again"
        hub = providers(cfg)["clock"].hub  # one hub per process: the servers kept running
        assert hub is providers(cfg)["t"].hub and hub.started("clock") and hub.started("t")
    finally:
        shutdown()


def test_config_checks(home: Path) -> None:
    from termchat.config import load_config
    from termchat.mcp_config import servers

    write_config(home, '[mcp.servers.a]\ncommand = "x"\nargs = ["-v"]\nenv = { K = "v" }\n'
                 'timeout = 5\n[mcp.servers.b]\nurl = "https://h.example/mcp"\n')
    got = servers(load_config().data)
    assert got["a"].transport == "stdio" and got["a"].args == ("-v",) and got["a"].timeout == 5.0
    assert got["b"].transport == "http" and got["b"].token_key == "mcp.b"
    cases = {
        '[mcp.servers.a]\ncommand = "x"\nurl = "http://h/"\n': "one of them",
        '[mcp.servers.a]\nargs = ["x"]\n': "one of them",
        '[mcp.servers.a]\ncommand = "x"\nargz = []\n': "mcp.servers.a.argz must be one of",
        '[mcp.servers.a]\ncommand = "x"\nargs = [1]\n': "a list of strings",
        '[mcp.servers.a]\ncommand = "x"\ntimeout = -1\n': "timeout must be > 0",
        '[mcp.servers.a]\nurl = "ftp://h/"\n': "an http:// or https:// URL",
        '[mcp.servers."a b"]\ncommand = "x"\n': "named with letters",
        '[mcp]\nserver = {}\n': "mcp.server must be absent",
    }
    for text, want in cases.items():
        write_config(home, text)
        with pytest.raises(ConfigError) as err:
            load_config()
        assert want in err.value.message, (text, err.value.message)
        assert "line" in err.value.message or "mcp" in err.value.message
