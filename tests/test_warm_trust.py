"""Whom the warm core trusts, and what it takes from its socket: real processes, real sockets.

* The runtime directory: one that is unsafe (open to others, another uid's, a symlink, in a
  parent others may write to) is refused and left as it is; ``ask`` answers in-process and
  says why in one line; ``doctor`` says why and how to fix it.
* The client checks the server's uid (SO_PEERCRED) before it sends a byte: a socket planted
  by another uid never gets a request.
* Hostile input on the socket gets a typed protocol error, one log line, no traceback; a big
  legitimate non-ASCII request goes through.
* The log directory is 0700 and the log files 0600, tightened when they exist looser.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import clean_env, write_config

NOBODY = 65534  # the uid (and gid) a planted server or a foreign directory belongs to


def _env(home: Path, **kw: str) -> dict[str, str]:
    env = clean_env(home, **kw)
    env.pop("TERMCHAT_NO_WARM")
    return env


def _ask(home: Path, *args: str, input: bytes = b"", env: dict[str, str] | None = None):
    return subprocess.run([sys.executable, "-m", "termchat", "ask", *args], input=input,
                          capture_output=True, env=env or _env(home), timeout=180)


def _termchat(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "termchat", *args], capture_output=True,
                          text=True, env=_env(home), timeout=120)


def _status(home: Path) -> dict:
    return json.loads(_termchat(home, "warm", "status", "--json").stdout)


def _socket_path(home: Path) -> Path:
    """This environment's socket path, as the CLI computes it (creates the runtime dir)."""
    code = "from termchat import warm; print(warm.socket_path())"
    r = subprocess.run([sys.executable, "-c", code], env=_env(home), capture_output=True,
                       text=True, timeout=60, check=True)
    return Path(r.stdout.strip())


def _start_core(home: Path) -> dict:
    r = _termchat(home, "warm", "start")
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        st = _status(home)
        if st.get("running"):
            return st
        time.sleep(0.3)
    raise AssertionError("the warm core did not start")


