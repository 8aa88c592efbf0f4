"""The speech-to-text pipeline, one for both fronts (``termchat transcribe``, ``ask --voice``,
``termchat listen``, the chat app's voice mode).

:func:`transcribe` picks the model when none is asked for (:func:`pick_transcription_model`),
checks the audio (not empty, audio, not silent), sends it to the core (warm or in-process) as
one request — or, when it is larger than the provider takes
(:func:`termchat.core.transcribe.upload_limit`), cut at silences into parts sent in order, whose
texts are joined and whose segment times are moved to the whole file's clock. A part that fails
does not lose the others: :class:`PartialTranscription` carries what was transcribed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..core.errors import ConfigError, TermchatError, UsageError
from .base import CoreClient, Notify

#: Receives ``(parts done, parts in all)`` after each part of a split file.
Progress = Callable[[int, int], None]


class PartialTranscription(TermchatError):
    """Some parts of a split file failed. ``transcript`` holds the parts that were transcribed
    (``failed_parts`` names the others, 1-based); ``cause`` is the first part's error, whose
    exit code this error takes."""

    kind = "partial_transcription"

    def __init__(self, transcript: Any, cause: TermchatError):
        failed = transcript.failed_parts
        super().__init__(
            f"{len(failed)} of {transcript.parts} parts failed (part {failed[0]}: {cause.message})",
            cause.hint or "the parts that were transcribed are kept",
        )
        self.transcript = transcript
        self.cause = cause
        self.exit_code = cause.exit_code  # type: ignore[misc]


def pick_transcription_model(config: Any, name: str | None = None,
                             env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The transcription model to use and why: ``name`` (``-m``) > config
    ``transcription.model`` > a provider whose key is set
    (:data:`termchat.core.transcribe.DEFAULT_STT_BY_KEY`) > the embedded model. ``why`` is
    ``""`` when the user chose it, else a sentence for stderr.

    Raises:
        ConfigError: no key is set and the embedded model is not installed (exit 3).
    """
    from ..core import stt_local
    from ..core.keys import read_keys, resolve_key
    from ..core.transcribe import DEFAULT_STT_BY_KEY

    if name:
        return name, ""
    configured = config.get("transcription.model") if config is not None else None
    if configured:
        return str(configured), ""
    env = os.environ if env is None else env
    keys = read_keys()
    for provider, model in DEFAULT_STT_BY_KEY:
        key, source = resolve_key(provider, env=env, keys=keys)
        if key:
            return model, f"the {provider} key is set ({source})"
    if stt_local.available():
        return stt_local.EMBEDDED_STT_MODEL, "no provider key is set; using the embedded model"
    raise ConfigError(
        "no transcription model: no provider key is set and the embedded model is not installed",
        hint=f"run `termchat keys set openai`, or {stt_local.INSTALL_HINT} for the offline model",
    )


@dataclass
class _Part:
    audio: bytes
    filename: str
    offset_s: float
    duration_s: float | None


def _check(req: Any, embedded: bool) -> tuple[str | None, Any]:
    """The audio's format and its decoded samples (``None`` without PyAV, and for the
    embedded model, which decodes and checks the audio itself: decoding once is faster)."""
    from ..media.audiosplit import av_available, decode_pcm, is_silent, sniff_audio

    if not req.audio:
        raise UsageError("the audio is empty (0 bytes)")
    fmt = sniff_audio(req.audio)
    if embedded:
        return fmt, None
    if not av_available():
        if fmt is None:
            raise UsageError("not an audio file termchat can read",
                             hint="give a wav, mp3, m4a, ogg, webm or flac file")
        return fmt, None
    samples = decode_pcm(req.audio)
    if is_silent(samples):
        raise UsageError("the audio is silent: no speech to transcribe")
    return fmt, samples


def _parts(req: Any, rm: Any, samples: Any, limit: int | None) -> list[_Part]:
    from ..media.audiosplit import RATE, max_part_samples, split_ranges, wav_part

    whole = len(samples) / RATE if samples is not None else None
    if limit is None or len(req.audio) <= limit:
        return [_Part(req.audio, req.filename, 0.0, whole)]
    if samples is None:
        raise ConfigError(
            f"the audio ({len(req.audio):,} bytes) is larger than {rm.provider} takes "
            f"({limit:,} bytes) and cutting it needs PyAV",
            hint="pip install 'termchat[voice-local]'",
        )
    stem = os.path.splitext(req.filename)[0] or "audio"
    return [
        _Part(wav_part(samples[a:b]), f"{stem}-part{i}.wav", a / RATE, (b - a) / RATE)
        for i, (a, b) in enumerate(split_ranges(samples, max_part_samples(limit)), 1)
    ]


