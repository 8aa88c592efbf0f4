"""One exchange with a model, as both fronts keep it: the :class:`Outcome` of a request (and
how the core's events fill it), how a stored conversation becomes the messages of the next
request (:func:`history_messages`, the only place that does), and how a reply is stored.

Shared by ``termchat ask`` and ``termchat chat`` so that a conversation started in one continues
in the other with the same history and the same stored fields. Light on purpose (no Typer, no
Textual): both fronts import it on their start-up path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .core.errors import TermchatError
from .core.types import Attachment, Finished, Message, Notice, ReasoningDelta, TextDelta, Usage


@dataclass
class Outcome:
    """What one request produced: the text (and reasoning) that arrived, the model that wrote
    it, usage (tokens) and cost (USD, ``None`` when unpriced), timing (seconds), whether it was
    interrupted, the error that ended it (if any), and the notices shown on the way."""

    text: str = ""
    reasoning: str = ""
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    finish_reason: str | None = None
    duration_s: float = 0.0
    ttft_s: float | None = None
    interrupted: bool = False
    error: TermchatError | None = None
    notices: list[str] = field(default_factory=list)
    #: the signal that stopped the request (``signal.SIGTERM``), or ``None``
    signal: int | None = None
    #: the reader of standard output went away (``| head``) and the request was stopped
    output_closed: bool = False
    #: the reply was replayed from the response cache (no request made; cost 0)
    cached: bool = False

    def apply(self, ev: Any) -> None:
        """Fold one core event into this outcome (text, reasoning, usage, notices, the
        finish). Showing the event is the front's business; this is the record of it."""
        if isinstance(ev, TextDelta):
            self.text += ev.text
        elif isinstance(ev, ReasoningDelta):
            self.reasoning += ev.text
        elif isinstance(ev, Usage):
            self.prompt_tokens = ev.prompt_tokens
            self.completion_tokens = ev.completion_tokens
            self.cost_usd = ev.cost_usd
        elif isinstance(ev, Notice):
            self.notices.append(ev.text)
            if isinstance(ev, CachedNotice):
                self.cached = True
        elif isinstance(ev, Finished):
            self.finish_reason = ev.finish_reason
            self.model = ev.model
            self.duration_s = ev.duration_s
            self.ttft_s = ev.ttft_s

    def stop_reason(self) -> str:
        """Why a request without an answer ended, in a few words (for the history):
        ``"terminated by SIGTERM"``, ``"standard output was closed"``, ``"interrupted"``, or
        the error's message."""
        if self.signal is not None:
            import signal

            try:
                return f"terminated by {signal.Signals(self.signal).name}"
            except ValueError:
                return f"terminated by signal {self.signal}"
        if self.output_closed:
            return "standard output was closed"
        if self.error is not None:
            return self.error.message
        return "interrupted before any text arrived" if self.interrupted else "no text arrived"


@dataclass
class CachedNotice(Notice):
    """The :class:`~termchat.core.types.Notice` that opens a reply replayed from the response
    cache (:mod:`termchat.client.cache`): shown like any notice, and it marks the
    :class:`Outcome` ``cached`` (stored with cost 0 and ``cached = 1``). Never crosses the warm
    core's socket: a cache hit is answered in the front's process."""


def attachment_records(atts: list[Attachment]) -> list[dict[str, Any]]:
    """Stored form of attachments: ``[{"name", "mime", "data" (base64)}]``."""
    import base64

    return [
        {"name": a.name, "mime": a.mime, "data": base64.b64encode(a.data).decode("ascii")}
        for a in atts
    ]


def attachments_of(row: Any) -> list[Attachment]:
    """The attachments of a stored message row (records that cannot be decoded are skipped)."""
    import base64

    out = []
    for rec in row.attachments or []:
        try:
            out.append(Attachment(rec["mime"], base64.b64decode(rec["data"]), rec.get("name", "")))
        except (KeyError, ValueError, TypeError, AttributeError):
            continue
    return out


def history_messages(rows: list[Any], system: str | None = None) -> list[Message]:
    """The core messages of a stored conversation: the system prompt (when given), then its
    rows oldest first — user turns with their attachments (images), non-empty assistant
    replies. Both fronts build every request's history here, so a conversation continues the
    same way in ``ask`` and in ``chat``."""
    out: list[Message] = []
    if system:
        out.append(Message("system", system))
    for r in rows:
        if r.role == "system" or (r.role == "assistant" and not r.content):
            continue
        out.append(Message(r.role, r.content, attachments_of(r) if r.role == "user" else []))
    return out


def store_reply(store: Any, cid: str, outcome: Outcome, user_mid: int | None = None) -> int | None:
    """Store a reply when any text arrived; a reply cut short (Ctrl+C, Esc, SIGTERM, a closed
    standard output, an error after text) is stored with ``interrupted`` and the error's
    message. Returns the message id, or ``None`` when there was nothing to store.

    ``user_mid``: the question's row, stored with :func:`termchat.store.awaiting_marker`; its
    marker is cleared when a reply is stored, or becomes ``no reply: WHY`` when none arrived
    (what ``termchat history`` shows for it)."""
    from .store import NO_REPLY_PREFIX

    if not (outcome.text or outcome.reasoning):
        if user_mid is not None:
            store.update_message(user_mid, error=NO_REPLY_PREFIX + outcome.stop_reason())
        return None
    if user_mid is not None:
        store.update_message(user_mid, error=None)
    return store.add_message(
        cid, "assistant", outcome.text,
        model=outcome.model, reasoning=outcome.reasoning or None,
        prompt_tokens=outcome.prompt_tokens, completion_tokens=outcome.completion_tokens,
        cost_usd=outcome.cost_usd, duration_s=outcome.duration_s, ttft_s=outcome.ttft_s,
        finish_reason=outcome.finish_reason,
        **({"cached": True} if outcome.cached else {}),
        interrupted=outcome.interrupted or outcome.error is not None,
        error=outcome.error.message if outcome.error else (
            outcome.stop_reason() if outcome.signal is not None or outcome.output_closed else None
        ),
    )


def title_for(text: str) -> str:
    """A conversation title from its first prompt: whitespace folded, at most 60 characters."""
    first = " ".join(text.split())
    return first[:60] + ("…" if len(first) > 60 else "")
