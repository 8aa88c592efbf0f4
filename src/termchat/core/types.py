"""Requests the fronts send to the core and events the core sends back.

Plain dataclasses with no LiteLLM objects in them, JSON-able through :func:`event_to_dict` /
:func:`event_from_dict` (the warm core sends them over its socket in that form).

A chat stream is an async iterator of :data:`Event` values, in this order::

    Notice* (TextDelta | ReasoningDelta)* Usage? Finished

With tools (``ChatRequest.tools``), each tool round adds, after the round's text::

    (TextDelta | ReasoningDelta)* Usage? ToolCall+ ToolResult+

``ToolCall`` events are the model's requests; the core then waits for the front's answers (the
client layer runs the tools) and echoes them as ``ToolResult`` events, in the calls' order,
before the next round. ``Usage`` comes once per round (the fronts add them up); ``Finished``
once, at the end.

``Notice`` events (for example "retrying in 2 s") may come before the first delta. Errors are
raised as :class:`termchat.core.errors.TermchatError` subclasses; the front keeps the text it has
received so far.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


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
    """One chat message: ``role`` and text ``content``, plus optional image attachments.

    Tool rounds: an ``assistant`` message may carry the ``tool_calls`` it made (``ToolCall``
    records); a ``tool`` message carries one call's result in ``content`` and that call's id in
    ``tool_call_id``."""

    role: Role
    content: str
    attachments: list[Attachment] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None

    def to_provider(self) -> dict[str, Any]:
        """The OpenAI-format message dict LiteLLM takes (content parts when images are attached;
        ``tool_calls`` / ``tool_call_id`` for tool rounds, with termchat's tool names)."""
        if self.role == "tool":
            return {"role": "tool", "tool_call_id": self.tool_call_id or "", "content": self.content}
        if self.tool_calls:
            return {
                "role": self.role,
                "content": self.content or None,
                "tool_calls": [
                    {"id": c.id, "type": "function",
                     "function": {"name": c.name, "arguments": c.arguments}}
                    for c in self.tool_calls
                ],
            }
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
        conversation_id: the stored conversation this turn belongs to, or ``None``; told to a
            LiteLLM proxy gateway for attribution (:mod:`termchat.core.gateway`), to no one else.
        tools: the tools the model may call, OpenAI function-tool form
            (``{"type": "function", "function": {"name", "description", "parameters"}}``) with
            termchat's names (``fetch_url``, ``time.get_current_time``); the core maps them to
            names providers accept. Empty: no tool rounds. Sent only to a model the catalog
            does not list as unable to call functions.
        max_rounds: most tool rounds in one request (config ``tools.max_rounds``); a model that
            still calls tools after that gets one last request with ``tool_choice="none"``.
    """

    model: str
    messages: list[Message]
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    conversation_id: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    max_rounds: int = 8


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


@dataclass
class ToolCall:
    """The model asks for a tool to be run.

    Attributes:
        id: the provider's call id (the result is sent back under it).
        name: termchat's tool name (``read_file``, ``time.get_current_time`` for the MCP server
            ``time``), as in ``ChatRequest.tools``; a name the model made up stays as it sent it.
        arguments: the arguments exactly as the model sent them — a JSON object's text, not
            checked by the core (malformed JSON is the client's to report back).
        round: the tool round, from 1.
    """

    id: str
    name: str
    arguments: str
    round: int = 1


@dataclass
class ToolResult:
    """A tool's answer, as sent back to the model.

    Attributes:
        id: the :class:`ToolCall` id it answers.
        name: the tool's name (as in the call).
        content: the text the model receives (for a failure: ``error: …``; truncated output
            ends with a note saying so).
        ok: False when the call failed, was refused or timed out.
        duration_s: seconds the tool ran (0 when it did not run).
        round: the tool round, from 1.
    """

    id: str
    name: str
    content: str
    ok: bool = True
    duration_s: float = 0.0
    round: int = 1


Event = TextDelta | ReasoningDelta | Usage | Notice | Finished | ToolCall | ToolResult

_EVENT_TYPES: dict[str, type] = {
    c.__name__: c
    for c in (TextDelta, ReasoningDelta, Usage, Notice, Finished, ToolCall, ToolResult)
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