def transcribe(
    core: CoreClient,
    req: Any,
    *,
    on_notice: Notify | None = None,
    on_progress: Progress | None = None,
    rm: Any = None,
) -> Any:
    """Transcribe the :class:`~termchat.core.types.TranscriptionRequest` ``req`` on ``core``
    and return a :class:`~termchat.core.types.Transcript`.

    ``req.model`` ``""`` takes the default (:func:`pick_transcription_model`; ``on_notice`` is
    told which model was picked and why); ``rm`` may give the resolved model instead. Audio
    larger than the provider's upload limit is cut at silences into 16 kHz WAV parts, sent in
    order (``on_progress(done, total)`` before the first and after each); the embedded model
    takes any length.

    Raises:
        UsageError: the audio is empty, not audio, or silent (exit 2).
        PartialTranscription: some parts of a split file failed (their numbers and the other
            parts' text in ``.transcript``); a failure of authentication or configuration
            stops at once.
        TermchatError: the model could not be resolved, or a file sent whole failed.
    """
    from ..core.transcribe import resolve_transcription_model, upload_limit
    from ..core.types import Transcript

    config = getattr(core, "config", None)
    if rm is None:
        name, why = pick_transcription_model(config, req.model or None)
        if why and on_notice is not None:
            on_notice(f"using {name}: {why}")
        rm = resolve_transcription_model(name, config, api_base=req.api_base, api_key=req.api_key)
    fmt, samples = _check(req, rm.provider == "local")
    if req.mime is None and fmt is not None:
        from ..media.audiosplit import mime_for

        req = replace(req, mime=mime_for(fmt))
    parts = _parts(req, rm, samples, upload_limit(rm, config))
    started = time.monotonic()
    done: list[tuple[_Part, Any]] = []
    failed: list[int] = []
    first_error: TermchatError | None = None
    if on_progress is not None and len(parts) > 1:
        on_progress(0, len(parts))
    for i, part in enumerate(parts, 1):
        if first_error is not None and first_error.exit_code == 3:
            failed.append(i)  # no point sending more with a refused key
            continue
        preq = req if len(parts) == 1 else replace(
            req, audio=part.audio, filename=part.filename, mime="audio/wav", model=rm.id)
        try:
            done.append((part, core.transcribe(preq, rm, on_notice)))
        except TermchatError as err:
            if len(parts) == 1:
                raise
            failed.append(i)
            first_error = first_error or err
        if on_progress is not None:
            on_progress(i, len(parts))
    out = _join(done, Transcript, rm.id, len(parts), failed)
    out.elapsed_s = round(time.monotonic() - started, 3)
    if samples is not None and (len(parts) > 1 or out.duration_s is None):
        out.duration_s = round(len(samples) / 16000, 3)  # the whole file's length
    if first_error is not None:
        raise PartialTranscription(out, first_error)
    if not out.text.strip():
        raise UsageError("no speech found in the audio")
    return out


def _join(done: list[tuple[_Part, Any]], make: Any, model: str, total: int,
          failed: list[int]) -> Any:
    """One transcript of the parts in ``done`` (in order): texts joined with a space, segment
    times moved by each part's offset, durations and costs added (cost ``None`` when any part
    had no price)."""
    from ..core.types import TranscriptSegment

    if total == 1 and done:
        return done[0][1]
    out = make(model=model, parts=total, failed_parts=list(failed))
    costs: list[float | None] = []
    duration = 0.0
    for part, t in done:
        out.text = f"{out.text} {t.text}".strip() if t.text else out.text
        out.segments += [TranscriptSegment(round(s.start + part.offset_s, 3),
                                           round(s.end + part.offset_s, 3), s.text)
                         for s in t.segments]
        out.language = out.language or t.language
        costs.append(t.cost_usd)
        duration += t.duration_s if t.duration_s is not None else (part.duration_s or 0.0)
    out.cost_usd = None if not costs or any(c is None for c in costs) else round(sum(costs), 8)  # type: ignore[arg-type]
    out.duration_s = round(duration, 3) if done else None
    return out


def record_call(config: Any, transcript: Any, input_bytes: int, error: TermchatError | None = None) -> None:
    """Store one transcription's model, audio seconds, wall seconds, cost, parts and failed
    parts (not its text) in the history store's ``media_calls`` table, unless config ``log``
    is off. A store that cannot be written is logged, never raised: the transcript is what
    the user asked for."""
    if config is not None and not config.get("log"):
        return
    from ..store import Store

    try:
        store = Store()
        try:
            store.add_media_call(
                "transcription", transcript.model, input_bytes=input_bytes,
                audio_s=transcript.duration_s, duration_s=transcript.elapsed_s,
                cost_usd=transcript.cost_usd, parts=transcript.parts,
                failed_parts=transcript.failed_parts or None,
                error=error.message if error is not None else None,
            )
        finally:
            store.close()
    except Exception:
        import logging

        logging.getLogger("termchat").warning("could not store the transcription's usage", exc_info=True)


def preload(core: CoreClient, model: str = "", *, api_base: str | None = None,
            api_key: str | None = None) -> Any:
    """Load the transcription model (``model``, or the default of
    :func:`pick_transcription_model`) where ``core`` will run it — the warm core, or this
    process — so that a transcription right after a recording does not wait for the embedded
    model to load (about 0.5–1 s here). Returns the resolved model. Blocking: call it from a
    worker thread while the user speaks.

    Raises:
        TermchatError: the model cannot be resolved or loaded.
    """
    from ..core.transcribe import resolve_transcription_model

    config = getattr(core, "config", None)
    name, _ = pick_transcription_model(config, model or None)
    rm = resolve_transcription_model(name, config, api_base=api_base, api_key=api_key)
    core.load_stt(rm)
    return rm
