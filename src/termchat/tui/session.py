"""The chat as state and operations, without a screen: :class:`ChatSession`.

It holds what the chat app is working on — the open conversation, the model of the next
messages, the system prompt and options, the models a comparison goes to — and does what the
app's keys and commands ask: send, regenerate, edit and resend, compare, new, open, rename,
delete. It talks to the store and (through :mod:`termchat.tui.turns`) to the core, and never
to a widget: a streaming reply is written into any *view* with ``set_status(text)`` and
``async write(text)`` (a :class:`~termchat.tui.widgets.message.MessageView` in the app, a
:class:`Transcript` elsewhere). The app (:mod:`termchat.tui.app`) shows what it returns.

Errors are :class:`~termchat.core.errors.TermchatError`; :class:`NoModel` when no model is
chosen yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import TermchatError, UsageError
from ..core.types import ChatRequest
from ..turn import Outcome, attachment_records, history_messages, store_reply, title_for
from . import spend as budget_ui
from . import turns
from .tools_ui import ChatTools


class NoModel(UsageError):
    """No model is chosen for the next message."""


@dataclass
class Turn:
    """What one request made of the conversation.

    Attributes:
        outcome: the reply as it arrived (text, usage, error, interrupted).
        reply_id: the stored reply, or ``None`` when no text arrived (nothing stored).
        user_id: the question's row (``None`` for a regenerated reply).
        withdrawn: the request ended before any text: the question was deleted again, and
            :attr:`text` is to be given back to the prompt.
        text: the question's text.
    """

    outcome: Outcome
    reply_id: int | None = None
    user_id: int | None = None
    withdrawn: bool = False
    text: str = ""


@dataclass
class CompareRound:
    """One question sent to several models: their resolved models, the shared request, the
    outcome of each (``None`` until it starts) and the question's row and text."""

    models: list[Any]
    request: ChatRequest
    user_id: int
    text: str
    outcomes: list[Outcome | None] = field(default_factory=list)


class Transcript:
    """A view without a screen: collects the streamed (sanitised) text and the statuses."""

    def __init__(self) -> None:
        self.text = ""
        self.statuses: list[str] = []

    def set_status(self, text: str) -> None:
        self.statuses.append(text)

    async def write(self, safe_text: str) -> None:
        self.text += safe_text


