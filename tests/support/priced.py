"""Priced models for the usage and budget tests: a catalog file (``TERMCHAT_CATALOG``) with
two OpenAI-style models served by the loopback server, and the ``ask`` arguments that reach
them through ``--api-base``."""

from __future__ import annotations

import json
from pathlib import Path

#: USD per token: 1e-4 in, 1e-3 out (100 prompt + 10 completion tokens = $0.02).
PRICES = {
    "gpt-budget": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-4,
                   "output_cost_per_token": 1e-3, "max_output_tokens": 1000},
    "gpt-cheap": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-6,
                  "output_cost_per_token": 1e-5, "max_output_tokens": 1000},
    # an image model, priced per image of a quality and size as LiteLLM's map prices it
    "gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation"},
    "low/1024-x-1024/gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation",
                                    "input_cost_per_image": 0.011},
}


def write_catalog(home: Path) -> Path:
    """Write the catalog under ``home`` and return its path."""
    path = home / "priced-catalog.json"
    path.write_text(json.dumps(PRICES))
    return path


def priced_env(home: Path) -> dict[str, str]:
    """Environment additions for a CLI subprocess: the priced catalog."""
    return {"TERMCHAT_CATALOG": str(write_catalog(home))}


def ask_args(fake, model: str = "gpt-budget", *extra: str) -> list[str]:
    """``ask -m openai/MODEL --api-base URL --key sk-test -o max_tokens 10 EXTRA…``: the
    budget estimate of a one-word prompt is then 5 × 1e-4 + 10 × 1e-3 = $0.0105."""
    return ["ask", "-m", f"openai/{model}", "--api-base", fake.base_url, "--key", "sk-test",
            "-o", "max_tokens", "10", *extra]


#: A scripted reply of 100 prompt + 10 completion tokens ($0.02 on gpt-budget).
REPLY = {"text": "ok", "usage": {"prompt_tokens": 100, "completion_tokens": 10}}
