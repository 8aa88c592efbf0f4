"""The [fallbacks] table: which models a request tries, and the checks at config load."""

from __future__ import annotations

import pytest

from termchat.core.errors import ConfigError
from tests.conftest import write_config


def _load(home, text: str):
    from termchat.config import load_config

    write_config(home, text)
    return load_config()


def test_chains_by_alias_or_id_transitive_default_and_flag(home):
    from termchat.chains import chain_for

    cfg = _load(home, '[fallbacks]\nclaude = ["gpt", "gemini"]\ngpt = ["local", "gemini"]\n'
                      'default = ["local"]\n')
    claude_id = cfg_id(cfg, "claude")
    # gpt's own chain comes right after gpt; gemini only once
    assert chain_for(cfg, "claude", claude_id) == ["gpt", "local", "gemini"]
    # the same model typed by its id finds the alias's chain
    assert chain_for(cfg, claude_id, claude_id) == ["gpt", "local", "gemini"]
    # a model without a chain takes the default one
    assert chain_for(cfg, "fake/x", "fake/x") == ["local"]
    # --fallback replaces the configured chain (repeats and the model itself dropped)
    assert chain_for(cfg, "claude", claude_id, ["local", "local", "claude"]) == ["local"]


def cfg_id(cfg, name: str) -> str:
    from termchat.chains import model_id

    return model_id(name, cfg)


@pytest.mark.parametrize(("text", "words"), [
    ('[fallbacks]\nclaude = ["claude"]\n', ["fallbacks.claude", "itself", "line 2"]),
    ('[aliases]\nmine = "openai/gpt-4o"\n[fallbacks]\n"openai/gpt-4o" = ["mine"]\n',
     ["itself (mine)", "line 4"]),  # another name of the same model
    ('[fallbacks]\nnosuch = ["gpt"]\n', ["fallbacks.nosuch", "nosuch"]),
    ('[fallbacks]\ngpt = ["claude"]\nclaude = ["gpt"]\n', ["loop", "gpt → claude → gpt"]),
    ('[fallbacks]\ngpt = [1, 2]\n', ["fallbacks.gpt must be a list of model names"]),
])
def test_bad_chains_are_config_errors_naming_them(home, text, words):
    from termchat.config import load_config

    write_config(home, text)
    with pytest.raises(ConfigError) as err:
        load_config()
    assert err.value.exit_code == 3
    for w in words:
        assert w in err.value.message
