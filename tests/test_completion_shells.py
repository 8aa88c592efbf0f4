"""Completion in the real shells: the checked-in scripts in `completions/`, loaded by a real
bash, zsh and fish, complete `termchat speak --voice ` with the core's voices (and
`termchat image --size` with image sizes), never with file names.

bash calls the script's completion function as its `complete -F` would; fish answers
`complete -C` (its own completion engine, no terminal needed); zsh completes only in its line
editor, so it runs interactively in a private tmux, the script installed on `$fpath` as the
README says (or sourced), and one TAB is typed (the first: an autoloaded script must complete
at once). A missing shell skips
the test on a developer's machine and fails it in CI (`needs`: .ci/run installs them)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from termchat.core.mediaspec import OPENAI_VOICES
from tests.conftest import ROOT, clean_env, needs

COMPLETIONS = ROOT / "completions"
BINDIR = Path(sys.executable).parent


@pytest.fixture
def shell_env(home: Path, tmp_path: Path) -> dict[str, str]:
    """The environment for a shell that runs the installed `termchat` (first on PATH), with a
    HOME of its own, a current directory holding files the completion must not offer."""
    needs((BINDIR / "termchat").exists(), "the termchat console script is not installed next to this Python")
    user = tmp_path / "user"
    user.mkdir()
    for name in ("notes.txt", "voice-memo.wav", "alloy-file"):
        (user / name).write_text("x")
    return clean_env(home, HOME=str(user), PATH=f"{BINDIR}{os.pathsep}/usr/bin{os.pathsep}/bin",
                     XDG_CONFIG_HOME=str(user / ".config"), XDG_DATA_HOME=str(user / ".local/share"),
                     XDG_CACHE_HOME=str(user / ".cache"), SHELL="/bin/sh")


def test_bash_completes_voices_and_sizes(shell_env):
    needs(shutil.which("bash") is not None, "bash is not installed")

    def offered(*words: str) -> list[str]:
        script = (f"source {shlex.quote(str(COMPLETIONS / 'termchat.bash'))}\n"
                  f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); "
                  f"COMP_CWORD={len(words) - 1}\n"
                  "_termchat_completion termchat\n"
                  'printf "%s\\n" "${COMPREPLY[@]}"\n')
        proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                              text=True, env=shell_env, cwd=shell_env["HOME"], timeout=60)
        assert proc.returncode == 0, proc.stderr
        return [ln for ln in proc.stdout.splitlines() if ln]

    assert offered("termchat", "speak", "--voice", "") == list(OPENAI_VOICES)
    assert offered("termchat", "speak", "--voice", "s") == ["sage", "shimmer"]
    assert offered("termchat", "image", "--size", "1024x") == ["1024x1024", "1024x1536", "1024x1792"]


def test_fish_completes_voices_not_file_names(shell_env):
    needs(shutil.which("fish") is not None, "fish is not installed")

    def offered(line: str) -> list[str]:
        script = (f"source {shlex.quote(str(COMPLETIONS / 'termchat.fish'))}\n"
                  f"complete -C {shlex.quote(line)}\n")
        proc = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True,
                              text=True, env=shell_env, cwd=shell_env["HOME"], timeout=60)
        assert proc.returncode == 0, proc.stderr
        return [ln.split("\t", 1)[0] for ln in proc.stdout.splitlines() if ln]

    voices = offered("termchat speak --voice ")
    assert sorted(voices) == sorted(OPENAI_VOICES)
    assert not {"notes.txt", "voice-memo.wav", "alloy-file"} & set(voices)
    assert sorted(offered("termchat image --size 1024x")) == ["1024x1024", "1024x1536", "1024x1792"]


@pytest.fixture
def tmux():
    """``tmux(*args)`` on a tmux server of this test's own (``-L``), reading no user
    configuration; the server is killed at the end."""
    needs(shutil.which("tmux") is not None, "tmux is not installed")
    name = f"termchat-compl-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    sock = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / name

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", name, "-f", "/dev/null", *args],
                              capture_output=True, text=True, timeout=30)

    try:
        yield run
    finally:
        run("kill-server")
        sock.unlink(missing_ok=True)


@pytest.mark.parametrize("install", ["fpath", "source"])
def test_zsh_completes_voices_in_its_line_editor(shell_env, tmux, install):
    needs(shutil.which("zsh") is not None, "zsh is not installed")
    env = dict(shell_env, TERM="xterm-256color")
    env_args = [f"{k}={v}" for k, v in env.items()]
    # `env -i`: exactly ``env``, not the tmux server's environment; `zsh -f`: no rc files.
    proc = tmux("new-session", "-d", "-s", "z", "-x", "160", "-y", "40", "-c", env["HOME"],
                "env", "-i", *env_args, "zsh", "-f", "-i")
    assert proc.returncode == 0, proc.stderr

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "z").stdout

    def wait_for(cond, what: str, timeout: float = 40.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = screen()
            if cond(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen()}")

    script = shlex.quote(str(COMPLETIONS / "_termchat"))
    setup = (f"fpath=({shlex.quote(str(COMPLETIONS))} $fpath); autoload -Uz compinit; "
             "compinit -u -D; print compinit-ready" if install == "fpath" else
             f"autoload -Uz compinit; compinit -u -D; source {script}; print compinit-ready")
    tmux("send-keys", "-t", "z", "-l", setup)
    tmux("send-keys", "-t", "z", "Enter")
    wait_for(lambda t: "\ncompinit-ready" in t or t.startswith("compinit-ready"), "compinit")
    tmux("send-keys", "-t", "z", "-l", "termchat speak --voice ")
    tmux("send-keys", "-t", "z", "Tab")  # the first TAB: the script is autoloaded from $fpath
    text = wait_for(lambda t: all(v in t.split() for v in OPENAI_VOICES), "the voices")
    assert not {"notes.txt", "voice-memo.wav"} & set(text.split())
