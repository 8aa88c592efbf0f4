"""Both fronts on one client layer (termchat.client) and one conversation model (termchat.turn):
a conversation started in the chat app continues in ``termchat ask`` with the same messages,
images included; ``/image`` and ``/speak`` go through the warm core like ``termchat image``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import clean_env, write_config
from tests.support.fake_openai import make_png
from tests.tui.helpers import make_app, type_and_send, wait_for, wait_idle

REPO = Path(__file__).resolve().parents[2]


def _user_parts(body: dict) -> list[dict]:
    users = [m for m in body["messages"] if m["role"] == "user"]
    return users[0]["content"] if isinstance(users[0]["content"], list) else []


async def test_ask_cid_on_a_chat_conversation_sends_its_image(home, fake, tmp_path, cli):
    png = tmp_path / "dot.png"
    png.write_bytes(make_png(4, 3))
    fake.script({"text": "a small gradient"}, {"text": "yes, still the gradient"})
    app = make_app(home, fake)
    async with app.run_test(size=(100, 30)) as pilot:
        assert await app.attach_path(str(png))
        await type_and_send(pilot, "what is this?")
        await wait_for(pilot, lambda: fake.requests_to("/v1/chat/completions"), 60, "the request")
        await wait_idle(pilot)
        cid = app.conv.id
    first = fake.requests_to("/v1/chat/completions")[0].body
    assert any(p.get("type") == "image_url" for p in _user_parts(first))

    r = cli("ask", "--cid", cid, "is it still there?")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "yes, still the gradient"
    body = fake.requests_to("/v1/chat/completions")[1].body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    parts = _user_parts(body)
    assert parts and parts[0] == {"type": "text", "text": "what is this?"}
    image = [p for p in parts if p.get("type") == "image_url"]
    assert len(image) == 1 and image[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert image[0]["image_url"]["url"] == _user_parts(first)[1]["image_url"]["url"]
    assert body["messages"][1]["content"] == "a small gradient"
    assert body["messages"][2]["content"] == "is it still there?"


_APP_SCRIPT = textwrap.dedent("""
    import asyncio, json, sys, time
    from pathlib import Path

    from termchat.config import load_config
    from termchat.store import Store
    from termchat.tui.app import ChatApp

    out = Path(sys.argv[1])

    async def main():
        app = ChatApp(load_config(), Store(), model="fake/m1")
        async with app.run_test(size=(100, 30)) as pilot:
            app.prompt.focus()
            app.prompt.text = "/image a red square"
            await pilot.press("enter")
            deadline = time.monotonic() + 150
            while not list(out.glob("*.png")) and time.monotonic() < deadline:
                await pilot.pause(0.05)
            app.prompt.text = "/speak hello there"
            await pilot.press("enter")
            while not list(out.glob("*.wav")) and time.monotonic() < deadline:
                await pilot.pause(0.05)
            await pilot.pause(0.2)
        print(json.dumps({
            "png": [p.name for p in out.glob("*.png")],
            "wav": [p.name for p in out.glob("*.wav")],
            "litellm": "litellm" in sys.modules,
            "core_loaded": "termchat.core.engine" in sys.modules,
        }))

    asyncio.run(main())
""")


def test_slash_image_and_speak_with_the_warm_core_keep_litellm_out_of_the_app(whome, fake):
    """The app runs in its own process (this one may have imported LiteLLM for other tests);
    its first frame starts the warm core, and ``/image``/``/speak`` wait for it and use it."""
    out = whome / "media"
    out.mkdir()
    env = clean_env(whome)
    env.pop("TERMCHAT_NO_WARM")
    write_config(whome, f'[image]\nmodel = "fake/gpt-image-1"\ndir = "{out}"\n'
                        f'[speech]\nmodel = "fake/tts-1"\n\n[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    r = subprocess.run([sys.executable, "-c", _APP_SCRIPT, str(out)], env=env, cwd=str(REPO),
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["png"] and doc["png"][0].startswith("a-red-square-"), (doc, r.stderr[-2000:])
    assert doc["wav"] and doc["wav"][0].startswith("hello-there-"), (doc, r.stderr[-2000:])
    assert fake.requests_to("/v1/images/generations")[0].body["prompt"] == "a red square"
    assert fake.requests_to("/v1/audio/speech")[0].body["input"] == "hello there"
    assert doc["litellm"] is False, "the app imported LiteLLM although the warm core served it"
    from tests.conftest import warm_core_pids

    assert warm_core_pids(whome), "no warm core served the app"
