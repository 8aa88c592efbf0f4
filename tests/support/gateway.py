"""A real LiteLLM proxy on loopback, in front of the scripted server, for the gateway tests.

:func:`start_gateway` runs ``.venv-proxy/bin/litellm`` (installed by ``.ci/run`` from
``requirements-proxy.lock``) on 127.0.0.1 and a free port, offline
(``LITELLM_OFFLINE_MODE=true``, ``LITELLM_LOCAL_MODEL_COST_MAP=True``), with a master key and
a config whose models point at a :class:`~tests.support.fake_openai.FakeOpenAI`:

==============  =============================================================================
model group     what it is
==============  =============================================================================
fake-small      ``openai/fake-small`` upstream, with prices, a context window and vision in
                ``model_info`` (what ``/model/info`` reports)
painter         ``openai/gpt-image-1`` upstream (images)
voice           ``openai/tts-1`` upstream (speech)
broken          an upstream on a closed port; the router falls back to ``backup``
backup          ``openai/fake-backup`` upstream
canned          ``mock_response``: the proxy answers itself, no upstream
==============  =============================================================================

Starting it takes 5-15 s on two busy cores, so the tests start it once per session. The
proxy's callback (:mod:`tests.support.gateway_log`) appends what it attributed each request
to (tags, end user, spend-logs metadata) to :attr:`Gateway.log`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
PROXY_VENV = ROOT / ".venv-proxy"
PROXY_BIN = PROXY_VENV / "bin" / "litellm"
MASTER_KEY = "sk-gateway-master-0123456789"
UPSTREAM_KEY = "sk-upstream-0123456789"
START_TIMEOUT = 120.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(upstream: str, closed: str, log_callbacks: bool) -> str:
    """The proxy's ``config.yaml`` (YAML is a superset of JSON: written as JSON)."""
    def model(name: str, target: str, base: str, **info: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"model_name": name, "litellm_params": {
            "model": target, "api_base": base, "api_key": UPSTREAM_KEY}}
        if info:
            entry["model_info"] = info
        return entry

    doc: dict[str, Any] = {
        "model_list": [
            model("fake-small", "openai/fake-small", upstream, input_cost_per_token=1e-06,
                  output_cost_per_token=2e-06, max_input_tokens=32000, max_output_tokens=4000,
                  supports_vision=True, mode="chat"),
            model("painter", "openai/gpt-image-1", upstream, mode="image_generation"),
            model("voice", "openai/tts-1", upstream, mode="audio_speech"),
            model("scribe", "openai/whisper-1", upstream, mode="audio_transcription"),
            model("broken", "openai/fake-small", closed),
            model("backup", "openai/fake-backup", upstream),
            {"model_name": "canned", "litellm_params": {
                "model": "openai/canned", "mock_response": "Canned answer from the gateway."}},
        ],
        "router_settings": {"num_retries": 0, "fallbacks": [{"broken": ["backup"]}]},
        "litellm_settings": {"num_retries": 0, "request_timeout": 30},
        "general_settings": {"master_key": MASTER_KEY},
    }
    if log_callbacks:
        doc["litellm_settings"]["callbacks"] = "gateway_log.proxy_logger"
    return json.dumps(doc, indent=1)


@dataclass
class Gateway:
    """A running proxy: its root ``url``, ``master_key``, the ``upstream`` scripted server,
    the ``log`` file of its callback, its ``proc`` and its output file ``output``."""

    url: str
    master_key: str
    upstream: FakeOpenAI
    log: Path
    proc: subprocess.Popen
    output: Path

    def attributions(self) -> list[dict[str, Any]]:
        """The lines the proxy's callback wrote so far (one per request)."""
        try:
            text = self.log.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_attributions(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """At least ``n`` callback lines (the proxy logs after it answered), or what there is
        after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            lines = self.attributions()
            if len(lines) >= n:
                return lines
            time.sleep(0.05)
        return self.attributions()

    def stop(self) -> None:
        """Stop the proxy (SIGTERM, then SIGKILL after 10 s) and the upstream server."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.upstream.stop()


def proxy_env(log: Path) -> dict[str, str]:
    """The proxy's environment: offline, no provider keys or proxy settings of the machine."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI", "ANTHROPIC", "LITELLM", "TERMCHAT", "DATABASE_URL"))
           and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")}
    env.update(LITELLM_OFFLINE_MODE="true", LITELLM_LOCAL_MODEL_COST_MAP="True",
               LITELLM_TELEMETRY="False", LITELLM_LOG="ERROR", TERMCHAT_GATEWAY_LOG=str(log),
               PYTHONUNBUFFERED="1", NO_COLOR="1")
    return env


def start_gateway(workdir: Path, upstream: FakeOpenAI | None = None) -> Gateway:
    """Start a proxy in ``workdir`` (config, callback module, log and output go there) and wait
    until ``/health/liveliness`` answers.

    Raises ``FileNotFoundError`` when ``.venv-proxy`` is missing and ``RuntimeError`` (with the
    end of the proxy's output) when it exits or does not answer within :data:`START_TIMEOUT`.
    """
    if not PROXY_BIN.exists():
        raise FileNotFoundError(f"{PROXY_BIN} is missing (bash .ci/run installs it)")
    upstream = upstream or FakeOpenAI()
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("gateway_log.py"), workdir / "gateway_log.py")
    closed = f"http://127.0.0.1:{free_port()}/v1"
    cfg = workdir / "config.yaml"
    cfg.write_text(_config(upstream.base_url, closed, True))
    log, output = workdir / "attributions.jsonl", workdir / "proxy.out"
    port = free_port()
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            [str(PROXY_BIN), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
             "--num_workers", "1"],
            cwd=workdir, env=proxy_env(log), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    gw = Gateway(f"http://127.0.0.1:{port}", MASTER_KEY, upstream, log, proc, output)
    end = time.monotonic() + START_TIMEOUT
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        if proc.poll() is not None:
            gw.stop()
            raise RuntimeError(f"the LiteLLM proxy exited ({proc.returncode}):\n"
                               + output.read_text(errors="replace")[-3000:])
        try:
            with opener.open(f"{gw.url}/health/liveliness", timeout=1) as resp:
                if resp.status == 200:
                    return gw
        except OSError:
            pass
        if time.monotonic() > end:
            gw.stop()
            raise RuntimeError(f"the LiteLLM proxy did not answer within {START_TIMEOUT:.0f} s:\n"
                               + output.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
