"""Run the real ``termchat`` CLI with its standard output on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import clean_env


def run_on_tty(
    home: Path,
    *args: str,
    input: bytes = b"",
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, bytes, str]:
    """Run ``python -m termchat ARGS`` with stdout on a pty (stdin and stderr are pipes), in
    ``home``; returns ``(returncode, stdout bytes as the terminal got them, stderr text)``."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "termchat", *args],
        stdin=subprocess.PIPE,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=clean_env(home, **(env or {})),
        cwd=str(home),
    )
    os.close(slave)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(input)
    proc.stdin.close()
    out = read_terminal(master, proc, timeout)
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    return proc.returncode, out, err


def read_terminal(master: int, proc: subprocess.Popen, timeout: float) -> bytes:
    """Every byte ``proc`` writes to the pseudo-terminal whose controlling side is ``master``,
    until it closes the terminal or exits, or ``timeout`` seconds pass; then waits for it (killed
    if still running) and closes ``master``."""
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return bytes(out)


def run_with_terminal(
    home: Path,
    *args: str,
    answers: list[tuple[bytes, bytes]],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> tuple[int, str, bytes]:
    """Run ``python -m termchat ARGS`` as a session leader whose controlling terminal is a
    pseudo-terminal holding its stdin and stderr (``/dev/tty`` works; stdout is a pipe).
    ``answers``: ``(prompt, reply)`` pairs — each ``reply`` is typed once ``prompt`` has
    appeared on the terminal, in order. Returns ``(returncode, stdout text, terminal bytes)``."""
    import fcntl
    import termios

    master, slave = pty.openpty()

    def become_terminal_owner() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, "-m", "termchat", *args],
        stdin=slave, stdout=subprocess.PIPE, stderr=slave,
        env=clean_env(home, **(env or {})), cwd=str(cwd or home),
        start_new_session=True, preexec_fn=become_terminal_owner,
    )
    os.close(slave)
    term = bytearray()
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                term += chunk
                if pending and pending[0][0] in term:
                    prompt, reply = pending.pop(0)
                    term = term.replace(prompt, prompt + b"<answered>", 1)
                    os.write(master, reply)
            elif proc.poll() is not None:
                break
        assert proc.stdout is not None
        out = proc.stdout.read().decode("utf-8", "replace")
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, bytes(term)
