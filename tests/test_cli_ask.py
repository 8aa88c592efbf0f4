"""`termchat ask` as a real subprocess with real pipes, against the scripted loopback server."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import clean_env, read_until, write_config


def _endpoint(home: Path, fake, extra: str = "") -> None:
    write_config(home, f'{extra}\n[endpoints.fake]\napi_base = "{fake.base_url}"\n')


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "data" / "termchat.db")


def test_pipe_gets_exact_text_and_stdin_rule(cli, fake, home):
    _endpoint(home, fake)
    fake.script({"text": "feat: add the thing\n\nBody line.", "usage": {"prompt_tokens": 9, "completion_tokens": 6}})
    r = cli("ask", "-m", "fake/fake-small", "write a commit message", input="diff --git a b\n+x\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "feat: add the thing\n\nBody line."  # exact, no decoration
    body = fake.requests_to("/v1/chat/completions")[0].body
    assert body["messages"][-1]["content"] == "write a commit message\n\ndiff --git a b\n+x"
    assert body["model"] == "fake-small"
    assert r.stderr == ""  # the model was asked for: nothing announced


def test_json_usage_system_options_and_continue(cli, fake, home):
    _endpoint(home, fake)
    fake.script({"text": "Four.", "usage": {"prompt_tokens": 12, "completion_tokens": 2}}, {"text": "Six."}, {"text": "Eight."})
    r = cli("ask", "-m", "fake/gpt-4o-mini", "-s", "Be terse.", "-o", "temperature", "0.1",
            "-o", "max_tokens=50", "--json", "-u", input="2+2?")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["text"] == "Four." and doc["model"] == "fake/gpt-4o-mini"
    assert doc["usage"] == {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
    assert doc["finish_reason"] == "stop" and doc["interrupted"] is False
    assert doc["cost_usd"] == pytest.approx(12 * 1.5e-7 + 2 * 6e-7)  # priced as openai/gpt-4o-mini
    cid = doc["conversation_id"]
    assert isinstance(cid, str) and len(cid) == 14
    assert "usage: 12 prompt + 2 completion tokens" in r.stderr
    body = fake.requests_to("/v1/chat/completions")[0].body
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert body["temperature"] == 0.1 and body["max_tokens"] == 50

    r2 = cli("ask", "-c", "and 3+3?")
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == "Six."
    msgs = fake.requests_to("/v1/chat/completions")[1].body["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[2]["content"] == "Four." and msgs[3]["content"] == "and 3+3?"
    assert fake.requests_to("/v1/chat/completions")[1].body["model"] == "gpt-4o-mini"  # same model

    r3 = cli("ask", "--cid", cid[:10], "and 4+4?", "--json")
    assert json.loads(r3.stdout)["conversation_id"] == cid
    rows = _db(home).execute(
        "SELECT role, content, model, prompt_tokens FROM messages WHERE conversation_id=? ORDER BY id", (cid,)
    ).fetchall()
    assert [r[0] for r in rows] == ["user", "assistant"] * 3
    assert rows[1][1:] == ("Four.", "fake/gpt-4o-mini", 12)


def test_no_log_stores_nothing(cli, fake, home):
    _endpoint(home, fake)
    r = cli("ask", "-m", "fake/x", "--no-log", "--json", "hello")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["conversation_id"] is None
    db = home / "data" / "termchat.db"
    assert not db.exists() or _db(home).execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_control_sequences_neutralised_raw_passes_store_verbatim(cli, fake, home):
    _endpoint(home, fake)
    evil = "ok \x1b[31mred\x1b[0m \x1b]52;c;SGVsbG8=\x07 \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x9b2J bell\x07 cr\rend"
    fake.script({"text": evil, "chunk": 100}, {"text": evil, "chunk": 100})
    r = cli("ask", "-m", "fake/x", "show me")
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\x9b" not in r.stdout and "\r" not in r.stdout
    assert "␛[31mred" in r.stdout and "␛]52;c;SGVsbG8=␇" in r.stdout and "cr␍end" in r.stdout
    raw = cli("ask", "-m", "fake/x", "--raw", "show me")
    assert raw.stdout == evil
    stored = _db(home).execute("SELECT content FROM messages WHERE role='assistant' ORDER BY id").fetchall()
    assert stored[0][0] == evil  # verbatim in the store


def test_bad_input_exit_codes(cli, fake, home):
    _endpoint(home, fake)
    r = cli("ask", "-m", "fake/x", input=b"abc\x00def")
    assert r.returncode == 2 and "binary" in r.stderr and r.stderr.count("\n") == 1
    r = cli("ask", "-m", "fake/x", input=b"\xff\xfe bad")
    assert r.returncode == 2 and "UTF-8" in r.stderr
    r = cli("ask", "-m", "fake/x", input="   \n")
    assert r.returncode == 2 and "empty prompt" in r.stderr
    r = cli("ask", "-m", "fake/x", input="x" * 2000, env={"TERMCHAT_MAX_INPUT": "1000"})
    assert r.returncode == 2 and "larger than 1,000 bytes" in r.stderr
    r = cli("ask", "-m", "cluade", "hi")
    assert r.returncode == 2 and "unknown model or alias 'cluade'" in r.stderr and "claude" in r.stderr
    r = cli("ask", "-m", "claude", "hi")
    assert r.returncode == 3 and "ANTHROPIC_API_KEY" in r.stderr and "termchat keys set anthropic" in r.stderr
    assert fake.requests_to("/v1/chat/completions") == []  # nothing was sent for any of them
    for res in (r,):
        assert "Traceback" not in res.stderr


def test_malformed_config_is_named_and_untouched(cli, home):
    path = write_config(home, 'default_model = "x"\ntimeout = \n')
    before = path.read_bytes()
    r = cli("ask", "hi")
    assert r.returncode == 3
    assert str(path) in r.stderr and "line 2" in r.stderr and "Traceback" not in r.stderr
    r = cli("config", "set", "timeout", "5")
    assert r.returncode == 3
    assert path.read_bytes() == before


def test_provider_faults_exit_codes_and_partial_text_kept(cli, fake, home):
    _endpoint(home, fake, "retries = 0\ntimeout = 2")
    fake.script({"error": 401, "message": "Incorrect API key provided"})
    r = cli("ask", "-m", "fake/x", "hi")
    assert r.returncode == 3 and "rejected the key" in r.stderr and r.stdout == ""

    fake.script({"text": "one two three four five", "disconnect_after": 3})
    r = cli("ask", "-m", "fake/x", "hi", "--json")
    assert r.returncode == 4
    doc = json.loads(r.stdout)
    assert doc["text"] == "one two three" and doc["error"]["type"] == "connection"
    row = _db(home).execute("SELECT content, interrupted, error FROM messages WHERE role='assistant'").fetchone()
    assert row[0] == "one two three" and row[1] == 1 and "ended before" in row[2]

    fake.script({"text": "alpha beta", "stall": 30, "stall_after": 1})
    r = cli("ask", "-m", "fake/x", "hi")
    assert r.returncode == 4 and r.stdout == "alpha" and "did not answer in time" in r.stderr

    r = cli("ask", "-m", "openai/x", "--api-base", "http://127.0.0.1:9/v1", "hi")
    assert r.returncode == 4 and "could not reach" in r.stderr


def test_ctrl_c_keeps_partial_answer(home, fake):
    _endpoint(home, fake)
    fake.script({"text": " ".join(f"w{i}" for i in range(400)), "delay": 0.02})
    proc = subprocess.Popen(
        [sys.executable, "-m", "termchat", "ask", "-m", "fake/x", "go"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=clean_env(home),
        # A shell without job control starts background jobs with SIGINT ignored, and children
        # inherit that; a terminal's Ctrl+C is what we model, so restore the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    got = read_until(proc, lambda got: b"w5 " in got)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    got += out or b""
    assert proc.returncode == 130, err
    assert got.startswith(b"w0 w1 w2 w3 w4 w5") and len(got.split()) < 400
    assert b"interrupted" in err and b"Traceback" not in err
    row = sqlite3.connect(home / "data" / "termchat.db").execute(
        "SELECT content, interrupted FROM messages WHERE role='assistant'"
    ).fetchone()
    assert row[1] == 1 and got.decode().startswith(row[0][:20]) and len(row[0]) > 10


def test_keys_never_leak(cli, fake, home):
    secret = "sk-proj-LEAKCHECK0123456789abcdef"
    _endpoint(home, fake)
    fake.script({"error": 401, "message": f"Incorrect API key provided: {secret}"})
    r = cli("ask", "-m", "openai/gpt-4o-mini", "--api-base", fake.base_url, "--key", secret, "--json", "hi")
    assert r.returncode == 3
    assert fake.requests_to("/v1/chat/completions")[0].headers["authorization"] == f"Bearer {secret}"
    fake.script({"text": "fine"})
    r2 = cli("ask", "-m", "openai/gpt-4o-mini", "--api-base", fake.base_url, "--json", "hi",
             env={"OPENAI_API_KEY": secret})
    assert r2.returncode == 0
    blobs = [r.stdout, r.stderr, r2.stdout, r2.stderr]
    for p in home.rglob("*"):
        if p.is_file():
            blobs.append(p.read_bytes().decode("utf-8", "replace"))
    for b in blobs:
        assert secret not in b


def test_keys_and_config_commands(cli, home):
    r = cli("keys", "set", "openai", input="sk-abcdefghijklmnop1234\n")
    assert r.returncode == 0, r.stderr
    f = home / "config" / "keys.toml"
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    r = cli("keys", "list")
    assert "openai" in r.stdout and "sk-…1234" in r.stdout and "keys file" in r.stdout
    assert "abcdefghijklmnop" not in r.stdout
    r = cli("keys", "list", env={"ANTHROPIC_API_KEY": "sk-ant-zzzzzzzzzzzzzzzz9876"})
    assert "env:ANTHROPIC_API_KEY" in r.stdout and "…9876" in r.stdout
    assert cli("keys", "set", "opneai", input="x\n").returncode == 2
    assert cli("keys", "remove", "openai").returncode == 0
    assert cli("keys", "remove", "openai").returncode == 2

    assert cli("config", "path").stdout.strip() == str(home / "config" / "config.toml")
    assert cli("config", "set", "default_model", "gpt").returncode == 0
    assert cli("config", "set", "timeout", "abc").returncode == 2
    assert cli("config", "set", "nosuch", "1").returncode == 2
    show = json.loads(cli("config", "show", "--json").stdout)
    dm = next(s for s in show["settings"] if s["key"] == "default_model")
    assert dm == {**dm, "value": "gpt", "source": "file"}
    env_show = json.loads(cli("config", "show", "--json", env={"TERMCHAT_MODEL": "local"}).stdout)
    assert next(s for s in env_show["settings"] if s["key"] == "default_model")["source"] == "env:TERMCHAT_MODEL"
    assert cli("config", "unset", "default_model").returncode == 0
    assert "default_model" not in (home / "config" / "config.toml").read_text()


def test_unknown_settings_are_named_not_fatal(cli, home):
    write_config(home, 'timout = 3\n[tui]\nthem = "x"\n[endpoints.lab]\napi_base = "http://127.0.0.1:9/v1"\n'
                       'api_kye = "k"\nretries = 0\n')
    r = cli("config", "show")
    assert r.returncode == 0
    ignored = [line for line in r.stdout.splitlines() if line.startswith("# ignored")]
    assert ignored == [
        "# ignored, not a termchat setting: timout (did you mean timeout?)",
        "# ignored, not a termchat setting: tui.them (did you mean tui.theme?)",
        "# ignored, not a termchat setting: endpoints.lab.api_kye (did you mean endpoints.lab.api_key?)",
        "# ignored, not a termchat setting: endpoints.lab.retries",
    ]
    assert json.loads(cli("config", "show", "--json").stdout)["unknown"][0] == "timout (did you mean timeout?)"


def test_parallel_asks_share_the_store(home, fake):
    _endpoint(home, fake)
    procs = [
        subprocess.Popen([sys.executable, "-m", "termchat", "ask", "-m", "fake/x", f"q{i}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=clean_env(home))
        for i in range(6)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out == b"Hello from the scripted server."
    n = sqlite3.connect(home / "data" / "termchat.db").execute("SELECT count(*) FROM conversations").fetchone()[0]
    assert n == 6


def test_tty_renders_markdown_without_raw_model_escapes(home, fake):
    _endpoint(home, fake)
    fake.script({"text": "# Title\n\nSome **bold** text \x1b]0;pwned\x07.\n\n```python\nprint(1)\n```\n", "chunk": 3})
    pid, fd = pty.fork()
    if pid == 0:  # child: the real CLI on a terminal
        env = clean_env(home, TERM="xterm-256color", COLUMNS="80", LINES="24")
        os.execvpe(sys.executable, [sys.executable, "-m", "termchat", "ask", "-m", "fake/x", "hi"], env)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    text = out.decode("utf-8", "replace")
    assert "Title" in text and "print(1)" in text and "bold" in text
    assert "**bold**" not in text  # rendered, not raw Markdown
    assert "\x1b]0;pwned" not in text and "␛]0;pwned␇" in text


def test_cli_import_is_light():
    code = "import sys, termchat.cli; bad=[m for m in ('litellm','textual','openai','PIL','sounddevice','llama_cpp') if m in sys.modules]; print(bad)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_corrupt_store_is_reported_and_left_alone(cli, home):
    db = home / "data" / "termchat.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    before = db.read_bytes()
    r = cli("history", "list")
    assert r.returncode == 3 and str(db) in r.stderr and "Traceback" not in r.stderr
    assert db.read_bytes() == before
