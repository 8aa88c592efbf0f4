"""Tools in ``termchat ask`` (#13): real CLI subprocesses and pipes against the loopback server's
scripted tool-call streams, in-process (``--no-warm``) and through the warm core."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import clean_env, read_until, write_config
from tests.support.fake_tools import chat_bodies, sent_tools, tool_messages, tool_results

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d \(\w+day, ")


def _env(home: Path, warm: bool) -> dict[str, str]:
    env = clean_env(home)
    if warm:
        env.pop("TERMCHAT_NO_WARM")
    return env


def _ask(home: Path, *args: str, warm: bool = False, input: bytes = b"", cwd: Path | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "termchat", "ask", *args], input=input,
                       capture_output=True, env=_env(home, warm), cwd=str(cwd or home),
                       timeout=timeout)
    r.stdout = r.stdout.decode("utf-8", "replace")
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


def _cli(home: Path, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "termchat", *args], capture_output=True, text=True,
                       env=clean_env(home), cwd=str(home), timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _served(home: Path) -> int:
    r = subprocess.run([sys.executable, "-m", "termchat", "warm", "status", "--json"],
                       capture_output=True, text=True, env=_env(home, True), timeout=60)
    return int(json.loads(r.stdout).get("served") or 0)


def _start_core(home: Path) -> None:
    subprocess.run([sys.executable, "-m", "termchat", "warm", "start"], env=_env(home, True),
                   timeout=90, check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = subprocess.run([sys.executable, "-m", "termchat", "warm", "status", "--json"],
                           capture_output=True, text=True, env=_env(home, True), timeout=60)
        if json.loads(r.stdout).get("running"):
            return
        time.sleep(0.3)
    raise AssertionError("the warm core did not start")


@pytest.fixture(params=["local", "warm"])
def mode(request, whome, fake):
    """Each test once in-process (``--no-warm``) and once through a running warm core."""
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    if request.param == "warm":
        _start_core(whome)
    return request.param


def test_rounds_results_usage_history_and_continue(mode, whome, fake):
    warm = mode == "warm"
    (whome / "notes.txt").write_text("the secret word is marmalade\n")
    fake.script(
        {"text": "Looking. ", "tool_calls": [{"name": "current_time", "arguments": {}},
                                              {"name": "list_folder", "arguments": {"path": "."}}],
         "usage": {"prompt_tokens": 10, "completion_tokens": 4}},
        {"tool_calls": [{"name": "read_file", "arguments": {"path": "notes.txt"}, "id": "c_read"}],
         "arg_pieces": 5, "usage": {"prompt_tokens": 20, "completion_tokens": 3}},
        {"text": "The word is marmalade.", "usage": {"prompt_tokens": 30, "completion_tokens": 5}},
        {"text": "Yes."},
    )
    before = _served(whome) if warm else 0
    r = _ask(whome, "-m", "fake/x", "-T", "time", "-T", "files", "--json", "what is it?",
             warm=warm)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["text"] == "Looking. The word is marmalade."
    assert doc["usage"] == {"prompt_tokens": 60, "completion_tokens": 12, "total_tokens": 72}
    if warm:
        assert _served(whome) == before + 1  # the warm core served it; tools ran in the client
    bodies = chat_bodies(fake)
    assert len(bodies) == 3
    assert sent_tools(bodies[0]) == ["current_time", "read_file", "list_folder"]
    first = tool_results(fake, 1)
    assert len(first) == 2
    t, listing = first.values()
    assert ISO.match(t) and "notes.txt" in listing
    assert tool_results(fake, 2)["c_read"] == "the secret word is marmalade\n"
    # the assistant message of round 1 carries its text and both calls, in order
    a1 = next(m for m in bodies[1]["messages"] if m["role"] == "assistant")
    assert a1["content"] == "Looking. "
    assert [c["function"]["name"] for c in a1["tool_calls"]] == ["current_time", "list_folder"]
    # one stderr line per call, with the outcome
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("termchat: tool ")]
    assert len(lines) == 3 and all(ln.endswith(" ok") for ln in lines), r.stderr
    assert [len(x["calls"]) for x in doc["tool_rounds"]] == [2, 1]

    # stored with the conversation and replayed by -c
    r2 = _ask(whome, "-c", "sure?", warm=warm)
    assert r2.returncode == 0 and r2.stdout == "Yes.", r2.stderr
    msgs = chat_bodies(fake)[3]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool", "assistant", "tool",
                                         "assistant", "user"]
    assert msgs[5]["content"] == "the secret word is marmalade\n"
    assert msgs[6]["content"] == "The word is marmalade." and "tools" not in chat_bodies(fake)[3]
    cid = doc["conversation_id"]
    shown = _cli(whome, "history", "show", cid)
    assert "**Tool** `read_file` `{\"path\": \"notes.txt\"}` — ok" in shown
    assert "the secret word is marmalade" in shown
    exported = json.loads(_cli(whome, "history", "show", cid, "--json"))
    rounds = exported["messages"][1]["tool_rounds"]
    assert rounds[1]["results"][0]["content"] == "the secret word is marmalade\n"


def test_malformed_arguments_and_unknown_tool_go_back_to_the_model(mode, whome, fake):
    fake.script(
        {"tool_calls": [{"name": "current_time", "arguments": "{not json", "id": "bad"},
                        {"name": "launch_rockets", "arguments": {}, "id": "unknown"}],
         "indexless": True},
        {"text": "Sorry."},
    )
    r = _ask(whome, "-m", "fake/x", "-T", "time", "go", warm=mode == "warm")
    assert r.returncode == 0 and r.stdout == "Sorry.", r.stderr
    res = tool_results(fake, 1)
    assert res["bad"].startswith("error: the arguments are not valid JSON")
    assert res["unknown"] == "error: unknown tool 'launch_rockets' (available: current_time)"
    assert "Traceback" not in r.stderr
    assert "termchat: tool launch_rockets {} 0.00 s error: unknown tool" in r.stderr


def test_ctrl_c_during_a_tool_stops_it_and_keeps_the_partial_answer(mode, whome, fake):
    pidfile = whome / "tool.pid"
    fake.script({"text": "Running it now. ",
                 "tool_calls": [{"name": "shell", "arguments": {
                     "command": f"echo $$ > {pidfile}; exec sleep 60"}}]})
    proc = subprocess.Popen(
        [sys.executable, "-m", "termchat", "ask", "-m", "fake/x", "-T", "shell", "--yes", "go"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=_env(whome, mode == "warm"), cwd=str(whome),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    got = read_until(proc, lambda g: b"now." in g)
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    tool_pid = int(pidfile.read_text())
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 130, err
    assert (got + out).decode() == "Running it now. "
    assert b"partial answer was kept" in err
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(tool_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the tool's process was not stopped")
    row = sqlite3.connect(whome / "data" / "termchat.db").execute(
        "SELECT content, interrupted, tool_rounds FROM messages WHERE role='assistant'").fetchone()
    assert row[0] == "Running it now. " and row[1] == 1
    assert json.loads(row[2])[0]["calls"][0]["name"] == "shell"
    assert len(chat_bodies(fake)) == 1  # nothing was sent back after the cancel


def test_pipe_refuses_tools_not_allowed(whome, fake, mode):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n'
                        '[tools]\nenabled = ["time", "shell"]\n')
    fake.script({"tool_calls": [{"name": "current_time", "arguments": {}, "id": "t"},
                                {"name": "shell", "arguments": {"command": "echo hi"}, "id": "s"}]},
                {"text": "ok"},
                {"tool_calls": [{"name": "current_time", "arguments": {}, "id": "t2"},
                                {"name": "shell", "arguments": {"command": "echo hi"}, "id": "s2"}]},
                {"text": "ok"})
    r = _ask(whome, "-m", "fake/x", "q", warm=mode == "warm")  # enabled by config, not allowed
    assert r.returncode == 0, r.stderr
    res = tool_results(fake, 1)
    assert res["t"].startswith("error: refused: there is no terminal to ask the user for consent")
    assert "-T time" in res["t"]
    assert res["s"].startswith("error: refused: the shell tool asks before every command")
    # -T names the tools for this call: allowed in a pipe; the shell still needs --yes
    r = _ask(whome, "-m", "fake/x", "-T", "time", "-T", "shell", "q", warm=mode == "warm")
    res = tool_results(fake, 3)
    assert ISO.match(res["t2"]) and res["s2"].startswith("error: refused: the shell tool")


def test_path_refusal_timeouts_huge_output_and_roots(whome, fake):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n'
                        '[tools]\ntimeout = 1.5\nmax_output = 1000\n')
    outside = whome.parent / f"{whome.name}-outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    work = whome / "work"
    work.mkdir()
    (work / "link.txt").symlink_to(outside / "secret.txt")
    (work / "dirlink").symlink_to(outside)
    (work / "ok.txt").write_text("fine")
    calls = [("dots", "read_file", {"path": f"../../{outside.name}/secret.txt"}),
             ("abs", "read_file", {"path": str(outside / "secret.txt")}),
             ("link", "read_file", {"path": "link.txt"}),
             ("dirlink", "list_folder", {"path": "dirlink"}),
             ("ok", "read_file", {"path": "ok.txt"}),
             ("slow", "shell", {"command": "sleep 20"}),
             ("huge", "shell", {"command": "head -c 200000 /dev/zero | tr '\\0' x"}),
             ("fails", "shell", {"command": "echo oops >&2; exit 3"})]
    fake.script({"tool_calls": [{"id": i, "name": n, "arguments": a} for i, n, a in calls]},
                {"text": "done"},
                {"tool_calls": [{"id": "rooted", "name": "read_file",
                                 "arguments": {"path": str(outside / "secret.txt")}}]},
                {"text": "done"})
    r = _ask(whome, "-m", "fake/x", "-T", "files", "-T", "shell", "--yes", "--json", "q", cwd=work)
    assert r.returncode == 0, r.stderr
    durations = {x["id"]: x["duration_s"] for x in json.loads(r.stdout)["tool_rounds"][0]["results"]}
    assert 1.4 < durations["slow"] < 5  # stopped at its timeout
    assert durations["huge"] < 1.4
    res = tool_results(fake, 1)
    for key in ("dots", "abs", "link", "dirlink"):
        assert "is outside the allowed folders" in res[key], (key, res[key])
        assert "top secret" not in res[key]
    assert res["ok"] == "fine"
    assert res["slow"] == "error: the tool did not finish within 1.5 s and was stopped"
    assert res["huge"].startswith("exit status 0\nxxxx")
    assert res["huge"].endswith("[output truncated: 200,014 bytes, the first 1,000 shown]")
    assert res["fails"] == "exit status 3\noops\n"
    # --root names another folder the file tools may read
    r = _ask(whome, "-m", "fake/x", "-T", "files", "--root", str(outside), "q", cwd=work)
    assert r.returncode == 0, r.stderr
    assert tool_results(fake, 3)["rooted"] == "top secret"


def test_unknown_tool_name_is_a_usage_error(cli, fake, home):
    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    r = cli("ask", "-m", "fake/x", "-T", "teleport", "q")
    assert r.returncode == 2
    assert "unknown tool 'teleport'" in r.stderr and "files, fetch, time, shell" in r.stderr
    assert not fake.requests_to("/v1/chat/completions")


def test_tool_output_is_neutralised_on_stderr(cli, fake, home):
    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    fake.script({"tool_calls": [{"name": "shell", "arguments": {
        "command": "printf '\\033]0;pwned\\007'; exit 1"}}]}, {"text": "ok"})
    r = cli("ask", "-m", "fake/x", "-T", "shell", "--yes", "q")
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr
    assert "termchat: tool shell" in r.stderr
    assert "\x1b]0;pwned" in tool_results(fake, 1)[next(iter(tool_results(fake, 1)))]
    assert tool_messages(chat_bodies(fake)[1])


def test_consent_on_a_terminal_yes_no_always(whome, fake):
    from tests.support.tty import run_with_terminal

    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    fake.script(
        {"tool_calls": [{"name": "current_time", "arguments": {}, "id": "t1"},
                        {"name": "current_time", "arguments": {"timezone": "UTC"}, "id": "t2"}]},
        {"tool_calls": [{"name": "shell", "arguments": {"command": "echo from-shell"}, "id": "s1"},
                        {"name": "read_file", "arguments": {"path": "x\x1b[2J.txt"}, "id": "r1"}]},
        {"text": "All done."},
    )
    code, out, term = run_with_terminal(
        whome, "ask", "-m", "fake/x", "-T", "time", "-T", "shell", "-T", "files", "go",
        answers=[(b"allow? [y]es / [n]o / [a]lways: ", b"a\n"),        # time: always
                 (b"allow? [y]es / [n]o: ", b"y\n"),                   # shell: once
                 (b"allow? [y]es / [n]o / [a]lways: ", b"n\n")],       # read_file: no
    )
    assert code == 0 and out == "All done.", term
    text = term.decode("utf-8", "replace")
    assert text.count("allow?") == 3  # t2 ran without asking after "always"
    assert "the model wants to call: current_time" in text
    assert "the model wants to run this command: shell\r\n  echo from-shell" in text
    assert "\x1b[2J" not in text and "read_file" in text  # arguments neutralised on screen
    r1 = tool_results(fake, 1)
    assert ISO.match(r1["t1"]) and ISO.match(r1["t2"])
    r2 = tool_results(fake, 2)
    assert r2["s1"] == "exit status 0\nfrom-shell\n"
    assert r2["r1"] == "error: refused: the user declined this call"


def test_tool_options_complete_in_every_shell(home):
    from tests.test_completion import candidates, complete, values

    write_config(home, '[mcp.servers.clock]\ncommand = "mcp-server-time"\n')
    for shell in ("bash", "zsh", "fish"):
        assert values(candidates(home, shell, "termchat ask -T ")) == [
            "files", "fetch", "time", "shell", "clock"]
        assert values(candidates(home, shell, "termchat ask --tool f")) == ["files", "fetch"]
    assert {"--tool", "--yes", "--root"} <= set(values(candidates(home, "bash", "termchat ask --")))
    zsh = dict(candidates(home, "zsh", "termchat ask -T s"))
    assert zsh == {"shell": "run a shell command (asks every time)"}
    proc = complete(home, "bash", "termchat ask -T ", python_flags=("-X", "importtime"))
    mods = {ln.split("|")[-1].strip() for ln in proc.stderr.splitlines() if "|" in ln}
    assert not {"litellm", "httpx", "mcp", "termchat.client.tools"} & mods  # no server started


def test_a_server_named_like_a_built_in_is_pointed_out(cli, fake, home):
    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n'
                       '[mcp.servers.time]\ncommand = "mcp-server-time"\n')
    fake.script({"tool_calls": [{"name": "current_time", "arguments": {}, "id": "t"}]},
                {"text": "ok"})
    r = cli("ask", "-m", "fake/x", "-T", "time", "q")
    assert r.returncode == 0, r.stderr
    assert "-T time is the built-in tool; the MCP server 'time' is reached as -T time.TOOL" in r.stderr
    assert ISO.match(tool_results(fake, 1)["t"])  # the built-in ran; no server was started
