"""Shared helpers for the benchmarks: a loopback server process, alternating timed runs, medians.

Benchmarks print figures (seconds, ratios); they assert nothing. The machines are shared and
noisy, so every comparison runs both sides alternately in one process and reports the ratio of
medians.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


def compile_sources() -> None:
    """Byte-compile termchat's sources (``__pycache__`` next to them).

    A wheel install compiles them at install time and an editable one on first import, but
    where ``PYTHONDONTWRITEBYTECODE`` is set (as on these machines) an editable install would
    recompile every module on every start (~25 ms for the chat app alone), while the libraries
    it is compared with were compiled by pip. Python still reads bytecode that exists."""
    import compileall

    compileall.compile_dir(str(ROOT / "src" / "termchat"), quiet=1)


class LoopbackServer:
    """``tests/support/fake_openai.py`` as a subprocess on 127.0.0.1 (``.url``, ``.base_url``)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "support" / "fake_openai.py"), "--port", "0", "--print-url"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        self.base_url = self.url + "/v1"

    def script(self, specs: list[dict]) -> None:
        """Queue chat responses (see the server's docstring)."""
        req = urllib.request.Request(self.url + "/_script", data=json.dumps(specs).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def stop(self) -> None:
        """Terminate the server."""
        self.proc.terminate()
        self.proc.wait(timeout=10)


def bench_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """A clean environment: no provider keys, termchat under a temp home, Ollama on a closed port."""
    home = home or Path(tempfile.mkdtemp(prefix="tcb", dir="/tmp"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TERMCHAT", "OPENAI", "ANTHROPIC", "GEMINI", "LITELLM", "OLLAMA"))}
    env.update(TERMCHAT_HOME=str(home), OLLAMA_API_BASE="http://127.0.0.1:9", NO_COLOR="1")
    env.update(extra)
    return env


def run_timed(cmd: list[str], env: dict[str, str], input: bytes = b"") -> float:
    """Wall seconds of one run of ``cmd`` (raises when it exits non-zero)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, input=input, capture_output=True, check=True)
    return time.perf_counter() - t0


def alternate(n: int, sides: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run each side once per round, ``n`` rounds, in alternation; returns the samples."""
    out: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(n):
        for k, f in sides.items():
            out[k].append(f())
    return out


def median(xs: list[float]) -> float:
    """The median of ``xs``."""
    return statistics.median(xs)


def termchat_cmd() -> list[str]:
    """The console script next to this interpreter (what a shell runs)."""
    script = Path(sys.executable).parent / "termchat"
    return [str(script)] if script.exists() else [sys.executable, "-m", "termchat"]


def write_endpoint_config(env: dict[str, str], base_url: str) -> None:
    """``[endpoints.fake]`` pointing at the loopback server, in the env's TERMCHAT_HOME."""
    cfg = Path(env["TERMCHAT_HOME"]) / "config" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[endpoints.fake]\napi_base = "{base_url}"\n')


def load_average() -> str:
    """The 1-minute load average, to print beside the figures."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"
