"""Issue #10 (hardening), through the real CLI: real pipes, real pseudo-terminals (read back
through the ``pyte`` terminal emulator where the screen matters), real signals, the scripted
loopback server, in-process and through the warm core."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import clean_env, read_until, write_config
from tests.support.tty import read_terminal

# A window title (OSC 0), a clipboard write (OSC 52), erase-screen as CSI and as the one-byte C1
# CSI (U+009B), and a bell: none may reach a terminal raw.
EVIL = "\x1b]0;pwned\x07 \x1b]52;c;SGVsbG8=\x07 \x1b[2J \x9b2J"
RAW_MARKS = (b"\x1b]0;pwned", b"\x1b]52;", b"\x1b[2J", "\x9b".encode())


def _endpoint(home: Path, fake, extra: str = "") -> Path:
    return write_config(home, f'{extra}\n[endpoints.fake]\napi_base = "{fake.base_url}"\n')


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "data" / "termchat.db")


def _no_raw_controls(data: bytes) -> None:
    for mark in RAW_MARKS:
        assert mark not in data, (mark, data[-2000:])


def _warm_env(home: Path, **kw: str) -> dict[str, str]:
    env = clean_env(home, **kw)
    env.pop("TERMCHAT_NO_WARM")
    return env


def _start_core(home: Path) -> dict:
    """Start a warm core under ``home`` and wait until it answers; returns its status."""
    env = _warm_env(home)
    subprocess.run([sys.executable, "-m", "termchat", "warm", "start"], env=env, timeout=90,
                   check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = subprocess.run([sys.executable, "-m", "termchat", "warm", "status", "--json"],
                           capture_output=True, text=True, env=env, timeout=60)
        st = json.loads(r.stdout)
        if st.get("running"):
            return st
        time.sleep(0.3)
    raise AssertionError("warm core did not start")


def run_terminal(home: Path, *args: str, env: dict[str, str], cols: int = 100, rows: int = 40,
                 timeout: float = 120) -> tuple[int, bytes]:
    """Run ``python -m termchat ARGS`` on a new pseudo-terminal of ``cols`` x ``rows`` that is
    both its stdout and its stderr (as in a terminal window); stdin is empty. Returns the exit
    code and every byte the terminal received."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "termchat", *args], stdin=subprocess.DEVNULL, stdout=slave,
        stderr=slave, env={**env, "COLUMNS": str(cols), "LINES": str(rows)}, cwd=str(home),
    )
    os.close(slave)
    out = read_terminal(master, proc, timeout)  # waits for the process
    return proc.returncode, out


def _popen_ask(env: dict[str, str], *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "termchat", "ask", *args], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kw)


def _wait_request(fake, n: int = 1, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.requests_to("/v1/chat/completions")) < n:
        assert time.monotonic() < deadline, "the request never reached the server"
        time.sleep(0.05)


# -- 1. provider text in notices ---------------------------------------------------------------


def test_retry_notice_from_a_429_body_is_neutralised_pipe_and_pty(cli, fake, home):
    _endpoint(home, fake, "retries = 1")
    spec = {"error": 429, "message": f"slow down {EVIL}", "headers": {"retry-after": "0"}}
    fake.script(spec, {"text": "fine"})
    r = cli("ask", "-m", "fake/x", "hi")
    assert r.returncode == 0, r.stderr
    assert "retrying" in r.stderr
    _no_raw_controls(r.stderr.encode())
    assert "\x07" not in r.stderr
    assert "␛]0;pwned␇" in r.stderr and "␛[2J" in r.stderr  # shown, inert

    fake.script(spec, {"text": "fine"})
    env = clean_env(home, TERM="xterm-256color")
    code, out = run_terminal(home, "ask", "-m", "fake/x", "hi", env=env)
    assert code == 0, out
    assert b"retrying" in out
    _no_raw_controls(out)
    assert "␛]0;pwned␇".encode() in out


# -- 3. model ids ------------------------------------------------------------------------------

EVIL_MODEL = "fake/m\x1b]52;c;SGVsbG8=\x07\x1b[2J\x9b2J"


