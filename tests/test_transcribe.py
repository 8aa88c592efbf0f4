"""Speech to text: the embedded model on real speech (espeak-ng), the provider path, splitting
at silences and a failure mid-way against the loopback server, output formats, bad input —
through the real ``termchat transcribe`` (subprocesses) and the client layer in-process."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import clean_env, needs, write_config
from tests.support.speech import SENTENCES, encode, espeak_available, join_with_silence, speak, wer

#: Word error rate the embedded model must stay within on clear espeak-ng speech (all the
#: sentences together; measured: 0.13 — "brown" -> "round", "Six spoons" -> "6th boom").
MAX_WER = 0.20


def _embedded() -> bool:
    from termchat.core import stt_local

    return stt_local.available()


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """espeak-ng WAVs of :data:`SENTENCES` (``s0``…), all of them with 0.8 s gaps (``long``,
    its gaps in ``long.gaps.json``), a silent WAV, and sentence 1 as MP3, OGG, FLAC, M4A
    (AAC) and WebM (Opus), encoded with PyAV."""
    needs(espeak_available(), "espeak-ng is not installed (apt-get install espeak-ng)")
    d = tmp_path_factory.mktemp("speech")
    out = {f"s{i}": speak(s, d / f"s{i}.wav") for i, s in enumerate(SENTENCES)}
    long, gaps = join_with_silence([p.read_bytes() for p in out.values()], 0.8)
    (d / "long.wav").write_bytes(long)
    (d / "long.gaps.json").write_text(json.dumps(gaps))
    out["long"] = d / "long.wav"
    from tests.support.speech import make_wav

    out["silent"] = d / "silent.wav"
    out["silent"].write_bytes(make_wav(b"\0\0" * 22050 * 2, 22050))
    for fmt in ("mp3", "ogg", "flac", "m4a", "webm"):
        out[fmt] = d / f"s1.{fmt}"
        out[fmt].write_bytes(encode(out["s1"].read_bytes(), fmt))
    return out


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("termchat: using ")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- the embedded model ---------------------------------------------------------------------


def test_embedded_model_transcribes_espeak_sentences_within_the_word_error_rate(voices):
    needs(_embedded(), "the voice-local extra is not installed")
    from termchat.client.local import LocalCore
    from termchat.client.transcribe import transcribe
    from termchat.core.types import TranscriptionRequest

    core = LocalCore(None)
    errors = words = 0
    for i, sentence in enumerate(SENTENCES):
        t = transcribe(core, TranscriptionRequest(model="local/whisper-tiny.en",
                                                  audio=voices[f"s{i}"].read_bytes(), filename="s.wav"))
        n = len(sentence.split())
        errors += round(wer(sentence, t.text) * n)
        words += n
        assert t.model == "local/whisper-tiny.en" and t.cost_usd == 0.0
        assert t.segments and t.segments[-1].end <= t.duration_s + 0.05
    assert errors / words <= MAX_WER, (errors, words)


def test_embedded_model_needs_no_litellm_and_no_network(voices, tmp_path):
    needs(_embedded(), "the voice-local extra is not installed")
    code = (
        "import sys, socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "from termchat.client.local import LocalCore\n"
        "from termchat.client.transcribe import transcribe\n"
        "from termchat.core.types import TranscriptionRequest\n"
        f"data = open({str(voices['s3'])!r}, 'rb').read()\n"
        "t = transcribe(LocalCore(None), TranscriptionRequest(model='', audio=data))\n"
        "print(t.text); print('litellm' in sys.modules)\n"
    )
    env = clean_env(tmp_path)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    text, litellm = r.stdout.strip().splitlines()
    assert wer(SENTENCES[3], text) <= MAX_WER
    assert litellm == "False"


@pytest.mark.parametrize("fmt", ["mp3", "ogg", "flac", "m4a", "webm"])
def test_cli_transcribes_every_format_with_the_embedded_model(cli, voices, fmt):
    needs(_embedded(), "the voice-local extra is not installed")
    r = cli("transcribe", str(voices[fmt]))
    assert r.returncode == 0, r.stderr
    assert wer(SENTENCES[1], r.stdout) <= MAX_WER
    assert "using local/whisper-tiny.en" in r.stderr  # picked, and said so


def test_cli_reads_standard_input(cli, voices):
    needs(_embedded(), "the voice-local extra is not installed")
    r = cli("transcribe", "-", "--format", "json", input=voices["s3"].read_bytes())
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert wer(SENTENCES[3], doc["text"]) <= MAX_WER
    assert doc["model"] == "local/whisper-tiny.en" and doc["segments"][0]["start"] == 0.0


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("what,data,message", [
    ("text", b"this is not audio at all\n" * 40, "not an audio file"),
    ("empty", b"", "empty"),
    ("silent", None, "silent"),
])
def test_bad_input_is_one_line_with_exit_2_and_nothing_written(cli, home, voices, what, data, message):
    path = home / f"in.{what}.wav"
    path.write_bytes(voices["silent"].read_bytes() if data is None else data)
    r = cli("transcribe", str(path), "-o", "out.txt")
    assert r.returncode == 2, r.stderr
    assert message in one_line(r.stderr)
    assert not (home / "out.txt").exists()


def test_missing_file_and_bad_format_are_usage_errors(cli, home):
    r = cli("transcribe", "nope.wav")
    assert r.returncode == 2 and "no such file" in one_line(r.stderr)
    (home / "a.wav").write_bytes(b"RIFF")
    r = cli("transcribe", "a.wav", "--format", "docx")
    assert r.returncode == 2 and "--format" in one_line(r.stderr)


# -- providers through the loopback server --------------------------------------------------


def provider(fake, *extra: str) -> list[str]:
    return ["-m", "openai/whisper-1", "--api-base", fake.base_url, *extra]


def test_provider_gets_the_file_as_is_with_language_and_prompt(cli, home, fake, voices):
    fake.script({"transcript": "hello world", "segments": [[0.0, 1.25, "hello"], [1.25, 3.5, "world"]]})
    r = cli("transcribe", str(voices["s1"]), *provider(fake, "--language", "en", "--prompt", "Stella", "--json"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["text"] == "hello world" and doc["parts"] == 1 and doc["failed_parts"] == []
    assert [s["end"] for s in doc["segments"]] == [1.25, 3.5]
    sent = fake.transcriptions[0]
    assert sent["size"] == voices["s1"].stat().st_size and sent["filename"] == "s1.wav"
    assert (sent["model"], sent["language"], sent["prompt"], sent["response_format"]) == (
        "whisper-1", "en", "Stella", "verbose_json")
    # whisper-1 is priced per second in the catalog: cost = seconds x price
    assert doc["cost_usd"] == pytest.approx(doc["duration_s"] * 0.0001, rel=1e-6)
    row = sqlite3.connect(home / "data" / "termchat.db").execute(
        "SELECT kind, model, cost_usd, parts FROM media_calls").fetchall()
    assert row == [("transcription", "openai/whisper-1", pytest.approx(doc["cost_usd"]), 1)]


@pytest.mark.parametrize("fmt,check", [
    ("srt", lambda out: out.startswith("1\n00:00:00,000 --> 00:00:01,250\nhello\n\n2\n00:00:01,250 --> 00:00:03,500\nworld")),
    ("vtt", lambda out: out.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nhello\n")),
    ("text", lambda out: out == "hello world\n"),
])
def test_output_formats_to_a_file_atomically_and_never_over_one(cli, home, fake, voices, fmt, check):
    fake.script({"transcript": "hello world", "segments": [[0.0, 1.25, "hello"], [1.25, 3.5, "world"]]})
    r = cli("transcribe", str(voices["s0"]), *provider(fake, "--format", fmt, "-o", f"out.{fmt}"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert check((home / f"out.{fmt}").read_text())
    r = cli("transcribe", str(voices["s0"]), *provider(fake, "--format", fmt, "-o", f"out.{fmt}"))
    assert r.returncode == 2 and "exists" in one_line(r.stderr)
    assert len(fake.transcriptions) == 1  # refused before anything was sent
    fake.script({"transcript": "again"})
    r = cli("transcribe", str(voices["s0"]), *provider(fake, "-o", f"out.{fmt}", "--force"))
    assert r.returncode == 0 and (home / f"out.{fmt}").read_text() == "again\n"


def _split_config(home: Path, limit: int) -> None:
    write_config(home, f"retries = 0\n[transcription]\nmax_upload_bytes = {limit}\n")


def test_long_audio_is_split_at_silences_and_joined_in_order(cli, home, fake, voices):
    limit = 200_000  # ~6 s of 16 kHz WAV per part: each sentence and its gap fit
    _split_config(home, limit)
    r = cli("transcribe", str(voices["long"]), *provider(fake, "--json"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    sent = fake.transcriptions
    assert len(sent) == doc["parts"] >= 3
    assert all(s["size"] <= limit for s in sent)
    assert voices["long"].stat().st_size > limit
    assert doc["text"] == " ".join(f"Transcript {i}." for i in range(1, len(sent) + 1))
    # every cut is inside one of the silent gaps between sentences
    gaps = json.loads(voices["long"].with_suffix(".gaps.json").read_text())
    cut = 0.0
    for s in sent[:-1]:
        cut += s["duration"]
        assert any(a - 0.03 <= cut <= b + 0.03 for a, b in gaps), (cut, gaps)
    # segment times are on the whole file's clock, in order
    starts = [s["start"] for s in doc["segments"]]
    assert starts == sorted(starts) and starts[1] == pytest.approx(sent[0]["duration"], abs=0.01)
    assert doc["duration_s"] == pytest.approx(sum(s["duration"] for s in sent), abs=0.05)


def test_a_part_failing_mid_way_keeps_the_others_and_writes_nothing(cli, home, fake, voices):
    _split_config(home, 200_000)
    fake.script({"transcript": "first"})
    fake.script({"error": 400, "message": "bad part"}, family="transcription")
    r = cli("transcribe", str(voices["long"]), *provider(fake, "--json", "-o", "out.txt"))
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["failed_parts"] == [2] and doc["parts"] == len(fake.transcriptions) >= 3
    assert doc["text"].startswith("first Transcript 3.")
    assert doc["error"]["exit_code"] == 1 and "part 2" in doc["error"]["message"]
    assert doc["output"] is None and not (home / "out.txt").exists()
    assert "bad part" in one_line(r.stderr)
    row = sqlite3.connect(home / "data" / "termchat.db").execute(
        "SELECT failed_parts, error FROM media_calls").fetchone()
    assert json.loads(row[0]) == [2] and "bad part" in row[1]


def test_plain_output_keeps_the_parts_done_and_stops_on_a_refused_key(cli, home, fake, voices):
    _split_config(home, 200_000)
    fake.script({"transcript": "first"})
    fake.script({"error": 401}, family="transcription")
    r = cli("transcribe", str(voices["long"]), *provider(fake))
    assert r.returncode == 3, r.stderr
    assert r.stdout == "first\n"
    assert len(fake.transcriptions) == 2  # no more parts sent after the key was refused


def test_provider_413_is_one_line_error(cli, fake, voices):
    fake.max_upload_bytes = 1000
    r = cli("transcribe", str(voices["s1"]), *provider(fake))
    assert r.returncode == 1
    assert "too large" in one_line(r.stderr) and "max_upload_bytes" in r.stderr
    assert len(fake.transcriptions) == 1 and fake.transcriptions[0]["size"] > 1000  # not retried


# -- the warm core --------------------------------------------------------------------------


def test_transcribe_through_the_warm_core(whome, fake, voices):
    needs(_embedded(), "the voice-local extra is not installed")
    env = clean_env(whome)
    env.pop("TERMCHAT_NO_WARM")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "termchat", *args], capture_output=True,
                              text=True, env=env, timeout=120, cwd=str(whome))

    r = run("transcribe", str(voices["s3"]))  # in-process; starts a warm core for next time
    assert r.returncode == 0 and wer(SENTENCES[3], r.stdout) <= MAX_WER, r.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "running" not in run("warm", "status").stdout:
        time.sleep(0.5)
    # preload: the model is loaded in the warm core (once), not in the client
    code = ("import sys\nfrom termchat.client import Core\nfrom termchat.client.transcribe import preload\n"
            "from termchat.config import load_config\nfrom termchat.core.transcribe import resolve_transcription_model\n"
            "core = Core(load_config(), start_after=False)\nrm = preload(core)\n"
            "print(rm.id, core.warm_core().load_stt(rm), core.fell_back, 'faster_whisper' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["local/whisper-tiny.en", "0.0", "False", "False"]
    r = run("transcribe", str(voices["s3"]), "--json")
    assert r.returncode == 0, r.stderr
    assert wer(SENTENCES[3], json.loads(r.stdout)["text"]) <= MAX_WER
    fake.script({"transcript": "from the warm core"})
    r = run("transcribe", str(voices["s0"]), *provider(fake))
    assert r.returncode == 0 and r.stdout == "from the warm core\n", r.stderr
    status = run("warm", "status")
    assert "4 requests" in status.stdout, status.stdout  # 2 preloads, 2 transcriptions


def test_preload_in_process_loads_the_embedded_model_once(home):
    needs(_embedded(), "the voice-local extra is not installed")
    from termchat.client.local import LocalCore
    from termchat.client.transcribe import preload
    from termchat.core import stt_local

    core = LocalCore(None)
    rm = preload(core)
    assert rm.id == "local/whisper-tiny.en"
    assert stt_local.is_loaded(rm.id)
    assert core.load_stt(rm) == 0.0  # already loaded: nothing to wait for


def test_warm_protocol_takes_transcribe_and_refuses_bad_audio():
    from termchat import __version__
    from termchat.warm_protocol import PROTOCOL, ProtocolError
    from termchat.warm_server import _build, _transcription_from, parse_request

    msg = {"op": "transcribe", "version": __version__, "protocol": PROTOCOL,
           "request": {"model": "local/whisper-tiny.en", "audio": "UklGRg==", "filename": "a.wav"},
           "model": {"id": "local/whisper-tiny.en", "provider": "local",
                     "litellm_model": "local/whisper-tiny.en", "info": {}}}
    parsed = parse_request(json.dumps(msg).encode())
    req = _build(_transcription_from, parsed["request"], "transcribe.request")
    assert req.audio == b"RIFF" and req.filename == "a.wav"
    with pytest.raises(ProtocolError):
        _build(_transcription_from, {**msg["request"], "audio": "not base64!"}, "transcribe.request")
    with pytest.raises(ProtocolError):
        parse_request(json.dumps({**msg, "request": {**msg["request"], "audio": 5}}).encode())


# -- the pieces -----------------------------------------------------------------------------


def test_split_ranges_cut_at_the_quietest_window():
    import numpy as np

    from termchat.media.audiosplit import RATE, split_ranges

    rng = np.random.default_rng(1)
    loud = (rng.standard_normal(RATE * 10) * 8000).astype(np.int16)
    loud[int(RATE * 4.2):int(RATE * 4.5)] = 0  # a pause at 4.2-4.5 s
    loud[int(RATE * 8.6):int(RATE * 8.9)] = 0  # and one at 8.6-8.9 s
    ranges = split_ranges(loud, RATE * 5)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(loud)
    assert all(a == pb for (_, pb), (a, _) in itertools.pairwise(ranges))
    cuts = [b / RATE for _, b in ranges[:-1]]
    assert 4.2 <= cuts[0] <= 4.5 and 8.6 <= cuts[1] <= 8.9
    assert all(b - a <= RATE * 5 for a, b in ranges)


def test_default_model_chain(home, monkeypatch):
    from termchat.client.transcribe import pick_transcription_model
    from termchat.config import load_config

    cfg = load_config()
    assert pick_transcription_model(cfg, "gpt") == ("gpt", "")
    if _embedded():
        assert pick_transcription_model(cfg)[0] == "local/whisper-tiny.en"
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test-123456")
    name, why = pick_transcription_model(cfg)
    assert name == "groq/whisper-large-v3-turbo" and "groq" in why
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123456")
    assert pick_transcription_model(cfg)[0] == "openai/whisper-1"
    write_config(home, '[transcription]\nmodel = "local/whisper-tiny.en"\n')
    assert pick_transcription_model(load_config()) == ("local/whisper-tiny.en", "")


# -- models and doctor ----------------------------------------------------------------------


def test_models_mode_transcription_lists_the_embedded_model_first(cli):
    needs(_embedded(), "the voice-local extra is not installed")
    r = cli("models", "--mode", "transcription")
    assert r.returncode == 0, r.stderr
    ids = [ln.split("\t")[0] for ln in r.stdout.splitlines()]
    assert ids[0] == "local/whisper-tiny.en"
    assert "openai/whisper-1" in ids or "whisper-1" in ids
    assert "local/whisper-tiny.en" not in cli("models", "--mode", "chat").stdout
    info = json.loads(cli("models", "info", "local/whisper-tiny.en", "--json").stdout)
    assert (info["mode"], info["source"], info["live"]) == ("audio_transcription", "embedded", True)


def _doctor(cli, tmp_path: Path, conf: str) -> dict[str, dict]:
    (tmp_path / "asound.conf").write_text(conf)
    r = cli("doctor", "--json", env={"ALSA_CONFIG_PATH": str(tmp_path / "asound.conf")})
    return {c["name"]: c for c in json.loads(r.stdout)["checks"]}


def test_doctor_reports_input_devices_and_the_speech_to_text_model(cli, tmp_path):
    from tests.support.alsa_mic import ALSA_MIC_CONF, ALSA_NO_DEVICE_CONF

    needs(_embedded(), "the voice-local extra is not installed")
    (tmp_path / "mic.raw").write_bytes(b"\0" * 32000)
    checks = _doctor(cli, tmp_path, ALSA_MIC_CONF.format(infile=tmp_path / "mic.raw"))
    assert checks["microphone"]["status"] == "ok"
    assert "default" in checks["microphone"]["message"]
    assert checks["speech-to-text"]["status"] == "ok"
    assert "local/whisper-tiny.en installed" in checks["speech-to-text"]["message"]
    assert checks["transcription model"]["message"].startswith("local/whisper-tiny.en")
    checks = _doctor(cli, tmp_path, ALSA_NO_DEVICE_CONF)
    assert checks["microphone"]["status"] == "warn" and checks["microphone"]["fix"]


def test_progress_bar_on_a_terminal_only(home, fake, voices):
    """A split file shows a Rich progress bar when stderr is a terminal; into a pipe stderr
    gets no bar (the pipe case is every other test here)."""
    import os
    import pty

    from tests.support.tty import read_terminal

    _split_config(home, 200_000)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "termchat", "transcribe", str(voices["long"]), *provider(fake)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
        env=clean_env(home, TERM="xterm-256color", NO_COLOR="1"), cwd=str(home))
    os.close(slave)
    terminal = read_terminal(master, proc, 120).decode("utf-8", "replace")
    out = proc.stdout.read().decode()
    proc.stdout.close()
    parts = len(fake.transcriptions)
    assert proc.returncode == 0, terminal
    assert f"({parts} parts)" in terminal and f"{parts}/{parts}" in terminal
    assert out == " ".join(f"Transcript {i}." for i in range(1, parts + 1)) + "\n"
