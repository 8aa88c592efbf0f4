"""Benchmark (usage and budgets issue): ``termchat usage`` over 100,000 stored messages.

Builds a store of 100,000 messages (5,000 conversations of 20 messages, half of them priced
replies of six models over 90 days, ~300 characters each) through :class:`termchat.store.Store`
(so every migration ran), then times:

1. ``termchat usage`` as a real process (``--by day``, ``--by model``, ``--by provider``,
   ``--json``, ``--since 7d``), goal ≤ 0.5 s;
2. the query alone (:func:`termchat.cli.usage.query`) in this process, and the same query
   without the ``messages_usage*`` indexes, for comparison; and ``termchat usage`` over an
   empty store (the process's own start-up);
3. the budget's spent-so-far sums (:func:`termchat.client.budget.spent_parts`, what every
   ``ask`` with a budget runs before its request), today and this month.

    python bench/bench_usage.py [N]     # N runs each (default 7); prints medians
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from common import bench_env, compile_sources, load_average, median, run_timed, termchat_cmd

GOAL = 0.5
MODELS = ["openai/gpt-5.5", "openai/gpt-5.4-mini", "anthropic/claude-sonnet-5-5",
          "anthropic/claude-haiku-5-5", "gemini/gemini-flash-latest", "local/smollm2"]


def build(home: Path, n_conv: int = 5000, per_conv: int = 20) -> None:
    import os

    os.environ["TERMCHAT_HOME"] = str(home)
    from termchat.store import Store

    store = Store()
    db = store.db
    rng = random.Random(7)
    now = time.time()
    body = "lorem ipsum dolor sit amet " * 11
    db.execute("BEGIN")
    msg_rows = []
    for c in range(n_conv):
        cid = f"{c:014x}"
        start = now - rng.uniform(0, 90 * 86400)
        db.execute("INSERT INTO conversations (id, title, model, options, created_at, updated_at)"
                   " VALUES (?, 't', ?, '{}', ?, ?)", (cid, MODELS[c % 6], start, start))
        for i in range(per_conv):
            t = start + i * 30
            if i % 2 == 0:
                msg_rows.append((cid, "user", body, None, t, None, None, None))
            else:
                pt, ct = rng.randint(50, 4000), rng.randint(10, 800)
                model = MODELS[(c + i) % 6]
                msg_rows.append((cid, "assistant", body, model, t, pt, ct, pt * 2e-6 + ct * 8e-6))
    db.executemany(
        "INSERT INTO messages (conversation_id, role, content, model, created_at, prompt_tokens,"
        " completion_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", msg_rows)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    store.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    compile_sources()
    env = bench_env()
    home = Path(env["TERMCHAT_HOME"])
    t0 = time.perf_counter()
    build(home)
    print(f"load average {load_average()}; built 100,000 messages in {time.perf_counter() - t0:.1f} s"
          f" ({(home / 'data' / 'termchat.db').stat().st_size / 2**20:.0f} MiB)")
    tc = termchat_cmd()
    variants = {
        "usage (by day)": ["usage", "--since", "all"],
        "usage --by model": ["usage", "--since", "all", "--by", "model"],
        "usage --by provider": ["usage", "--since", "all", "--by", "provider"],
        "usage --json": ["usage", "--since", "all", "--json"],
        "usage --since 7d": ["usage", "--since", "7d"],
    }
    empty = bench_env()
    run_timed([*tc, "usage"], empty)
    t_empty = median([run_timed([*tc, "usage"], empty) for _ in range(n)])
    print(f"{'usage, empty store':22} process {t_empty:.3f} s   (start-up and store open)")
    for name, args in variants.items():
        run_timed([*tc, *args], env)
        t = median([run_timed([*tc, *args], env) for _ in range(n)])
        print(f"{name:22} process {t:.3f} s   goal {GOAL} s   ratio {t / GOAL:.2f}")

    from termchat.cli.usage import query
    from termchat.client.budget import period_start, spent_parts
    from termchat.store import Store

    store = Store()

    def timed(fn) -> float:
        fn()
        xs = []
        for _ in range(n):
            t1 = time.perf_counter()
            fn()
            xs.append(time.perf_counter() - t1)
        return median(xs)

    for by in ("day", "model", "provider"):
        with_index = timed(lambda by=by: query(store.db, 0.0, by))
        saved = store.db.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE"
                                 " 'messages_usage%'").fetchall()
        for name, _sql in saved:
            store.db.execute(f"DROP INDEX {name}")
        without = timed(lambda by=by: query(store.db, 0.0, by))
        for _name, sql in saved:
            store.db.execute(sql)
        print(f"query alone, by {by:8} {with_index * 1000:6.1f} ms   without the index "
              f"{without * 1000:6.1f} ms   ratio {with_index / without:.2f}")
    for period in ("day", "month"):
        t = timed(lambda period=period: spent_parts(store.db, period_start(period)))
        print(f"budget spent-so-far, {period:5} {t * 1000:6.2f} ms")
    store.close()
    import shutil

    for h in (home, Path(empty["TERMCHAT_HOME"])):
        shutil.rmtree(h, ignore_errors=True)


if __name__ == "__main__":
    main()
