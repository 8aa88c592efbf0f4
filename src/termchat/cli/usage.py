"""``termchat usage``: tokens, USD, requests and cache hits from the history store, summed in
SQLite (one ``GROUP BY`` over the ``messages_usage`` index), by day, model or provider."""

from __future__ import annotations

import re
import sys
import time
from typing import Any

import typer

from ..core.errors import UsageError

HELP = """Show what was spent: requests, tokens, USD and cache hits, from the history.

    termchat usage                    # the last 30 days, by day, with a bar chart of spend
    termchat usage --since 7d --by model
    termchat usage --since 2026-11-01 --by provider --json

Every stored reply counts, and every image, speech and transcription call (a request made with
--no-log, or with config log = false, is not in the history). USD are the
catalog's prices at the time of the request; a cache hit costs 0. On a terminal: a table and a
bar of spend per day; into a pipe: tab-separated lines with a header; --json: one object.

With a team gateway configured (an endpoint with kind = "litellm_proxy"), the spend and budget
its proxy reports for your key are shown beside the local figures (the terminal table and
--json's "team" list; not in the tab-separated lines). --no-team skips asking the proxy.
"""

#: ``--by`` value -> the SQL expression that groups the rows (``provider``: the model rows,
#: folded by the part of the id before ``/``).
GROUPS = {
    "day": "date(created_at, 'unixepoch', 'localtime')",
    "model": "model",
    "provider": "model",
}
COLUMNS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd", "cache_hits")


def parse_since(text: str, now: float | None = None) -> float:
    """``7d``/``12h``/``2w`` (that long before ``now``) or ``YYYY-MM-DD`` (local midnight) ->
    UNIX seconds; ``all`` -> 0.

    Raises:
        UsageError: anything else (exit 2).
    """
    now = time.time() if now is None else now
    t = text.strip().lower()
    if t == "all":
        return 0.0
    m = re.fullmatch(r"(\d+)\s*([hdw])", t)
    if m:
        return now - int(m.group(1)) * {"h": 3600, "d": 86400, "w": 7 * 86400}[m.group(2)]
    try:
        day = time.strptime(t, "%Y-%m-%d")
    except ValueError:
        raise UsageError(f"--since takes 7d, 12h, 2w, a date (2026-11-01) or all, not {text!r}")\
            from None
    return time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, -1))


def query(db: Any, since: float, by: str, chart: bool = True) -> dict[str, Any]:
    """Sums over stored replies since ``since`` (UNIX seconds): ``{"rows": [{"key",
    requests, prompt_tokens, completion_tokens, cost_usd, cache_hits}], "total": {…},
    "days": [{"day", "cost_usd"}]}`` — rows by ``by`` (``day`` ascending, else by USD
    descending), ``days`` the spend per local day for the chart (an empty list when not
    ``chart``: a second pass over the rows for ``--by model|provider``)."""
    cols = {r[1] for r in db.execute("PRAGMA table_info(messages)")}
    cached = "SUM(cached)" if "cached" in cols else "0"
    sums = ("COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),"
            f" COALESCE(SUM(cost_usd), 0.0), COALESCE({cached}, 0)")
    where = "FROM messages WHERE created_at >= ? AND role = 'assistant'"
    # Over a long span, group by model along the (role, model, …) index (no sort); over a
    # short one, read only its rows along the (role, created_at, …) index.
    long_span = by != "day" and since < time.time() - 31 * 86400
    by_where = where.replace("created_at >=", "+created_at >=") if long_span else where
    rows = db.execute(f"SELECT {GROUPS[by]} AS k, {sums} {by_where} GROUP BY k", (since,))
    out = [dict(zip(("key", *COLUMNS), tuple(r), strict=True)) for r in rows]
    out = _with_media_calls(db, out, since, by)
    for r in out:
        if r["key"] is None:
            r["key"] = "(unknown)"
        elif by == "provider":
            r["key"] = r["key"].split("/", 1)[0] if "/" in r["key"] else "(unknown)"
    if by == "provider":
        folded: dict[str, dict[str, Any]] = {}
        for r in out:
            acc = folded.setdefault(r["key"], {"key": r["key"], **dict.fromkeys(COLUMNS, 0)})
            for c in COLUMNS:
                acc[c] += r[c]
        out = list(folded.values())
    if by == "day":
        out.sort(key=lambda r: r["key"])
    else:
        out.sort(key=lambda r: (-r["cost_usd"], -r["requests"], r["key"]))
    if by == "day":
        days = [{"day": r["key"], "cost_usd": r["cost_usd"]} for r in out]
    elif not chart:
        days = []
    else:
        per_day = [{"key": r[0], **dict.fromkeys(COLUMNS, 0), "cost_usd": r[1]} for r in db.execute(
            f"SELECT {GROUPS['day']} AS k, COALESCE(SUM(cost_usd), 0.0) {where} GROUP BY k",
            (since,))]
        per_day = sorted(_with_media_calls(db, per_day, since, "day"), key=lambda r: r["key"])
        days = [{"day": r["key"], "cost_usd": r["cost_usd"]} for r in per_day]
    total = {c: sum(r[c] for r in out) for c in COLUMNS}
    total["cost_usd"] = float(total["cost_usd"])
    return {"rows": out, "total": total, "days": days}