def _need_root(why: str) -> None:
    """Root is needed to act as another uid. CI runs as root: there, not being root fails."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        pytest.fail(f"this test must run in CI, as root ({why})", pytrace=False)
    pytest.skip(f"needs root: {why}")


def _notices(stderr: bytes) -> list[str]:
    return [ln for ln in stderr.decode().splitlines() if "warm core not used" in ln]


# ---------------------------------------------------------------------------------------------
# A socket planted by another uid


# Binds the socket as root (in root's private directory), becomes nobody, then listens: the
# uid a client sees through SO_PEERCRED is the one the server had at listen(). Every
# connection's bytes are reported on stdout (one JSON line each); one that sends anything gets
# a plausible answer, which a client that trusts it would print.
_PLANTED = r"""
import json, os, socket, sys
path = sys.argv[1]
if os.path.lexists(path):
    os.unlink(path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
os.chmod(path, 0o666)
os.setgroups([])
os.setgid(int(sys.argv[2]))
os.setuid(int(sys.argv[2]))
srv.listen(16)
print(json.dumps({"ready": os.getuid()}), flush=True)
while True:
    c, _ = srv.accept()
    c.settimeout(3)
    got = b""
    try:
        while b"\n" not in got:
            part = c.recv(65536)
            if not part:
                break
            got += part
        if got:
            c.sendall(b'{"accepted": true}\n{"event": {"type": "TextDelta", "text": "PLANTED"}}\n'
                      b'{"done": true}\n{"stopping": true, "pid": 1}\n')
    except OSError:
        pass
    c.close()
    print(json.dumps({"received": len(got), "head": got[:300].decode("utf-8", "replace")}),
          flush=True)
"""


def test_a_socket_served_by_another_uid_is_never_sent_a_request(whome, fake):
    _need_root("a process of another uid listens on the planted socket")
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    sock = _socket_path(whome)
    planted = subprocess.Popen([sys.executable, "-c", _PLANTED, str(sock), str(NOBODY)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = planted.stdout.readline()
        assert ready and json.loads(ready) == {"ready": NOBODY}, planted.stderr.read()
        st = _status(whome)  # status and doctor say why, and send nothing either
        assert st["running"] is False and f"served by uid {NOBODY}" in st["refused"]
        d = _termchat(whome, "doctor", "--json")
        check = next(c for c in json.loads(d.stdout)["checks"] if c["name"] == "warm core")
        assert check["status"] == "warn" and f"served by uid {NOBODY}" in check["message"], check
        r = _ask(whome, "-m", "fake/x", "--no-log", "my secret prompt")
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"Hello from the scripted server."  # answered in-process
        notices = _notices(r.stderr)
        assert len(notices) == 1 and f"served by uid {NOBODY}" in notices[0], r.stderr
        assert "answering in-process" in notices[0]
        assert f"served by uid {NOBODY}" in (whome / "logs" / "termchat.log").read_text()
        assert "my secret prompt" in json.dumps([q.body for q in fake.requests])  # the real one got it
    finally:
        planted.kill()
        out, _ = planted.communicate(timeout=10)
    conns = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    assert conns, "the client never even connected: the test proves nothing"
    assert [c["received"] for c in conns] == [0] * len(conns), conns


# ---------------------------------------------------------------------------------------------
# An unsafe runtime directory


def _make_open(run: Path) -> None:
    run.mkdir()
    os.chmod(run, 0o777)


def _make_group_readable(run: Path) -> None:
    run.mkdir()
    os.chmod(run, 0o750)


def _make_foreign(run: Path) -> None:
    _need_root("the runtime directory is given to another uid")
    run.mkdir(mode=0o700)
    os.chown(run, NOBODY, NOBODY)


def _make_symlink(run: Path) -> None:
    target = run.parent / "elsewhere"
    target.mkdir(mode=0o700)
    run.symlink_to(target)


def _make_parent_open(run: Path) -> None:
    run.mkdir(mode=0o700)
    os.chmod(run.parent, 0o777)  # others could rename run/ away and put their own in its place


@pytest.mark.parametrize("make, reason, fix", [
    (_make_open, "is open to other users (mode 0777)", "chmod 700"),
    (_make_group_readable, "is open to other users (mode 0750)", "chmod 700"),
    (_make_foreign, f"belongs to uid {NOBODY}, not to you", "rm -r"),
    (_make_symlink, "is a symlink", "rm"),
    (_make_parent_open, "which others may write to (mode 0777)", "chmod go-w"),
], ids=["world-writable", "group-readable", "other-uid", "symlink", "parent-writable"])
def test_an_unsafe_runtime_dir_is_refused_and_left_as_it_was(whome, fake, make, reason, fix):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    run = whome / "run"
    make(run)
    before = os.lstat(run)
    listing = sorted(os.listdir(run))
    try:
        r = _ask(whome, "-m", "fake/x", "--no-log", "q")
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"Hello from the scripted server."
        notices = _notices(r.stderr)
        assert len(notices) == 1 and reason in notices[0] and str(run) in notices[0], r.stderr
        d = _termchat(whome, "doctor", "--json")
        check = next(c for c in json.loads(d.stdout)["checks"] if c["name"] == "warm core")
        assert check["status"] == "warn" and reason in check["message"], check
        assert fix in check["fix"], check
        time.sleep(1.5)  # a core, had one been started, would have bound its socket by now
        after = os.lstat(run)
        assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
        assert sorted(os.listdir(run)) == listing  # no socket, no lock file
        assert _status(whome)["running"] is False
    finally:
        os.chmod(whome, 0o700)


def test_server_refuses_to_bind_in_an_unsafe_dir(whome):
    run = whome / "run"
    run.mkdir()
    os.chmod(run, 0o777)
    r = subprocess.run([sys.executable, "-m", "termchat.warm", "serve", str(run / "core-x.sock"), "5"],
                       capture_output=True, text=True, env=_env(whome), timeout=60)
    assert r.returncode == 1 and "open to other users" in r.stderr and "Traceback" not in r.stderr
    assert os.listdir(run) == [] and stat.S_IMODE(os.lstat(run).st_mode) == 0o777


# ---------------------------------------------------------------------------------------------
# Hostile input on the socket


def _exchange(sock: Path, data: bytes, timeout: float = 60) -> tuple[dict, bytes]:
    """Send ``data`` (from a thread: the server may hang up before it is all sent) and read
    the first reply line; returns it decoded and whatever follows until the server closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(sock))

    def send() -> None:
        try:
            s.sendall(data)
        except OSError:
            pass

    t = threading.Thread(target=send, daemon=True)
    t.start()
    f = s.makefile("rb")
    try:
        line = f.readline()
        rest = f.read()  # the server closes after an error
    finally:
        t.join(timeout)
        s.close()
    return json.loads(line), rest


