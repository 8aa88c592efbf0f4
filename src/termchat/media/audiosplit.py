"""Audio files for speech-to-text: what format a file is (:func:`sniff_audio`), its samples
(:func:`decode_pcm`, PyAV), whether it is silent (:func:`is_silent`), and cutting it at
silences into parts small enough for a provider (:func:`split_ranges`, :func:`wav_part`).

PyAV (``av``, FFmpeg's libraries in a wheel) comes with the ``voice-local`` extra; it is
imported inside :func:`decode_pcm` only. NumPy likewise.
"""

from __future__ import annotations

import io
import wave
from typing import Any

from ..core.errors import ConfigError, UsageError

#: Sample rate parts are decoded and re-encoded at (Hz): speech models resample to 16 kHz.
RATE = 16000
#: Bytes per second of a part (16-bit mono WAV at :data:`RATE`).
PART_BYTES_PER_S = RATE * 2
#: Length of one loudness window, in seconds.
WINDOW_S = 0.03
#: Span over which loudness is averaged to find a pause to cut at, in seconds.
PAUSE_S = 0.3
#: Loudest window (RMS, full scale 1.0) below which audio is silent (-50 dBFS).
SILENCE_RMS = 10 ** (-50 / 20)

_MIMES = {"wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4", "ogg": "audio/ogg",
          "webm": "audio/webm", "flac": "audio/flac"}


def sniff_audio(data: bytes) -> str | None:
    """The container of ``data`` from its first bytes: ``wav``, ``mp3``, ``m4a``, ``ogg``,
    ``webm``, ``flac``, or ``None`` when it looks like none of them."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def mime_for(fmt: str | None) -> str | None:
    """The MIME type of a :func:`sniff_audio` format, or ``None``."""
    return _MIMES.get(fmt or "")


def av_available() -> bool:
    """Whether PyAV and NumPy are installed (``find_spec``; neither is imported)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("av", "numpy"))


def decode_pcm(data: bytes) -> Any:
    """``data`` (any format FFmpeg decodes) as int16 mono samples at :data:`RATE` (a NumPy
    array), through PyAV.

    Raises:
        UsageError: empty input, not audio, or no audio samples in it (exit 2).
        ConfigError: PyAV is not installed (exit 3).
    """
    if not data:
        raise UsageError("the audio is empty (0 bytes)")
    try:
        import av
        import numpy as np
    except ImportError:
        raise ConfigError("reading audio needs PyAV", hint="pip install 'termchat[voice-local]'") from None
    chunks: list[Any] = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise UsageError("the file holds no audio stream",
                                 hint="give a wav, mp3, m4a, ogg, webm or flac file")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except UsageError:
        raise
    except Exception as exc:  # PyAV's FFmpeg errors: the bytes are not audio it can read
        raise UsageError(f"not an audio file termchat can read ({type(exc).__name__})",
                         hint="give a wav, mp3, m4a, ogg, webm or flac file") from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    if len(samples) == 0:
        raise UsageError("the audio holds no sound (0 samples)")
    return samples.astype(np.int16, copy=False)


def _window_rms(samples: Any) -> Any:
    import numpy as np

    win = max(1, int(RATE * WINDOW_S))
    n = max(1, len(samples) // win)
    x = np.zeros(n * win, dtype=np.float32)
    part = np.asarray(samples[: n * win], dtype=np.float32) / 32768.0
    x[: len(part)] = part
    return np.sqrt(np.mean(np.square(x.reshape(n, win)), axis=1))


def is_silent(samples: Any) -> bool:
    """Whether no 30 ms window of the int16 ``samples`` is louder than :data:`SILENCE_RMS`."""
    return len(samples) == 0 or float(_window_rms(samples).max()) < SILENCE_RMS


def split_ranges(samples: Any, max_samples: int) -> list[tuple[int, int]]:
    """Cut ``samples`` into ``(start, end)`` sample ranges of at most ``max_samples`` each,
    in order and covering everything. Each cut is made in the middle of the quietest stretch
    (lowest RMS energy of 30 ms windows averaged over :data:`PAUSE_S`; the latest of equals)
    in the second half of the allowed stretch, so that a pause between sentences is preferred
    to one between words, and words are not cut where there is a pause to cut at."""
    import numpy as np

    win = max(1, int(RATE * WINDOW_S))
    rms = _window_rms(samples)
    # Loudness around each window (a moving mean over PAUSE_S): a long pause between
    # sentences scores lower than a short one between words.
    k = max(1, int(PAUSE_S / WINDOW_S))
    rms = np.convolve(rms, np.ones(k) / k, mode="same")
    ranges: list[tuple[int, int]] = []
    start, total = 0, len(samples)
    while total - start > max_samples:
        lo = (start + max_samples // 2) // win
        hi = max(lo + 1, (start + max_samples) // win)  # windows that end within the stretch
        seg = rms[lo:hi]
        if len(seg) == 0:
            cut = start + max_samples
        else:
            rev = seg[::-1]
            best = len(seg) - 1 - int(rev.argmin())
            cut = min((lo + best) * win + win // 2, start + max_samples)
        cut = max(cut, start + 1)
        ranges.append((start, cut))
        start = cut
    ranges.append((start, total))
    return ranges


def max_part_samples(limit_bytes: int) -> int:
    """Samples one WAV part (:func:`wav_part`) may hold to stay within ``limit_bytes``
    (the 44-byte header and a 2 % margin taken off). Raises ``UsageError`` when the limit
    cannot hold one second."""
    n = int((limit_bytes - 44) * 0.98) // 2
    if n < RATE:
        raise UsageError(f"an upload limit of {limit_bytes} bytes cannot hold one second of audio")
    return n


def wav_part(samples: Any) -> bytes:
    """The int16 mono ``samples`` at :data:`RATE` as WAV file bytes (stdlib :mod:`wave`)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    return buf.getvalue()