def _with_media_calls(db: Any, rows: list[dict[str, Any]], since: float,
                      by: str) -> list[dict[str, Any]]:
    """``rows`` with the media calls since ``since`` added in (images, speech and
    transcriptions, from the ``media_calls`` table): each a request with its USD, no tokens."""
    try:
        media = db.execute(
            f"SELECT {GROUPS[by]} AS k, COUNT(*), COALESCE(SUM(cost_usd), 0.0) FROM media_calls"
            " WHERE created_at >= ? GROUP BY k", (since,)).fetchall()
    except Exception:  # a store from before the media_calls table: nothing to add
        return rows
    by_key = {r["key"]: r for r in rows}
    for key, count, cost in media:
        row = by_key.get(key)
        if row is None:
            row = by_key[key] = {"key": key, **dict.fromkeys(COLUMNS, 0)}
            row["cost_usd"] = 0.0
            rows.append(row)
        row["requests"] += count
        row["cost_usd"] += cost
    return rows


def _usd(v: float) -> str:
    return f"${v:,.4f}" if v < 100 else f"${v:,.2f}"


def print_table(report: dict[str, Any], by: str, since_text: str) -> None:
    """The report as Rich tables on the terminal: the sums, then spend per day as bars."""
    from rich.bar import Bar
    from rich.console import Console
    from rich.table import Table

    from ..render import sanitize

    console = Console(highlight=False)
    table = Table(title=f"usage since {since_text}, by {by}", title_justify="left")
    table.add_column(by)
    for name in ("requests", "prompt tokens", "completion tokens", "USD", "cache hits"):
        table.add_column(name, justify="right")
    for r in report["rows"]:
        table.add_row(sanitize(str(r["key"])), f"{r['requests']:,}", f"{r['prompt_tokens']:,}",
                      f"{r['completion_tokens']:,}", _usd(r["cost_usd"]), f"{r['cache_hits']:,}")
    t = report["total"]
    table.add_section()
    table.add_row("total", f"{t['requests']:,}", f"{t['prompt_tokens']:,}",
                  f"{t['completion_tokens']:,}", _usd(t["cost_usd"]), f"{t['cache_hits']:,}",
                  style="bold")
    console.print(table)
    days = report["days"]
    if not days:
        return
    top = max(d["cost_usd"] for d in days) or 1.0
    chart = Table(title="spend per day", title_justify="left", show_header=False, box=None)
    chart.add_column("day")
    chart.add_column("bar", width=40)
    chart.add_column("USD", justify="right")
    for d in days:
        chart.add_row(d["day"], Bar(top, 0, d["cost_usd"], width=40), _usd(d["cost_usd"]))
    console.print(chart)


def team_figures() -> list[Any]:
    """What each team gateway's proxy reports for your key
    (:func:`termchat.client.gateway.team_spend`, a list of ``TeamSpend``; ``[]`` without
    gateways). Never raises: a gateway that does not answer says why in its entry."""
    from ..config import load_config

    config = load_config()
    from ..client.gateway import gateways, team_spend

    return team_spend(config) if gateways(config) else []


def print_team(spends: list[Any]) -> None:
    """The team gateways' figures as a Rich table: endpoint, spent, budget, left, window."""
    if not spends:
        return
    from rich.console import Console
    from rich.table import Table

    from ..render import sanitize

    table = Table(title="team gateways (as the proxy reports your key)", title_justify="left")
    for name, justify in (("gateway", "left"), ("spent", "right"), ("budget", "right"),
                          ("left", "right"), ("window", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in spends:
        if not t.reported:
            table.add_row(sanitize(t.endpoint), "—", "—", "—",
                          sanitize(f"not reported: {t.error}"))
            continue
        window = t.budget_duration or ""
        if t.budget_reset_at:
            window += f" (resets {t.budget_reset_at})"
        table.add_row(sanitize(t.endpoint), _usd(t.spend_usd or 0.0),
                      _usd(t.max_budget_usd) if t.max_budget_usd is not None else "none",
                      _usd(t.remaining_usd) if t.remaining_usd is not None else "—",
                      sanitize(window.strip()), style="bold red" if t.exceeded else None)
    Console(highlight=False).print(table)


def register(app: typer.Typer) -> None:
    """Add the ``usage`` command to ``app``."""

    @app.command("usage", help=HELP)
    def usage(
        since: str = typer.Option("30d", "--since", help="7d, 12h, 2w, a date (2026-11-01) or all."),
        by: str = typer.Option("day", "--by", help="Group by day, model or provider.",
                               autocompletion=lambda incomplete: [g for g in GROUPS if g.startswith(incomplete)]),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        team: bool = typer.Option(True, "--team/--no-team",
                                  help="Ask team gateways (LiteLLM proxies) for your key's spend."),
    ) -> None:
        if by not in GROUPS:
            raise UsageError(f"--by takes day, model or provider, not {by!r}")
        start = parse_since(since)
        from ..store import Store

        store = Store()
        try:
            report = query(store.db, start, by, chart=as_json or sys.stdout.isatty())
        finally:
            store.close()
        report = {"since": start, "by": by, **report}
        spends = team_figures() if team and (as_json or sys.stdout.isatty()) else []
        if as_json:
            report["team"] = [t.to_dict() for t in spends]
            from ..render import json_dumps

            sys.stdout.write(json_dumps(report) + "\n")
        elif sys.stdout.isatty():
            print_table(report, by, since)
            print_team(spends)
        else:
            from ..render import sanitize

            lines = ["\t".join((by, *COLUMNS))]
            for r in [*report["rows"], {"key": "total", **report["total"]}]:
                lines.append("\t".join([sanitize(str(r["key"])), *(
                    f"{r[c]:.6f}" if c == "cost_usd" else str(r[c]) for c in COLUMNS)]))
            sys.stdout.write("\n".join(lines) + "\n")
