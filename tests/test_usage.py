"""`termchat usage` over a store filled through real asks to the loopback server, with scripted
usage and catalog prices: sums by day, model and provider; JSON, a pipe, a terminal."""

from __future__ import annotations

import json
import sqlite3
import time

from tests.support.priced import REPLY, ask_args, priced_env
from tests.support.tty import run_on_tty


def _fill(cli, fake, home) -> dict[str, str]:
    env = priced_env(home)
    fake.script(REPLY, REPLY, {"text": "ok", "usage": {"prompt_tokens": 1000, "completion_tokens": 100}})
    for model in ("gpt-budget", "gpt-budget", "gpt-cheap"):
        r = cli(*ask_args(fake, model), "hi", env=env)
        assert r.returncode == 0, r.stderr
    return env


def test_usage_json_by_model_provider_and_day(cli, fake, home):
    env = _fill(cli, fake, home)
    r = cli("usage", "--by", "model", "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {row["key"]: row for row in doc["rows"]}
    assert rows["openai/gpt-budget"]["requests"] == 2
    assert rows["openai/gpt-budget"]["prompt_tokens"] == 200
    assert rows["openai/gpt-budget"]["completion_tokens"] == 20
    assert abs(rows["openai/gpt-budget"]["cost_usd"] - 0.04) < 1e-9
    assert abs(rows["openai/gpt-cheap"]["cost_usd"] - 0.002) < 1e-9  # 1000 × 1e-6 + 100 × 1e-5
    assert [row["key"] for row in doc["rows"]] == ["openai/gpt-budget", "openai/gpt-cheap"]
    assert doc["total"]["requests"] == 3 and doc["total"]["cache_hits"] == 0
    assert abs(doc["total"]["cost_usd"] - 0.042) < 1e-9

    r = cli("usage", "--by", "provider", "--json", env=env)
    prov = json.loads(r.stdout)["rows"]
    assert [(p["key"], p["requests"]) for p in prov] == [("openai", 3)]

    today = time.strftime("%Y-%m-%d")
    r = cli("usage", "--json", env=env)
    doc = json.loads(r.stdout)
    assert [d["day"] for d in doc["days"]] == [today]
    assert doc["rows"][0]["key"] == today and doc["rows"][0]["requests"] == 3


def test_usage_since_and_cache_hits(cli, fake, home):
    env = _fill(cli, fake, home)
    db = sqlite3.connect(home / "data" / "termchat.db")
    with db:  # move one reply 10 days back; mark one as a cache hit when the column exists
        db.execute("UPDATE messages SET created_at = created_at - 10 * 86400 WHERE id = "
                   "(SELECT min(id) FROM messages WHERE role = 'assistant')")
        cols = {r[1] for r in db.execute("PRAGMA table_info(messages)")}
        if "cached" in cols:
            db.execute("UPDATE messages SET cached = 1, cost_usd = 0 WHERE id = "
                       "(SELECT max(id) FROM messages WHERE role = 'assistant')")
    db.close()
    week = json.loads(cli("usage", "--since", "7d", "--json", env=env).stdout)
    assert week["total"]["requests"] == 2
    month = json.loads(cli("usage", "--since", "30d", "--json", env=env).stdout)
    assert month["total"]["requests"] == 3 and len(month["days"]) == 2
    old = time.strftime("%Y-%m-%d", time.localtime(time.time() - 9 * 86400))
    since = json.loads(cli("usage", "--since", old, "--json", env=env).stdout)
    assert since["total"]["requests"] == 2
    if "cached" in cols:
        assert week["total"]["cache_hits"] == 1
    r = cli("usage", "--since", "yesterday")
    assert r.returncode == 2 and "--since takes 7d" in r.stderr
    r = cli("usage", "--by", "week")
    assert r.returncode == 2 and "--by takes day, model or provider" in r.stderr


def test_usage_pipe_is_tab_separated_and_terminal_has_bars(cli, fake, home):
    env = _fill(cli, fake, home)
    r = cli("usage", "--by", "model", env=env)
    lines = r.stdout.splitlines()
    assert lines[0] == "model\trequests\tprompt_tokens\tcompletion_tokens\tcost_usd\tcache_hits"
    assert lines[1] == "openai/gpt-budget\t2\t200\t20\t0.040000\t0"
    assert lines[-1].startswith("total\t3\t1200\t120\t0.042000")
    code, out, err = run_on_tty(home, "usage", env={**env, "COLUMNS": "120"})
    text = out.decode("utf-8", "replace")
    assert code == 0, err
    assert "usage since 30d, by day" in text and "spend per day" in text
    assert "$0.0420" in text
    assert "█" in text  # the bar of the day


def test_usage_counts_image_calls_beside_the_chat_replies(cli, fake, home):
    """A real `termchat image` (priced by the catalog) is stored in media_calls and counted
    by `termchat usage` as a request with its USD; with config log = false it is not."""
    env = _fill(cli, fake, home)
    r = cli("image", "logo of a fox", "--size", "1024x1024", "--quality", "low", "--n", "2",
            "--api-base", fake.base_url, "--output", "logo-{n}.png", "--json", env=env)
    assert r.returncode == 0, r.stderr
    cost = json.loads(r.stdout)["cost_usd"]
    assert abs(cost - 2 * 0.011) < 1e-9  # tests/support/priced.py: $0.011 per low 1024² image
    r = cli("usage", "--by", "model", "--json", env=env)
    doc = json.loads(r.stdout)
    rows = {row["key"]: row for row in doc["rows"]}
    assert rows["openai/gpt-image-1"]["requests"] == 1
    assert abs(rows["openai/gpt-image-1"]["cost_usd"] - cost) < 1e-9
    assert rows["openai/gpt-image-1"]["prompt_tokens"] == 0
    assert doc["total"]["requests"] == 4 and abs(doc["total"]["cost_usd"] - 0.042 - cost) < 1e-9
    day = json.loads(cli("usage", "--json", env=env).stdout)
    assert day["rows"][0]["requests"] == 4
    assert abs(day["days"][0]["cost_usd"] - 0.042 - cost) < 1e-9

    assert cli("config", "set", "log", "false", env=env).returncode == 0
    r = cli("image", "logo", "--api-base", fake.base_url, "--output", "x.png", env=env)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(home / "data" / "termchat.db") as db:
        assert db.execute("SELECT count(*) FROM media_calls").fetchone()[0] == 1
