"""Spending limits: what was spent today and this month, and a check before each request that
cannot be raced.

Limits come from the config: ``budget.daily_usd`` and ``budget.monthly_usd`` (every provider)
and ``[budget.providers.NAME]`` tables with ``daily_usd``/``monthly_usd`` (one provider: the
part of a model id before ``/``). A day runs from local midnight, a month from local midnight on
its first day. Amounts are USD, priced from the catalog (:mod:`termchat.core.catalog`).

**Spent** in a period = the ``cost_usd`` of the assistant messages stored in it + the
``budget_holds`` rows not yet folded into a message (open holds of live processes, and settled
holds of replies that were not stored: ``--no-log``, image, speech).

**The check** (:func:`reserve`) runs in one ``BEGIN IMMEDIATE`` transaction of the store: it sums
what was spent, adds this request's estimated cost (prompt size and ``max_tokens`` at the
catalog's prices), and either refuses (:class:`BudgetExceeded`, exit 1, with the figures) or
writes an open hold of the estimate — so two processes can never both pass the last cent: the
second one's sum includes the first one's hold. When the reply is stored the hold is deleted
(:meth:`Hold.finish`); when no reply is stored but money was spent, the hold keeps the actual
cost. Holds of processes that died are ignored (and swept).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import EXIT_ERROR, TermchatError

#: Completion tokens a request is assumed to produce when it sets no ``max_tokens``.
DEFAULT_COMPLETION_ESTIMATE = 1024
#: Share of a limit at which a notice is shown.
NOTICE_AT = 0.8
#: An open hold older than this (seconds) no longer counts, even if its pid lives on.
HOLD_MAX_AGE = 86400.0


class BudgetExceeded(TermchatError):
    """A request would take spending over a limit (exit 1). The message gives the figures:
    spent, this request's estimate, the limit and its period."""

    exit_code = EXIT_ERROR
    kind = "budget"


@dataclass(frozen=True)
class Limit:
    """One spending limit: ``period`` ``"day"`` or ``"month"``, ``provider`` (``None``: all),
    ``usd`` the limit, ``key`` the config key that sets it."""

    period: str
    provider: str | None
    usd: float
    key: str

    def label(self) -> str:
        """``daily budget`` / ``monthly openai budget``."""
        which = "daily" if self.period == "day" else "monthly"
        return f"{which} {self.provider} budget" if self.provider else f"{which} budget"

    def period_text(self) -> str:
        """``today`` or ``this month``."""
        return "today" if self.period == "day" else "this month"


def provider_of(model_id: str) -> str:
    """``openai/gpt-5`` -> ``openai`` (the store keeps canonical ids)."""
    return model_id.split("/", 1)[0]


def limits(config: Any, provider: str | None = None) -> list[Limit]:
    """The limits that apply to a request to ``provider`` (every limit when ``None``), from
    the config (see the module doc). Values were checked when the config was loaded."""
    out = []
    for period, name in (("day", "daily_usd"), ("month", "monthly_usd")):
        value = config.get(f"budget.{name}")
        if value is not None:
            out.append(Limit(period, None, float(value), f"budget.{name}"))
    table = (config.data.get("budget") or {}).get("providers") or {}
    for prov, entry in sorted(table.items()):
        if provider is not None and prov != provider:
            continue
        for period, name in (("day", "daily_usd"), ("month", "monthly_usd")):
            if name in entry:
                out.append(Limit(period, prov, float(entry[name]),
                                 f"budget.providers.{prov}.{name}"))
    return out


def period_start(period: str, now: float | None = None) -> float:
    """UNIX time of the local midnight starting today (``day``) or this month (``month``)."""
    t = time.localtime(now if now is not None else time.time())
    day = 1 if period == "month" else t.tm_mday
    return time.mktime((t.tm_year, t.tm_mon, day, 0, 0, 0, 0, 0, -1))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def spent(db: Any, since: float, provider: str | None = None) -> float:
    """USD spent since ``since`` (UNIX seconds) on ``provider`` (all when ``None``): stored
    replies plus holds that count (see the module doc). ``db`` is a store connection."""
    done, held = spent_parts(db, since, provider)
    return done + held


