"""Benchmark (voice issue): end of speech -> transcript in the chat app's prompt, embedded model,
a 5 s utterance; goal <= 1.5 s.

The real app runs headless (Textual's Pilot, tests/tui/voice_scenarios.py) on a real
PortAudio/ALSA capture device that plays espeak-ng speech (about 5 s, then room tone) in real
time through a FIFO. F5 records; the recording ends 1 s after the speech (the pause detector);
meanwhile the model is loaded where it will run (``client.transcribe.preload``). What is timed
is what the app adds once the recording has ended (``ChatApp.voice_latency``: the last block read -> the transcript
set in the prompt: WAV, the client layer, the embedded Whisper, the UI). That is "end of speech
-> prompt" when the user ends the recording with F5; stopped by silence, the configured
``voice.silence_seconds`` (1.2 s by default) comes before it.

Two set-ups, each a fresh app doing N recordings in a row: the warm core (the default: the
model is loaded once in the core process and stays loaded) and ``--no-warm`` (the model is
loaded in the app's process). The first recording of each loads the model while the speech
plays (it is ready or not by the end of it); the median of the others is the steady figure.

    python bench/bench_voice.py [N]      # N recordings per set-up (default 5)

Needs espeak-ng and the voice-local extra.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, bench_env, compile_sources, load_average, median

sys.path.insert(0, str(ROOT))

GOAL_S = 1.5
TEXT = ("The quarterly report is due on Friday, so please send me your numbers "
        "before Thursday evening.")


def utterance(d: Path) -> tuple[bytes, float]:
    """~5 s of espeak-ng speech as 16 kHz PCM after 0.5 s of room tone; the speech's length in
    seconds."""
    from tests.support.alsa_mic import espeak_pcm, room_tone

    speech = espeak_pcm(TEXT, d)
    return room_tone(0.5) + speech, len(speech) / 2 / 16000


def direct_whisper(wav: Path) -> float:
    """Seconds faster-whisper takes on the same audio with the same model, loaded first."""
    code = f"""
import time
from termchat.core import stt_local
from faster_whisper import WhisperModel
m = WhisperModel(str(stt_local.model_dir(stt_local.EMBEDDED_STT_MODEL)), device="cpu", compute_type="int8", local_files_only=True)
list(m.transcribe({str(wav)!r})[0])
t = time.perf_counter()
list(m.transcribe({str(wav)!r})[0])
print(time.perf_counter() - t)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def run(setup: str, pcm: bytes, n: int) -> dict:
    from tests.support.alsa_mic import PacedMic

    home = Path(tempfile.mkdtemp(prefix="tcv", dir="/tmp"))
    mic = PacedMic(home, pcm, quiet_after=True)  # real time: speech, then room tone
    env = bench_env(home, **mic.env)
    env["TERMCHAT_NO_WARM"] = "0" if setup == "warm" else "1"
    args = {"base_url": "http://127.0.0.1:9/v1", "repeat": n, "warm": setup == "warm",
            "config": "[voice]\nsilence_seconds = 1.0\n"}
    try:
        r = subprocess.run([sys.executable, "-m", "tests.tui.voice_scenarios", "bench", json.dumps(args)],
                           capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=900)
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"{setup}: the scenario failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        return json.loads(line[len("RESULT "):])
    finally:
        mic.close()
        subprocess.run([sys.executable, "-m", "termchat", "warm", "stop"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    compile_sources()
    d = Path(tempfile.mkdtemp(prefix="tcvb"))
    pcm, seconds = utterance(d)
    from termchat.media import PcmFormat, make_wav

    wav = d / "utterance.wav"
    wav.write_bytes(make_wav(PcmFormat(1, 2, 16000), pcm))
    print(f"utterance: {seconds:.2f} s of espeak-ng speech ({TEXT!r}); load {load_average()}")
    floor = direct_whisper(wav)
    print(f"faster-whisper alone on the same audio (model loaded): {floor:.3f} s")
    print()
    print(f"| set-up | first recording (the model loads while the user speaks) | median of the next {n - 1} | goal | ratio to goal | ratio to faster-whisper alone |")
    print("|---|---|---|---|---|---|")
    for setup in ("warm", "in-process"):
        t0 = time.perf_counter()
        out = run(setup, pcm, n)
        lat = [x for x in out["latencies"] if x is not None]
        if len(lat) != n:
            raise SystemExit(f"{setup}: {n - len(lat)} recordings failed: {out['notes']}")
        steady = median(lat[1:]) if n > 1 else lat[0]
        print(f"| {setup} | {lat[0]:.3f} s | {steady:.3f} s | ≤ {GOAL_S} s | "
              f"{steady / GOAL_S:.2f} | {steady / floor:.2f}× |")
        print(f"|   ({setup}: {out['prompts'][-1]!r}; all: {', '.join(f'{x:.3f}' for x in lat)};"
              f" {time.perf_counter() - t0:.0f} s) | | | | | |", file=sys.stderr)
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
