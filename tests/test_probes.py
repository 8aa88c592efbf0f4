"""One Ollama probe and one id form (core.probes): the listing, `models info`, the default-model
pick and `models pull`'s cache refresh all name Ollama's `NAME:latest` as `ollama_chat/NAME`,
other tags kept; a server that does not answer is an empty list, never an exception."""

from __future__ import annotations

from termchat.config import load_config
from termchat.core import catalog, probes
from termchat.core.details import model_details
from termchat.core.listing import fetch_live
from termchat.core.modelcache import read_local_cache


def test_one_id_form_everywhere(home, fake):
    fake.ollama_models = ["llama3.2:latest", "qwen3:8b"]
    env = {"OLLAMA_API_BASE": fake.url}
    expected = ["ollama_chat/llama3.2", "ollama_chat/qwen3:8b"]

    assert probes.ollama_ids(env) == expected
    assert probes.ollama_id("llama3.2:latest") == probes.ollama_id("llama3.2") == expected[0]

    cfg = load_config(env)
    live = fetch_live(cfg, env)
    assert [m.id for m in live.models if m.source == "ollama"] == expected
    assert [m["id"] for m in read_local_cache() if m["source"] == "ollama"] == expected

    name, why = catalog.pick_default_model(cfg, env=env)
    assert name == expected[0] and "Ollama" in why

    for typed in ("ollama_chat/llama3.2", "ollama/llama3.2:latest", "ollama_chat/qwen3:8b"):
        assert model_details(typed, cfg, env=env)["live"] is True, typed
    assert model_details("ollama_chat/qwen3", cfg, env=env)["live"] is False


def test_a_silent_server_is_an_empty_list():
    assert probes.ollama_ids({"OLLAMA_API_BASE": "http://127.0.0.1:9"}, timeout=0.5) == []
