"""Benchmark: shell completion of ``termchat ask -m cl<TAB>`` vs a bare Typer app's ``--help``.

Runs both as subprocesses, alternating, N times each (default 20), the way bash runs the
completion: ``_TERMCHAT_COMPLETE=complete_bash COMP_WORDS="termchat ask -m cl" COMP_CWORD=3
termchat`` (Typer's protocol, used by the generated ``completions/termchat.bash``). Prints the
median wall time of each in milliseconds and their ratio (goal: <= 1.3), and the median CPU
time of each (steadier when other work shares the CPUs). Also prints, for
information, the first completion with no cache (it builds ``catalog_ids.json`` once) and the
zsh and fish completion of the same words.

    python bench/bench_completion.py [N]

Everything runs under a temporary TERMCHAT_HOME, Ollama pointed at a closed port.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import compile_sources

HERE = Path(__file__).resolve().parent
WORDS = "termchat ask -m cl"


def termchat_cmd() -> list[str]:
    """The console script next to this interpreter (what a shell runs), else ``-m termchat``."""
    script = Path(sys.executable).parent / "termchat"
    return [str(script)] if script.exists() else [sys.executable, "-m", "termchat"]


CPU: list[float] = []  # CPU seconds (user + system) of the last timed() child, appended per run


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run ``cmd``; return (wall seconds, stdout) and append its CPU seconds to :data:`CPU`.
    Raises on a non-zero exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, proc.stdout


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    compile_sources()
    home = Path(tempfile.mkdtemp(prefix="termchat-bench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TERMCHAT", "_TYPER"))}
    base_env.update(TERMCHAT_HOME=str(home), OLLAMA_API_BASE="http://127.0.0.1:9", NO_COLOR="1")
    bash_env = dict(base_env, _TERMCHAT_COMPLETE="complete_bash", COMP_WORDS=WORDS, COMP_CWORD="3")
    zsh_env = dict(base_env, _TERMCHAT_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS=WORDS)
    fish_env = dict(base_env, _TERMCHAT_COMPLETE="complete_fish",
                    _TYPER_COMPLETE_FISH_ACTION="get-args", _TYPER_COMPLETE_ARGS=WORDS)
    tc = termchat_cmd()
    bare = [sys.executable, str(HERE / "bare_app.py"), "--help"]

    cold, out = timed(tc, bash_env)  # builds the catalog-id cache
    assert "claude" in out.split(), out[:200]
    timed(bare, base_env)  # warm the bare app's .pyc files

    comp, help_, zsh, fish = [], [], [], []
    comp_cpu, help_cpu = [], []
    for _ in range(n):
        comp.append(timed(tc, bash_env)[0])
        comp_cpu.append(CPU[-1])
        help_.append(timed(bare, base_env)[0])
        help_cpu.append(CPU[-1])
    for _ in range(max(3, n // 4)):
        zsh.append(timed(tc, zsh_env)[0])
        fish.append(timed(tc, fish_env)[0])

    mc, mh = statistics.median(comp), statistics.median(help_)
    print(f"command: {' '.join(tc)}  (bash completion of '{WORDS}<TAB>')")
    print(f"runs: {n} each, alternating; cpus: {os.cpu_count()}")
    print(f"bare Typer app --help      median {mh * 1000:7.1f} ms  (min {min(help_) * 1000:.1f})")
    print(f"termchat completion (bash) median {mc * 1000:7.1f} ms  (min {min(comp) * 1000:.1f})")
    print(f"ratio completion / bare --help: {mc / mh:.2f}  (goal <= 1.30)")
    cc, ch = statistics.median(comp_cpu), statistics.median(help_cpu)
    print(f"CPU time (user+sys) medians: completion {cc * 1000:.1f} ms, bare --help "
          f"{ch * 1000:.1f} ms, ratio {cc / ch:.2f}  (less sensitive to a busy machine)")
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"first completion, no cache yet: {cold * 1000:.1f} ms (builds catalog_ids.json once)")
    print(f"zsh completion median {statistics.median(zsh) * 1000:.1f} ms, "
          f"fish completion median {statistics.median(fish) * 1000:.1f} ms "
          f"({len(zsh)} runs each)")


if __name__ == "__main__":
    main()
