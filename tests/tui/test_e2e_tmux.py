"""End to end: the real `termchat chat` in tmux against the embedded model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from termchat.core.catalog import embedded_available
from tests.conftest import clean_env, needs

pytestmark = [pytest.mark.local]


@pytest.fixture(autouse=True)
def _needs_tmux_and_the_embedded_model():
    needs(embedded_available(), "the embedded model (the `local` extra) is not installed")
    needs(shutil.which("tmux") is not None, "tmux is not installed")


@pytest.fixture
def tmux() -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """``tmux(*args)`` on a tmux server of this test's own (``-L``, a unique socket name),
    reading no user configuration (``-f /dev/null``); the server is killed at the end, and
    its socket removed."""
    name = f"termchat-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    sock = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / name

    def run(*args: str, check: bool = False, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", name, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=check, **kw)

    try:
        yield run
    finally:
        run("kill-server")
        sock.unlink(missing_ok=True)


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _chat_session(tmux, home: Path, env: dict[str, str], *extra: str) -> None:
    """Run the real app in tmux on ``home``: type a question, check the stored reply and the
    screen, quit with Ctrl+Q."""
    session = "termchat-e2e"
    exe = Path(sys.executable).with_name("termchat")
    cmd = [str(exe), "chat", "-m", "local/smollm2", "-s", "Answer in one short sentence.",
           "-o", "max_tokens", "24", "-o", "temperature", "0", *extra]
    env_args = [f"{k}={v}" for k, v in env.items()]
    # `env -i`: exactly ``env`` (not the tmux server's environment plus ``env``)
    tmux("new-session", "-d", "-s", session, "-x", "110", "-y", "32", "env", "-i", *env_args,
         *cmd, check=True, cwd=str(home))

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", session).stdout

    try:
        _wait(lambda: "model: local/smollm2" in screen(), 30, "the first frame")
        tmux("send-keys", "-t", session, "What is the capital of France?", check=True)
        time.sleep(0.3)
        tmux("send-keys", "-t", session, "Enter", check=True)

        from termchat.store import Store

        def stored_reply():
            store = Store(home / "data" / "termchat.db")
            try:
                conv = store.latest_conversation()
                if conv is None:
                    return None
                msgs = store.messages(conv.id)
                return msgs if len(msgs) == 2 and msgs[1].content.strip() else None
            finally:
                store.close()

        msgs = _wait(stored_reply, 150, "the stored reply")
        assert msgs[0].content == "What is the capital of France?"
        assert msgs[1].model == "local/smollm2"
        first_words = " ".join(msgs[1].content.split()[:3])
        shown = _wait(
            lambda: (s := screen()) and first_words in " ".join(s.split()) and s,
            20, "the reply on screen",
        )
        assert "What is the capital of France?" in shown
        tmux("send-keys", "-t", session, "C-q", check=True)
        _wait(lambda: session not in tmux("list-sessions").stdout, 15, "the app to quit")
    finally:
        tmux("kill-session", "-t", session)


def _warm_status(env: dict[str, str]) -> dict:
    r = subprocess.run([str(Path(sys.executable).with_name("termchat")), "warm", "status", "--json"],
                       capture_output=True, text=True, env=env, timeout=60)
    return json.loads(r.stdout)


def test_chat_in_tmux_with_embedded_model_in_process(whome: Path, tmux):
    env = clean_env(whome, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    env.pop("TERMCHAT_NO_WARM")
    _chat_session(tmux, whome, env, "--no-warm")  # the core in the app's process
    assert not _warm_status(env)["running"]


def test_chat_in_tmux_through_the_warm_core(whome: Path, tmux):
    # the default: the app starts a warm core after its first frame and streams from it
    env = clean_env(whome, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    env.pop("TERMCHAT_NO_WARM")
    _chat_session(tmux, whome, env)
    status = _warm_status(env)
    assert status["running"] and status["served"] == 1
