"""Real speech for the speech-to-text tests and benchmarks: espeak-ng (Debian) speaks known
sentences to WAV; PyAV encodes MP3/OGG; :func:`wer` scores a transcript.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import wave
from pathlib import Path

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "Six spoons of fresh snow peas and a big blue cheese for her brother.",
    "We also need a small plastic snake and a big toy frog for the kids.",
]


def espeak_available() -> bool:
    """Whether ``espeak-ng`` is on PATH."""
    return shutil.which("espeak-ng") is not None


def speak(text: str, path: Path, *, speed: int = 150) -> Path:
    """``text`` spoken by espeak-ng (its default English voice, ``speed`` words per minute) into
    the WAV file ``path`` (22.05 kHz, 16-bit, mono); returns ``path``."""
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(path), text], check=True,
                   capture_output=True, timeout=60)
    return path


def wav_params(data: bytes) -> tuple[int, int, bytes]:
    """``(rate, sample width, frames)`` of WAV bytes (mono expected)."""
    with wave.open(io.BytesIO(data)) as w:
        return w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())


def join_with_silence(wavs: list[bytes], gap_s: float) -> tuple[bytes, list[tuple[float, float]]]:
    """One WAV of ``wavs`` (same rate/width, mono) with ``gap_s`` seconds of digital silence
    between them; also returns the gaps as ``(start, end)`` seconds."""
    rate, width, _ = wav_params(wavs[0])
    silence = b"\0" * int(rate * gap_s) * width
    frames, gaps, t = b"", [], 0.0
    for i, data in enumerate(wavs):
        _, _, f = wav_params(data)
        frames += f
        t += len(f) / width / rate
        if i < len(wavs) - 1:
            frames += silence
            gaps.append((t, t + gap_s))
            t += gap_s
    return make_wav(frames, rate, width), gaps


def make_wav(frames: bytes, rate: int, width: int = 2) -> bytes:
    """Mono WAV bytes of raw ``frames``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


#: Test formats -> (PyAV container, codec); ``ogg`` takes Vorbis when FFmpeg has it.
CONTAINERS = {"mp3": ("mp3", "libmp3lame"), "ogg": ("ogg", "libvorbis"), "flac": ("flac", "flac"),
              "m4a": ("ipod", "aac"), "webm": ("webm", "libopus")}


def encode(wav: bytes, fmt: str) -> bytes:
    """``wav`` re-encoded with PyAV as ``mp3``, ``ogg`` (Vorbis, else Opus), ``flac``, ``m4a``
    (AAC) or ``webm`` (Opus)."""
    import av

    container, codec = CONTAINERS[fmt]
    if codec not in av.codecs_available:
        codec = "libopus"
    out = io.BytesIO()
    with av.open(io.BytesIO(wav)) as src, av.open(out, mode="w", format=container) as dst:
        rate = 48000 if codec == "libopus" else 22050
        stream = dst.add_stream(codec, rate=rate)
        stream.layout = "mono"
        resampler = av.AudioResampler(format=stream.format.name if stream.format else "s16p",
                                      layout="mono", rate=rate)
        for frame in src.decode(audio=0):
            frame.pts = None
            for f in resampler.resample(frame):
                for packet in stream.encode(f):
                    dst.mux(packet)
        for f in resampler.resample(None):
            for packet in stream.encode(f):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out.getvalue()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words, on
    lower-cased words without punctuation (Levenshtein distance over words)."""
    ref, hyp = _words(reference), _words(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / max(1, len(ref))
