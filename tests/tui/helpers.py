"""Helpers for the Pilot tests: build the app on an isolated home and wait on conditions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.conftest import write_config


def make_app(home, fake=None, *, model: str | None = "fake/m1", extra_config: str = "", **kwargs: Any):
    """A :class:`ChatApp` on ``home`` with the fake server as endpoint ``fake``."""
    from termchat.config import load_config
    from termchat.store import Store
    from termchat.tui.app import ChatApp

    text = extra_config  # first: its top-level keys must not land in the endpoint's table
    if fake is not None:
        text += f'\n[endpoints.fake]\napi_base = "{fake.base_url}"\n'
    if text:
        write_config(home, text)
    return ChatApp(load_config(), Store(), model=model, **kwargs)


async def wait_for(pilot, cond: Callable[[], Any], timeout: float = 60.0, what: str = "condition"):
    """Pause the pilot until ``cond()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def wait_streamed_text(pilot, timeout: float = 60.0):
    """Wait until a reply view shows streamed text; returns that view."""
    from textual.widgets import Markdown

    app = pilot.app
    return await wait_for(
        pilot,
        lambda: next((v for v in app.conversation.message_views() if v.role == "assistant"
                      and v.query_one(Markdown).source), None),
        timeout, "streamed text",
    )


async def type_and_send(pilot, text: str) -> None:
    """Type ``text`` into the prompt and press Enter."""
    app = pilot.app
    app.prompt.focus()
    app.prompt.text = text
    await pilot.press("enter")


async def wait_idle(pilot, timeout: float = 90.0) -> None:
    """Wait until no reply is streaming."""
    await wait_for(pilot, lambda: not pilot.app.busy, timeout, "the reply to finish")
    await pilot.pause()