class ChatSession:
    """The conversation being worked on, and its operations.

    Args:
        config: the loaded :class:`termchat.config.Config`.
        store: the history :class:`termchat.store.Store`.
        core: where replies are computed (:class:`termchat.tui.turns.CoreLink`).
        model: the model asked for (``-m``): it wins over the model of a conversation opened
            first; ``None`` takes the conversation's, or the default picked later.
        system, options: of a new conversation (``-s``, ``-o``).

    Attributes:
        conv: the open conversation (:class:`termchat.store.Conversation`), ``None`` for a new
            one (created in the store by the first message).
        compare_models: model ids the next message is sent to side by side, or ``None``.
        round: the comparison whose answers are shown and not yet kept or discarded.
    """

    def __init__(self, config: Any, store: Any, core: Any, *, model: str | None = None,
                 system: str | None = None, options: dict[str, Any] | None = None) -> None:
        self.config = config
        self.store = store
        self.core = core
        self.model: str | None = model
        self._model_asked = model is not None
        self.conv: Any = None
        self.system: str | None = system
        self.options: dict[str, Any] = dict(options or {})
        self.compare_models: list[str] | None = None
        self.round: CompareRound | None = None
        #: ``--fallback`` names (``None``: the config's [fallbacks] chains) and
        #: ``--cache`` (``None``: config ``cache.enabled``)
        self.fallbacks: list[str] | None = None
        self.cache: bool | None = None
        #: let the next request pass a budget limit (``chat --over-budget``; once)
        self.over_budget = False
        self.tools = ChatTools(config)  # the conversation's tools (tui/tools_ui.py)
        #: what team gateways last reported for your key (client.gateway.TeamSpend list)
        self.team_spend: list[Any] = []

    # -- conversations ----------------------------------------------------------------------

    def find_initial(self, cid: str | None, continue_last: bool) -> Any:
        """The conversation to open at start: ``cid`` (``--cid``), else the latest when
        ``continue_last``, else ``None``."""
        if cid:
            return self.store.get_conversation(cid)
        if continue_last:
            return self.store.latest_conversation()
        return None

    def open(self, cid: str) -> list[Any]:
        """Make ``cid`` current (its model — unless one was asked for at start —, system prompt
        and options too); returns its stored messages, oldest first."""
        conv = self.store.get_conversation(cid)
        self.conv = conv
        if conv.model and not self._model_asked:
            self.model = conv.model
        self._model_asked = False
        self.tools.forget()
        self.system = conv.system
        self.options = dict(conv.options)
        return self.store.messages(cid)

    def new(self) -> None:
        """Start a new conversation (stored with its first message)."""
        self.conv = None
        self.tools.forget()
        self.system = None
        self.options = {}

    def conversations(self, limit: int = 200) -> list[Any]:
        """The stored conversations, most recently updated first."""
        return self.store.list_conversations(limit=limit)

    def rename(self, cid: str, title: str) -> None:
        """Give conversation ``cid`` a title."""
        self.store.update_conversation(cid, title=title)
        if self.conv is not None and self.conv.id == cid:
            self.conv = self.store.get_conversation(cid)

    def delete(self, cid: str) -> bool:
        """Delete conversation ``cid`` and its messages; True when it was the open one (a new
        conversation is then current)."""
        self.store.delete_conversation(cid)
        if self.conv is not None and self.conv.id == cid:
            self.new()
            return True
        return False

    def last_reply_text(self) -> str:
        """The text of the open conversation's last non-empty reply (``""`` if none)."""
        if self.conv is None:
            return ""
        replies = [m for m in self.store.messages(self.conv.id) if m.role == "assistant" and m.content]
        return replies[-1].content if replies else ""

    # -- model, system prompt, options ------------------------------------------------------

    def switch_model(self, name: str) -> str:
        """Make ``name`` (an alias or model id) the model of the next messages; returns its id.

        Raises:
            TermchatError: the name does not resolve.
        """
        from ..core.catalog import resolve_model

        rm = resolve_model(name, self.config, require_key=False)
        self.model = rm.id
        if self.conv is not None:
            self.store.update_conversation(self.conv.id, model=rm.id)
        return rm.id

    def set_default_model(self, name: str) -> bool:
        """Use ``name`` when no model was chosen meanwhile; True when it was taken."""
        if self.model is not None:
            return False
        self.model = name
        return True

    def set_system(self, system: str | None, options: dict[str, Any] | None = None) -> None:
        """Set the system prompt (and options) of the current conversation."""
        self.system = system
        if options is not None:
            self.options = dict(options)
        if self.conv is not None:
            self.store.update_conversation(self.conv.id, system=system, options=self.options)

    def set_compare(self, names: Sequence[str] | str | None) -> list[str] | None:
        """Send the next message to 2–4 models (names or ids, or one string of them separated
        by commas or spaces); nothing, or an empty list, turns comparing off. Returns the ids.

        Raises:
            UsageError: not 2 to 4 models. TermchatError: a name does not resolve.
        """
        from ..core.catalog import resolve_model

        if isinstance(names, str):
            names = names.replace(",", " ").split()
        names = [n for n in (names or []) if n]
        if not names:
            self.compare_models = None
            return None
        if not 2 <= len(names) <= 4:
            raise UsageError("compare takes 2 to 4 models")
        self.compare_models = [resolve_model(n, self.config, require_key=False).id for n in names]
        return self.compare_models

    def status_bits(self) -> list[str]:
        """The parts of the status line: model, tokens and cost, system prompt, options, the
        models a comparison goes to."""
        bits = [f"model: {self.model or 'none'}"]
        if self.conv is not None:
            c = self.store.get_conversation(self.conv.id)
            tokens = c.prompt_tokens + c.completion_tokens
            bits.append(f"{tokens:,} tokens")
            bits.append(f"${c.cost_usd:.4f}")
        else:
            bits.append("new conversation")
        if self.system:
            bits.append("system prompt set")
        if self.options:
            bits.append(", ".join(f"{k}={v}" for k, v in sorted(self.options.items())))
        if self.compare_models:
            bits.append("next message compares: " + ", ".join(self.compare_models))
        spend = budget_ui.status_bit(self)  # today's spend against budget.daily_usd
        if spend:
            bits.append(spend)
        bits.extend(budget_ui.team_bits(self))  # what team gateways report for your key
        return bits

    # -- sending ----------------------------------------------------------------------------

    def resolve(self, name: str | None = None) -> Any:
        """The resolved model (:class:`termchat.core.catalog.ResolvedModel`) of the next message
        (or of ``name``), its key required.

        Raises:
            NoModel: no model is chosen. TermchatError: it does not resolve, or has no key.
        """
        from ..core.catalog import resolve_model

        name = name or self.model
        if not name:
            raise NoModel("no model chosen: press Ctrl+L to pick one")
        if self.fallbacks or getattr(self.config, "data", {}).get("fallbacks"):  # a chain may cover a missing key
            from ..client.routing import plan

            return plan(name, self.config, fallbacks=self.fallbacks)[0]
        return resolve_model(name, self.config)

    @staticmethod
    def vision_warning(rm: Any, attachments: Sequence[Any]) -> str | None:
        """A warning when images go to a model that may not take them."""
        if attachments and not rm.info.get("supports_vision") and rm.provider != "openai":
            return f"{rm.id} may not accept images"
        return None

    def add_user(self, text: str, attachments: Sequence[Any], model_id: str) -> int:
        """Store the question (creating the conversation with the first one); returns its id."""
        if self.conv is None:
            self.conv = self.store.create_conversation(
                model_id, self.system, title=title_for(text) or "image", options=self.options
            )
        elif self.conv.model != model_id:
            self.store.update_conversation(self.conv.id, model=model_id)
        return self.store.add_message(
            self.conv.id, "user", text, attachments=attachment_records(list(attachments))
        )

    def request(self, rm: Any) -> ChatRequest:
        """The request for ``rm``: the system prompt, the stored conversation, the options."""
        assert self.conv is not None
        rows = self.store.messages(self.conv.id)
        return ChatRequest(model=rm.id, messages=history_messages(rows, self.system),
                           options=dict(self.options), conversation_id=self.conv.id)

    async def _run(self, req: ChatRequest, rm: Any, view: Any, outcome: Outcome) -> None:
        """Stream ``req`` into ``view`` (a :class:`Transcript` when ``None``), filling
        ``outcome``: the one place a request goes to the core. Never raises for provider
        trouble (see :func:`termchat.tui.turns.run_stream`)."""
        from ..chains import chain_for
        from ..client.routing import Routing

        routing = Routing(chain_for(self.config, rm.alias or rm.id, rm.id, self.fallbacks),
                          self.cache)  # the fallback chain and the response cache
        toolset = await self.tools.ready()  # None without tools; may start MCP servers
        if toolset is not None:
            req.tools, req.max_rounds = toolset.schemas(), toolset.max_rounds
        await turns.run_stream(req, rm, view if view is not None else Transcript(),
                               outcome, self.core, routing, tools=toolset)

    async def reply(self, rm: Any, view: Any = None, *, question: tuple[int, str] | None = None,
                    outcome: Outcome | None = None) -> Turn:
        """Stream a reply from ``rm`` to the stored conversation into ``view`` and store it.

        ``question``: ``(id, text)`` of the question just stored: when the request ends before
        any text, it is deleted again (:attr:`Turn.withdrawn`). ``outcome`` is filled as the
        reply arrives (pass one to read the partial text when the caller is cancelled).
        """
        assert self.conv is not None
        cid = self.conv.id
        req = self.request(rm)
        outcome = outcome if outcome is not None else Outcome(model=rm.id)
        hold = None
        try:
            hold = budget_ui.hold_for(self, rm, req, outcome, view)  # None if refused
            if hold is not None:
                await self._run(req, rm, view, outcome)
        finally:
            turn = self._settle(cid, outcome, question)
            budget_ui.finish(hold, outcome, turn.reply_id)
        return turn

    def _settle(self, cid: str, outcome: Outcome, question: tuple[int, str] | None) -> Turn:
        mid = store_reply(self.store, cid, outcome)  # store first: never lose a word
        turn = Turn(outcome, reply_id=mid)
        if question is not None:
            turn.user_id, turn.text = question
            if mid is None and (outcome.error is not None or outcome.interrupted):
                self.store.delete_message(question[0])
                turn.withdrawn = True
        return turn

    async def send(self, text: str, attachments: Sequence[Any] = (), view: Any = None) -> Turn:
        """Store ``text`` as a question and stream the reply (the app does the same in steps:
        :meth:`resolve`, :meth:`add_user`, :meth:`reply`)."""
        rm = self.resolve()
        mid = self.add_user(text, attachments, rm.id)
        return await self.reply(rm, view, question=(mid, text))

    def drop_last_reply(self) -> int | None:
        """Delete the last message when it is a reply (before regenerating it); its id."""
        if self.conv is None:
            return None
        rows = self.store.messages(self.conv.id)
        if rows and rows[-1].role == "assistant":
            self.store.delete_message(rows[-1].id)
            return rows[-1].id
        return None

    async def regenerate(self, view: Any = None) -> Turn | None:
        """Ask again for the last reply (the old one is deleted); ``None`` when there is
        nothing to answer."""
        if self.conv is None or not self.store.messages(self.conv.id):
            return None
        rm = self.resolve()
        self.drop_last_reply()
        return await self.reply(rm, view)

    def take_back_last(self) -> tuple[str, list[int]] | None:
        """Delete the last question and what follows it; returns its text (to edit and send
        again) and the deleted ids, or ``None`` when there is no question."""
        if self.conv is None:
            return None
        rows = self.store.messages(self.conv.id)
        idx = next((i for i in range(len(rows) - 1, -1, -1) if rows[i].role == "user"), None)
        if idx is None:
            return None
        ids = [r.id for r in rows[idx:]]
        for mid in ids:
            self.store.delete_message(mid)
        return rows[idx].content, ids

    async def edit_and_resend(self, text: str, view: Any = None) -> Turn | None:
        """Replace the last question (and its reply) with ``text`` and send it."""
        if self.take_back_last() is None:
            return None
        return await self.send(text, view=view)

    # -- comparing --------------------------------------------------------------------------

    def start_compare(self, text: str, attachments: Sequence[Any] = ()) -> CompareRound:
        """Store ``text`` as the question of a comparison of :attr:`compare_models`.

        Raises:
            TermchatError: a model does not resolve (nothing stored).
        """
        rms = [self.resolve(m) for m in self.compare_models or []]
        if not rms:
            raise UsageError("no models to compare")
        mid = self.add_user(text, attachments, self.model or rms[0].id)
        self.round = CompareRound(rms, self.request(rms[0]), mid, text, [None] * len(rms))
        return self.round

    async def compare_reply(self, index: int, view: Any = None) -> Outcome:
        """Stream the answer of model ``index`` of the open comparison into ``view``."""
        rnd = self.round
        assert rnd is not None
        rm = rnd.models[index]
        req = ChatRequest(model=rm.id, messages=rnd.request.messages, options=dict(rnd.request.options))
        outcome = Outcome(model=rm.id)
        rnd.outcomes[index] = outcome
        hold = budget_ui.hold_for(self, rm, req, outcome, view)
        if hold is not None:
            try:
                await self._run(req, rm, view, outcome)
            finally:
                budget_ui.finish(hold, outcome, None)  # an answer not kept still cost
                outcome.budget_hold = hold  # type: ignore[attr-defined]  # for keep()
        return outcome

    async def compare(self, text: str, attachments: Sequence[Any] = (),
                      views: Sequence[Any] | None = None) -> CompareRound:
        """:meth:`start_compare` and stream every answer at once."""
        rnd = self.start_compare(text, attachments)
        views = list(views) if views is not None else [None] * len(rnd.models)
        await asyncio.gather(*(self.compare_reply(i, v) for i, v in enumerate(views)))
        return rnd

    def keep(self, index: int) -> int | None:
        """Keep answer ``index`` of the comparison: store it, make its model current, stop
        comparing. Returns the stored reply's id.

        Raises:
            UsageError: that answer has no text (the comparison stays open).
        """
        rnd = self.round
        outcome = rnd.outcomes[index] if rnd is not None and 0 <= index < len(rnd.outcomes) else None
        if outcome is None or not outcome.text:
            raise UsageError("that pane has no answer to keep")
        assert self.conv is not None
        mid = store_reply(self.store, self.conv.id, outcome)
        budget_ui.kept(outcome)
        self.round = None
        try:
            self.switch_model(outcome.model)
        except TermchatError:
            pass
        self.compare_models = None
        return mid

    def discard(self) -> tuple[int, str] | None:
        """Keep none of the answers: the question is deleted; returns its ``(id, text)``."""
        rnd, self.round = self.round, None
        if rnd is None:
            return None
        self.store.delete_message(rnd.user_id)
        return rnd.user_id, rnd.text
