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
