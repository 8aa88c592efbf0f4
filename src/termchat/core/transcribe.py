"""Speech to text — the core side: one request, one :class:`~termchat.core.types.Transcript`.

Providers are reached through LiteLLM's ``atranscription`` (OpenAI ``whisper-1`` /
``gpt-4o-transcribe``, Groq, Deepgram, Gemini, …; the file is sent as is); the embedded model
(``local/whisper-…``, :mod:`termchat.core.stt_local`) runs in a worker thread of this process.
Failures are :class:`~termchat.core.errors.TermchatError` (mapped by :mod:`termchat.core.faults`,
as for chat, images and speech); retries are termchat's own, as for images and speech.

Splitting a file that is larger than a provider takes (:func:`upload_limit`) is the client
layer's job (:mod:`termchat.client.transcribe`); a request here is one upload.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from . import stt_local
from .catalog import ResolvedModel, model_info, resolve_model
from .errors import ProviderError
from .settings import Values
from .types import Transcript, TranscriptionRequest, TranscriptSegment

Notify = Callable[[str], None]

MiB = 1024 * 1024
#: Largest upload per provider, in bytes (OpenAI's and Groq's documented 25 MB file limit is
#: 25 MiB in practice); other providers get :data:`DEFAULT_UPLOAD_LIMIT`. Config
#: ``transcription.max_upload_bytes`` overrides it for every provider.
UPLOAD_LIMITS: dict[str, int] = {"openai": 25 * MiB, "azure": 25 * MiB, "groq": 25 * MiB}
DEFAULT_UPLOAD_LIMIT = 25 * MiB

#: Transcription models picked when the provider's key is set, in order (the default chain's
#: third step; :func:`termchat.client.transcribe.pick_transcription_model`).
DEFAULT_STT_BY_KEY: list[tuple[str, str]] = [
    ("openai", "openai/whisper-1"),
    ("groq", "groq/whisper-large-v3-turbo"),
    ("deepgram", "deepgram/nova-3"),
    ("mistral", "mistral/voxtral-mini-latest"),
    ("elevenlabs", "elevenlabs/scribe_v1"),
]


def resolve_transcription_model(
    name: str, config: Values | None, *, api_base: str | None = None, api_key: str | None = None
) -> ResolvedModel:
    """Resolve an alias or model id for transcription: ``local/whisper-…`` is the embedded
    model (mode ``audio_transcription``, free); anything else as
    :func:`termchat.core.catalog.resolve_model` does (aliases apply).

    Raises:
        ModelNotFoundError, AuthenticationError, ConfigError: as ``resolve_model``.
    """
    from .catalog import all_aliases

    target = name.strip()
    seen: set[str] = set()
    aliases = all_aliases(config)
    while target in aliases and target not in seen:
        seen.add(target)
        target = aliases[target]
    if stt_local.is_embedded(target):
        return ResolvedModel(
            id=target, provider="local", litellm_model=target,
            alias=name if name != target else None,
            info={"mode": "audio_transcription", "litellm_provider": "local",
                  "input_cost_per_second": 0.0},
        )
    return resolve_model(name, config, api_base=api_base, api_key=api_key)


def upload_limit(rm: ResolvedModel, config: Values | None) -> int | None:
    """The largest file, in bytes, one request to ``rm`` may carry: config
    ``transcription.max_upload_bytes`` when set, else :data:`UPLOAD_LIMITS` for the provider,
    else :data:`DEFAULT_UPLOAD_LIMIT`; ``None`` for the embedded model (no limit)."""
    if rm.provider == "local":
        return None
    if config is not None:
        try:
            configured = config.get("transcription.max_upload_bytes")
        except KeyError:
            configured = None
        if configured:
            return int(configured)
    return UPLOAD_LIMITS.get(rm.provider, DEFAULT_UPLOAD_LIMIT)


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def transcription_cost(rm: ResolvedModel, duration_s: float | None, usage: Any = None) -> float | None:
    """USD for one transcription from the catalog: token usage the provider reported
    (``input_tokens`` at ``input_cost_per_audio_token`` or ``input_cost_per_token``,
    ``output_tokens`` at ``output_cost_per_token``) when priced per token, else ``duration_s``
    seconds at ``input_cost_per_second``; ``None`` when neither applies."""
    info = rm.info or model_info(rm.litellm_model)
    inp, out = _get(usage, "input_tokens"), _get(usage, "output_tokens")
    per_in = info.get("input_cost_per_audio_token", info.get("input_cost_per_token"))
    if (inp or out) and per_in is not None:
        return float(inp or 0) * float(per_in) + float(out or 0) * float(info.get("output_cost_per_token") or 0)
    seconds = _get(usage, "seconds") or duration_s
    per_s = info.get("input_cost_per_second")
    if seconds and per_s is not None:
        return float(seconds) * float(per_s)
    return None


def _response_format(rm: ResolvedModel, wanted: str) -> str:
    # OpenAI's gpt-4o*-transcribe models take json/text only; whisper-style models give
    # segments with verbose_json.
    base = rm.litellm_model.rsplit("/", 1)[-1].lower()
    if wanted == "verbose_json" and base.startswith("gpt-"):
        return "json"
    return wanted


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status in ``exc`` or its cause chain (LiteLLM's and the OpenAI SDK's errors
    carry ``status_code``, or a ``response`` with one), else ``None``."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        for status in (getattr(cur, "status_code", None),
                       getattr(getattr(cur, "response", None), "status_code", None)):
            if isinstance(status, int):
                return status
        cur = cur.__cause__ or cur.__context__
    return None


def _segments(resp: Any) -> list[TranscriptSegment]:
    out = []
    for s in _get(resp, "segments") or []:
        start, end, text = _get(s, "start"), _get(s, "end"), _get(s, "text")
        if start is None or end is None:
            continue
        out.append(TranscriptSegment(float(start), float(end), str(text or "").strip()))
    return out


async def load_model(rm: ResolvedModel) -> float:
    """Load the embedded model ``rm`` now (in a worker thread), so that the next
    transcription does not wait for it; seconds it took (0 when already loaded, and for a
    provider, which needs nothing). Raises :class:`ConfigError` when it is not installed."""
    if rm.provider != "local" or stt_local.is_loaded(rm.id):
        return 0.0
    started = time.monotonic()
    await asyncio.to_thread(stt_local.get_model, rm.id)
    return round(time.monotonic() - started, 3)


async def transcribe_audio(
    req: TranscriptionRequest, config: Values | None, rm: ResolvedModel, *,
    on_notice: Notify | None = None,
) -> Transcript:
    """Transcribe ``req.audio`` (one upload) with the resolved model ``rm``.

    The embedded model runs in a worker thread; a provider gets the file as is through
    LiteLLM's ``atranscription`` with ``req.language``, ``req.prompt`` and a response format
    that gives segments where the model has them. ``config`` gives ``timeout`` (seconds),
    ``retries`` and ``retry_max_wait``; ``on_notice`` receives one-line retry notices.

    Raises:
        UsageError: (embedded) empty, not audio, silent.
        TermchatError: the provider's failure, mapped; :class:`ProviderError` for an answer
            without text.
    """
    started = time.monotonic()
    if rm.provider == "local":
        return await asyncio.to_thread(
            stt_local.transcribe, req.audio, rm.id, language=req.language, prompt=req.prompt
        )
    from .engine import aload_litellm
    from .media import _kwargs, _no_retry_client, _openai_compatible, _settings, _with_retries

    timeout, retries, max_wait = _settings(req, config)  # type: ignore[arg-type]
    litellm = await aload_litellm()
    upload = (req.filename, req.audio, req.mime) if req.mime else (req.filename, req.audio)
    kwargs = {**_kwargs(rm, timeout), "file": upload,
              "response_format": _response_format(rm, req.response_format)}
    if req.language:
        kwargs["language"] = req.language
    if req.prompt:
        kwargs["prompt"] = req.prompt

    async def call() -> Any:
        client = _no_retry_client(rm, timeout) if _openai_compatible(rm) else None
        try:
            extra = {"client": client} if client is not None else {}
            return await asyncio.wait_for(litellm.atranscription(**kwargs, **extra), timeout + 5.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if _http_status(exc) == 413:  # sending the same file again cannot help
                raise ProviderError(
                    f"{rm.provider} refused the audio as too large ({len(req.audio):,} bytes)",
                    hint="set transcription.max_upload_bytes below that, and termchat cuts it "
                    "into parts", retryable=False) from None
            raise
        finally:
            if client is not None:
                try:
                    await client.close()
                except Exception:  # the transcript is in hand; a failed close only leaks a socket
                    pass

    resp = await _with_retries(call, rm, retries, max_wait, on_notice)
    text = _get(resp, "text")
    if text is None:
        raise ProviderError(f"{rm.provider} returned no transcript for {rm.id}")
    duration = _get(resp, "duration")
    if duration is None:
        hidden = getattr(resp, "_hidden_params", None) or {}
        duration = hidden.get("audio_transcription_duration") if isinstance(hidden, dict) else None
    duration_s = float(duration) if duration is not None else None
    return Transcript(
        text=str(text).strip(),
        segments=_segments(resp),
        language=_get(resp, "language") or req.language,
        duration_s=duration_s,
        model=rm.id,
        cost_usd=transcription_cost(rm, duration_s, _get(resp, "usage")),
        elapsed_s=round(time.monotonic() - started, 3),
    )
