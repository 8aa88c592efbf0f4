"""End to end: the real `termchat chat` in tmux against the embedded model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from termchat.core.catalog import embedded_available
from tests.conftest import clean_env

pytestmark = [
    pytest.mark.local,
    pytest.mark.skipif(not embedded_available(), reason="the embedded model is not installed"),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _chat_session(home: Path, env: dict[str, str], *extra: str) -> None:
    """Run the real app in tmux on ``home``: type a question, check the stored reply and the
    screen, quit with Ctrl+Q."""
    session = f"termchat-e2e-{id(home)}"
    exe = Path(sys.executable).with_name("termchat")
    cmd = [str(exe), "chat", "-m", "local/smollm2", "-s", "Answer in one short sentence.",
           "-o", "max_tokens", "24", "-o", "temperature", "0", *extra]
    env_args = [f"{k}={v}" for k, v in env.items()]
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "110", "-y", "32",
                    "env", *env_args, *cmd], check=True, cwd=str(home))
    try:
        _wait(lambda: "model: local/smollm2" in _tmux("capture-pane", "-p", "-t", session), 30,
              "the first frame")
        subprocess.run(["tmux", "send-keys", "-t", session, "What is the capital of France?"], check=True)
        time.sleep(0.3)
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)

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
        screen = _wait(
            lambda: (s := _tmux("capture-pane", "-p", "-t", session)) and first_words in " ".join(s.split()) and s,
            20, "the reply on screen",
        )
        assert "What is the capital of France?" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "C-q"], check=True)
        _wait(lambda: session not in _tmux("list-sessions"), 15, "the app to quit")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


def _warm_status(env: dict[str, str]) -> dict:
    r = subprocess.run([str(Path(sys.executable).with_name("termchat")), "warm", "status", "--json"],
                       capture_output=True, text=True, env=env, timeout=60)
    return json.loads(r.stdout)


def test_chat_in_tmux_with_embedded_model_in_process(whome: Path):
    env = clean_env(whome, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    env.pop("TERMCHAT_NO_WARM")
    _chat_session(whome, env, "--no-warm")  # the core in the app's process
    assert not _warm_status(env)["running"]


def test_chat_in_tmux_through_the_warm_core(whome: Path):
    # the default: the app starts a warm core after its first frame and streams from it
    env = clean_env(whome, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    env.pop("TERMCHAT_NO_WARM")
    _chat_session(whome, env)
    status = _warm_status(env)
    assert status["running"] and status["served"] == 1
