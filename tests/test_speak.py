"""``termchat speak`` through the real CLI (subprocesses) against the scripted server, with
real playback through PortAudio on ALSA devices defined by a test-only ALSA configuration."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import pytest

from tests.conftest import clean_env, needs
from tests.support.fake_openai import make_wav
from tests.support.tty import run_on_tty

HOME_DIRS = {"config", "data", "logs", "cache", "run"}
SPEECH = "/v1/audio/speech"

# An ALSA output whose samples go to a file (the ``file`` plugin over the ``null`` device):
# PortAudio plays into it as into any card, and the test reads back what was played.
ALSA_FILE_CONF = """
pcm.!default {{
    type file
    slave.pcm {{
        type null
    }}
    file "{path}"
    format "raw"
}}
ctl.!default {{
    type hw
    card 0
}}
"""
# No usable output: the default device names a card that does not exist.
ALSA_NO_DEVICE_CONF = """
pcm.!default {
    type hw
    card 99
}
ctl.!default {
    type hw
    card 99
}
"""


def written(home: Path) -> list[str]:
    top = sorted(p.name for p in home.iterdir() if p.name not in HOME_DIRS)
    return top + [str(p) for p in home.rglob("*.tmp")]


def one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def wav_frames(data: bytes) -> tuple[int, bytes]:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        n = w.getnframes()
        return n, w.readframes(n)


def alsa_config(tmp_path: Path, text: str) -> dict[str, str]:
    conf = tmp_path / "asound.conf"
    conf.write_text(text)
    return {"ALSA_CONFIG_PATH": str(conf)}


def portaudio_output(env: dict[str, str], home: Path) -> str | None:
    """The default output device PortAudio finds with ``env``, or ``None``."""
    code = "import sounddevice as sd\ntry:\n    print(sd.query_devices(kind='output')['name'])\nexcept Exception:\n    pass\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=clean_env(home, **env), timeout=60)
    return r.stdout.strip() or None


@pytest.fixture
def file_device(tmp_path, home):
    """ALSA env whose default output writes raw samples to ``tmp_path/played.raw``."""
    played = tmp_path / "played.raw"
    env = alsa_config(tmp_path, ALSA_FILE_CONF.format(path=played))
    needs(portaudio_output(env, home) is not None,
          "PortAudio finds no output device even with the test ALSA config "
          "(is libportaudio2 with ALSA support installed?)")
    return env, played


# ---------------------------------------------------------------------------------------------


def test_defaults_name_and_request(cli, fake, home):
    r = cli("speak", "Hello there", "--voice", "nova", "--speed", "1.2",
            "--instructions", "Speak calmly.", "--api-base", fake.base_url)
    assert r.returncode == 0, r.stderr
    name = r.stdout.strip()
    assert re.fullmatch(r"hello-there-\d{8}-\d{6}\.mp3", name), r.stdout
    body = fake.requests_to(SPEECH)[-1].body
    assert body == {"model": "gpt-4o-mini-tts", "input": "Hello there", "voice": "nova",
                    "response_format": "mp3", "speed": 1.2, "instructions": "Speak calmly."}
    # The scripted server sends WAV bytes for every format; termchat writes what it got.
    assert (home / name).read_bytes()[:4] == b"RIFF"
    assert written(home) == [name]


def test_long_text_split_and_joined_into_one_wav_on_stdout(cli, fake, home):
    text = " ".join(f"Sentence {i} says something quite ordinary here." for i in range(130))
    assert len(text) > 4096
    r = subprocess.run(
        [sys.executable, "-m", "termchat", "speak", "--format", "wav", "--voice", "sage",
         "--api-base", fake.base_url, "-o", "-"],
        input=text.encode(), capture_output=True, env=clean_env(home), cwd=home, timeout=120,
    )
    assert r.returncode == 0, r.stderr.decode()
    reqs = fake.requests_to(SPEECH)
    assert len(reqs) == 2
    inputs = [q.body["input"] for q in reqs]
    assert all(len(i) <= 4096 for i in inputs) and all(i.endswith("here.") for i in inputs)
    assert " ".join(inputs) == text  # in order, nothing lost, cut at a sentence end
    # One valid WAV whose frames are the parts' frames, in order.
    n, frames = wav_frames(r.stdout)
    parts = [wav_frames(make_wav(0.05 * len(i.split())))[1] for i in inputs]
    assert n == sum(len(p) for p in parts) // 2
    assert frames == b"".join(parts)
    assert written(home) == []


def test_play_through_portaudio_after_writing_the_file(cli, fake, home, file_device):
    env, played = file_device
    fake.script({"speech": {"duration": 0.5, "frequency": 330}})
    r = cli("speak", "Bonjour", "--play", "--api-base", fake.base_url, "-o", "bonjour.wav", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "bonjour.wav\n"
    n, frames = wav_frames((home / "bonjour.wav").read_bytes())
    assert n == 12000
    # What PortAudio played is exactly the file's samples (plus, possibly, trailing silence).
    got = played.read_bytes()
    assert got[: len(frames)] == frames
    assert got[len(frames):].strip(b"\x00") == b""


def test_ctrl_c_stops_playback(fake, home, tmp_path):
    fifo = tmp_path / "device.fifo"
    os.mkfifo(fifo)
    env = alsa_config(tmp_path, ALSA_FILE_CONF.format(path=fifo))
    # Read the "device" at real-time speed (24 kHz x 16-bit) so playback takes real time.
    got = bytearray()
    started = threading.Event()

    def sound_card() -> None:
        with open(fifo, "rb", buffering=0) as f:
            while chunk := f.read(4800):
                got.extend(chunk)
                started.set()
                time.sleep(0.1)

    reader = threading.Thread(target=sound_card, daemon=True)
    reader.start()
    fake.script({"speech": {"duration": 20}})
    proc = subprocess.Popen(
        [sys.executable, "-m", "termchat", "speak", "A long story.", "--play",
         "--api-base", fake.base_url, "-o", "story.wav"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(home, **env), cwd=home,
    )
    try:
        needs(started.wait(60), "PortAudio did not open the test ALSA device "
              "(is libportaudio2 with ALSA support installed?)")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        try:  # unblock the reader if the device was never opened
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert proc.returncode == 130, err
    assert "playback stopped" in one_line_error(err.decode())
    assert out.decode() == "story.wav\n"  # the file was written before playback began
    assert wav_frames((home / "story.wav").read_bytes())[0] == 20 * 24000
    assert 0 < len(got) < 20 * 24000 * 2 / 2  # stopped well before the end


def test_no_audio_device_is_a_clear_error_after_the_file(cli, fake, home, tmp_path):
    env = alsa_config(tmp_path, ALSA_NO_DEVICE_CONF)
    needs(portaudio_output(env, home) is None,
          "this machine has a real sound card that PortAudio finds anyway, so there is no "
          "machine without an output device to test")
    r = cli("speak", "Hello", "--play", "--api-base", fake.base_url, "-o", "hello.wav", env=env)
    assert r.returncode == 1
    assert "no audio output device" in one_line_error(r.stderr)
    assert r.stdout == "hello.wav\n" and written(home) == ["hello.wav"]
    # Without a file to keep, the device is checked before any request is made.
    before = len(fake.requests_to(SPEECH))
    r = cli("speak", "Hello", "--play", "--api-base", fake.base_url, env=env)
    assert r.returncode == 1 and "no audio output device" in r.stderr
    assert len(fake.requests_to(SPEECH)) == before


def test_refusals_before_any_request(cli, fake, home):
    (home / "taken.mp3").write_bytes(b"mine")
    long_text = "A sentence of text. " * 300
    base = ["--api-base", fake.base_url]
    cases = [
        (["speak", "hi", "--voice", "bob", *base], None, "unknown voice 'bob'"),
        (["speak", "", *base], None, "empty text"),
        (["speak", "hi", "-m", "tts-1", "--instructions", "whisper", *base], None, "does not take --instructions"),
        (["speak", "hi", "--speed", "9", *base], None, "--speed takes 0.25-4.0"),
        (["speak", "--format", "opus", *base], long_text, "opus files cannot be joined"),
        (["speak", "hi", "--play", *base, "-o", "x.mp3"], None, "--play can only play wav or pcm"),
        (["speak", "hi", "--format", "ogg", *base], None, "unknown audio format"),
        (["speak", "hi", *base, "-o", "taken.mp3"], None, "taken.mp3 already exists"),
        (["speak", "hi", "--format", "wav", *base, "-o", "x.mp3"], None, "-o names a .mp3 file but --format is wav"),
    ]
    for args, stdin, needle in cases:
        r = cli(*args, input=stdin, timeout=60)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in one_line_error(r.stderr), (args, r.stderr)
    code, _out, err = run_on_tty(home, "speak", "hi", *base, "-o", "-")
    assert code == 2 and "refusing to write audio to a terminal" in err
    assert fake.requests == []
    assert written(home) == ["taken.mp3"] and (home / "taken.mp3").read_bytes() == b"mine"


# ---------------------------------------------------------------------------------------------
# The core, in-process


async def test_core_speech_errors_are_mapped_once(home, fake):
    from termchat.config import load_config
    from termchat.core import errors
    from termchat.core.catalog import resolve_model
    from termchat.core.media import synthesize_speech
    from termchat.core.types import SpeechRequest

    cfg = load_config()
    cfg.overrides.update({"retries": 0, "timeout": 5.0})
    rm = resolve_model("tts", cfg, api_base=fake.base_url)
    for spec, cls in [({"error": 500}, errors.ProviderError), ({"error": 429}, errors.RateLimitError),
                      ({"error": 401}, errors.AuthenticationError)]:
        before = len(fake.requests_to(SPEECH))
        fake.script(spec, family="speech")
        with pytest.raises(cls):
            await synthesize_speech(SpeechRequest(rm.id, "hello"), cfg, rm)
        assert len(fake.requests_to(SPEECH)) == before + 1
    fake.script({"stall": 10}, family="speech")
    cfg.overrides["timeout"] = 0.5
    t0 = time.monotonic()
    with pytest.raises(errors.TimeoutError_, match="did not answer in time"):
        await synthesize_speech(SpeechRequest(rm.id, "hello"), cfg, rm)
    assert time.monotonic() - t0 < 3
    cfg.overrides["timeout"] = 5.0
    res = await synthesize_speech(SpeechRequest(rm.id, "hello", options={"response_format": "pcm"}), cfg, rm)
    assert res.content_type == "audio/pcm" and len(res.audio) == 0.05 * 24000 * 2
    assert res.model == "openai/gpt-4o-mini-tts"
