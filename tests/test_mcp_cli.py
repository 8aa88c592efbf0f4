"""`termchat mcp list|tools` as a real subprocess, `keys set` for an HTTP server's token, and
completion of server names in bash, zsh and fish."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_config
from tests.test_completion import candidates, values
from tests.test_mcp import TIME_SERVER, time_server


def _config(home: Path) -> None:
    time_server()  # fails (in CI) or skips when mcp-server-time is missing
    write_config(home, f'[mcp.servers.clock]\ncommand = "{TIME_SERVER}"\n'
                 'args = ["--local-timezone", "UTC"]\n'
                 '[mcp.servers.broken]\ncommand = "/nonexistent/mcp-server"\n'
                 '[mcp.servers.notes]\nurl = "http://127.0.0.1:9/mcp"\n')


def test_mcp_list_shows_servers_without_starting_them(home, cli):
    _config(home)
    proc = cli("mcp", "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"clock   stdio  {TIME_SERVER} --local-timezone UTC"
    assert lines[1] == "broken  stdio  /nonexistent/mcp-server"
    assert lines[2] == "notes   http   http://127.0.0.1:9/mcp"
    rows = json.loads(cli("mcp", "list", "--json").stdout)
    assert [r["transport"] for r in rows] == ["stdio", "stdio", "http"]
    assert "status" not in rows[0]


def test_mcp_list_check_starts_each_and_fails_when_one_does_not(home, cli):
    _config(home)
    proc = cli("mcp", "list", "--check")
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    assert out[0].startswith(f"clock   stdio  {TIME_SERVER} --local-timezone UTC  ok, 2 tools, "
                             "started in ")
    assert out[1].endswith("error: MCP server 'broken' did not start: command not found: "
                           "/nonexistent/mcp-server")
    assert out[2].endswith("error: MCP server 'notes' did not start: cannot connect to "
                           "http://127.0.0.1:9/mcp")
    assert "Traceback" not in proc.stderr


def test_mcp_tools_lists_names_and_descriptions(home, cli):
    _config(home)
    proc = cli("mcp", "tools", "clock")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "clock.get_current_time  Get current time in a specific timezone",
        "clock.convert_time  Convert time between timezones",
    ]
    tools = json.loads(cli("mcp", "tools", "clock", "--json").stdout)
    assert tools[0]["name"] == "clock.get_current_time"
    assert tools[0]["input_schema"]["required"] == ["timezone"]


def test_mcp_tools_errors_are_one_line(home, cli):
    _config(home)
    proc = cli("mcp", "tools", "broken")
    assert proc.returncode == 1
    assert proc.stderr.startswith("termchat: MCP server 'broken' did not start: command not "
                                  "found: /nonexistent/mcp-server")
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = cli("mcp", "tools", "nope")
    assert proc.returncode == 3
    assert "no MCP server named 'nope' (configured: clock, broken, notes)" in proc.stderr


def test_tool_output_is_neutralised_on_the_terminal(home, cli):
    write_config(home, f'[mcp.servers.t]\ncommand = "{sys.executable}"\n'
                 f'args = ["-m", "tests.support.mcp_servers", "stdio"]\ncwd = "{ROOT}"\n')
    proc = cli("mcp", "tools", "t")
    assert proc.returncode == 0, proc.stderr
    assert "t.ansi  Return text with control sequences in it." in proc.stdout
    assert "\x1b" not in proc.stdout


def test_no_servers_and_a_bad_table(home, cli):
    proc = cli("mcp", "list")
    assert proc.returncode == 0 and proc.stdout == ""
    assert "no MCP servers configured" in proc.stderr
    write_config(home, '[mcp.servers.x]\ncommand = "a"\nurl = "http://h/"\n')
    proc = cli("mcp", "list")
    assert proc.returncode == 3
    assert "config.toml: mcp.servers.x must be given a command (stdio) or a url" in proc.stderr


def test_keys_set_takes_an_http_servers_token(home, cli):
    _config(home)
    proc = cli("keys", "set", "mcp.notes", input="tok-abcdef-123456\n")
    assert proc.returncode == 0, proc.stderr
    listed = cli("keys", "list").stdout
    assert "mcp.notes" in listed and "tok-abcdef-123456" not in listed
    assert cli("keys", "set", "mcp.clock", input="x\n").returncode == 2  # stdio: no token


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_server_names_complete(home, shell):
    write_config(home, '[mcp.servers.clock]\ncommand = "mcp-server-time"\n'
                 '[mcp.servers.notes]\nurl = "https://notes.example/mcp"\n')
    assert "mcp" in values(candidates(home, shell, "termchat m"))
    assert set(values(candidates(home, shell, "termchat mcp "))) >= {"list", "tools"}
    pairs = candidates(home, shell, "termchat mcp tools ")
    assert values(pairs) == ["clock", "notes"]
    if shell != "bash":
        assert dict(pairs)["notes"].endswith("//notes.example/mcp")  # zsh escapes the colon
    assert values(candidates(home, shell, "termchat mcp tools n")) == ["notes"]


def _server_pids(home: Path) -> list[int]:
    """Live processes running mcp-server-time with this test's home in their environment."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"mcp-server-time" in cmd and str(home).encode() in env:
            out.append(int(entry.name))
    return out


def test_ask_with_an_mcp_server_in_a_pipe(home, fake, cli):
    """`ask -T clock`: the server is started for the call, its tool answered, and stopped when
    ask exits; without -T/--yes in a pipe a call is refused and the model told."""
    from tests.support.fake_tools import tool_results

    time_server()
    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n'
                 f'[mcp.servers.clock]\ncommand = "{TIME_SERVER}"\n')
    call = {"tool_calls": [{"name": "clock_get_current_time", "id": "c1",
                            "arguments": {"timezone": "Asia/Tokyo"}}]}
    fake.script(call, {"text": "It is morning in Tokyo."})
    proc = cli("ask", "-m", "fake/m1", "-T", "clock", "time in Tokyo?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "It is morning in Tokyo."  # into a pipe: exactly the model's text
    assert "clock.get_current_time" in proc.stderr and "Traceback" not in proc.stderr
    assert '"timezone": "Asia/Tokyo"' in tool_results(fake, 1)["c1"]
    assert _server_pids(home) == []  # stopped with ask
    # enabled by the config but not allowed, and nobody to ask: refused, the model is told
    write_config(home, f'[tools]\nenabled = ["clock"]\n[endpoints.fake]\napi_base = '
                 f'"{fake.base_url}"\n[mcp.servers.clock]\ncommand = "{TIME_SERVER}"\n')
    fake.script(call, {"text": "I was not allowed."})
    proc = cli("ask", "-m", "fake/m1", "time in Tokyo?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "I was not allowed."
    assert tool_results(fake, 3)["c1"].startswith("error: refused: there is no terminal")
    assert _server_pids(home) == []
