"""Budgets: notices at 80 %, refusal at 100 % (exit 1, the figures), --over-budget once, per
provider and per month, config errors with the line, and the atomic check across real
concurrent ``termchat ask`` processes against the loopback server."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import clean_env, write_config
from tests.support.priced import REPLY, ask_args, priced_env


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "data" / "termchat.db")


def _spent(home: Path) -> float:
    with _db(home) as db:
        return db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM messages WHERE role = "
                          "'assistant'").fetchone()[0]


def test_notice_refusal_and_over_budget_once(cli, fake, home):
    write_config(home, "[budget]\ndaily_usd = 0.055\n")
    env = priced_env(home)
    fake.script(*[REPLY] * 5)
    for _ in range(2):  # 0 + 0.0105, then 0.02 + 0.0105: under 80 %
        r = cli(*ask_args(fake), "hi", env=env)
        assert r.returncode == 0, r.stderr
        assert "budget" not in r.stderr
    r = cli(*ask_args(fake), "hi", env=env)  # 0.04 + 0.0105 = 92 %
    assert r.returncode == 0, r.stderr
    assert "92% of the daily budget ($0.0505 of $0.0550 today" in r.stderr
    assert abs(_spent(home) - 0.06) < 1e-9

    r = cli(*ask_args(fake), "hi", env=env)
    assert r.returncode == 1
    assert ("daily budget reached: $0.0600 spent today + $0.0105 estimated for this request > "
            "$0.0550 (budget.daily_usd)") in r.stderr
    assert "--over-budget" in r.stderr
    assert len(fake.requests_to("/v1/chat/completions")) == 3  # nothing was sent

    r = cli(*ask_args(fake), "--over-budget", "hi", env=env)
    assert r.returncode == 0, r.stderr
    assert "over the daily budget (--over-budget)" in r.stderr
    assert len(fake.requests_to("/v1/chat/completions")) == 4
    r = cli(*ask_args(fake), "hi", env=env)  # --over-budget passed one request only
    assert r.returncode == 1 and "$0.0800 spent today" in r.stderr
    with _db(home) as db:  # every hold was settled into its stored reply
        assert db.execute("SELECT count(*) FROM budget_holds").fetchone()[0] == 0


def test_provider_and_monthly_limits(cli, fake, home):
    write_config(home, "[budget]\nmonthly_usd = 1.0\n[budget.providers.openai]\ndaily_usd = 0.015\n"
                 f'[endpoints.free]\napi_base = "{fake.base_url}"\n')
    env = priced_env(home)
    fake.script(REPLY, REPLY)
    assert cli(*ask_args(fake), "hi", env=env).returncode == 0
    r = cli(*ask_args(fake), "hi", env=env)
    assert r.returncode == 1
    assert "daily openai budget reached: $0.0200 spent today" in r.stderr
    assert "(budget.providers.openai.daily_usd)" in r.stderr
    # another provider (an unpriced endpoint) is not held by openai's limit
    r = cli("ask", "-m", "free/m", "hi", env=env)
    assert r.returncode == 0, r.stderr

    write_config(home, "[budget]\nmonthly_usd = 0.025\n")
    r = cli(*ask_args(fake), "hi", env=env)
    assert r.returncode == 1
    assert "monthly budget reached: $0.0200 spent this month" in r.stderr


def test_no_log_spend_still_counts(cli, fake, home):
    write_config(home, "[budget]\ndaily_usd = 0.025\n")
    env = priced_env(home)
    fake.script(REPLY)
    assert cli(*ask_args(fake), "--no-log", "hi", env=env).returncode == 0
    with _db(home) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
        rows = db.execute("SELECT state, amount_usd FROM budget_holds").fetchall()
    assert rows == [("settled", 0.02)]
    r = cli(*ask_args(fake), "hi", env=env)
    assert r.returncode == 1 and "$0.0200 spent today" in r.stderr


def test_bad_budget_values_name_key_and_line(cli, home):
    path = write_config(home, '# mine\n[budget]\ndaily_usd = "five"\n')
    r = cli("ask", "-m", "openai/gpt-4o", "hi")
    assert r.returncode == 3
    assert f"{path}, line 3: budget.daily_usd must be a float" in r.stderr
    write_config(home, "[budget]\nmonthly_usd = -1\n")
    r = cli("config", "show")
    assert r.returncode == 3 and "budget.monthly_usd must be ≥ 0" in r.stderr
    write_config(home, '[budget.providers.openai]\n\ndaily_usd = "x"\n')
    r = cli("ask", "-m", "openai/gpt-4o", "hi")
    assert r.returncode == 3
    assert "line 3: budget.providers.openai.daily_usd must be a number of USD ≥ 0" in r.stderr
    write_config(home, "[budget.providers.openai]\nweekly_usd = 3\n")
    r = cli("ask", "-m", "openai/gpt-4o", "hi")
    assert r.returncode == 3 and "line 2: budget.providers.openai.weekly_usd must be one of" in r.stderr


def _spawn(home: Path, fake, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "termchat", *ask_args(fake), "hi"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env(home, **env), cwd=str(home))


def test_concurrent_asks_cannot_both_pass_the_last_cent(fake, home):
    # $0.015 left: one request's estimate ($0.0105) fits, two do not. Four processes race.
    write_config(home, "[budget]\ndaily_usd = 0.015\n")
    env = priced_env(home)
    fake.script(*[{**REPLY, "delay": 0.3}] * 4)
    procs = [_spawn(home, fake, env) for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(c for c, _ in results)
    assert codes == [0, 1, 1, 1], results
    refused = [e for c, e in results if c == 1]
    assert all("daily budget reached: $0.0000 spent today + $0.0105 held by requests under way"
               " + $0.0105 estimated for this request > $0.0150" in e for e in refused)
    assert len(fake.requests_to("/v1/chat/completions")) == 1
    assert abs(_spent(home) - 0.02) < 1e-9
    with _db(home) as db:
        assert db.execute("SELECT count(*) FROM budget_holds").fetchone()[0] == 0


def test_hold_of_a_killed_process_stops_counting(fake, home, cli):
    write_config(home, "[budget]\ndaily_usd = 0.015\n")
    env = priced_env(home)
    fake.script({**REPLY, "stall": 60})
    proc = _spawn(home, fake, env)
    try:
        fake.wait_for_requests(1, timeout=60)
        with _db(home) as db:
            assert db.execute("SELECT state FROM budget_holds").fetchall() == [("open",)]
        r = cli(*ask_args(fake), "hi", env=env)  # the live process's hold counts
        assert r.returncode == 1 and "$0.0105 held by requests under way" in r.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    fake.reset()
    fake.script(REPLY)
    r = cli(*ask_args(fake), "hi", env=env)
    assert r.returncode == 0, r.stderr
    with _db(home) as db:  # the dead process's hold was swept
        assert db.execute("SELECT count(*) FROM budget_holds").fetchone()[0] == 0


def test_config_set_and_show_provider_budgets(cli, home):
    r = cli("config", "set", "budget.providers.openai.daily_usd", "2.5")
    assert r.returncode == 0, r.stderr
    r = cli("config", "set", "budget.daily_usd", "4")
    assert r.returncode == 0, r.stderr
    text = (home / "config" / "config.toml").read_text()
    assert "[budget.providers.openai]\ndaily_usd = 2.5" in text and "daily_usd = 4.0" in text
    r = cli("config", "show")
    assert r.returncode == 0 and "budget.daily_usd = 4.0" in r.stdout
    assert "ignored, not a termchat setting" not in r.stdout  # [budget.providers] is known
    r = cli("config", "set", "budget.providers.openai.daily_usd", "--", "-1")
    assert r.returncode == 3 and "must be a number of USD ≥ 0" in r.stderr
    assert "daily_usd = 2.5" in (home / "config" / "config.toml").read_text()  # untouched
    r = cli("config", "set", "budget.providers.openai.weekly_usd", "1")
    assert r.returncode == 2 and "unknown setting" in r.stderr
    assert cli("config", "unset", "budget.providers.openai.daily_usd").returncode == 0
    assert "providers" not in (home / "config" / "config.toml").read_text()