def test_hostile_input_gets_a_typed_error_and_no_traceback(whome):
    from termchat import __version__
    from termchat.warm import MAX_LINE_BYTES, PROTOCOL

    st = _start_core(whome)
    sock = Path(st["socket"])
    head = {"version": __version__, "protocol": PROTOCOL}
    model = {"id": "fake/x", "provider": "fake", "litellm_model": "openai/x"}
    good_req = {"model": "fake/x", "messages": [{"role": "user", "content": "hi"}]}

    def line(**msg) -> bytes:
        return json.dumps({**head, **msg}).encode() + b"\n"

    mib = 1024 * 1024
    cases = {
        "garbage": b"hello, this is not json\n",
        "invalid utf-8": b'{"op": "status", "x": "\xff\xfe\xc3"}\n',
        "a list": b"[1, 2, 3]\n",
        "a number": b"42\n",
        "op of the wrong type": line(op=["chat"]),
        "unknown op": line(op="format_disk"),
        "request not an object": line(op="chat", request="hi", model=model),
        "model not an object": line(op="chat", request=good_req, model=5),
        "messages not a list": line(op="chat", request={"model": "x", "messages": "hi"}, model=model),
        "a bad role": line(op="chat", request={"model": "x", "messages": [{"role": 5, "content": "x"}]},
                           model=model),
        "content not a string": line(op="chat", model=model,
                                     request={"model": "x", "messages": [{"role": "user", "content": 1}]}),
        "bool for a number": line(op="chat", request=good_req, model=model, config={"timeout": True}),
        "missing field": line(op="chat", request={"messages": []}, model=model),
        "unknown field": line(op="chat", request={**good_req, "evil": 1}, model=model),
        "attachment not base64": line(op="chat", model=model, request={"model": "x", "messages": [
            {"role": "user", "content": "x", "attachments": [{"mime": "image/png", "data": "!!"}]}]}),
        "image request of the wrong type": line(op="image", request={"model": "x", "prompt": 3}, model=model),
        "live_models without fields": line(op="live_models"),
        "20 MiB of garbage": b"\x80" * (20 * mib) + b"\n",
        "18 MiB of JSON with a wrong type": line(op="chat", model=5, request={
            "model": "x", "messages": [{"role": "user", "content": "Ж" * (3 * mib)}]}),
        "a line over the limit": b"x" * (MAX_LINE_BYTES + 4096),
    }
    for name, data in cases.items():
        reply, rest = _exchange(sock, data)
        err = reply.get("error")
        assert isinstance(err, dict) and err["type"] == "protocol", (name, reply)
        assert err["exit_code"] == 2 and err["message"] and "\n" not in err["message"], (name, err)
        assert rest == b"", (name, rest[:200])  # and it hung up
    reply, _ = _exchange(sock, b'{"op": "status"}\n')
    assert reply["error"]["type"] == "version"  # another termchat runs its request in-process
    reply, _ = _exchange(sock, line(op="status"))
    assert reply["pid"] == st["pid"] and reply["served"] == 0  # alive, and nothing was accepted
    over = _exchange(sock, cases["a line over the limit"])[0]["error"]["message"]
    assert f"longer than {MAX_LINE_BYTES} bytes" in over
    log = (whome / "logs" / "warm-core.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    refusals = [ln for ln in log.splitlines() if "refused a malformed request" in ln]
    assert len(refusals) == len(cases) + 1, log[-3000:]


def test_a_6_mib_non_ascii_stdin_goes_through_the_core(whome, fake):
    write_config(whome, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    _start_core(whome)
    word = "Привет" * 170  # 2 bytes per character in UTF-8, 6 bytes each as a \\u escape
    text = " ".join([word] * (6 * 1024 * 1024 // (len(word.encode()) + 1)))
    assert len(text.encode()) > 6 * 1024 * 1024 - 4096 and len(text.encode()) < 8 * 1024 * 1024
    fake.script({"echo": True, "chunk": 256})
    r = _ask(whome, "-m", "fake/x", "--no-log", input=text.encode())
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.decode() == text and r.stderr == b""
    assert _status(whome)["served"] == 1  # the core answered it, not an in-process fallback


def test_the_schema_matches_the_requests_the_client_sends():
    from dataclasses import MISSING, fields

    from termchat import warm, warm_server
    from termchat.config import SETTINGS
    from termchat.core.catalog import ResolvedModel
    from termchat.core.types import Attachment, ChatRequest, ImageRequest, Message, SpeechRequest

    schemas = warm_server._SCHEMAS
    for name, cls in [("chat_request", ChatRequest), ("image_request", ImageRequest),
                      ("speech_request", SpeechRequest), ("model", ResolvedModel),
                      ("message", Message), ("attachment", Attachment)]:
        # every field the client may send is accepted; only fields without a default are required
        assert {f.name for f in fields(cls)} <= {k.rstrip("!") for k in schemas[name]}, name
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        assert {k.rstrip("!") for k in schemas[name] if k.endswith("!")} == required, name
    req = ChatRequest("fake/x", [Message("system", "be brief"), Message(
        "user", "ǅ 你好 \udcff", [Attachment("image/png", b"\x89PNG", "a.png")])],
        options={"temperature": 0.2}, timeout=3.0)
    rm = ResolvedModel("fake/x", "fake", "openai/x", api_base="http://h", api_key="k" * 10,
                       info={"max_input_tokens": 5})
    payload = {"request": warm._request_dict(req), "model": warm.asdict(rm),
               "config": {"timeout": 60.0, "retries": 2, "retry_max_wait": None}}
    line = warm.encode_message({"op": "chat", "version": warm.__version__,
                                "protocol": warm.PROTOCOL, **payload})
    msg = warm_server.parse_request(line)
    assert warm._request_from(msg["request"]) == req  # a lone surrogate survives too
    assert "你好".encode() in warm.encode_message({"t": "你好"})  # not \\u-escaped
    # the line limit holds termchat's own largest stdin even in the worst JSON escaping
    assert 6 * SETTINGS["max_input_bytes"].default + 1024 * 1024 <= warm.MAX_LINE_BYTES
    with pytest.raises(warm.ProtocolError, match="longer than"):
        warm_server.parse_request(b" " * (warm.MAX_LINE_BYTES + 1))


# ---------------------------------------------------------------------------------------------
# Private logs

_WRITE_LOGS = """
import os
os.umask(0o022)
from termchat import logs, warm
logs.get_logger().warning("a line")
logs.get_logger().handlers[0].flush()
assert warm.start_background(600.0)
"""


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing-loose"])
def test_the_log_dir_is_0700_and_log_files_0600(whome, existing):
    logs_dir = whome / "logs"
    if existing:
        logs_dir.mkdir(mode=0o755)
        os.chmod(logs_dir, 0o755)
        for name in ("termchat.log", "warm-core.log"):
            (logs_dir / name).write_text("old line\n")
            os.chmod(logs_dir / name, 0o644)
    r = subprocess.run([sys.executable, "-c", _WRITE_LOGS], env=_env(whome), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    subprocess.run([sys.executable, "-m", "termchat", "warm", "stop"], env=_env(whome),
                   capture_output=True, timeout=60)
    assert stat.S_IMODE(os.stat(logs_dir).st_mode) == 0o700
    for name in ("termchat.log", "warm-core.log"):
        assert stat.S_IMODE(os.stat(logs_dir / name).st_mode) == 0o600, name
    assert "a line" in (logs_dir / "termchat.log").read_text()
    if existing:
        assert (logs_dir / "warm-core.log").read_text().startswith("old line\n")  # appended to

