"""The warm core with real processes and real Unix sockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import clean_env, read_until, warm_core_pids, write_config


def _env(home, **kw):
    """:func:`clean_env` with the warm core on (``kw`` may not turn it off: use the result)."""
    env = clean_env(home, **kw)
    env.pop("TERMCHAT_NO_WARM")
    return env


def _ask(home, *args, env=None, input=b""):
    return subprocess.run([sys.executable, "-m", "termchat", "ask", *args], input=input,
                          capture_output=True, env=env or _env(home), timeout=120)


def _status(home, env=None):
    r = subprocess.run([sys.executable, "-m", "termchat", "warm", "status", "--json"],
                       capture_output=True, text=True, env=env or _env(home), timeout=60)
    return json.loads(r.stdout)


def _wait_running(home, env=None, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = _status(home, env)
        if st.get("running"):
            return st
        time.sleep(0.3)
    raise AssertionError("warm core did not start")


def test_start_reuse_stop_and_same_answers(whome, fake):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    fake.script({"text": "cold answer", "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
                {"text": "warm answer", "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
    r1 = _ask(whome, "-m", "fake/gpt-4o-mini", "--json", "q1")
    assert r1.returncode == 0, r1.stderr
    st = _wait_running(whome)
    assert st["served"] == 0 and st["version"]
    sock = Path(st["socket"])
    assert oct(sock.stat().st_mode & 0o777) == "0o600"
    assert oct(sock.parent.stat().st_mode & 0o777) == "0o700"
    r2 = _ask(whome, "-m", "fake/gpt-4o-mini", "--json", "q2")
    assert r2.returncode == 0, r2.stderr
    d1, d2 = json.loads(r1.stdout), json.loads(r2.stdout)
    assert (d1["text"], d2["text"]) == ("cold answer", "warm answer")
    assert d1["usage"] == d2["usage"] and d1["cost_usd"] == d2["cost_usd"]  # same events either way
    assert _status(whome)["served"] == 1
    # the thin client stored the conversation itself
    n = sqlite3.connect(whome / "data" / "termchat.db").execute("SELECT count(*) FROM messages").fetchone()[0]
    assert n == 4
    # errors come back the same as in-process
    fake.script({"error": 401})
    r3 = _ask(whome, "-m", "fake/x", "q3")
    assert r3.returncode == 3 and b"rejected the key" in r3.stderr
    subprocess.run([sys.executable, "-m", "termchat", "warm", "stop"], env=_env(whome), timeout=30)
    deadline = time.monotonic() + 10
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not sock.exists()


def test_no_warm_flags(whome, fake):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    r = _ask(whome, "-m", "fake/x", "--no-warm", "q")
    assert r.returncode == 0, r.stderr
    r = _ask(whome, "-m", "fake/x", "q", env={**_env(whome), "TERMCHAT_NO_WARM": "1"})
    assert r.returncode == 0, r.stderr
    assert len(fake.requests_to("/v1/chat/completions")) == 2  # both answered in-process
    # a core started in the background takes its lock at once and binds its socket ~1 s
    # later (warm.START_DELAY); wait well past both before looking for any trace of one
    time.sleep(3.0)
    assert warm_core_pids(whome) == []  # no core process, not even one still starting
    run = whome / "run"
    assert not run.exists() or not [p.name for p in run.iterdir()]  # no lock, no socket
    assert not (whome / "logs" / "warm-core.log").exists()  # start_background never ran
    st = _status(whome)
    assert st["running"] is False and not st.get("starting") and "pid" not in st, st


def _start_core(home, idle=600.0):
    subprocess.run([sys.executable, "-m", "termchat", "warm", "start"], env=_env(home), timeout=90, check=True)
    return _wait_running(home)


def test_kill_9_mid_stream_keeps_partial_and_never_hangs(whome, fake):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    st = _start_core(whome)
    fake.script({"text": " ".join(f"w{i}" for i in range(300)), "delay": 0.03})
    proc = subprocess.Popen([sys.executable, "-m", "termchat", "ask", "-m", "fake/x", "go"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(whome))

    got = read_until(proc, lambda got: b"w3 " in got)
    os.kill(st["pid"], signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    out = got + (out or b"")
    assert proc.returncode == 4, err
    assert out.startswith(b"w0 w1") and len(out.split()) < 300
    assert b"warm core stopped" in err
    row = sqlite3.connect(whome / "data" / "termchat.db").execute(
        "SELECT content, interrupted FROM messages WHERE role='assistant'").fetchone()
    assert row[1] == 1 and out.decode().startswith(row[0])


def test_stale_socket_and_other_version_fall_back_in_process(whome, fake):
    import termchat
    from termchat import warm

    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    env = _env(whome)
    sock = Path(subprocess.run([sys.executable, "-c", "from termchat import warm; print(warm.socket_path())"],
                               env=env, capture_output=True, text=True, check=True).stdout.strip())
    # a stale socket: a file nobody listens on
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()
    r = _ask(whome, "-m", "fake/x", "--no-log", "q", env=env)
    assert r.returncode == 0 and r.stdout == b"Hello from the scripted server."
    # a core of another version answering on the socket
    os.unlink(sock)
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(sock))
    srv.listen(5)
    import threading

    asked = []  # the request lines the fake core received

    def other_version():
        for _ in range(6):
            try:
                c, _ = srv.accept()
            except OSError:
                return
            try:
                c.settimeout(10)
                line = c.makefile("rb").readline()  # the client's liveness probe sends nothing
                if line:
                    asked.append(json.loads(line))
                    c.sendall(json.dumps({"error": {"type": "version", "message": "0.0.1"}}).encode() + b"\n")
            except (OSError, ValueError):
                pass
            c.close()

    t = threading.Thread(target=other_version, daemon=True)
    t.start()
    r = _ask(whome, "-m", "fake/x", "--no-log", "q", env=env)
    srv.close()
    t.join(timeout=10)
    assert r.returncode == 0 and r.stdout == b"Hello from the scripted server.", r.stderr
    # the client did ask the other-version core, which refused it; then it answered here
    chats = [m for m in asked if m.get("op") == "chat"]
    assert chats, f"the fake core was never asked for a chat (it got {asked!r})"
    assert chats[0]["version"] == termchat.__version__
    assert chats[0]["request"]["messages"][-1]["content"] == "q"
    assert len(fake.requests_to("/v1/chat/completions")) == 2  # stale socket + other version
    assert warm.env_fingerprint({"OPENAI_API_KEY": "a"}) != warm.env_fingerprint({"OPENAI_API_KEY": "b"})
    assert warm.env_fingerprint({"PWD": "/a"}) == warm.env_fingerprint({"PWD": "/b"})


def test_racing_starts_make_one_core_and_idle_exit(whome):
    env = _env(whome)
    code = "from termchat import warm; print(warm.socket_path())"
    sock = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
    procs = [subprocess.Popen([sys.executable, "-m", "termchat.warm", "serve", sock, "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    time.sleep(1.0)
    assert sorted(p.poll() is None for p in procs) == [False, True]  # the loser exited at once
    loser = next(p for p in procs if p.poll() is not None)
    assert loser.returncode == 0
    winner = next(p for p in procs if p.poll() is None)
    assert winner.wait(timeout=60) == 0  # idle exit after 2 s (after its ~5 s import)
    assert not Path(sock).exists()


def test_peer_uid_check(whome):
    from termchat import warm_server as warm

    a, b = socket.socketpair(socket.AF_UNIX)
    assert warm.peer_uid(a) == os.getuid()
    a.close()
    b.close()

    async def scenario():
        sock = whome / "p.sock"
        server = warm.WarmServer(sock, 60)
        server.allowed_uid = os.getuid() + 12345  # pretend we are somebody else
        srv = await asyncio.start_unix_server(server._handle, path=str(sock))
        r, w = await asyncio.open_unix_connection(str(sock))
        w.write(b'{"op": "status"}\n')
        await w.drain()
        try:
            line = await asyncio.wait_for(r.read(), 5)
        except ConnectionResetError:
            line = b""
        srv.close()
        return line

    assert asyncio.run(scenario()) == b""  # refused: hung up without a word


def test_twenty_concurrent_clients(whome, fake):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    _start_core(whome)
    fake.script(*[{"echo": True, "delay": 0.01} for _ in range(20)])
    env = _env(whome)
    procs = [subprocess.Popen([sys.executable, "-m", "termchat", "ask", "-m", "fake/x", f"question number {i}"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for i in range(20)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        assert out == f"question number {i}".encode()
    assert _status(whome)["served"] == 20


def test_ctrl_c_in_client_cancels_in_core(whome, fake):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    _start_core(whome)
    fake.script({"text": " ".join(["x"] * 500), "delay": 0.02})
    proc = subprocess.Popen([sys.executable, "-m", "termchat", "ask", "-m", "fake/x", "go"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(whome), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    got = read_until(proc, lambda got: got.count(b"x") >= 5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    got += out or b""
    assert proc.returncode == 130 and 5 <= len(got.split()) < 500
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _status(whome)["active"] != 0:
        time.sleep(0.2)
    assert _status(whome)["active"] == 0  # the core dropped the request


def test_image_speak_and_live_models_go_through_the_core(whome, fake):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    _start_core(whome)
    env = _env(whome)
    run = lambda *a: subprocess.run([sys.executable, "-m", "termchat", *a], capture_output=True,  # noqa: E731
                                    env=env, timeout=120, cwd=str(whome))
    r = run("image", "a red square", "-m", "fake/gpt-image-1", "--size", "1024x1024", "-o", "sq.png")
    assert r.returncode == 0, r.stderr
    assert (whome / "sq.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run("speak", "Hello there. How are you?", "-m", "fake/tts-1", "--format", "wav", "-o", "hi.wav")
    assert r.returncode == 0, r.stderr
    import wave

    with wave.open(str(whome / "hi.wav")) as w:
        assert w.getnframes() > 0
    r = run("models", "--json", "--provider", "fake")
    assert r.returncode == 0, r.stderr
    ids = {m["id"] for m in json.loads(r.stdout)}
    assert "fake/fake-small" in ids
    assert _status(whome)["served"] == 3  # all three were served by the warm core
    assert [q.path for q in fake.requests if q.path.startswith("/v1/")][:2] == [
        "/v1/images/generations", "/v1/audio/speech"]


def test_two_value_o_only_for_ask_and_chat():
    from termchat.cli import join_option_pairs

    assert join_option_pairs(["ask", "-o", "temperature", "0.2", "hi"]) == ["ask", "-o", "temperature=0.2", "hi"]
    assert join_option_pairs(["chat", "-o", "max_tokens", "9"]) == ["chat", "-o", "max_tokens=9"]
    assert join_option_pairs(["ask", "-o", "top_p=1", "x"]) == ["ask", "-o", "top_p=1", "x"]
    assert join_option_pairs(["image", "-o", "x.png", "a", "cat"]) == ["image", "-o", "x.png", "a", "cat"]
    assert join_option_pairs(["speak", "hi", "-o", "x.wav", "--play"]) == ["speak", "hi", "-o", "x.wav", "--play"]


def test_unusable_runtime_dir_still_answers_in_process(whome, fake):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    (whome / "run").write_text("a file where the socket directory should be")
    r = _ask(whome, "-m", "fake/x", "--no-log", "q")
    assert r.returncode == 0 and r.stdout == b"Hello from the scripted server."
    assert (whome / "run").is_file()  # left alone; no core could start there


def test_a_request_waits_for_a_core_that_is_starting(whome, fake):
    # a second `ask` right after the first would otherwise import LiteLLM itself, on the same
    # CPUs as the core that is importing it
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    subprocess.run([sys.executable, "-c", "from termchat import warm; assert warm.start_background(600.0)"],
                   env=_env(whome), timeout=60, check=True)
    r = _ask(whome, "-m", "fake/x", "--json", "q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["text"] == "Hello from the scripted server."
    st = _status(whome)
    assert st["running"] and st["served"] == 1  # answered by the core, not in-process


def test_no_warning_on_stderr_without_xdg_runtime_dir(tmp_path):
    # platformdirs warns when it falls back to /tmp/runtime-UID; that must not reach the user
    env = {k: v for k, v in os.environ.items() if k not in ("TERMCHAT_HOME", "XDG_RUNTIME_DIR")}
    env.update(HOME=str(tmp_path), PYTHONWARNINGS="default")
    r = subprocess.run([sys.executable, "-c", "from termchat import paths; print(paths.runtime_dir())"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.strip().endswith("termchat")
    assert r.stderr == ""


def test_status_and_stop_of_a_core_that_is_starting(whome):
    env = _env(whome)
    subprocess.run([sys.executable, "-c", "from termchat import warm; assert warm.start_background(600.0)"],
                   env=env, timeout=60, check=True)
    # it takes its lock as soon as Python has started (a status asked sooner sees no core),
    # waits 1 s, then imports the provider core for seconds
    deadline = time.monotonic() + 5
    while not (st := _status(whome)).get("starting") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert st["running"] is False and st.get("starting") is True and st["pid"] > 0, st
    r = subprocess.run([sys.executable, "-m", "termchat", "warm", "stop"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0 and f"warm core {st['pid']} stopped (it was starting)" in r.stderr
    deadline = time.monotonic() + 10
    stat = Path(f"/proc/{st['pid']}/stat")
    while time.monotonic() < deadline:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break  # exited, not yet reaped
        except OSError:
            break  # gone
        time.sleep(0.1)
    else:
        raise AssertionError("the starting core is still alive")
    assert _status(whome) == {"running": False, "enabled": True}
