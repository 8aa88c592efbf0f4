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
