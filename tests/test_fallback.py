"""Fallback chains through the real CLI (subprocesses, real pipes) and through the warm core,
driven by the loopback server's 429 / 500 / cut / timeout / auth / context-window answers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import clean_env, write_config

CHAIN = '[fallbacks]\n"fake/a" = ["fake/b", "fake/c"]\n'


def _config(home: Path, fake, extra: str = "", chain: str = CHAIN, timeout: float = 30) -> None:
    write_config(home, f'retries = 0\ntimeout = {timeout}\n{extra}\n{chain}\n'
                       f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')


def _models(fake) -> list[str]:
    return [r.body["model"] for r in fake.requests_to("/v1/chat/completions")]


def _replies(home: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(home / "data" / "termchat.db")
    return db.execute("SELECT model, content FROM messages WHERE role = 'assistant' ORDER BY id").fetchall()


def test_rate_limit_falls_back_and_the_reply_names_the_model_that_answered(cli, fake, home):
    _config(home, fake)
    fake.script({"error": 429, "message": "slow down"}, {"text": "from b"})
    r = cli("ask", "-m", "fake/a", "--json", "hi")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["text"] == "from b" and doc["model"] == "fake/b"
    assert _models(fake) == ["a", "b"]
    assert "fake/a failed before any text (rate limited" in r.stderr
    assert "trying fake/b" in r.stderr and "answered by fake/b (fake/a: rate limited" in r.stderr
    assert _replies(home) == [("fake/b", "from b")]


def test_5xx_then_cut_before_text_walk_the_whole_chain(cli, fake, home):
    _config(home, fake)
    fake.script({"error": 500, "message": "boom"}, {"text": "never seen", "disconnect_after": 0},
                {"text": "from c"})
    r = cli("ask", "-m", "fake/a", "q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from c"
    assert _models(fake) == ["a", "b", "c"]
    assert "fake/a failed before any text" in r.stderr
    assert "fake/b failed before any text (connection failed" in r.stderr
    assert "answered by fake/c" in r.stderr


def test_a_cut_after_text_never_falls_back(cli, fake, home):
    _config(home, fake)
    fake.script({"text": "alpha beta gamma delta", "disconnect_after": 2}, {"text": "second answer"})
    r = cli("ask", "-m", "fake/a", "q")
    assert r.returncode == 4, r.stderr
    assert r.stdout.startswith("alpha")
    assert _models(fake) == ["a"]  # no silent double answer
    assert "trying" not in r.stderr
    assert _replies(home)[0][0] == "fake/a"


def test_timeout_falls_back(cli, fake, home):
    # 10 s: under a loaded CI machine the first request of a process is slow to leave it
    _config(home, fake, timeout=10)
    fake.script({"text": "late", "stall": 60}, {"text": "in time"})
    r = cli("ask", "-m", "fake/a", "q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "in time"
    assert "fake/a failed before any text (timed out" in r.stderr


def test_a_context_window_too_small_falls_back(cli, fake, home):
    _config(home, fake)
    fake.script({"error": 400, "code": "context_length_exceeded", "message": "too long"},
                {"text": "fits"})
    r = cli("ask", "-m", "fake/a", "q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "fits"
    assert "fake/a failed before any text (context window too small" in r.stderr


def test_a_rejected_key_stops_unless_fallback_on_auth(cli, fake, home):
    _config(home, fake)
    fake.script({"error": 401, "message": "bad key"}, {"text": "unused"})
    r = cli("ask", "-m", "fake/a", "q")
    assert r.returncode == 3 and "rejected the key" in r.stderr
    assert _models(fake) == ["a"]
    fake.reset()
    _config(home, fake, extra="fallback_on_auth = true")
    fake.script({"error": 401, "message": "bad key"}, {"text": "from b"})
    r = cli("ask", "-m", "fake/a", "q")
    assert r.returncode == 0 and r.stdout == "from b", r.stderr
    assert "key missing or rejected" in r.stderr


def test_a_bad_request_is_not_passed_on(cli, fake, home):
    _config(home, fake)
    fake.script({"error": 400, "message": "bad parameter"}, {"text": "unused"})
    r = cli("ask", "-m", "fake/a", "q")
    assert r.returncode == 1
    assert _models(fake) == ["a"]


def test_missing_key_falls_back_without_sending_and_the_last_error_is_reported(cli, fake, home):
    _config(home, fake, chain="")
    fake.script({"text": "from b"})
    r = cli("ask", "-m", "openai/gpt-4o-mini", "--fallback", "fake/b", "q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from b"
    assert "openai/gpt-4o-mini failed before any text (key missing or rejected: no API key" in r.stderr
    assert _models(fake) == ["b"]
    # without a chain a missing key is the usual error, before anything is sent
    r = cli("ask", "-m", "openai/gpt-4o-mini", "q")
    assert r.returncode == 3 and "no API key for openai" in r.stderr
    # every model fails: the last failure is the error, each earlier one was announced
    fake.script({"error": 503, "message": "down"})
    r = cli("ask", "-m", "openai/gpt-4o-mini", "--fallback", "fake/b", "q")
    assert r.returncode == 1 and "down" in r.stderr and "trying fake/b" in r.stderr


def test_fallback_flag_replaces_the_configured_chain_and_typos_are_usage_errors(cli, fake, home):
    _config(home, fake)
    fake.script({"error": 429}, {"text": "from z"})
    r = cli("ask", "-m", "fake/a", "--fallback", "fake/z", "q")
    assert r.returncode == 0 and r.stdout == "from z", r.stderr
    assert _models(fake) == ["a", "z"]
    r = cli("ask", "-m", "fake/a", "--fallback", "nosuchmodel", "q")
    assert r.returncode == 2 and "nosuchmodel" in r.stderr


def test_chain_validation_at_load_names_the_model_and_the_loop(cli, fake, home):
    _config(home, fake, chain='[fallbacks]\nclaude = ["gtp-5"]\n')
    r = cli("ask", "-m", "fake/a", "q")
    assert r.returncode == 3
    assert "fallbacks.claude" in r.stderr and "gtp-5" in r.stderr and "line" in r.stderr
    _config(home, fake, chain='[fallbacks]\n"fake/a" = ["fake/b"]\n"fake/b" = ["fake/c"]\n'
                              '"fake/c" = ["fake/a"]\n')
    r = cli("ask", "-m", "fake/a", "q")
    assert r.returncode == 3 and "loop" in r.stderr
    assert "fake/a → fake/b → fake/c → fake/a" in r.stderr
    _config(home, fake, chain='[fallbacks]\ndefault = "fake/b"\n')
    r = cli("ask", "-m", "fake/a", "q")
    assert r.returncode == 3 and "fallbacks.default must be a list of model names" in r.stderr
    assert fake.requests_to("/v1/chat/completions") == []


def test_default_chain_and_transitive_chains(cli, fake, home):
    _config(home, fake, chain='[fallbacks]\ndefault = ["fake/b"]\n"fake/b" = ["fake/c"]\n')
    fake.script({"error": 429}, {"error": 502}, {"text": "from c"})
    r = cli("ask", "-m", "fake/x", "q")
    assert r.returncode == 0 and r.stdout == "from c", r.stderr
    assert _models(fake) == ["x", "b", "c"]


def test_image_and_speech_fall_back(cli, fake, home, tmp_path):
    _config(home, fake, chain='[fallbacks]\n"fake/img-a" = ["fake/img-b"]\n'
                              '"fake/tts-a" = ["fake/tts-b"]\n')
    fake.script({"error": 429, "family": "images"}, {"image": {}, "family": "images"})
    out = tmp_path / "pic.png"
    r = cli("image", "-m", "fake/img-a", "-o", str(out), "a cat")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [q.body["model"] for q in fake.requests_to("/v1/images/generations")] == ["img-a", "img-b"]
    assert "answered by fake/img-b" in r.stderr
    fake.script({"error": 500, "family": "speech"}, {"speech": {}, "family": "speech"})
    wav = tmp_path / "s.wav"
    r = cli("speak", "-m", "fake/tts-a", "--format", "wav", "-o", str(wav), "hello there")
    assert r.returncode == 0, r.stderr
    assert wav.read_bytes()[:4] == b"RIFF"
    assert [q.body["model"] for q in fake.requests_to("/v1/audio/speech")] == ["tts-a", "tts-b"]


# -- through the warm core ---------------------------------------------------------------------


def _ask(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = clean_env(home)
    env.pop("TERMCHAT_NO_WARM")
    return subprocess.run([sys.executable, "-m", "termchat", "ask", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def _served(home: Path) -> int:
    env = clean_env(home)
    env.pop("TERMCHAT_NO_WARM")
    r = subprocess.run([sys.executable, "-m", "termchat", "warm", "status", "--json"],
                       capture_output=True, text=True, env=env, timeout=60)
    return int(json.loads(r.stdout).get("served", -1))


def test_fallbacks_and_cache_hits_through_the_warm_core(whome, fake):
    _config(whome, fake)
    fake.script({"text": "cold"})
    assert _ask(whome, "-m", "fake/a", "warm up").returncode == 0  # in-process; starts a core
    deadline = time.monotonic() + 60
    while _served(whome) < 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _served(whome) == 0
    fake.script({"error": 429}, {"error": 500}, {"text": "warm c"})
    r = _ask(whome, "-m", "fake/a", "q")
    assert r.returncode == 0 and r.stdout == "warm c", r.stderr
    assert _models(fake)[-3:] == ["a", "b", "c"]
    assert _served(whome) == 3  # each model of the chain was a request to the warm core
    # a cache hit never reaches the warm core nor the server
    fake.script({"text": "to cache"})
    args = ("-m", "fake/b", "--cache", "-o", "temperature", "0", "--json", "cache me")
    first, second = _ask(whome, *args), _ask(whome, *args)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["cached"] is True and json.loads(second.stdout)["text"] == "to cache"
    assert len(fake.requests_to("/v1/chat/completions")) == 5
    assert _served(whome) == 4


def test_chat_refuses_an_unknown_fallback_before_the_screen(cli, fake, home):
    _config(home, fake)
    r = cli("chat", "--fallback", "nosuchmodel", timeout=60)
    assert r.returncode == 2 and "nosuchmodel" in r.stderr