def test_model_id_is_neutralised_in_spinner_usage_line_and_history(cli, fake, home):
    # the same id given with -m and through an alias from the config file
    _endpoint(home, fake, '[aliases]\nevil = "fake/m\\u001b]52;c;SGVsbG8=\\u0007\\u001b[2J\\u009b2J"')
    fake.script({"text": "one two three", "stall": 1.0, "stall_after": 0})
    env = clean_env(home, TERM="xterm-256color")
    code, out = run_terminal(home, "ask", "-u", "-m", EVIL_MODEL, "hi", env=env)
    assert code == 0, out
    assert b"usage:" in out
    _no_raw_controls(out)
    # shown inert by the spinner (redrawn while the server holds the answer back) and by -u
    assert out.count("m␛]52;c;SGVsbG8=␇␛[2J␛[2J".encode()) >= 3

    fake.script({"text": "four"})
    r = cli("ask", "-u", "-m", "evil", "--json", "hi")
    assert r.returncode == 0, r.stderr
    _no_raw_controls(r.stderr.encode() + r.stdout.encode())
    assert json.loads(r.stdout)["model"] == EVIL_MODEL

    r = cli("history", "list")
    assert r.returncode == 0, r.stderr
    _no_raw_controls(r.stdout.encode())
    assert r.stdout.count("m␛]52;c;SGVsbG8=␇") == 2


# -- 4. JSON output ----------------------------------------------------------------------------


def test_json_output_escapes_c1_controls(cli, fake, home):
    _endpoint(home, fake, "retries = 0")
    text = "a \x9b2J b \x85 c \u2028 d \x1b[31m"
    fake.script({"text": text}, {"error": 400, "message": "bad \x9b2J request"})
    r = cli("ask", "-m", "fake/x", "--json", "hi")
    assert r.returncode == 0, r.stderr
    for ch in ("\x9b", "\x85", "\u2028", "\x1b"):
        assert ch not in r.stdout
    assert "\\u009b2J" in r.stdout and "\\u0085" in r.stdout and "\\u2028" in r.stdout
    doc = json.loads(r.stdout)
    assert doc["text"] == text

    r = cli("ask", "-m", "fake/x", "--json", "hi")
    assert r.returncode == 1
    assert "\x9b" not in r.stdout and "\x9b" not in r.stderr
    assert "\x9b2J" in json.loads(r.stdout)["error"]["message"]

    r = cli("history", "show", doc["conversation_id"], "--json")
    assert r.returncode == 0, r.stderr
    assert "\x9b" not in r.stdout and "\\u009b2J" in r.stdout
    assert json.loads(r.stdout)["messages"][1]["content"] == text


# -- 5. the keys file --------------------------------------------------------------------------

SECRET = "sk-keysfile-0123456789abcdef"


def _keys_file(home: Path, mode: int = 0o600) -> Path:
    path = home / "config" / "keys.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[keys]\nopenai = "{SECRET}"\n')
    path.chmod(mode)
    return path


def _ask_openai(cli, fake, *args: str):
    fake.script({"text": "ok"})
    return cli("ask", "-m", "openai/gpt-4o-mini", "--api-base", fake.base_url, *args, "hi")


def test_keys_file_readable_by_others_is_used_with_one_warning(cli, fake, home):
    path = _keys_file(home, 0o644)
    r = _ask_openai(cli, fake)
    assert r.returncode == 0, r.stderr
    assert fake.requests_to("/v1/chat/completions")[-1].headers["authorization"] == f"Bearer {SECRET}"
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert f"chmod 600 {path}" in lines[0] and "readable by other users" in lines[0]
    path.chmod(0o600)
    r = _ask_openai(cli, fake)
    assert r.returncode == 0 and r.stderr == ""


def test_symlinked_keys_file_is_followed_with_a_warning_naming_its_target(cli, fake, home, tmp_path):
    real = tmp_path / "vault" / "keys.toml"
    real.parent.mkdir()
    real.write_text(f'[keys]\nopenai = "{SECRET}"\n')
    real.chmod(0o600)
    link = home / "config" / "keys.toml"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    r = _ask_openai(cli, fake)
    assert r.returncode == 0, r.stderr
    assert fake.requests_to("/v1/chat/completions")[-1].headers["authorization"] == f"Bearer {SECRET}"
    assert r.stderr.count("\n") == 1 and "symbolic link" in r.stderr and str(real) in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user takes root")
def test_keys_file_owned_by_another_user_is_refused(cli, fake, home):
    path = _keys_file(home)
    os.chown(path, 65534, 65534)
    r = _ask_openai(cli, fake)
    assert r.returncode == 3
    assert r.stderr.count("\n") == 1 and "owned by another user" in r.stderr and str(path) in r.stderr
    assert fake.requests_to("/v1/chat/completions") == []
    assert SECRET not in r.stderr


