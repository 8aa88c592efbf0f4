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
from .core.types import (
    Attachment,
    Finished,
    Message,
    Notice,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)


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
    #: the tool rounds so far, as stored (:attr:`termchat.store.StoredMessage.tool_rounds`)
    tool_rounds: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, ev: Any) -> None:
        """Fold one core event into this outcome (text, reasoning, usage, notices, the
        finish, tool calls and results). Usage adds up over tool rounds (one ``Usage`` per
        round; the cost stays ``None`` if any round's is unknown). Showing the event is the
        front's business; this is the record of it."""
        if isinstance(ev, TextDelta):
            self.text += ev.text
        elif isinstance(ev, ReasoningDelta):
            self.reasoning += ev.text
        elif isinstance(ev, Usage):
            first = self.prompt_tokens is None and self.completion_tokens is None
            self.prompt_tokens = (self.prompt_tokens or 0) + ev.prompt_tokens
            self.completion_tokens = (self.completion_tokens or 0) + ev.completion_tokens
            if first:
                self.cost_usd = ev.cost_usd
            elif self.cost_usd is not None and ev.cost_usd is not None:
                self.cost_usd += ev.cost_usd
            else:
                self.cost_usd = None
        elif isinstance(ev, ToolCall):
            rnd = self.tool_rounds[-1] if self.tool_rounds else None
            if rnd is None or rnd.get("round") != ev.round:
                rnd = {"round": ev.round, "at": len(self.text), "calls": [], "results": []}
                self.tool_rounds.append(rnd)
            rnd["calls"].append({"id": ev.id, "name": ev.name, "arguments": ev.arguments})
        elif isinstance(ev, ToolResult):
            for rnd in reversed(self.tool_rounds):
                if any(c["id"] == ev.id for c in rnd["calls"]):
                    rnd["results"].append({"id": ev.id, "name": ev.name, "content": ev.content,
                                           "ok": ev.ok, "duration_s": round(ev.duration_s, 4)})
                    break
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


def tool_messages(content: str, rounds: list[dict[str, Any]] | None) -> list[Message]:
    """An assistant reply with tool rounds as the provider saw it: per round, the text up to
    the round's offset with its calls, then one ``tool`` message per call (a call whose result
    was never stored — the reply was cut short — gets ``error: interrupted``); then the rest
    of the text (left out when empty). Without rounds: the reply alone."""
    if not rounds:
        return [Message("assistant", content)] if content else []
    out: list[Message] = []
    prev = 0
    for i, rnd in enumerate(rounds):
        at = max(prev, min(int(rnd.get("at", prev)), len(content)))
        calls = [ToolCall(str(c.get("id", "")), str(c.get("name", "")),
                          str(c.get("arguments", "")), i + 1) for c in rnd.get("calls", [])]
        if not calls:
            continue
        out.append(Message("assistant", content[prev:at], tool_calls=calls))
        results = {r.get("id"): r for r in rnd.get("results", [])}
        for c in calls:
            r = results.get(c.id)
            out.append(Message("tool", str(r.get("content", "")) if r else "error: interrupted",
                               tool_call_id=c.id))
        prev = at
    if content[prev:]:
        out.append(Message("assistant", content[prev:]))
    return out


def history_messages(rows: list[Any], system: str | None = None) -> list[Message]:
    """The core messages of a stored conversation: the system prompt (when given), then its
    rows oldest first — user turns with their attachments (images), non-empty assistant
    replies, and a reply's tool rounds as assistant ``tool_calls`` and ``tool`` messages
    (:func:`tool_messages`). Both fronts build every request's history here, so a conversation
    continues the same way in ``ask`` and in ``chat``."""
    out: list[Message] = []
    if system:
        out.append(Message("system", system))
    for r in rows:
        if r.role == "system":
            continue
        if r.role == "assistant":
            out.extend(tool_messages(r.content, getattr(r, "tool_rounds", None)))
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

    if not (outcome.text or outcome.reasoning or outcome.tool_rounds):
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
        tool_rounds=[{k: v for k, v in r.items() if k != "round"} for r in outcome.tool_rounds] or None,
        error=outcome.error.message if outcome.error else (
            outcome.stop_reason() if outcome.signal is not None or outcome.output_closed else None
        ),
    )


def title_for(text: str) -> str:
    """A conversation title from its first prompt: whitespace folded, at most 60 characters."""
    first = " ".join(text.split())
    return first[:60] + ("…" if len(first) > 60 else "")
