"""Benchmark (voice issue): speech to text with the embedded model on ~10 s of espeak-ng speech.

1. real-time factor of termchat's embedded transcription (``termchat.client.transcribe`` on the
   in-process core: decode and check the audio, transcribe with ``local/whisper-tiny.en``)
   — goal <= 0.2 (10 s of speech in <= 2 s);
2. the same call vs ``faster-whisper`` called directly on the same file and the same model
   directory (``WhisperModel(dir, device="cpu", compute_type="int8").transcribe(path)``)
   — goal <= 1.2x;
3. the warm core's overhead: the same request through the warm core (``WarmCore``: the audio
   base64 over its Unix socket, the model kept loaded there) minus the in-process call
   — goal <= 50 ms; the transport alone (the same number of bytes, refused at once by the
   core's decoder, so no transcription on either side); and the whole ``termchat transcribe
   FILE`` command with a warm core, for reference.

    python bench/bench_transcribe.py [N]     # N alternating rounds (default 5)

Needs espeak-ng and the voice-local extra. Both models are loaded before timing starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ROOT,
    alternate,
    bench_env,
    compile_sources,
    load_average,
    median,
    run_timed,
    termchat_cmd,
)

sys.path.insert(0, str(ROOT))


def make_speech(d: Path) -> tuple[Path, float]:
    """~10 s of espeak-ng speech (three sentences, 0.3 s apart) as a WAV; its length in s."""
    from tests.support.speech import SENTENCES, join_with_silence, speak

    parts = [speak(s, d / f"s{i}.wav").read_bytes() for i, s in enumerate(SENTENCES[:3])]
    data, _ = join_with_silence(parts, 0.3)
    path = d / "speech.wav"
    path.write_bytes(data)
    import wave

    with wave.open(str(path)) as w:
        return path, w.getnframes() / w.getframerate()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    compile_sources()
    env = bench_env()
    os.environ.update({k: v for k, v in env.items() if k.startswith(("TERMCHAT", "OLLAMA"))})
    os.environ.pop("TERMCHAT_NO_WARM", None)

    from termchat.client.local import LocalCore
    from termchat.client.transcribe import transcribe
    from termchat.client.warm_core import WarmCore
    from termchat.config import load_config
    from termchat.core import stt_local
    from termchat.core.types import TranscriptionRequest

    d = Path(tempfile.mkdtemp(prefix="tcbs"))
    path, seconds = make_speech(d)
    audio = path.read_bytes()
    model_id = stt_local.EMBEDDED_STT_MODEL
    req = TranscriptionRequest(model=model_id, audio=audio, filename="speech.wav")
    config = load_config()
    local = LocalCore(config)

    from faster_whisper import WhisperModel

    direct_model = WhisperModel(str(stt_local.model_dir(model_id)), device="cpu",
                                compute_type="int8", local_files_only=True)

    def ours() -> float:
        t0 = time.perf_counter()
        transcribe(local, req)
        return time.perf_counter() - t0

    def direct() -> float:
        t0 = time.perf_counter()
        segments, _ = direct_model.transcribe(str(path))
        list(segments)
        return time.perf_counter() - t0

    text = transcribe(local, req).text  # loads termchat's copy of the model
    direct()  # and warms the direct one
    samples = alternate(n, {"termchat": ours, "direct": direct})
    m_ours, m_direct = median(samples["termchat"]), median(samples["direct"])

    # The warm core: start one for this environment and wait until it serves.
    from termchat import warm

    sock = warm.socket_path()
    warm.start_background(600.0, sock)
    deadline = time.monotonic() + 90
    while not warm.reachable(sock) and time.monotonic() < deadline:
        time.sleep(0.2)
    remote = WarmCore(config, sock)
    transcribe(remote, req)  # loads the model in the warm core

    def via_warm() -> float:
        t0 = time.perf_counter()
        transcribe(remote, req)
        return time.perf_counter() - t0

    # The transport alone: the same number of bytes, which the core's decoder refuses at once
    # (no transcription), sent straight to each core's ``transcribe``.
    junk = TranscriptionRequest(model=model_id, audio=b"\x01" * len(audio), filename="x.wav")
    from termchat.core.transcribe import resolve_transcription_model

    rm = resolve_transcription_model(model_id, config)

    def refused(core: object) -> float:
        t0 = time.perf_counter()
        try:
            core.transcribe(junk, rm)  # type: ignore[attr-defined]
        except Exception:
            pass
        return time.perf_counter() - t0

    transport = alternate(max(n, 15), {"warm": lambda: refused(remote), "local": lambda: refused(local)})

    cmd = [*termchat_cmd(), "transcribe", str(path)]
    wenv = dict(os.environ)
    warm_samples = alternate(n, {"warm": via_warm, "local": ours,
                                 "cli": lambda: run_timed(cmd, wenv)})
    m_warm, m_local = median(warm_samples["warm"]), median(warm_samples["local"])
    m_cli = median(warm_samples["cli"])
    subprocess.run([*termchat_cmd(), "warm", "stop"], env=wenv, capture_output=True)

    print(f"load average {load_average()}; {seconds:.2f} s of espeak-ng speech; {n} rounds; "
          f"transcript: {text!r}")
    print(f"{'measure':<58} {'termchat':>10} {'baseline':>10} {'ratio':>7}  goal")
    print(f"{'embedded transcription, real-time factor':<58} {m_ours / seconds:>10.3f} "
          f"{'':>10} {'':>7}  <= 0.2  ({m_ours:.3f} s for {seconds:.2f} s)")
    print(f"{'vs faster-whisper directly (same file, same model), s':<58} {m_ours:>10.3f} "
          f"{m_direct:>10.3f} {m_ours / m_direct:>7.2f}  <= 1.2x")
    print(f"{'through the warm core vs in-process call, s':<58} {m_warm:>10.3f} "
          f"{m_local:>10.3f} {m_warm / m_local:>7.2f}  overhead {1000 * (m_warm - m_local):+.0f} ms "
          f"(<= 50 ms)")
    print(f"{'  same, fastest of each (less noise from other load), s':<58} "
          f"{min(warm_samples['warm']):>10.3f} {min(warm_samples['local']):>10.3f} "
          f"{min(warm_samples['warm']) / min(warm_samples['local']):>7.2f}  overhead "
          f"{1000 * (min(warm_samples['warm']) - min(warm_samples['local'])):+.0f} ms")
    t_warm, t_local = median(transport["warm"]), median(transport["local"])
    print(f"{'  transport only (same bytes, refused by the decoder), s':<58} {t_warm:>10.4f} "
          f"{t_local:>10.4f} {t_warm / t_local:>7.2f}  overhead {1000 * (t_warm - t_local):+.1f} ms")
    print(f"{'whole `termchat transcribe FILE`, warm core, s':<58} {m_cli:>10.3f}")
    for name, xs in (*samples.items(), *warm_samples.items()):
        print(f"  samples {name}: " + " ".join(f"{x:.3f}" for x in xs))


if __name__ == "__main__":
    main()