# -- 6. ranges of settings ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "key", "allowed", "line"), [
    ("retries = -5", "retries", "0 to 20", 2),
    ("timeout = nan", "timeout", "> 0 and ≤ 86,400", 2),
    ("timeout = -1", "timeout", "> 0 and ≤ 86,400", 2),
    ("retry_max_wait = inf", "retry_max_wait", "0 to 86,400", 2),
    ("max_input_bytes = -1", "max_input_bytes", "1 to 1,073,741,824", 2),
    ("[warm_core]\nidle_seconds = 0", "warm_core.idle_seconds", "1 to 2,592,000", 3),
])
def test_out_of_range_settings_fail_on_load_with_key_range_and_line(cli, home, text, key, allowed, line):
    path = write_config(home, f'default_model = "fake/x"\n{text}\n')
    r = cli("ask", "hi")
    assert r.returncode == 3, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"{path}, line {line}: {key} must be {allowed}" in r.stderr


def test_config_set_refuses_out_of_range_values_and_leaves_the_file(cli, home):
    path = write_config(home, "retries = 2\n")
    before = path.read_bytes()
    for key, value in [("retries", "-5"), ("retries", "21"), ("timeout", "-1"), ("timeout", "nan"),
                       ("timeout", "1e9"), ("max_input_bytes", "0"), ("retry_max_wait", "-0.5"),
                       ("warm_core.idle_seconds", "0")]:
        r = cli("config", "set", "--", key, value)  # -- lets a value start with -
        assert r.returncode == 2, (key, value, r.stderr)
        assert r.stderr.count("\n") == 1 and f"{key} must be" in r.stderr and str(path) in r.stderr
        assert path.read_bytes() == before
    assert cli("config", "set", "retries", "0").returncode == 0
    assert cli("config", "set", "timeout", "0.5").returncode == 0
    r = cli("ask", "-m", "fake/x", "hi", env={"TERMCHAT_TIMEOUT": "-3"})
    assert r.returncode == 3 and "TERMCHAT_TIMEOUT" in r.stderr and "> 0" in r.stderr


def test_a_setting_group_that_is_not_a_table_is_named_as_such(cli, home):
    write_config(home, "warm_core = 5\n")
    r = cli("config", "show")
    assert r.returncode == 3
    assert "warm_core must be a table" in r.stderr and "did you mean" not in r.stderr


# -- 7. replies lost outside Ctrl+C -------------------------------------------------------------

LONG = " ".join(f"w{i}" for i in range(400))


def _rows(home: Path) -> list[tuple]:
    return _db(home).execute("SELECT role, content, interrupted, error FROM messages ORDER BY id").fetchall()


