"""Model resolution, aliases, keys and the default-model chain (in-process, real files and a real
loopback server acting as Ollama)."""

from __future__ import annotations

import pytest

from termchat.config import load_config, save_key
from termchat.core import catalog
from termchat.core.errors import AuthenticationError, ConfigError
from tests.conftest import write_config


def test_builtin_aliases_point_at_catalog_models():
    for alias, target in catalog.BUILTIN_ALIASES.items():
        if target.startswith(("local/", "ollama_chat/")):
            continue
        assert catalog.model_info(target), f"alias {alias} -> {target} is not in LiteLLM's catalog"


def test_cost_from_catalog_prices():
    info = catalog.model_info("openai/gpt-4o-mini")
    assert catalog.cost_usd(info, 1000, 500) == pytest.approx(1000 * 1.5e-7 + 500 * 6e-7)
    assert catalog.cost_usd({}, 10, 10) is None


def test_key_precedence_flag_env_file(home):
    cfg = load_config()
    save_key("openai", "sk-from-file-000000000")
    assert catalog.resolve_model("gpt", cfg, env={}).api_key == "sk-from-file-000000000"
    env = {"OPENAI_API_KEY": "sk-from-env-0000000000"}
    assert catalog.resolve_model("gpt", cfg, env=env).api_key == "sk-from-env-0000000000"
    assert catalog.resolve_model("gpt", cfg, env=env, api_key="sk-flag-00000000").api_key == "sk-flag-00000000"
    key, source = catalog.lookup_key("openai", env={})
    assert (key, source) == ("sk-from-file-000000000", "keys file")


def test_resolve_model_and_key_status_use_one_order(home):
    """One key resolution (core.keys.resolve_key): what a request sends is what the listing
    and `keys list` report, for every source."""
    from termchat.core.keys import resolve_key
    from termchat.core.listing import KeyStatus

    write_config(home, '[endpoints.box]\napi_base = "http://127.0.0.1:1/v1"\napi_key_env = "BOX_KEY"\n'
                       '[endpoints.inline]\napi_base = "http://127.0.0.1:1/v1"\napi_key = "sk-inline-0000000000"\n')
    cfg = load_config()
    save_key("anthropic", "sk-ant-file-00000000000")
    cases = [
        ({}, "anthropic/claude-haiku-5-5", "anthropic", ("sk-ant-file-00000000000", "keys file")),
        ({"ANTHROPIC_API_KEY": "sk-ant-env-000000000000"}, "anthropic/claude-haiku-5-5",
         "anthropic", ("sk-ant-env-000000000000", "env:ANTHROPIC_API_KEY")),
        ({"BOX_KEY": "sk-box-000000000000000"}, "box/m", "box", ("sk-box-000000000000000", "env:BOX_KEY")),
        ({}, "inline/m", "inline", ("sk-inline-0000000000", "endpoint config")),
    ]
    for env, model, provider, expected in cases:
        assert catalog.resolve_model(model, cfg, env=env).api_key == expected[0]
        status = KeyStatus(cfg, env)
        assert status.key(provider) == expected[0]
        assert status.status(provider) == ("set", expected[1])
        endpoint = catalog.all_endpoints(cfg).get(provider)
        assert resolve_key(provider, endpoint=endpoint, env=env) == expected
    assert resolve_key("anthropic", option="sk-flag-0000000000", env={}) == ("sk-flag-0000000000", "option")
    assert KeyStatus(cfg, {}).status("box") == ("missing", None)


def test_user_alias_overrides_builtin_and_endpoint_key_env(home):
    write_config(home, '[aliases]\nclaude = "box/big"\n[endpoints.box]\napi_base = "http://127.0.0.1:1/v1"\napi_key_env = "BOX_KEY"\n')
    cfg = load_config()
    with pytest.raises(ConfigError) as e:
        catalog.resolve_model("claude", cfg, env={})
    assert e.value.exit_code == 3 and "BOX_KEY" in e.value.message
    rm = catalog.resolve_model("claude", cfg, env={"BOX_KEY": "k-123456"})
    assert (rm.id, rm.api_key, rm.litellm_model) == ("box/big", "k-123456", "openai/big")


def test_api_base_needs_no_key_and_local_needs_none(home):
    cfg = load_config()
    rm = catalog.resolve_model("my-model", cfg, api_base="http://127.0.0.1:1/v1", env={})
    assert rm.id == "openai/my-model" and rm.api_key == "not-needed"
    assert catalog.resolve_model("local", cfg, env={}).id == "local/smollm2"
    with pytest.raises(AuthenticationError):
        catalog.resolve_model("gemini", cfg, env={})


def test_default_model_chain(home, fake, monkeypatch):
    write_config(home, 'default_model = "gpt-mini"\n')
    assert catalog.pick_default_model(load_config(), env={}) == ("gpt-mini", "")
    monkeypatch.setenv("TERMCHAT_MODEL", "haiku")
    assert catalog.pick_default_model(load_config())[0] == "haiku"
    monkeypatch.delenv("TERMCHAT_MODEL")
    write_config(home, "")
    cfg = load_config()
    name, why = catalog.pick_default_model(cfg, env={"GEMINI_API_KEY": "AIza-x"})
    assert name == "gemini" and "GEMINI_API_KEY" in why
    # no key: a running Ollama (the loopback server speaks its /api/tags)
    name, why = catalog.pick_default_model(cfg, env={"OLLAMA_API_BASE": fake.url})
    assert name == "ollama_chat/llama3.2" and "Ollama" in why  # one id form: :latest implied
    # nothing at all but the embedded model (or a clear error without it)
    if catalog.embedded_available():
        assert catalog.pick_default_model(cfg, env={"OLLAMA_API_BASE": "http://127.0.0.1:9"})[0] == "local/smollm2"
    else:
        with pytest.raises(ConfigError):
            catalog.pick_default_model(cfg, env={"OLLAMA_API_BASE": "http://127.0.0.1:9"})
