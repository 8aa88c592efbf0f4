"""`termchat models`, `models info|default|pull|rm` and `termchat aliases`: real CLI subprocesses
against the scripted loopback server acting as Ollama and as an OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import os
import time
import tomllib
from pathlib import Path
from typing import Any

from tests.conftest import write_config

# The documented shape of one `termchat models --json` object (see `termchat models --help`).
ROW_KEYS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "provider": (str,),
    "mode": (str,),
    "aliases": (list,),
    "context_window": (int, type(None)),
    "max_output_tokens": (int, type(None)),
    "input_usd_per_mtok": (int, float, type(None)),
    "output_usd_per_mtok": (int, float, type(None)),
    "capabilities": (list,),
    "key": (str,),
    "key_source": (str, type(None)),
    "source": (str,),
    "live": (bool,),
    "available": (bool,),
    "deprecation_date": (str, type(None)),
}
KEY_STATUSES = {"set", "missing", "not needed", "unknown"}
INFO_EXTRA: dict[str, tuple[type, ...]] = {
    "input": (str,),
    "litellm_model": (str,),
    "api_base": (str, type(None)),
    "key_env": (str, type(None)),
    "key_masked": (str, type(None)),
    "in_catalog": (bool,),
    "catalog": (dict,),
}
ALIAS_KEYS = {"name": (str,), "model": (str,), "resolves_to": (str,), "builtin": (bool,),
              "source": (str,), "overrides": (str, type(None))}


def check_shape(obj: dict[str, Any], shape: dict[str, tuple[type, ...]]) -> None:
    assert set(shape) <= set(obj), set(shape) - set(obj)
    for key, types in shape.items():
        assert isinstance(obj[key], types), (key, obj[key])


def check_row(row: dict[str, Any]) -> None:
    check_shape(row, ROW_KEYS)
    assert set(row) == set(ROW_KEYS)
    assert row["key"] in KEY_STATUSES
    assert row["id"].split("/", 1)[0] == row["provider"]
    assert all(isinstance(a, str) for a in row["aliases"] + row["capabilities"])
    assert row["available"] == (row["key"] == "set" or row["live"])


def setup_fake(home: Path, fake, extra: str = "") -> dict[str, str]:
    """Config with the fake as endpoint `fake`; returns env that makes it Ollama too."""
    write_config(home, f'{extra}\n[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    return {"OLLAMA_API_BASE": fake.url}


def rows_of(r) -> list[dict[str, Any]]:
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert isinstance(rows, list)
    for row in rows:
        check_row(row)
    return rows


def test_json_lists_catalog_and_live_local_models_and_writes_the_cache(cli, fake, home):
    env = setup_fake(home, fake)
    env["ANTHROPIC_API_KEY"] = "sk-ant-test-0123456789abcdef"
    rows = rows_of(cli("models", "--json", env=env))
    by_id = {r["id"]: r for r in rows}

    llama = by_id["ollama_chat/llama3.2"]  # Ollama's "llama3.2:latest", tag implied
    assert (llama["source"], llama["live"], llama["key"]) == ("ollama", True, "not needed")
    assert "llama" in llama["aliases"]
    small = by_id["fake/fake-small"]
    assert (small["source"], small["live"], small["provider"]) == ("endpoint:fake", True, "fake")
    assert "fake/fake-large" in by_id

    sonnet = by_id["anthropic/claude-sonnet-5-5"]
    assert {"claude", "sonnet"} <= set(sonnet["aliases"])
    assert sonnet["source"] == "catalog" and sonnet["live"] is False
    assert (sonnet["key"], sonnet["key_source"]) == ("set", "env:ANTHROPIC_API_KEY")
    assert isinstance(sonnet["context_window"], int) and sonnet["context_window"] > 0
    assert sonnet["input_usd_per_mtok"] > 0 and "tools" in sonnet["capabilities"]
    assert by_id["openai/gpt-5.5"]["key"] == "missing"
    assert "image" in by_id["openai/gpt-image-1"]["capabilities"]
    assert len(rows) > 1000  # the whole catalog
    # live rows come first
    first_catalog = next(i for i, r in enumerate(rows) if r["source"] == "catalog")
    assert all(r["source"] != "catalog" for r in rows[:first_catalog])
    assert all(r["source"] == "catalog" for r in rows[first_catalog:])

    cache = json.loads((home / "cache" / "local_models.json").read_text())
    assert cache["version"] == 1 and isinstance(cache["fetched_at"], float)
    cached = {(m["id"], m["source"]) for m in cache["models"]}
    assert {("ollama_chat/llama3.2", "ollama"), ("fake/fake-small", "endpoint:fake")} <= cached
    assert (home / "cache" / "catalog_ids.json").exists()
    assert fake.requests_to("/api/tags") and fake.requests_to("/v1/models")


def test_pipe_is_tab_separated_without_header(cli, home):
    r = cli("models", "--provider", "anthropic", "--search", "claude-sonnet-5-5")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines, r.stderr
    for line in lines:
        assert len(line.split("\t")) == 7, line
    cols = next(line.split("\t") for line in lines if line.startswith("anthropic/claude-sonnet-5-5\t"))
    _mid, aliases, ctx, pin, pout, caps, key = cols
    assert set(aliases.split(",")) >= {"claude", "sonnet"}
    assert int(ctx) > 0 and float(pin) > 0 and float(pout) > 0
    assert "vision" in caps.split(",") and key == "missing"
    assert "\x1b" not in r.stdout


def test_filters(cli, fake, home, monkeypatch):
    env = setup_fake(home, fake)
    # the CLI wiring of every filter, once
    rows = rows_of(cli("models", "--mode", "image", "--provider", "openai", "--search", "IMAGE",
                       "--json", env=env))
    assert "openai/gpt-image-1" in {r["id"] for r in rows}
    assert all(r["mode"] == "image_generation" and r["provider"] == "openai" for r in rows)
    avail = rows_of(cli("models", "--available", "--vision", "--json",
                        env={**env, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}))
    ids = {r["id"] for r in avail}
    assert avail and all(r["available"] and "vision" in r["capabilities"] for r in avail)
    assert "anthropic/claude-sonnet-5-5" in ids and not any(i.startswith("openai/") for i in ids)
    r = cli("models", "--provider", "antropic")
    assert r.returncode == 2 and "anthropic" in r.stderr

    # the filters themselves, in-process on the same listing (the fake is Ollama and `fake`)
    from termchat.config import load_config
    from termchat.core.listing import fetch_live, filter_rows, list_models

    monkeypatch.setenv("OLLAMA_API_BASE", fake.url)
    config = load_config()
    every = list_models(config, live=fetch_live(config, write_cache=False))
    speech = filter_rows(every, mode="audio_speech", provider="openai")
    assert "openai/gpt-4o-mini-tts" in {r.id for r in speech}
    assert all(r.mode == "audio_speech" and r.provider == "openai" for r in speech)
    both = filter_rows(every, vision=True, tools=True, search="CLAUDE")
    assert both and all({"vision", "tools"} <= set(r.capabilities) for r in both)
    assert "anthropic/claude-sonnet-5-5" in {r.id for r in filter_rows(every, search="sonnet")}
    avail = filter_rows(every, available=True)
    assert {"ollama_chat/llama3.2", "fake/fake-small"} <= {r.id for r in avail}
    assert not any(r.id.startswith("anthropic/") for r in avail)  # no key in this process
    olla = filter_rows(every, provider="ollama")
    assert "ollama_chat/llama3.2" in {r.id for r in olla}
    assert {r.provider for r in olla} <= {"ollama", "ollama_chat"}


def test_servers_that_do_not_answer_are_absent_and_do_not_hold_it_up(cli, fake, home):
    # the endpoint stalls, Ollama is a closed port, another endpoint refuses connections
    write_config(home, f'[endpoints.slow]\napi_base = "{fake.base_url}"\n'
                 '[endpoints.gone]\napi_base = "http://127.0.0.1:9/v1"\n')
    fake.script({"stall": 5}, family="models")
    t0 = time.monotonic()
    rows = rows_of(cli("models", "--available", "--json"))
    elapsed = time.monotonic() - t0
    ids = {r["id"] for r in rows}
    assert not any(i.startswith(("slow/", "gone/", "ollama")) for i in ids)
    assert elapsed < 4.0, elapsed  # one ~0.8 s probe timeout, not 5 s
    assert fake.requests_to("/v1/models")


def test_info(cli, fake, home):
    env = setup_fake(home, fake)
    r = cli("models", "info", "claude", "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    check_shape(doc, {**ROW_KEYS, **INFO_EXTRA, "live": (bool, type(None))})
    assert doc["id"] == "anthropic/claude-sonnet-5-5" and doc["input"] == "claude"
    assert doc["provider"] == "anthropic" and doc["in_catalog"] is True and doc["live"] is None
    assert {"claude", "sonnet"} <= set(doc["aliases"])
    assert doc["key"] == "missing" and doc["key_env"] == "ANTHROPIC_API_KEY"
    assert doc["catalog"]["litellm_provider"] == "anthropic"
    assert doc["input_usd_per_mtok"] == round(doc["catalog"]["input_cost_per_token"] * 1e6, 6)

    r = cli("models", "info", "claude", env={**env, "ANTHROPIC_API_KEY": "sk-ant-abcdefghijklmnop1234"})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "anthropic/claude-sonnet-5-5" in out and "context window" in out
    assert "per million tokens" in out and "env:ANTHROPIC_API_KEY" in out
    assert "sk-ant-abcdefghijklmnop1234" not in out and "1234" in out  # masked

    live = json.loads(cli("models", "info", "llama", "--json", env=env).stdout)
    assert live["id"] == "ollama_chat/llama3.2" and live["live"] is True
    assert live["api_base"] == fake.url and live["key"] == "not needed"
    r = cli("models", "info", "clade")
    assert r.returncode == 2 and "did you mean" in r.stderr and "claude" in r.stderr

    from termchat.config import load_config
    from termchat.core.details import model_details

    config = load_config()
    ep = model_details("fake/fake-small", config)
    assert ep["live"] is True and ep["source"] == "endpoint:fake" and ep["key"] == "not needed"
    assert ep["api_base"] == fake.base_url
    dep = model_details("openai/gpt-image-1", config)
    assert dep["deprecation_date"] == dep["catalog"].get("deprecation_date")
    assert dep["mode"] == "image_generation" and "image" in dep["capabilities"]


def test_default_read_set_unset(cli, home):
    r = cli("models", "default", "--json", env={"ANTHROPIC_API_KEY": "sk-ant-test-0123456789"})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == {"model", "id", "source", "configured"}
    assert doc["id"] == "anthropic/claude-sonnet-5-5" and doc["configured"] is False
    assert doc["source"].startswith("automatic")

    r = cli("models", "default", "gpt-mini")
    assert r.returncode == 0, r.stderr
    assert tomllib.loads((home / "config" / "config.toml").read_text())["default_model"] == "gpt-mini"
    r = cli("models", "default")
    assert r.returncode == 0 and "gpt-mini → openai/gpt-5.4-mini" in r.stdout
    assert "config file" in r.stdout
    env_doc = json.loads(cli("models", "default", "--json", env={"TERMCHAT_MODEL": "opus"}).stdout)
    assert (env_doc["model"], env_doc["source"]) == ("opus", "env:TERMCHAT_MODEL")

    r = cli("models", "default", "nosuch-model-xyz")
    assert r.returncode == 2
    assert tomllib.loads((home / "config" / "config.toml").read_text())["default_model"] == "gpt-mini"

    assert cli("models", "default", "--unset").returncode == 0
    assert "default_model" not in tomllib.loads((home / "config" / "config.toml").read_text())


def test_aliases(cli, home):
    r = cli("aliases", "list", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    for row in rows:
        check_shape(row, ALIAS_KEYS)
    claude = next(a for a in rows if a["name"] == "claude")
    assert claude["builtin"] and claude["source"] == "built-in"

    r = cli("aliases", "set", "fast", "haiku")
    assert r.returncode == 0, r.stderr
    assert "anthropic/claude-haiku-5-5" in r.stderr
    assert tomllib.loads((home / "config" / "config.toml").read_text())["aliases"] == {"fast": "haiku"}
    rows = {a["name"]: a for a in json.loads(cli("aliases", "list", "--json").stdout)}
    assert rows["fast"] == {"name": "fast", "model": "haiku",
                            "resolves_to": "anthropic/claude-haiku-5-5", "builtin": False,
                            "source": "config", "overrides": None}
    r = cli("aliases", "set", "bad", "anthropic-claude-sonet")
    assert r.returncode == 2 and "did you mean" in r.stderr
    r = cli("aliases", "set", "x.y", "gpt")
    assert r.returncode == 2
    r = cli("aliases", "remove", "claude")
    assert r.returncode == 2 and "built-in" in r.stderr
    r = cli("aliases", "remove", "nope")
    assert r.returncode == 2

    assert cli("aliases", "set", "claude", "opus").returncode == 0
    text = cli("aliases", "list").stdout.splitlines()
    assert any(ln.split()[:2] == ["fast", "haiku"] and "config" in ln for ln in text)
    assert any(ln.split()[:2] == ["claude", "opus"] and "overrides built-in" in ln for ln in text)
    r = cli("aliases", "remove", "claude")
    assert r.returncode == 0 and "built-in" in r.stderr
    assert cli("aliases", "remove", "fast").returncode == 0
    assert "aliases" not in tomllib.loads((home / "config" / "config.toml").read_text())


def test_pull_streams_progress_and_updates_the_cache(cli, fake, home):
    env = {"OLLAMA_API_BASE": fake.url}
    fake.script({"pull": {"total": 4000, "steps": 4}})
    r = cli("models", "pull", "ollama/qwen2.5", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == "pulling manifest"
    assert any("100%" in line and "4,000" in line for line in lines)
    assert "success" in lines and lines[-1] == "pulled ollama/qwen2.5"
    assert fake.requests_to("/api/pull")[0].body == {"model": "qwen2.5", "stream": True}
    assert "qwen2.5:latest" in fake.ollama_models
    cache = json.loads((home / "cache" / "local_models.json").read_text())
    assert {"id": "ollama_chat/qwen2.5", "source": "ollama"} in cache["models"]

    r = cli("models", "rm", "ollama_chat/qwen2.5", env=env)
    assert r.returncode == 0, r.stderr
    assert "qwen2.5:latest" not in fake.ollama_models
    cache = json.loads((home / "cache" / "local_models.json").read_text())
    assert {"id": "ollama_chat/qwen2.5", "source": "ollama"} not in cache["models"]


def test_pull_and_rm_errors(cli, fake, home):
    env = {"OLLAMA_API_BASE": fake.url}
    fake.script({"pull": {"error": "pull model manifest: file does not exist"}})
    r = cli("models", "pull", "ollama/nosuch", env=env)
    assert r.returncode == 1
    assert "file does not exist" in r.stderr
    fake.script({"error": 500, "message": "disk full"}, family="pull")
    r = cli("models", "pull", "ollama/big", env=env)
    assert r.returncode == 1 and "disk full" in r.stderr
    r = cli("models", "pull", "llama3.2", env=env)
    assert r.returncode == 2 and "ollama/NAME" in r.stderr
    r = cli("models", "pull", "ollama/x")  # conftest points Ollama at a closed port
    assert r.returncode == 4 and "ollama serve" in r.stderr
    r = cli("models", "rm", "ollama/never-pulled", env=env)
    assert r.returncode == 2 and "never-pulled" in r.stderr


def test_listing_imports_no_provider_sdk(home):
    import subprocess
    import sys

    from tests.conftest import clean_env

    code = ("import sys; from termchat.cli import main; sys.argv=['termchat','models','--json'];"
            "import io, contextlib\n"
            "buf = io.StringIO()\n"
            "try:\n"
            "    with contextlib.redirect_stdout(buf): main()\n"
            "except SystemExit: pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('litellm', 'textual', 'openai', 'PIL', 'sounddevice')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=clean_env(home), timeout=60, cwd=str(home))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert os.environ.get("TERMCHAT_HOME") == str(home)