def _sigterm_mid_stream(fake, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    fake.script({"text": LONG, "delay": 0.02})
    proc = _popen_ask(env, "-m", "fake/x", "go")
    got = read_until(proc, lambda got: b"w5 " in got)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, got + (out or b""), err


def _closed_stdout(fake, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """``termchat ask … | head -c 10``: the reader takes 10 bytes and leaves."""
    fake.script({"text": LONG, "delay": 0.02})
    proc = subprocess.run(
        ["bash", "-c", f'{sys.executable} -m termchat ask -m fake/x go | head -c 10; '
                       'echo "rc=${PIPESTATUS[0]}" >&2'],
        stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def _check_sigterm(home: Path, code: int, out: bytes, err: bytes) -> None:
    assert code == 143, err
    assert out.startswith(b"w0 w1 w2 w3 w4 w5") and len(out.split()) < 400
    assert err.decode().splitlines() == ["termchat: terminated by SIGTERM; the partial answer was kept"]
    role, content, interrupted, error = _rows(home)[-1]
    assert role == "assistant" and interrupted == 1 and error == "terminated by SIGTERM"
    assert out.decode().startswith(content) and len(content.split()) >= 6


def _check_closed(home: Path, out: bytes, err: bytes) -> None:
    assert out == b"w0 w1 w2 w"
    assert err.decode().splitlines() == ["rc=141"]  # quiet, and 128 + SIGPIPE
    role, content, interrupted, _ = _rows(home)[-1]
    assert role == "assistant" and interrupted == 1
    assert content.startswith("w0 w1 w2") and len(content.split()) < 400


def _check_killed(home: Path, cli_env: dict[str, str], fake) -> None:
    fake.script({"text": LONG, "delay": 0.05})
    proc = _popen_ask(cli_env, "-m", "fake/x", "to be killed")
    read_until(proc, lambda got: b"w2 " in got)
    r = subprocess.run([sys.executable, "-m", "termchat", "history", "list", "-n", "1"],
                       capture_output=True, text=True, env=cli_env, timeout=60)
    assert f"[no reply yet (pid {proc.pid} is still running)]" in r.stdout, r.stdout
    proc.kill()
    proc.communicate(timeout=30)
    r = subprocess.run([sys.executable, "-m", "termchat", "history", "list", "-n", "1"],
                       capture_output=True, text=True, env=cli_env, timeout=60)
    assert r.stdout.rstrip().endswith("to be killed  [no reply (the client was killed)]"), r.stdout
    cid = r.stdout.split()[0]
    r = subprocess.run([sys.executable, "-m", "termchat", "history", "show", cid],
                       capture_output=True, text=True, env=cli_env, timeout=60)
    assert r.stdout.rstrip().endswith("_no reply (the client was killed)_"), r.stdout
    r = subprocess.run([sys.executable, "-m", "termchat", "history", "show", cid, "--json"],
                       capture_output=True, text=True, env=cli_env, timeout=60)
    assert json.loads(r.stdout)["no_reply"] == "no reply (the client was killed)"


def test_sigterm_pipe_close_and_sigkill_in_process(home, fake):
    _endpoint(home, fake)
    env = clean_env(home)
    _check_sigterm(home, *_sigterm_mid_stream(fake, env))
    _code, out, err = _closed_stdout(fake, env)
    _check_closed(home, out, err)
    _check_killed(home, env, fake)


def test_notices_sigterm_pipe_close_and_sigkill_through_the_warm_core(whome, fake):
    _endpoint(whome, fake, "retries = 1")
    st = _start_core(whome)
    env = _warm_env(whome)
    # 1: a retry notice carrying the provider's message, into a pipe and onto a terminal
    spec = {"error": 429, "message": f"slow down {EVIL}", "headers": {"retry-after": "0"}}
    fake.script(spec, {"text": "fine"})
    r = subprocess.run([sys.executable, "-m", "termchat", "ask", "-m", "fake/x", "hi"],
                       stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=120)
    assert r.returncode == 0 and b"retrying" in r.stderr, r.stderr
    _no_raw_controls(r.stderr)
    assert "␛]0;pwned␇".encode() in r.stderr
    fake.script(spec, {"text": "fine"})
    code, out = run_terminal(whome, "ask", "-m", "fake/x", "hi", env={**env, "TERM": "xterm-256color"})
    assert code == 0 and b"retrying" in out, out
    _no_raw_controls(out)
    # 7: SIGTERM, a closed stdout and SIGKILL
    _check_sigterm(whome, *_sigterm_mid_stream(fake, env))
    _code, out, err = _closed_stdout(fake, env)
    _check_closed(whome, out, err)
    _check_killed(whome, env, fake)
    # all of it was served by the core (nothing fell back in-process)
    r = subprocess.run([sys.executable, "-m", "termchat", "warm", "status", "--json"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(r.stdout)["pid"] == st["pid"]
    assert json.loads(r.stdout)["served"] >= 5


def test_closing_the_terminal_keeps_the_reply(home, fake):
    """SIGHUP, as when the terminal window is closed mid-answer: the kernel hangs up the
    session of a real pseudo-terminal whose master side is closed."""
    _endpoint(home, fake)
    fake.script({"text": LONG, "delay": 0.02})
    pid, fd = pty.fork()
    if pid == 0:  # child: the real CLI, session leader on its own terminal
        env = clean_env(home, TERM="xterm-256color", COLUMNS="80", LINES="24")
        os.execvpe(sys.executable, [sys.executable, "-m", "termchat", "ask", "-m", "fake/x", "go"], env)
    out = b""
    deadline = time.monotonic() + 60
    while b"w5 " not in out and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            out += os.read(fd, 65536)
    assert b"w5 " in out
    os.close(fd)  # hang up
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 129
    role, content, interrupted, error = _rows(home)[-1]
    assert role == "assistant" and interrupted == 1 and error == "terminated by SIGHUP"
    assert content.startswith("w0 w1 w2 w3 w4 w5") and len(content.split()) < 400


def test_interrupt_before_any_text_claims_no_partial_answer(home, fake):
    _endpoint(home, fake)
    fake.script({"text": "late", "stall": 30, "stall_after": 0})
    proc = _popen_ask(clean_env(home), "-m", "fake/x", "go",
                      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_request(fake)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert out == b""
    assert err.decode().splitlines() == ["termchat: interrupted before any answer arrived"]
    assert "partial" not in err.decode()
    r = subprocess.run([sys.executable, "-m", "termchat", "history", "list"], capture_output=True,
                       text=True, env=clean_env(home), timeout=60)
    assert "[no reply (interrupted before any text arrived)]" in r.stdout


# -- 9. live Markdown on a terminal -------------------------------------------------------------

# A reply that ends with a code fence and a blank line: the fence becomes a finished block
# while the live region still shows it, so the finished block is printed as the region goes.
FENCE_REPLY = "Here is the function:\n\n```python\ndef double(x):\n    return x * 2\n```\n\n"


def _screen(data: bytes, cols: int, rows: int) -> list[str]:
    import pyte

    screen = pyte.Screen(cols, rows)
    pyte.ByteStream(screen).feed(data)
    return [line.rstrip() for line in screen.display]


@pytest.mark.parametrize(("cols", "delay"), [(40, 0.0), (40, 0.03), (120, 0.0), (120, 0.03)],
                         ids=["narrow-fast", "narrow-slow", "wide-fast", "wide-slow"])
def test_live_markdown_leaves_the_finished_fence_once(whome, fake, cols, delay):
    _endpoint(whome, fake)
    _start_core(whome)
    env = _warm_env(whome, TERM="xterm-256color")
    runs = 20
    bad = []
    for i in range(runs):
        fake.script({"text": FENCE_REPLY, "delay": delay})
        code, out = run_terminal(whome, "ask", "-m", "fake/x", "hi", env=env, cols=cols, rows=40)
        assert code == 0, out
        lines = _screen(out, cols, 40)
        shown = [ln for ln in lines if "return x" in ln or "def double" in ln]
        if [ln.strip() for ln in shown] != ["def double(x):", "return x * 2"]:
            bad.append((i, lines))
    assert not bad, f"{len(bad)} of {runs} runs left a stale block:\n" + "\n".join(bad[0][1])


# -- 10. --key / --key-env -----------------------------------------------------------------------


def test_key_env_reads_the_key_from_a_variable_and_help_warns_about_key(cli, fake, home):
    fake.script({"text": "ok"})
    r = cli("ask", "-m", "openai/gpt-4o-mini", "--api-base", fake.base_url, "--key-env", "MY_KEY",
            "hi", env={"MY_KEY": SECRET})
    assert r.returncode == 0, r.stderr
    assert fake.requests_to("/v1/chat/completions")[-1].headers["authorization"] == f"Bearer {SECRET}"
    r = cli("ask", "-m", "openai/gpt-4o-mini", "--key-env", "NOT_SET_ANYWHERE", "hi")
    assert r.returncode == 2 and "NOT_SET_ANYWHERE" in r.stderr
    r = cli("ask", "-m", "openai/gpt-4o-mini", "--key", "x", "--key-env", "MY_KEY", "hi",
            env={"MY_KEY": SECRET})
    assert r.returncode == 2 and "not both" in r.stderr
    for sub in ("ask", "image", "speak"):
        h = cli(sub, "--help", env={"COLUMNS": "200"}).stdout
        assert "--key-env" in h and "process list" in h, sub


def test_model_ids_from_a_server_and_alias_targets_are_neutralised(cli, fake, home):
    # an Ollama server names its models: those names reach `models` (table, pipe and --json)
    fake.ollama_models = ["evil\x1b]0;pwned\x07:latest", "csi\x9b2J:latest"]
    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    env = {"OLLAMA_API_BASE": fake.url}
    for args in (("models",), ("models", "--json"), ("models", "--available")):
        r = cli(*args, env=env)
        assert r.returncode == 0, r.stderr
        _no_raw_controls(r.stdout.encode() + r.stderr.encode())
    doc = json.loads(cli("models", "--json", env=env).stdout)
    assert any(row["id"].startswith("ollama_chat/evil\x1b]0;pwned") for row in doc)  # data intact
    # an alias target is the user's text: echoed inert
    r = cli("aliases", "set", "bad", "openai/x\x1b]52;c;aGk=\x07")
    _no_raw_controls(r.stdout.encode() + r.stderr.encode())
    r = cli("aliases", "remove", "bad")
    _no_raw_controls(r.stdout.encode() + r.stderr.encode())
