"""The budget check itself under a real race: eight processes released at the same instant
(a barrier) each call `termchat.client.budget.reserve` on the same store; the limit fits
exactly three estimates, so exactly three may pass — whatever the interleaving."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
from pathlib import Path

from tests.conftest import write_config


def _contender(home: str, barrier, results) -> None:
    os.environ["TERMCHAT_HOME"] = home
    from termchat.client import budget
    from termchat.config import load_config
    from termchat.store import Store

    config, store = load_config(), Store()
    barrier.wait()
    try:
        hold = budget.reserve(config, store, "openai/gpt-budget", 0.01)
        results.put(("passed", hold.hold_id))
        barrier.wait()  # keep the hold open (this process alive) until everyone has checked
    except budget.BudgetExceeded as err:
        results.put(("refused", err.message))
        barrier.wait()


def test_exactly_as_many_pass_as_the_limit_holds(home: Path):
    write_config(home, "[budget]\ndaily_usd = 0.035\n")  # 3 × $0.01 fit, 4 do not
    from termchat.store import Store

    Store().close()  # migrated before the race
    ctx = mp.get_context("spawn")
    n = 8
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(str(home), barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(kind for kind, _ in got) == ["passed"] * 3 + ["refused"] * 5
    refused = [msg for kind, msg in got if kind == "refused"]
    assert all("$0.0300 held by requests under way + $0.0100 estimated" in m for m in refused)
    with sqlite3.connect(home / "data" / "termchat.db") as db:
        assert db.execute("SELECT count(*) FROM budget_holds").fetchone()[0] == 3
