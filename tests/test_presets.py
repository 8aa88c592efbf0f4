"""Presets: saved from flags, shown, exported to a file and imported into another home
(round trip), used by `ask -p` against the loopback server with flags winning, and checked
with errors that name the key and line."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import clean_env, write_config


def _config(home: Path) -> dict:
    return tomllib.loads((home / "config" / "config.toml").read_text())


def test_save_show_list_export_import_round_trip(cli, home, tmp_path):
    r = cli("presets", "save", "terse", "-m", "gpt", "-s", "Be terse.", "-o", "temperature=0.2",
            "-o", "max_tokens=50", "--fallback", "local", "--tool", "shell",
            "--description", "short answers")
    assert r.returncode == 0, r.stderr
    assert _config(home)["presets"]["terse"] == {
        "model": "gpt", "system": "Be terse.", "options": {"temperature": 0.2, "max_tokens": 50},
        "tools": ["shell"], "fallbacks": ["local"], "description": "short answers"}
    r = cli("presets", "list")
    assert r.stdout.startswith("terse\tgpt · system \"Be terse.\" · temperature=0.2")
    r = cli("presets", "show", "terse", "--json")
    assert json.loads(r.stdout)["fallbacks"] == ["local"]

    r = cli("presets", "save", "terse", "-m", "claude")
    assert r.returncode == 2 and "exists already" in r.stderr
    assert _config(home)["presets"]["terse"]["model"] == "gpt"

    out = tmp_path / "presets.toml"
    r = cli("presets", "export", "terse", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert cli("presets", "export", "-o", str(out)).returncode == 2  # no overwrite without --force

    other = tmp_path / "other"
    other.mkdir()
    write_config(other, '[aliases]\nfast = "openai/gpt-5.4-mini"\n')
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "termchat", *args], capture_output=True,
                              text=True, env=clean_env(other), timeout=60)

    r = run("presets", "import", str(out))
    assert r.returncode == 0, r.stderr
    data = _config(other)
    assert data["presets"]["terse"] == _config(home)["presets"]["terse"]
    assert data["aliases"] == {"fast": "openai/gpt-5.4-mini"}  # the rest of the config kept
    r = run("presets", "import", str(out))
    assert r.returncode == 2 and "--force" in r.stderr
    assert run("presets", "import", "--force", str(out)).returncode == 0


def test_import_refuses_a_bad_file_with_its_line(cli, home, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[presets.x]\nmodel = "gpt"\n\n[presets.x.options]\nnested = { a = 1 }\n')
    r = cli("presets", "import", str(bad))
    assert r.returncode == 3
    assert f"{bad}, line 5: presets.x.options.nested must be a value" in r.stderr
    bad.write_text('[presets.y]\nfallbacks = "gpt"\n')
    r = cli("presets", "import", str(bad))
    assert r.returncode == 3 and "line 2: presets.y.fallbacks must be a list" in r.stderr
    bad.write_text("model = 3\n")
    r = cli("presets", "import", str(bad))
    assert r.returncode == 3 and "no [presets.NAME] table" in r.stderr
    assert not (home / "config" / "config.toml").exists()


def test_config_preset_errors_name_key_and_line(cli, home):
    path = write_config(home, '[presets.a]\nmodel = "gpt"\ntemperature = 0.2\n')
    r = cli("ask", "-p", "a", "hi")
    assert r.returncode == 3
    assert f"{path}, line 3: presets.a.temperature must be one of model, system" in r.stderr
    write_config(home, '[presets.a]\nmodel = "gpt"\n')
    r = cli("ask", "-p", "b", "hi")
    assert r.returncode == 2 and "no preset 'b'" in r.stderr


def test_ask_with_preset_and_flags_winning(cli, fake, home):
    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n'
                 '[presets.p]\nmodel = "fake/from-preset"\nsystem = "Be terse."\n'
                 '[presets.p.options]\ntemperature = 0.2\nmax_tokens = 50\n')
    r = cli("ask", "-p", "p", "hi")
    assert r.returncode == 0, r.stderr
    body = fake.requests_to("/v1/chat/completions")[-1].body
    assert body["model"] == "from-preset"
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50
    r = cli("ask", "-p", "p", "-m", "fake/flag", "-s", "Be loud.", "-o", "temperature", "0.9", "hi")
    assert r.returncode == 0, r.stderr
    body = fake.requests_to("/v1/chat/completions")[-1].body
    assert body["model"] == "flag"
    assert body["messages"][0]["content"] == "Be loud."
    assert body["temperature"] == 0.9 and body["max_tokens"] == 50
