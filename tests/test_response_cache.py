"""The response cache through the real CLI against the loopback server: hits counted by the
server's requests, cost 0 and the cached mark in the history, the sampling rule, the TTL,
`termchat cache stats|clear`, and a corrupt cache rebuilt with the history intact."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from tests.conftest import write_config

ARGS = ("-m", "fake/gpt-4o-mini", "--cache", "-o", "temperature", "0")


def _config(home: Path, fake, extra: str = "") -> None:
    write_config(home, f'retries = 0\n{extra}\n[endpoints.fake]\napi_base = "{fake.base_url}"\n')


def _requests(fake) -> int:
    return len(fake.requests_to("/v1/chat/completions"))


def _rows(home: Path) -> list[tuple]:
    db = sqlite3.connect(home / "data" / "termchat.db")
    return db.execute("SELECT content, model, cost_usd, cached FROM messages WHERE role = 'assistant'"
                      " ORDER BY id").fetchall()


def test_a_hit_replays_without_a_request_costs_nothing_and_is_marked(cli, fake, home):
    _config(home, fake)
    fake.script({"text": "line one\nline two", "usage": {"prompt_tokens": 10, "completion_tokens": 4}})
    first = cli("ask", *ARGS, "--json", "-u", "same question")
    assert first.returncode == 0, first.stderr
    d1 = json.loads(first.stdout)
    assert d1["cached"] is False and d1["cost_usd"] > 0
    second = cli("ask", *ARGS, "--json", "-u", "same question")
    assert second.returncode == 0, second.stderr
    d2 = json.loads(second.stdout)
    assert d2["cached"] is True and d2["cost_usd"] == 0.0 and d2["text"] == "line one\nline two"
    assert d2["model"] == "fake/gpt-4o-mini" and d2["usage"]["prompt_tokens"] == 10
    assert "cached reply from" in second.stderr and "$0.000000" in second.stderr
    assert _requests(fake) == 1  # the server saw one request
    assert [r[3] for r in _rows(home)] == [0, 1]
    assert _rows(home)[1][2] == 0.0
    # the history says so
    shown = json.loads(cli("history", "show", d2["conversation_id"], "--json").stdout)
    assert [m["cached"] for m in shown["messages"]] == [False, True]
    assert "from the response cache" in cli("history", "show", d2["conversation_id"]).stdout
    # a pipe gets the exact text either way
    third = cli("ask", *ARGS, "same question")
    assert third.stdout == "line one\nline two" and _requests(fake) == 1


def test_the_key_is_model_messages_and_parameters(cli, fake, home):
    _config(home, fake)
    fake.script({"text": "a"}, {"text": "b"}, {"text": "c"}, {"text": "d"})
    assert cli("ask", *ARGS, "q").stdout == "a"
    assert cli("ask", *ARGS, "-o", "max_tokens", "5", "q").stdout == "b"  # other parameters
    assert cli("ask", *ARGS, "-s", "Be terse.", "q").stdout == "c"  # other messages
    assert cli("ask", "-m", "fake/other", "--cache", "-o", "temperature", "0", "q").stdout == "d"
    assert cli("ask", *ARGS, "q").stdout == "a"
    assert _requests(fake) == 4


def test_sampled_replies_are_not_cached_unless_asked(cli, fake, home):
    _config(home, fake)
    fake.script({"text": "one"}, {"text": "two"}, {"text": "three"}, {"text": "four"})
    r1 = cli("ask", "-m", "fake/m", "--cache", "q")
    r2 = cli("ask", "-m", "fake/m", "--cache", "q")
    assert (r1.stdout, r2.stdout) == ("one", "two")
    assert "not cached: temperature is not set" in r1.stderr
    r3 = cli("ask", "-m", "fake/m", "--cache", "-o", "temperature", "0.7", "q")
    assert r3.stdout == "three" and "temperature 0.7 samples" in r3.stderr
    _config(home, fake, "[cache]\nsampled = true\nenabled = true\n")
    assert cli("ask", "-m", "fake/m", "-o", "temperature", "0.7", "q").stdout == "four"
    assert cli("ask", "-m", "fake/m", "-o", "temperature", "0.7", "q").stdout == "four"
    assert cli("ask", "-m", "fake/m", "--no-cache", "-o", "temperature", "0.7", "q").stdout \
        == "Hello from the scripted server."
    assert _requests(fake) == 5


def test_off_by_default_and_failures_are_never_cached(cli, fake, home):
    _config(home, fake)
    fake.script({"text": "x"}, {"text": "y"})
    assert cli("ask", "-m", "fake/m", "-o", "temperature", "0", "q").stdout == "x"
    assert cli("ask", "-m", "fake/m", "-o", "temperature", "0", "q").stdout == "y"
    fake.script({"text": "cut short here", "disconnect_after": 1}, {"text": "whole"})
    assert cli("ask", *ARGS, "r").returncode == 4
    assert cli("ask", *ARGS, "r").stdout == "whole"
    assert cli("ask", *ARGS, "r").stdout == "whole"
    assert _requests(fake) == 4


def test_ttl_stats_and_clear(cli, fake, home):
    _config(home, fake, "[cache]\nttl_seconds = 1.5\n")
    fake.script({"text": "v1", "usage": {"prompt_tokens": 1000, "completion_tokens": 1000}},
                {"text": "v2"}, {"text": "v3"})
    assert cli("ask", *ARGS, "q").stdout == "v1"
    assert cli("ask", *ARGS, "q").stdout == "v1"
    st = json.loads(cli("cache", "stats", "--json").stdout)
    assert st["entries"] == 1 and st["hits"] == 1 and st["saved_usd"] > 0
    time.sleep(1.6)
    assert cli("ask", *ARGS, "q").stdout == "v2"  # expired
    r = cli("cache", "clear")
    assert r.returncode == 0 and "removed 1 entry" in r.stdout
    assert json.loads(cli("cache", "stats", "--json").stdout)["entries"] == 0
    assert cli("ask", *ARGS, "q").stdout == "v3"
    assert "response cache: 1 entries" in cli("cache", "stats").stdout


def test_a_corrupt_cache_is_rebuilt_and_the_history_is_untouched(cli, fake, home):
    _config(home, fake)
    fake.script({"text": "kept"}, {"text": "after rebuild"})
    assert cli("ask", *ARGS, "q").stdout == "kept"
    before = _rows(home)
    cache = home / "data" / "response-cache.db"
    for suffix in ("-wal", "-shm"):
        Path(str(cache) + suffix).unlink(missing_ok=True)
    cache.write_bytes(b"this is not a database" * 100)
    r = cli("ask", *ARGS, "q")
    assert r.returncode == 0 and r.stdout == "after rebuild", r.stderr
    assert cli("ask", *ARGS, "q").stdout == "after rebuild"  # the rebuilt cache works
    assert _rows(home)[: len(before)] == before
    assert "rebuilt empty" in (home / "logs" / "termchat.log").read_text()
    # a cache table of the wrong shape is rebuilt too
    db = sqlite3.connect(cache)
    db.execute("DROP TABLE replies")
    db.execute("CREATE TABLE replies (key TEXT)")
    db.commit()
    db.close()
    assert cli("ask", *ARGS, "q").returncode == 0
    assert json.loads(cli("cache", "stats", "--json").stdout)["entries"] == 1
    assert _requests(fake) == 3


def test_chain_and_cache_together_cache_the_model_that_answered(cli, fake, home):
    _config(home, fake, '[fallbacks]\n"fake/a" = ["fake/b"]\n')
    fake.script({"error": 429}, {"text": "from b"}, {"text": "direct b"})
    assert cli("ask", "-m", "fake/a", "--cache", "-o", "temperature", "0", "q").stdout == "from b"
    r = cli("ask", "-m", "fake/b", "--cache", "-o", "temperature", "0", "--json", "q")
    assert json.loads(r.stdout)["cached"] is True and json.loads(r.stdout)["text"] == "from b"
    assert _requests(fake) == 2
