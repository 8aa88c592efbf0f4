"""The embedded local model (SmolLM2-135M through llama-cpp-python), for real: in-process through
the core, and through the CLI with no key anywhere."""

from __future__ import annotations

import json
import sqlite3

import pytest

from termchat.core.catalog import embedded_available
from tests.conftest import needs

pytestmark = [pytest.mark.local]


@pytest.fixture(autouse=True)
def _needs_the_embedded_model():
    needs(embedded_available(), "the embedded model (the `local` extra) is not installed")


async def test_core_streams_token_by_token_with_usage(home):
    from termchat.config import load_config
    from termchat.core import engine
    from termchat.core.types import ChatRequest, Finished, Message, TextDelta, Usage

    req = ChatRequest(
        model="local/smollm2",
        messages=[Message("system", "Answer briefly."), Message("user", "Name a colour.")],
        options={"max_tokens": 12, "temperature": 0, "seed": 1},
    )
    events = [ev async for ev in engine.stream_chat(req, load_config())]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 3  # streamed piece by piece, not one block
    usage = next(e for e in events if isinstance(e, Usage))
    assert usage.prompt_tokens > 5 and 1 <= usage.completion_tokens <= 12
    assert usage.cost_usd == 0.0
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.model == "local/smollm2"
    assert fin.finish_reason in ("stop", "length")


async def test_gguf_path_and_missing_file(home, tmp_path):
    from termchat.config import load_config
    from termchat.core import engine
    from termchat.core.errors import ModelNotFoundError, TermchatError
    from termchat.core.local import weights_path
    from termchat.core.types import ChatRequest, Message, TextDelta

    path = weights_path("smollm2")
    req = ChatRequest(model=f"local/{path}", messages=[Message("user", "Hi")], options={"max_tokens": 4})
    text = "".join([e.text async for e in engine.stream_chat(req, load_config()) if isinstance(e, TextDelta)])
    assert text.strip()
    bad = ChatRequest(model=f"local/{tmp_path}/nope.gguf", messages=[Message("user", "Hi")])
    with pytest.raises(TermchatError) as e:
        async for _ in engine.stream_chat(bad, load_config()):
            pass
    assert isinstance(e.value, ModelNotFoundError) and "nope.gguf" in e.value.message


def test_ask_with_no_key_uses_the_embedded_model(cli, home):
    r = cli("ask", "-o", "max_tokens", "16", "-o", "temperature", "0", "What is 2+2?")
    assert r.returncode == 0, r.stderr
    assert "using local/smollm2" in r.stderr and "no key is set" in r.stderr
    assert r.stdout.strip() and "\x1b" not in r.stdout
    r2 = cli("ask", "-c", "--json", "-o", "max_tokens", "8", "And 3+3?")
    assert r2.returncode == 0, r2.stderr
    doc = json.loads(r2.stdout)
    assert doc["model"] == "local/smollm2" and doc["cost_usd"] == 0.0
    assert doc["usage"]["completion_tokens"] <= 8 and doc["text"]
    rows = sqlite3.connect(home / "data" / "termchat.db").execute(
        "SELECT role, model FROM messages ORDER BY id").fetchall()
    assert rows == [("user", None), ("assistant", "local/smollm2")] * 2
