"""Completion of the usage, budget and preset surface: `usage`, `presets` and their options,
`-p` with the presets of the config, `--over-budget` — the CLI run as bash, zsh and fish run
it (tests/test_completion.py's protocol)."""

from __future__ import annotations

import pytest

from tests.conftest import write_config
from tests.test_completion import candidates

PRESETS = '[presets.terse]\nmodel = "gpt"\n[presets.tiny]\nmodel = "local"\n[presets.code]\nmodel = "claude"\n'


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_subcommands_and_options(home, shell):
    subs = [v for v, _ in candidates(home, shell, "termchat ")]
    assert "usage" in subs and "presets" in subs
    assert {"list", "show", "save", "export", "import"} <= {
        v for v, _ in candidates(home, shell, "termchat presets ")}
    assert {"--since", "--by", "--json"} <= {v for v, _ in candidates(home, shell, "termchat usage --")}
    assert [v for v, _ in candidates(home, shell, "termchat usage --by ")] == ["day", "model", "provider"]
    for cmd in ("ask", "chat"):
        opts = {v for v, _ in candidates(home, shell, f"termchat {cmd} --")}
        assert {"--preset", "--over-budget"} <= opts, cmd


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_preset_names_complete_with_their_model(home, shell):
    write_config(home, PRESETS)
    got = candidates(home, shell, "termchat ask -p t")
    assert [v for v, _ in got] == ["terse", "tiny"]
    if shell != "bash":
        assert dict(got)["terse"] == "gpt"
    assert [v for v, _ in candidates(home, shell, "termchat chat --preset c")] == ["code"]
    assert {v for v, _ in candidates(home, shell, "termchat presets show ")} == {"terse", "tiny", "code"}
    write_config(home, "[presets\n")  # a broken config: nothing offered, no error
    assert candidates(home, shell, "termchat ask -p ") == []
