"""Requests the fronts send to the core and events the core sends back.

Plain dataclasses with no LiteLLM objects in them, JSON-able through :func:`event_to_dict` /
:func:`event_from_dict` (the warm core sends them over its socket in that form).

A chat stream is an async iterator of :data:`Event` values, in this order::

    Notice* (TextDelta | ReasoningDelta)* Usage? Finished

``Notice`` events (for example "retrying in 2 s") may come before the first delta. Errors are
raised as :class:`termchat.core.errors.TermchatError` subclasses; the front keeps the text it has
received so far.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass
class Attachment:
    """An image attached to a user message.

    Attributes:
        mime: MIME type, e.g. ``image/png``.
        data: the raw file bytes.
        name: the file name shown to the user.
    """

    mime: str
    data: bytes
    name: str = ""

    def data_url(self) -> str:
        """``data:<mime>;base64,<...>`` as OpenAI-style ``image_url`` content expects."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass
class Message:
    """One chat message: ``role`` and text ``content``, plus optional image attachments."""

    role: Role
    content: str
    attachments: list[Attachment] = field(default_factory=list)

    def to_provider(self) -> dict[str, Any]:
        """The OpenAI-format message dict LiteLLM takes (content parts when images are attached)."""
        if not self.attachments:
            return {"role": self.role, "content": self.content}
        parts: list[dict[str, Any]] = [{"type": "text", "text": self.content}]
        for att in self.attachments:
            parts.append({"type": "image_url", "image_url": {"url": att.data_url()}})
        return {"role": self.role, "content": parts}


@dataclass
class ChatRequest:
    """A chat completion request.

    Attributes:
        model: a model id (``provider/model``) or an alias; the core resolves it.
        messages: the conversation so far, oldest first, ending with the new user message. A
            ``system`` message, if any, comes first.
        options: model options passed through to the provider (``temperature``, ``max_tokens``,
            ``top_p``, …), already typed (floats/ints/bools/strings).
        stream: ask the provider to stream; when false the core still yields events (one
            ``TextDelta`` with the whole text).
        api_base: override the provider's base URL for this request (``--api-base``).
        api_key: explicit key for this request (``--key``); highest precedence.
        timeout: seconds to wait for the connection and for each streamed chunk; ``None`` takes
            the config value.
    """

    model: str
    messages: list[Message]
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None


@dataclass
class ImageRequest:
    """A text-to-image request; options are passed to the provider as given (``size``, ``n``,
    ``quality``, ``style``, ``background``, ``output_format``, ``output_compression``,
    ``moderation``)."""

    model: str
    prompt: str
    options: dict[str, Any] = field(default_factory=dict)
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None


@dataclass
class SpeechRequest:
    """A text-to-speech request: ``input`` text, ``voice``, and options (``response_format``,
    ``speed``, ``instructions``)."""

    model: str
    input: str
    voice: str = "alloy"
    options: dict[str, Any] = field(default_factory=dict)
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None


# ---------------------------------------------------------------------------------------------
# Events


@dataclass
class TextDelta:
    """A piece of the answer's text, in order; the pieces concatenate to the whole answer."""

    text: str


@dataclass
class ReasoningDelta:
    """A piece of the model's reasoning ("thinking") text, when the provider streams it."""

    text: str


@dataclass
class Usage:
    """Token usage of the request as the provider reported it (or as counted locally for the
    embedded model). ``cost_usd`` is computed from the catalog's per-token prices, ``None`` when
    the model has no known price."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        """``prompt_tokens + completion_tokens``."""
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Notice:
    """Something the user should know that is not the answer (a retry, a fallback); fronts show
    it on stderr or as a notification."""

    text: str


@dataclass
class Finished:
    """The stream ended normally.

    Attributes:
        finish_reason: the provider's reason (``stop``, ``length``, ``content_filter``, …).
        model: the resolved model id that answered.
        duration_s: seconds from sending the request to the end of the stream.
        ttft_s: seconds from sending the request to the first text/reasoning delta, or ``None``.
    """

    finish_reason: str | None
    model: str
    duration_s: float = 0.0
    ttft_s: float | None = None


Event = TextDelta | ReasoningDelta | Usage | Notice | Finished

_EVENT_TYPES: dict[str, type] = {
    c.__name__: c for c in (TextDelta, ReasoningDelta, Usage, Notice, Finished)
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """``{"type": <class name>, **fields}``; inverse of :func:`event_from_dict`."""
    return {"type": type(event).__name__, **asdict(event)}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from :func:`event_to_dict` output. Raises ``KeyError`` on an unknown type."""
    data = dict(data)
    klass = _EVENT_TYPES[data.pop("type")]
    return klass(**data)


# ---------------------------------------------------------------------------------------------
# Speech to text


@dataclass
class TranscriptionRequest:
    """A speech-to-text request.

    Attributes:
        model: a model id or alias; ``""`` lets the client layer pick the default
            (:func:`termchat.client.transcribe.pick_transcription_model`).
        audio: the audio file's bytes as read (wav, mp3, m4a, ogg, webm, flac), sent as is.
        filename: the name the provider sees; its extension tells the provider the format.
        mime: the file's MIME type (``audio/wav``…), or ``None``.
        language: ISO-639-1 code of the speech (``en``), or ``None`` to detect it.
        prompt: a vocabulary/style hint passed to the model, or ``None``.
        response_format: what to ask the provider for: ``verbose_json`` (text with segments
            and timestamps, where the model gives them) or ``json`` (text only); the front
            formats the result as text/json/srt/vtt itself.
        api_base: base URL override (``--api-base``); api_key: explicit key (``--key``).
        timeout: seconds for the whole call; ``None`` takes the config value.
    """

    model: str
    audio: bytes
    filename: str = "audio.wav"
    mime: str | None = None
    language: str | None = None
    prompt: str | None = None
    response_format: str = "verbose_json"
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None


@dataclass
class TranscriptSegment:
    """A stretch of the transcript: ``start``/``end`` in seconds from the start of the audio."""

    start: float
    end: float
    text: str


@dataclass
class Transcript:
    """The result of a transcription.

    Attributes:
        text: the whole transcript (split files: the parts' texts joined with a space).
        segments: timed segments, in order (empty when the model gives none, e.g. plain
            ``json`` answers); times in seconds from the start of the whole file.
        language: the spoken language as the model reported it, or ``None``.
        duration_s: the audio's length in seconds (the provider's figure, or decoded), or
            ``None`` when unknown.
        model: the model id that transcribed.
        cost_usd: USD from the catalog (per second of audio, or per token when the provider
            reports token usage); 0 for the embedded model; ``None`` when not priced.
        elapsed_s: wall-clock seconds the call(s) took.
        failed_parts: 1-based numbers of the parts of a split file that failed (else empty).
        parts: how many parts the audio was sent in (1 unless split).
    """

    text: str = ""
    segments: list[TranscriptSegment] = field(default_factory=list)
    language: str | None = None
    duration_s: float | None = None
    model: str = ""
    cost_usd: float | None = None
    elapsed_s: float = 0.0
    failed_parts: list[int] = field(default_factory=list)
    parts: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (all fields; segments as ``{"start", "end", "text"}``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transcript:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["segments"] = [TranscriptSegment(**s) for s in d.get("segments", [])]
        return cls(**d)
