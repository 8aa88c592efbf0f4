"""Shared fixtures: an isolated termchat home, the scripted loopback server, and a runner for the
real ``termchat`` CLI as a subprocess with real pipes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent

# Variables that would make a test depend on the machine it runs on.
_STRIP_PREFIXES = ("OPENAI", "ANTHROPIC", "GEMINI", "GOOGLE", "OPENROUTER", "MISTRAL", "GROQ",
                   "DEEPSEEK", "XAI", "COHERE", "TOGETHERAI", "FIREWORKS", "PERPLEXITY", "AZURE",
                   "TERMCHAT", "LITELLM", "OLLAMA", "LM_STUDIO", "HUGGINGFACE", "CEREBRAS")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: no provider keys, termchat's files under ``home``,
    no colour, no warm core (tests of the warm core turn it on), Ollama pointed at a closed port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP_PREFIXES)}
    env.update(
        TERMCHAT_HOME=str(home),
        TERMCHAT_NO_WARM="1",
        OLLAMA_API_BASE="http://127.0.0.1:9",
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="100",
        PYTHONIOENCODING="utf-8",
    )
    env.update(extra)
    return env


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TERMCHAT_HOME for this test, also applied to this process's environment."""
    h = tmp_path / "home"
    h.mkdir()
    for k in list(os.environ):
        if k.startswith(_STRIP_PREFIXES):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("TERMCHAT_HOME", str(h))
    monkeypatch.setenv("TERMCHAT_NO_WARM", "1")
    monkeypatch.setenv("OLLAMA_API_BASE", "http://127.0.0.1:9")
    return h


@pytest.fixture
def whome(monkeypatch):
    """A short TERMCHAT_HOME (Unix socket paths are limited to 108 bytes); stops its cores."""
    d = Path(tempfile.mkdtemp(prefix="tcw", dir="/tmp"))
    monkeypatch.setenv("TERMCHAT_HOME", str(d))
    yield d
    for lock in (d / "run").glob("*.lock") if (d / "run").exists() else []:
        try:
            pid = int(lock.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (ValueError, OSError, IndexError):
            pass
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    """The scripted OpenAI-compatible server on 127.0.0.1 (see tests/support/fake_openai.py)."""
    with FakeOpenAI() as srv:
        yield srv


RunCLI = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def cli(home: Path) -> RunCLI:
    """Run ``python -m termchat ARGS`` for real: ``cli(*args, input=bytes|str|None, env={...},
    timeout=seconds)`` -> CompletedProcess with ``stdout``/``stderr`` as text."""

    def run(*args: str, input: bytes | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            [sys.executable, "-m", "termchat", *args],
            input=data if data is not None else b"",
            capture_output=True,
            env=clean_env(home, **(env or {})),
            timeout=timeout,
            cwd=str(home),
        )
        proc.stdout = proc.stdout.decode("utf-8", "replace")
        proc.stderr = proc.stderr.decode("utf-8", "replace")
        return proc

    return run


def write_config(home: Path, text: str) -> Path:
    """Write ``config.toml`` under ``home`` and return its path."""
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def read_until(proc: subprocess.Popen, done: Callable[[bytes], bool], timeout: float = 60) -> bytes:
    """Read a running process's stdout (without blocking on it) until ``done(output)`` is true
    or ``timeout`` seconds pass; returns what was read. The caller then signals the process and
    adds what ``communicate()`` returns."""
    import select
    import time

    os.set_blocking(proc.stdout.fileno(), False)
    got = b""
    deadline = time.monotonic() + timeout
    while not done(got) and time.monotonic() < deadline:
        select.select([proc.stdout], [], [], 0.5)
        got += proc.stdout.read() or b""
    return got
