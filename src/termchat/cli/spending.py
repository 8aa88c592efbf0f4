"""Presets and budgets for the command-line front: ``-p NAME`` (flags win over the preset) and
the budget holds of ``ask``, ``image`` and ``speak`` (``--over-budget``)."""

from __future__ import annotations

from typing import Any


def apply_preset(config: Any, name: str, model: str | None, system: str | None,
                 options: dict[str, Any],
                 ) -> tuple[str | None, str | None, dict[str, Any], list[str], list[str]]:
    """``-p NAME``: the preset's model, system prompt and options under the flags given
    (``-m``/``-s`` win; ``-o`` values win per option). Returns ``(model, system, options,
    fallbacks, tools)``; the tools (``-T`` names) apply when no ``-T`` is given.

    Raises:
        UsageError: no preset of that name (exit 2).
    """
    from ..client.presets import get_preset

    p = get_preset(config, name)
    return (model or p.model, system if system is not None else p.system,
            {**p.options, **options}, list(p.fallbacks), list(p.tools))


def budget_hold(config: Any, store: Any, model_id: str, messages: list[Any],
                options: dict[str, Any], over_budget: bool) -> Any:
    """Check the budget limits for this request and hold its estimated cost
    (:func:`termchat.client.budget.reserve`); prints the 80 % notices on stderr. Returns the
    :class:`~termchat.client.budget.Hold` to finish once the reply is stored.

    Raises:
        BudgetExceeded: a limit would be passed and not ``over_budget`` (exit 1).
    """
    from ..client import budget
    from ..core.catalog import model_info
    from ..render import stderr_line

    if not budget.limits(config, budget.provider_of(model_id)):
        return budget.Hold()
    if store is None:
        from ..store import Store

        store = Store()
    estimate = budget.estimate_usd(model_info(model_id), messages, options)
    hold = budget.reserve(config, store, model_id, estimate, over_budget=over_budget)
    for line in hold.notices:
        stderr_line(f"termchat: {line}", style="yellow")
    return hold


def media_hold(config: Any, model_id: str, estimate: float | None, over_budget: bool) -> Any:
    """:func:`budget_hold` for ``image`` and ``speak``: hold ``estimate`` USD (the catalog's
    price of the request; ``None``: unpriced, 0). Finish it with the result's cost
    (``hold.finish(cost, model)``); if the process ends first, its hold stops counting.

    Raises:
        BudgetExceeded: a limit would be passed and not ``over_budget`` (exit 1).
    """
    from ..client import budget
    from ..render import stderr_line
    from ..store import Store

    if not budget.limits(config, budget.provider_of(model_id)):
        return budget.Hold()
    hold = budget.reserve(config, Store(), model_id, float(estimate or 0.0),
                          over_budget=over_budget)
    for line in hold.notices:
        stderr_line(f"termchat: {line}", style="yellow")
    return hold


def speech_estimate(info: dict[str, Any], text: str) -> float:
    """USD of speaking ``text`` at the catalog's ``input_cost_per_character`` (else
    ``input_cost_per_token`` × characters / 4); 0 when unpriced."""
    per_char = info.get("input_cost_per_character")
    if per_char is not None:
        return float(per_char) * len(text)
    return float(info.get("input_cost_per_token") or 0) * -(-len(text) // 4)
