"""Snapshot tests of the main screens (pytest-textual-snapshot); fixed sizes, no timestamps or
random ids on screen. Update with ``pytest tests/tui --snapshot-update``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.helpers import make_app, type_and_send, wait_for, wait_idle

SIZE = (110, 34)
REPLY = (
    "Here is a function:\n\n```python\ndef double(x: int) -> int:\n    return x * 2\n```\n\n"
    "| input | output |\n|---|---|\n| 1 | 2 |\n| 21 | 42 |\n\nThat is **all**."
)


def test_empty_app(snap_compare, home, fake):
    app = make_app(home, fake, load_core=False)
    assert snap_compare(app, terminal_size=SIZE)


def test_conversation_with_rendered_reply(snap_compare, home, fake):
    fake.script({"text": REPLY, "usage": {"prompt_tokens": 12, "completion_tokens": 40}})
    app = make_app(home, fake)

    async def run_before(pilot) -> None:
        await type_and_send(pilot, "Write a doubling function and a table.")
        await wait_for(pilot, lambda: fake.requests_to("/v1/chat/completions"), timeout=30)
        await wait_idle(pilot, 30)
        app.prompt.blur()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.fixture
def fixed_catalog(monkeypatch):
    """A fixed price/capability map (tests/support/catalog.json, LiteLLM 1.106.2's Anthropic
    entries), so that the picker's rows do not move with the catalog LiteLLM bundles."""
    from termchat.core import catalog

    monkeypatch.setenv("TERMCHAT_CATALOG", str(Path(__file__).parent.parent / "support" / "catalog.json"))
    catalog.reset_caches()
    yield
    monkeypatch.undo()
    catalog.reset_caches()


def test_model_picker(snap_compare, home, fake, fixed_catalog):
    app = make_app(home, fake, load_core=False)

    async def run_before(pilot) -> None:
        from termchat.tui.screens.model_picker import ModelPicker

        await pilot.press("ctrl+l")
        picker = await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker) and app.screen)
        await wait_for(pilot, lambda: picker.live_loaded and picker.catalog_loaded)
        await pilot.press(*"anthropic/claude")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare, home, fake):
    app = make_app(home, fake, load_core=False)
    assert snap_compare(app, terminal_size=SIZE, press=["f1"])