def spent_parts(db: Any, since: float, provider: str | None = None) -> tuple[float, float]:
    """:func:`spent` in two parts, USD: ``(spent, held)`` — stored replies and settled holds,
    and the open holds of requests under way."""
    # a provider's ids are those between "NAME/" and "NAME0" ("0" follows "/" in code order)
    low, high = (f"{provider}/", f"{provider}0") if provider else ("", "\U0010ffff")
    row = db.execute(
        "SELECT COALESCE(SUM(cost_usd), 0) FROM messages WHERE role = 'assistant' AND"
        " created_at >= ? AND cost_usd IS NOT NULL AND model >= ? AND model < ?",
        (since, low, high)).fetchone()
    total, held = float(row[0]), 0.0
    holds = db.execute(
        "SELECT amount_usd, pid, state, created_at FROM budget_holds WHERE created_at >= ?"
        + (" AND provider = ?" if provider else ""),
        (since, provider) if provider else (since,)).fetchall()
    now = time.time()
    for amount, pid, state, created in holds:
        if state == "settled":
            total += float(amount)
        elif now - created < HOLD_MAX_AGE and _alive(pid):
            held += float(amount)
    return total, held


def estimate_usd(info: dict[str, Any], messages: list[Any], options: dict[str, Any]) -> float:
    """Estimated USD of a chat request from the catalog entry ``info``: the prompt's tokens
    (characters / 4, rounded up, + 4 per message) at ``input_cost_per_token`` plus
    ``max_tokens`` (or ``max_completion_tokens``; else :data:`DEFAULT_COMPLETION_ESTIMATE`,
    capped at the model's ``max_output_tokens``) at ``output_cost_per_token``. 0 when unpriced."""
    chars = sum(len(getattr(m, "content", "") or "") for m in messages)
    prompt = math.ceil(chars / 4) + 4 * len(messages)
    out = options.get("max_tokens", options.get("max_completion_tokens"))
    if not isinstance(out, int) or isinstance(out, bool) or out <= 0:
        out = DEFAULT_COMPLETION_ESTIMATE
        cap = info.get("max_output_tokens")
        if isinstance(cap, int) and cap > 0:
            out = min(out, cap)
    inp = float(info.get("input_cost_per_token") or 0)
    outp = float(info.get("output_cost_per_token") or 0)
    return prompt * inp + out * outp


@dataclass
class Hold:
    """An open reservation of an estimated cost (a ``budget_holds`` row), or a no-op when no
    limit applies (``hold_id is None``). ``notices`` are the 80 % warnings to show."""

    db: Any = None
    hold_id: int | None = None
    estimate_usd: float = 0.0
    notices: list[str] = field(default_factory=list)
    #: the row kept by :meth:`finish` as a settled cost (reply not stored), or ``None``
    settled_id: int | None = None

    def finish(self, cost_usd: float | None, model: str | None = None,
               stored: bool = False) -> None:
        """End the hold: deleted when the reply was ``stored`` (its message carries the cost)
        or nothing was spent; otherwise kept as a settled row of the actual ``cost_usd``
        (USD), on ``model``'s provider. Safe to call once or more."""
        if self.hold_id is None or self.db is None:
            return
        hid, self.hold_id = self.hold_id, None
        try:
            if stored or not cost_usd:
                self.db.execute("DELETE FROM budget_holds WHERE id = ?", (hid,))
            else:
                sets = "amount_usd = ?, state = 'settled'"
                vals: list[Any] = [float(cost_usd)]
                if model:
                    sets += ", provider = ?, model = ?"
                    vals += [provider_of(model), model]
                self.db.execute(f"UPDATE budget_holds SET {sets} WHERE id = ?", (*vals, hid))
                self.settled_id = hid
        except Exception:  # never lose the reply over the ledger; an open hold of a gone
            pass            # process stops counting by itself

    def release(self) -> None:
        """Drop the hold: nothing was spent (the request failed before any charge)."""
        self.finish(None)

    def forget(self) -> None:
        """Delete the row this hold left (settled, not stored) once its reply is stored after
        all (a compared answer that is kept): the message now carries the cost."""
        if self.db is not None and self.settled_id is not None:
            try:
                self.db.execute("DELETE FROM budget_holds WHERE id = ?", (self.settled_id,))
            except Exception:
                pass
            self.settled_id = None


