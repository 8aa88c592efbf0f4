"""Shared fixtures: an isolated termchat home, the scripted loopback server, and a runner for the
real ``termchat`` CLI as a subprocess with real pipes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent

# Variables that would make a test depend on the machine it runs on.
_STRIP_PREFIXES = ("OPENAI", "ANTHROPIC", "GEMINI", "GOOGLE", "OPENROUTER", "MISTRAL", "GROQ",
                   "DEEPSEEK", "XAI", "COHERE", "TOGETHERAI", "FIREWORKS", "PERPLEXITY", "AZURE",
                   "TERMCHAT", "LITELLM", "OLLAMA", "LM_STUDIO", "HUGGINGFACE", "CEREBRAS")
# Proxy settings (either case): a proxy would carry the loopback requests elsewhere, and they
# change the warm core's socket name.
_PROXY_VARS = frozenset(v for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
                        for v in (name, name.lower()))


def _machine_specific(name: str) -> bool:
    return name.startswith(_STRIP_PREFIXES) or name.upper() in _PROXY_VARS


def needs(available: bool, what: str) -> None:
    """Skip the calling test when ``what`` is missing, except in CI (``CI`` set): there it
    fails, since CI installs everything the tests use (``.ci/run``)."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"this test must run in CI (CI is set), but {what}; .ci/run installs what "
                    "the tests use", pytrace=False)
    pytest.skip(what)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: no provider keys, no proxy, termchat's files under
    ``home``, no colour, no warm core (tests of the warm core turn it on), Ollama pointed at a
    closed port."""
    env = {k: v for k, v in os.environ.items() if not _machine_specific(k)}
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
    """An empty TERMCHAT_HOME for this test, also applied to this process's environment
    (without provider keys or proxy settings)."""
    h = tmp_path / "home"
    h.mkdir()
    for k in list(os.environ):
        if _machine_specific(k):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("TERMCHAT_HOME", str(h))
    monkeypatch.setenv("TERMCHAT_NO_WARM", "1")
    monkeypatch.setenv("OLLAMA_API_BASE", "http://127.0.0.1:9")
    return h


def _warm_core_socket(pid: int) -> Path | None:
    """The socket a warm core serves, from its command line (``... -m termchat.warm serve
    SOCKET IDLE``); ``None`` when process ``pid`` is not a warm core (or is gone)."""
    try:
        args = [os.fsdecode(a) for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
        i = args.index("-m")
    except (OSError, ValueError):
        return None
    if args[i + 1:i + 3] != ["termchat.warm", "serve"] or len(args) < i + 4:
        return None
    return Path(args[i + 3])


def warm_core_pids(home: Path) -> list[int]:
    """The live processes that are warm cores for a socket in ``home/run`` — found by their
    command line, never by a pid read from a file (a pid may have been reused by any other
    process since), and whether or not they got as far as taking their lock."""
    run = home / "run"
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and not _gone(int(entry.name)):
            sock = _warm_core_socket(int(entry.name))
            if sock is not None and sock.parent == run:
                pids.append(int(entry.name))
    return pids


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")  # exited (a zombie until its parent reaps it)


def stop_warm_cores(home: Path, grace: float = 5.0) -> None:
    """Stop the warm cores of ``home`` (:func:`warm_core_pids`): SIGTERM (a core removes its
    socket and exits), then SIGKILL for one still alive after ``grace`` seconds."""
    pids = {pid: _warm_core_socket(pid) for pid in warm_core_pids(home)}
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.05)
    for pid, sock in pids.items():
        if not _gone(pid) and _warm_core_socket(pid) == sock:  # still that core (checked again)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def whome(monkeypatch):
    """A short TERMCHAT_HOME (Unix socket paths are limited to 108 bytes); stops its cores."""
    d = Path(tempfile.mkdtemp(prefix="tcw", dir="/tmp"))
    monkeypatch.setenv("TERMCHAT_HOME", str(d))
    for k in list(os.environ):
        if k.upper() in _PROXY_VARS:
            monkeypatch.delenv(k, raising=False)
    yield d
    stop_warm_cores(d)
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

    os.set_blocking(proc.stdout.fileno(), False)
    got = b""
    deadline = time.monotonic() + timeout
    while not done(got) and time.monotonic() < deadline:
        select.select([proc.stdout], [], [], 0.5)
        got += proc.stdout.read() or b""
    return got
