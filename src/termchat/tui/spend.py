"""The chat app's budgets and presets: the budget check around each reply, today's spend in the
status line, and the preset picker (command palette, ``/preset``).

The budget check is the client layer's (:mod:`termchat.client.budget`): one hold of the
request's estimated cost, taken atomically before the request and finished once the reply is
stored; a refusal becomes the turn's error (the question is given back to the prompt, as for
any request that ends before text). ``--over-budget`` (``termchat chat --over-budget``) lets
one request through.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from ..render import sanitize


def hold_for(session: Any, rm: Any, req: Any, outcome: Any, view: Any = None) -> Any:
    """Check the budget for ``req`` to ``rm`` and hold its estimate. Returns the
    :class:`~termchat.client.budget.Hold`, or ``None`` when a limit refuses it — then
    ``outcome.error`` is the :class:`~termchat.client.budget.BudgetExceeded` and nothing is
    sent. 80 % notices go to ``outcome.notices`` and the reply's status line (``view``, until
    text arrives). ``session.over_budget`` passes one request."""
    from ..client import budget

    if not budget.limits(session.config, budget.provider_of(rm.id)):
        return budget.Hold()
    over = bool(getattr(session, "over_budget", False))
    try:
        estimate = budget.estimate_usd(rm.info, req.messages, req.options)
        hold = budget.reserve(session.config, session.store, rm.id, estimate, over_budget=over)
    except budget.BudgetExceeded as err:
        outcome.error = err
        return None
    if over:
        session.over_budget = False  # once
    outcome.notices.extend(hold.notices)
    if hold.notices and view is not None:
        view.set_status(hold.notices[-1])
    return hold


def finish(hold: Any, outcome: Any, reply_id: int | None) -> None:
    """Finish a hold from :func:`hold_for` once the reply is stored (or was not)."""
    if hold is not None:
        hold.finish(outcome.cost_usd, outcome.model, stored=reply_id is not None)


def kept(outcome: Any) -> None:
    """A compared answer was kept (stored): its settled hold goes, the message has the cost."""
    hold = getattr(outcome, "budget_hold", None)
    if hold is not None:
        hold.forget()


def status_bit(session: Any) -> str | None:
    """``today $0.0123 of $1.00 (1%)`` when a daily budget is set (else ``None``): today's
    spend, from the store, against ``budget.daily_usd``."""
    from ..client import budget

    try:
        spent, limit = budget.today(session.config, session.store)
    except Exception:
        return None
    if limit is None:
        return None
    share = f" ({spent / limit:.0%})" if limit > 0 else ""
    return f"today {budget.fmt_usd(spent)} of {budget.fmt_usd(limit)}{share}"


def refresh_team(app: Any) -> None:
    """Ask each team gateway (an endpoint with ``kind = "litellm_proxy"``) for your key's spend
    and budget (:func:`termchat.client.gateway.team_spend`, plain HTTP, a few seconds at most)
    on a worker thread, then show it in the status line. Nothing happens without gateways; a
    newer call replaces one still running."""
    from ..client.gateway import gateways, team_spend

    config = app.session.config
    if not gateways(config):
        return

    def ask() -> None:
        spends = team_spend(config)

        def show() -> None:
            app.session.team_spend = spends
            app.update_status()

        app.call_from_thread(show)

    app.run_worker(ask, thread=True, group="team-spend", exclusive=True, exit_on_error=False)


def team_bits(session: Any) -> list[str]:
    """``team $3.2500 of $10.00`` per gateway that reported (``team over budget`` when spent),
    from the last :func:`refresh_team`; ``[]`` before it or without gateways."""
    out = []
    for t in getattr(session, "team_spend", None) or []:
        if not t.reported:
            continue
        text = f"{t.endpoint} ${t.spend_usd:.4f}"
        if t.max_budget_usd is not None:
            text += f" of ${t.max_budget_usd:.2f}" + (" (over budget)" if t.exceeded else "")
        out.append(text)
    return out


# -- presets ---------------------------------------------------------------------------------


def apply_preset(app: Any, name: str) -> bool:
    """Make preset ``name`` the model, system prompt, options and fallbacks of the next
    messages; a notice says so (or why not). Returns whether it was applied."""
    from ..client.presets import get_preset
    from ..core.errors import TermchatError

    try:
        p = get_preset(app.config, name)
        if p.model:
            app.session.switch_model(p.model)
    except TermchatError as err:
        app.notify(sanitize(err.message), severity="error", timeout=8)
        return False
    app.session.set_system(p.system, dict(p.options))
    app.session.fallbacks = list(p.fallbacks) or None
    if p.tools:  # the preset's tools join the chat's (as /tools NAME does)
        app.session.tools.enable(list(p.tools))
    app.update_status()
    app.notify(sanitize(f"preset {p.name}: {p.summary()}"))
    return True


def pick(app: Any) -> None:
    """Open the preset picker; the chosen preset is applied."""
    from ..client.presets import all_presets

    presets = all_presets(app.config)
    if not presets:
        app.notify("no presets yet: `termchat presets save NAME -m …` makes one",
                   severity="warning")
        return

    def done(name: str | None) -> None:
        if name:
            apply_preset(app, name)

    app.push_screen(PresetPicker({n: p.summary() for n, p in presets.items()}), done)


class PresetPicker(ModalScreen[str | None]):
    """A list of presets (name and what it sets); Enter picks one, Esc closes."""

    DEFAULT_CSS = """
    PresetPicker { align: center middle; }
    PresetPicker > OptionList { width: 80%; max-height: 70%; border: round $accent; }
    """
    BINDINGS: ClassVar[list[Any]] = [Binding("escape", "dismiss_none", "Close", id="preset.close")]

    def __init__(self, presets: dict[str, str]) -> None:
        super().__init__()
        self.presets = presets

    def compose(self) -> ComposeResult:
        yield Label("Pick a preset", id="preset-title")
        yield OptionList(*(Option(sanitize(f"{n}  —  {s}"), id=n) for n, s in self.presets.items()),
                         id="preset-list")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