def fmt_usd(v: float) -> str:
    """``$0.0123`` (4 decimals under a dollar, else 2)."""
    return f"${v:,.4f}" if abs(v) < 1 else f"${v:,.2f}"


def reserve(config: Any, store: Any, model_id: str, estimate: float, *,
            over_budget: bool = False, now: float | None = None) -> Hold:
    """Check the limits that apply to ``model_id`` and hold ``estimate`` USD, atomically (one
    ``BEGIN IMMEDIATE`` transaction on ``store.db``).

    Returns a :class:`Hold` (a no-op one when no limit applies), with notices for limits at
    80 % or more. With ``over_budget`` a request over a limit passes (with a notice) and is
    still held, so others see it.

    Raises:
        BudgetExceeded: spent + estimate would pass a limit (exit 1): the message names the
            limit, the period and the figures; the hint names ``--over-budget``.
    """
    provider = provider_of(model_id)
    applicable = limits(config, provider)
    if not applicable:
        return Hold()
    db = store.db
    t = time.time() if now is None else now
    db.execute("BEGIN IMMEDIATE")
    try:
        _sweep(db, t)
        notices: list[str] = []
        for lim in applicable:
            done, held = spent_parts(db, period_start(lim.period, t), lim.provider)
            after = done + held + estimate
            if after > lim.usd + 1e-12:
                under_way = f"{fmt_usd(held)} held by requests under way + " if held else ""
                figures = (f"{fmt_usd(done)} spent {lim.period_text()} + {under_way}"
                           f"{fmt_usd(estimate)} estimated for this request > "
                           f"{fmt_usd(lim.usd)} ({lim.key})")
                if not over_budget:
                    raise BudgetExceeded(
                        f"{lim.label()} reached: {figures}",
                        hint="--over-budget sends this one request anyway; raise "
                        f"{lim.key} in the config",
                    )
                notices.append(f"over the {lim.label()} (--over-budget): {figures}")
            elif lim.usd > 0 and after >= NOTICE_AT * lim.usd:
                notices.append(f"{after / lim.usd:.0%} of the {lim.label()} "
                               f"({fmt_usd(after)} of {fmt_usd(lim.usd)} {lim.period_text()}, "
                               "this request included)")
        cur = db.execute(
            "INSERT INTO budget_holds (created_at, provider, model, amount_usd, pid, state)"
            " VALUES (?, ?, ?, ?, ?, 'open')", (t, provider, model_id, estimate, os.getpid()))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return Hold(db, int(cur.lastrowid or 0), estimate, notices)


def _sweep(db: Any, now: float) -> None:
    """Delete open holds whose process is gone or that are older than :data:`HOLD_MAX_AGE`."""
    rows = db.execute("SELECT id, pid, created_at FROM budget_holds WHERE state = 'open'").fetchall()
    dead = [(r[0],) for r in rows if now - r[2] >= HOLD_MAX_AGE or not _alive(r[1])]
    if dead:
        db.executemany("DELETE FROM budget_holds WHERE id = ?", dead)


def today(config: Any, store: Any) -> tuple[float, float | None]:
    """``(spent today in USD, the daily limit or None)`` for the chat status bar: all providers
    against ``budget.daily_usd``."""
    limit = config.get("budget.daily_usd")
    return spent(store.db, period_start("day")), (float(limit) if limit is not None else None)
