"""Budgets for `termchat image` and `termchat speak` (real processes, the loopback server,
prices from the catalog LiteLLM bundles): the estimate is held, the cost settled, a limit
refuses the next request with exit 1 and nothing is sent or written; --over-budget passes it."""

from __future__ import annotations

import sqlite3

from tests.conftest import write_config

IMAGES = "/v1/images/generations"


def _holds(home):
    with sqlite3.connect(home / "data" / "termchat.db") as db:
        return db.execute("SELECT state, round(amount_usd, 6), model FROM budget_holds").fetchall()


def test_image_budget(cli, fake, home):
    write_config(home, "[budget]\ndaily_usd = 0.03\n")
    args = ["image", "a fox", "--size", "1024x1024", "--quality", "low", "--n", "2",
            "--api-base", fake.base_url]
    r = cli(*args, "-o", "a-{n}.png")
    assert r.returncode == 0, r.stderr
    assert _holds(home) == [("settled", 0.022, "openai/gpt-image-1")]  # 2 × $0.011
    r = cli(*args, "-o", "b-{n}.png")
    assert r.returncode == 1
    assert ("daily budget reached: $0.0220 spent today + $0.0220 estimated for this request > "
            "$0.0300 (budget.daily_usd)") in r.stderr
    assert len(fake.requests_to(IMAGES)) == 1 and not (home / "b-1.png").exists()
    r = cli(*args, "-o", "b-{n}.png", "--over-budget")
    assert r.returncode == 0, r.stderr
    assert "over the daily budget (--over-budget)" in r.stderr
    assert (home / "b-1.png").exists() and len(fake.requests_to(IMAGES)) == 2


def test_speech_budget_per_provider(cli, fake, home):
    write_config(home, "[budget.providers.openai]\nmonthly_usd = 0.0001\n")
    base = ["-m", "tts-1", "--api-base", fake.base_url]
    r = cli("speak", "Hello", *base, "-o", "one.mp3")  # 5 characters × $0.000015
    assert r.returncode == 0, r.stderr
    assert _holds(home) == [("settled", 7.5e-05, "openai/tts-1")]
    r = cli("speak", "Hello", *base, "-o", "two.mp3")
    assert r.returncode == 1
    assert "monthly openai budget reached: $0.0001 spent this month" in r.stderr
    assert not (home / "two.mp3").exists()
