"""`termchat doctor`: real CLI subprocesses; the scripted loopback server plays Ollama and an
OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.conftest import write_config

STATUSES = {"ok", "info", "warn", "fail"}


def doctor_json(cli, **kw) -> tuple[int, dict[str, Any]]:
    r = cli("doctor", "--json", **kw)
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    # the documented shape: {"ok": bool, "checks": [{"name", "status", "message", "fix"}]}
    assert set(doc) == {"ok", "checks"} and isinstance(doc["ok"], bool)
    assert isinstance(doc["checks"], list) and doc["checks"]
    for c in doc["checks"]:
        assert set(c) == {"name", "status", "message", "fix"}, c
        assert isinstance(c["name"], str) and c["status"] in STATUSES
        assert isinstance(c["message"], str) and c["message"]
        assert c["fix"] is None or isinstance(c["fix"], str)
        if c["status"] == "fail":
            assert c["fix"], c  # every failing line carries its fix
    assert doc["ok"] == (not any(c["status"] == "fail" for c in doc["checks"]))
    assert (r.returncode == 0) == doc["ok"]
    return r.returncode, doc


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["checks"]}


def test_everything_configured_works(cli, fake, home):
    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    key = "sk-ant-doctor-0123456789abcdef"
    code, doc = doctor_json(cli, env={"OLLAMA_API_BASE": fake.url, "ANTHROPIC_API_KEY": key,
                                      "TERMCHAT_NO_WARM": "1"})
    assert code == 0
    checks = by_name(doc)
    assert checks["config"]["status"] == "ok"
    assert checks["store"]["status"] == "info"  # no history yet: fine
    k = checks["key anthropic"]
    assert k["status"] == "ok" and "env:ANTHROPIC_API_KEY" in k["message"]
    assert key not in json.dumps(doc) and key[-4:] in k["message"]  # masked
    assert checks["default model"]["status"] == "ok"
    assert "anthropic/claude-sonnet-5-5" in checks["default model"]["message"]
    assert checks["ollama"]["status"] == "ok" and "1 models" in checks["ollama"]["message"]
    assert checks["endpoint fake"]["status"] == "ok"
    assert checks["endpoint llamacpp"]["status"] in ("info", "ok")  # built-in, optional
    assert checks["audio"]["status"] in ("ok", "warn")  # never fails
    assert checks["graphics"]["status"] == "info"
    assert checks["warm core"]["status"] == "info" and "off" in checks["warm core"]["message"]
    # doctor refreshed the live-model cache for completion
    cache = json.loads((home / "cache" / "local_models.json").read_text())
    assert {"id": "fake/fake-small", "source": "endpoint:fake"} in cache["models"]


def test_optional_things_missing_do_not_fail(cli, home):
    # no config, no key, Ollama on a closed port (conftest): warn/info only, as long as a model
    # is usable; the embedded model is one when it is installed.
    from termchat.core.catalog import embedded_available

    code, doc = doctor_json(cli)
    checks = by_name(doc)
    assert checks["config"]["status"] == "info"
    assert checks["keys"]["status"] == "warn" and "termchat keys set" in checks["keys"]["fix"]
    assert checks["ollama"]["status"] == "info" and "ollama serve" in checks["ollama"]["fix"]
    if embedded_available():
        assert code == 0 and checks["default model"]["status"] == "ok"
    else:
        assert code == 1 and checks["default model"]["status"] == "fail"


def test_failures_carry_their_fix(cli, home):
    write_config(home, 'default_model = "anthropic/claude-sonnet-5-5"\n'
                 '[endpoints.lab]\napi_base = "http://127.0.0.1:9/v1"\n'
                 '[local_models]\ntiny = "/nonexistent/tiny.gguf"\n')
    keys = home / "config" / "keys.toml"
    keys.write_text('[keys]\nopenai = "sk-proj-abcdefghijklmnop1234"\n')
    os.chmod(keys, 0o644)
    code, doc = doctor_json(cli)
    assert code == 1
    checks = by_name(doc)
    assert checks["keys file"]["status"] == "fail" and "chmod 600" in checks["keys file"]["fix"]
    assert checks["key openai"]["status"] == "ok" and "1234" in checks["key openai"]["message"]
    assert "sk-proj-abcdefghijklmnop1234" not in json.dumps(doc)
    assert checks["endpoint lab"]["status"] == "fail"
    assert "endpoints.lab.api_base" in checks["endpoint lab"]["fix"]
    assert checks["local model tiny"]["status"] == "fail"
    dm = checks["default model"]
    assert dm["status"] == "fail" and "termchat keys set anthropic" in dm["fix"]

    r = cli("doctor")  # the text screen: each failing line is followed by its fix
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    fails = [i for i, ln in enumerate(lines) if ln.startswith("fail")]
    assert len(fails) == 4
    assert all(lines[i + 1].strip().startswith("fix: ") for i in fails)
    assert lines[-1] == "4 problems found"


def test_broken_config_and_store(cli, home):
    write_config(home, "default_model = [unclosed\n")
    store = home / "data" / "termchat.db"
    store.parent.mkdir(parents=True)
    store.write_bytes(b"this is not a database" * 100)
    code, doc = doctor_json(cli)
    assert code == 1
    checks = by_name(doc)
    assert checks["config"]["status"] == "fail" and "config.toml" in checks["config"]["message"]
    assert checks["store"]["status"] == "fail" and "mv " in checks["store"]["fix"]
    assert store.read_bytes().startswith(b"this is not")  # doctor changes nothing


def test_unknown_settings_are_a_warning(cli, home):
    write_config(home, "retriez = 0\n")
    _code, doc = doctor_json(cli)
    check = by_name(doc)["config"]
    assert check["status"] == "warn" and "retriez (did you mean retries?)" in check["message"]


def test_store_is_read_not_created(cli, home):
    doctor_json(cli)
    assert not (home / "data" / "termchat.db").exists()
    from termchat.store import Store

    s = Store()
    c = s.create_conversation("local/smollm2", title="t")
    s.add_message(c.id, "user", "hi")
    s.close()
    _code, doc = doctor_json(cli)
    assert "1 conversations, 1 messages" in by_name(doc)["store"]["message"]


def test_graphics_detection():
    from termchat.cli.doctor import graphics_support

    assert graphics_support({"TERM": "xterm-kitty"}, tty=True)[0] == "kitty"
    assert graphics_support({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, tty=True)[0] == "kitty"
    assert graphics_support({"TERM_PROGRAM": "WezTerm", "TERM": "xterm"}, tty=True)[0] == "kitty"
    assert graphics_support({"TERM": "foot"}, tty=True)[0] == "sixel"
    assert graphics_support({"TERM": "xterm-256color"}, tty=True)[0] == "blocks"
    assert graphics_support({"TERM": "dumb"}, tty=True)[0] == "none"
    assert graphics_support({"TERM": "xterm-kitty"}, tty=False)[0] == "none"
    forced = graphics_support({"TERM": "xterm", "TERMCHAT_GRAPHICS": "sixel"}, tty=True)
    assert forced[0] == "sixel" and "TERMCHAT_GRAPHICS=sixel" in forced[1]


def test_doctor_and_the_drawing_code_agree_on_graphics():
    """doctor reports the protocol `image --show` draws with (one detection function), for
    every terminal the drawing code tells apart (and some it does not)."""
    from termchat.cli.doctor import graphics_support
    from termchat.media import graphics_protocol

    envs = [
        {"TERM": "xterm-kitty"}, {"TERM": "xterm", "KITTY_WINDOW_ID": "3"},
        {"TERM": "xterm-256color", "TERM_PROGRAM": "ghostty"},
        {"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"},
        {"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"},
        {"TERM": "xterm-256color", "KONSOLE_VERSION": "230804"},
        {"TERM": "xterm-256color", "WEZTERM_PANE": "1"}, {"TERM": "foot"}, {"TERM": "mlterm"},
        {"TERM": "xterm+sixel"}, {"TERM": "screen-256color"}, {},
        {"TERM": "xterm-kitty", "TERMCHAT_GRAPHICS": "blocks"},
        {"TERM": "xterm", "TERMCHAT_GRAPHICS": "kitty"},
    ]
    for env in envs:
        assert graphics_support(env, tty=True)[0] == graphics_protocol(env), env


def test_warm_core_line_reports_honestly(home: Path):
    from termchat.cli.doctor import _warm_core_line
    from termchat.config import load_config

    line = _warm_core_line(load_config())  # TERMCHAT_NO_WARM=1 in tests
    assert line.status == "info" and line.message.startswith("off")
