"""The client layer (termchat.client) and the conversation model (termchat.turn), with real
parts: the loopback server, the in-process engine on its loop thread, real subprocesses."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from tests.conftest import clean_env, write_config


def _setup(home, fake):
    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    from termchat.config import load_config
    from termchat.core.catalog import resolve_model
    from termchat.core.types import ChatRequest, Message

    config = load_config()
    rm = resolve_model("fake/m1", config)
    req = ChatRequest(model=rm.id, messages=[Message("user", "hi")])
    return config, rm, req


def test_history_messages_keeps_attachments_and_skips_empty_replies(home):
    from termchat.core.types import Attachment
    from termchat.store import Store
    from termchat.turn import attachment_records, attachments_of, history_messages

    store = Store()
    conv = store.create_conversation("fake/m1", "Be terse.", title="t")
    att = Attachment("image/png", b"\x89PNG...", "dot.png")
    store.add_message(conv.id, "user", "what is it?", attachments=attachment_records([att]))
    store.add_message(conv.id, "assistant", "")
    store.add_message(conv.id, "user", "again")
    store.add_message(conv.id, "assistant", "a dot")
    msgs = history_messages(store.messages(conv.id), conv.system)
    assert [(m.role, m.content) for m in msgs] == [
        ("system", "Be terse."), ("user", "what is it?"), ("user", "again"), ("assistant", "a dot")]
    assert msgs[1].attachments == [att]
    assert attachments_of(store.messages(conv.id)[0]) == [att]


def test_outcome_apply_folds_every_event():
    from termchat.core.types import Finished, Notice, ReasoningDelta, TextDelta, Usage
    from termchat.turn import Outcome

    o = Outcome()
    for ev in (ReasoningDelta("hm"), TextDelta("Hel"), Notice("retrying"), TextDelta("lo"),
               Usage(3, 2, 0.5), Finished("stop", "fake/m1", 1.5, 0.25)):
        o.apply(ev)
    assert (o.text, o.reasoning, o.notices) == ("Hello", "hm", ["retrying"])
    assert (o.prompt_tokens, o.completion_tokens, o.cost_usd) == (3, 2, 0.5)
    assert (o.finish_reason, o.model, o.duration_s, o.ttft_s) == ("stop", "fake/m1", 1.5, 0.25)


def test_in_process_stream_from_another_thread_and_cancel(home, fake):
    """The in-process client streams on its loop thread; a reader in any thread gets the
    events, and cancel() from another thread ends the stream and closes the provider's."""
    from termchat.client import Core
    from termchat.core.types import TextDelta

    config, rm, req = _setup(home, fake)
    core = Core(config)
    assert not core.use_warm  # TERMCHAT_NO_WARM in the tests
    fake.script({"text": "in process"})
    text = "".join(ev.text for ev in core.chat(req, rm) if isinstance(ev, TextDelta))
    assert text == "in process"

    fake.script({"text": "word " * 500, "tokens_per_second": 50})
    stream = core.chat(req, rm)
    got: list[str] = []
    ended = threading.Event()

    def read() -> None:
        for ev in stream:
            if isinstance(ev, TextDelta):
                got.append(ev.text)
        ended.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    assert got, "no event arrived"
    stream.cancel()
    assert ended.wait(10), "cancel() did not end the stream"
    assert len("".join(got)) < len("word " * 500)


def test_the_client_package_imports_neither_asyncio_nor_litellm(home):
    code = ("import sys, termchat.client, termchat.client.media, termchat.client.warm_core; "
            "print('asyncio' in sys.modules, 'litellm' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], env=clean_env(home), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_warm_enabled_without_a_core_runs_here_then_starts_one(whome, fake, monkeypatch):
    """The policy: warm core on but none running -> the request runs in-process (the same
    events), and close() starts a warm core for next time."""
    monkeypatch.delenv("TERMCHAT_NO_WARM", raising=False)
    monkeypatch.setenv("OLLAMA_API_BASE", "http://127.0.0.1:9")
    from termchat import warm
    from termchat.client import Core
    from termchat.core.types import TextDelta

    fake.script({"text": "from here"})
    config, rm, req = _setup(whome, fake)
    with Core(config) as core:
        assert core.use_warm
        text = "".join(ev.text for ev in core.chat(req, rm) if isinstance(ev, TextDelta))
        assert text == "from here"
        assert core.fell_back and not core.use_warm  # sticky: the rest runs here too
    deadline = time.monotonic() + 90
    sock = warm.socket_path()
    while not warm.reachable(sock) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert warm.reachable(sock), "close() did not start a warm core"


def test_live_models_here_and_through_the_warm_core(whome, fake, monkeypatch):
    """The listing: probed from here without a warm core; served by the core when one runs
    (and a listing never starts one)."""
    monkeypatch.delenv("TERMCHAT_NO_WARM", raising=False)
    monkeypatch.setenv("OLLAMA_API_BASE", "http://127.0.0.1:9")
    from termchat import warm
    from termchat.client import Core

    config, _rm, _req = _setup(whome, fake)
    with Core(config) as core:
        live = core.live_models(2.0)
        assert "fake/fake-small" in {m.id for m in live.models}
    sock = warm.socket_path()
    time.sleep(0.5)
    assert not warm.reachable(sock)  # the listing started no core
    assert warm.start_background(60.0, sock)
    deadline = time.monotonic() + 90
    while not warm.reachable(sock) and time.monotonic() < deadline:
        time.sleep(0.2)
    live = Core(config).live_models(2.0)
    assert "fake/fake-small" in {m.id for m in live.models}
    assert warm.control("status", sock)["served"] == 1
