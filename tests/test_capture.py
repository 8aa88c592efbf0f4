"""Microphone capture (termchat.media.capture) through real PortAudio on ALSA devices that
capture from a file or a paced FIFO (tests/support/alsa_mic.py), each in a subprocess (PortAudio
reads the ALSA configuration once per process)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from termchat.media.capture import CaptureSettings, SpeechDetector, dbfs, rms
from tests.conftest import clean_env, needs
from tests.support.alsa_mic import PacedMic, mic_from_file, no_device, room_tone, silence, tone

DRIVER = """
import json, sys, threading
from termchat.media.capture import Recorder, CaptureSettings
from termchat.core.errors import TermchatError
kw = json.loads(sys.argv[1])
stop_after = kw.pop("stop_after", None)
fail_after = kw.pop("fail_after", None)
if fail_after is not None:
    # The device vanishes: PortAudio's own error from the n-th read on (real device before).
    import sounddevice as sd
    real_read = sd.RawInputStream.read
    count = [0]
    def read(self, frames):
        count[0] += 1
        if count[0] > fail_after:
            raise sd.PortAudioError("Unanticipated host error", -9999)
        return real_read(self, frames)
    sd.RawInputStream.read = read
r = Recorder(CaptureSettings(**kw))
if stop_after:
    threading.Timer(stop_after, r.stop).start()
try:
    rec = r.record()
except TermchatError as e:
    print(json.dumps({"error": e.message, "exit": e.exit_code}))
    sys.exit(0)
open(sys.argv[2], "wb").write(rec.wav)
print(json.dumps({"reason": rec.reason, "seconds": rec.seconds}))
"""


def record(tmp_path: Path, env: dict[str, str], timeout: float = 60, **settings) -> tuple[dict, bytes]:
    out = tmp_path / "rec.wav"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    r = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(settings), str(out)],
                       capture_output=True, text=True, env=clean_env(home, **env), timeout=timeout)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    return doc, (out.read_bytes() if out.exists() else b"")


def frames_of(wav_bytes: bytes) -> bytes:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
        return w.readframes(w.getnframes())


@pytest.fixture
def mic_ok(tmp_path):
    env = mic_from_file(tmp_path, silence(0.1))
    code = "import sounddevice as sd\nprint(sd.query_devices(kind='input')['max_input_channels'])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=clean_env(tmp_path, **env), timeout=60)
    needs(r.returncode == 0 and r.stdout.strip() not in ("", "0"),
          "PortAudio finds no input device with the test ALSA config (libportaudio2 with ALSA?)")


def test_speech_then_silence_stops_and_keeps_exactly_what_the_device_gave(tmp_path, mic_ok):
    pcm = room_tone(0.5) + tone(1.0) + silence(5.0)
    doc, wav = record(tmp_path, mic_from_file(tmp_path, pcm), silence_seconds=1.0, max_seconds=30)
    assert doc["reason"] == "silence"
    # 0.5 s room + 1 s speech + 1 s of silence, to the block (50 ms)
    assert 2.45 <= doc["seconds"] <= 2.65, doc
    got = frames_of(wav)
    assert got == pcm[: len(got)]


def test_silent_recording_is_a_usage_error_with_the_level_it_needed(tmp_path, mic_ok):
    doc, wav = record(tmp_path, mic_from_file(tmp_path, room_tone(1.0)), no_speech_seconds=3, max_seconds=30)
    assert doc["exit"] == 2
    assert doc["error"].startswith("no speech heard in 3.0 s of recording"), doc
    assert wav == b""


def test_max_duration_ends_a_recording_that_never_pauses(tmp_path, mic_ok):
    doc, wav = record(tmp_path, mic_from_file(tmp_path, tone(10.0)), max_seconds=2)
    assert doc["reason"] == "max"
    assert doc["seconds"] == pytest.approx(2.0, abs=0.06)
    assert len(frames_of(wav)) == pytest.approx(2 * 16000 * 2, abs=1600 * 2)


def test_no_input_device(tmp_path):
    doc, _ = record(tmp_path, no_device(tmp_path))
    assert doc["exit"] == 1
    assert doc["error"].startswith("no audio input device found"), doc


def test_device_failing_mid_recording(tmp_path, mic_ok):
    doc, wav = record(tmp_path, mic_from_file(tmp_path, tone(5.0)), fail_after=10)
    assert doc == {"error": "the audio input device failed mid-recording: Unanticipated host error [PaErrorCode -9999]",
                   "exit": 1}
    assert wav == b""


def test_stop_from_another_thread_on_a_paced_device(tmp_path, mic_ok):
    mic = PacedMic(tmp_path, room_tone(0.4))
    try:
        doc, wav = record(tmp_path, mic.env, stop_after=1.5, silence_seconds=0, max_seconds=30)
    finally:
        mic.close()
    assert doc["reason"] == "stopped"
    # the device delivered in real time: about 1.5 s were recorded, not the whole tone
    assert 1.2 <= doc["seconds"] <= 2.0, doc
    assert frames_of(wav)[:len(room_tone(0.4))] == room_tone(0.4)


# -- the detector and the level figures, on their own --------------------------------------


def test_rms_and_dbfs():
    assert rms(b"") == 0.0
    assert rms(silence(0.1)) == 0.0
    assert rms(tone(0.5, amplitude=10000)) == pytest.approx(10000 / 2 ** 0.5, rel=0.01)
    assert dbfs(32768.0) == pytest.approx(0.0)
    assert dbfs(0.0) == -96.0


def test_detector_floor_does_not_rise_to_speech_level():
    d = SpeechDetector(CaptureSettings(silence_seconds=1.0))
    stops = [d.feed(6000.0, 0.05) for _ in range(200)]  # talking from the first block, 10 s
    assert d.speech and not any(stops)
    assert d.floor is not None and d.floor <= 1000.0
    assert d.threshold() < 6000.0
    stops = [d.feed(20.0, 0.05) for _ in range(20)]
    assert stops[-1] and not any(stops[:18])
