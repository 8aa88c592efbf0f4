"""termchat through a real LiteLLM proxy on loopback (``kind = "litellm_proxy"`` endpoints).

The proxy (:mod:`tests.support.gateway`, LiteLLM 1.106 from ``.venv-proxy``) runs once per
session in front of the scripted server; the real ``termchat`` CLI talks to it as a user would.
What needs the proxy's Postgres (virtual keys, ``/key/info`` spend) is tested against the
scripted server's recording of the proxy's answers (:mod:`tests.support.fake_gateway`), and
the real proxy's answer without a database is checked too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import clean_env, needs, stop_warm_cores, write_config
from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import PROXY_BIN, Gateway, free_port, start_gateway
from tests.test_completion import candidates, values

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="session")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The session's LiteLLM proxy (started once: its start-up takes 5-15 s)."""
    needs(PROXY_BIN.exists(), f"the LiteLLM proxy is not installed ({PROXY_BIN})")
    gateway = start_gateway(tmp_path_factory.mktemp("gateway"))
    yield gateway
    gateway.stop()


def team_config(home: Path, url: str, *, key_env: str | None = "TEAM_KEY") -> None:
    """``[endpoints.team]``: a LiteLLM proxy at ``url``, its key in ``$TEAM_KEY`` (``key_env``;
    ``None``: in the keys file)."""
    key_line = f'api_key_env = "{key_env}"' if key_env else ""
    write_config(home, f'''
[endpoints.team]
kind = "litellm_proxy"
api_base = "{url}"
{key_line}
user = "alice"
tags = ["payments"]
''')


@pytest.fixture
def team(home: Path, gw: Gateway) -> Gateway:
    """This test's home configured for the session's proxy; the upstream's queue emptied."""
    gw.upstream.reset()
    team_config(home, gw.url)
    return gw


def key(gw: Gateway, **more: str) -> dict[str, str]:
    return {"TEAM_KEY": gw.master_key, "TERMCHAT_RETRIES": "0", **more}


# ---------------------------------------------------------------------------------------------
# Listing


def test_models_lists_the_gateway_live_with_its_details(cli, team, home):
    out = cli("models", "--provider", "team", "--json", env=key(team))
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert {"team/fake-small", "team/painter", "team/voice", "team/canned"} <= set(rows)
    small = rows["team/fake-small"]
    # prices, context window and capabilities come from the proxy's /model/info
    assert (small["input_usd_per_mtok"], small["output_usd_per_mtok"]) == (1.0, 2.0)
    assert small["context_window"] == 32000 and "vision" in small["capabilities"]
    assert small["live"] and small["key"] == "set" and small["source"] == "endpoint:team"
    assert rows["team/painter"]["mode"] == "image_generation"
    # shell completion reads the live list from the cache this listing wrote
    cache = json.loads((home / "cache" / "local_models.json").read_text())
    assert {"id": "team/voice", "source": "endpoint:team"} in cache["models"]
    before = len(team.upstream.requests)
    offered = values(candidates(home, "bash", "termchat ask -m team/", extra_env=key(team)))
    assert {"team/fake-small", "team/canned"} <= set(offered)
    assert "team/painter" not in offered and "team/voice" not in offered
    images = values(candidates(home, "bash", "termchat image -m team/", extra_env=key(team)))
    assert images == ["team/painter"]
    voices = values(candidates(home, "bash", "termchat speak -m team/", extra_env=key(team)))
    assert voices == ["team/voice"]
    assert len(team.upstream.requests) == before  # a TAB asks no server


# ---------------------------------------------------------------------------------------------
# Chat


def test_chat_streams_through_the_gateway_and_is_attributed(cli, team):
    # a listing keeps the proxy's prices (/model/info), which price the answer below
    assert cli("models", "--provider", "team", env=key(team)).returncode == 0
    team.upstream.script({"text": "Through the gateway.",
                          "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
    before = len(team.attributions())
    out = cli("ask", "-m", "team/fake-small", "--json", "hello", env=key(team))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["text"] == "Through the gateway." and doc["model"] == "team/fake-small"
    assert doc["cost_usd"] == pytest.approx(7 * 1e-06 + 3 * 2e-06)  # the proxy's own prices
    upstream = team.upstream.requests_to("/v1/chat/completions")
    assert [r.body["model"] for r in upstream] == ["fake-small"]
    # what the proxy attributed the request to (its callback sees what its spend logs get)
    line = team.wait_attributions(before + 1)[-1]
    assert line["model_group"] == "fake-small" and line["ok"]
    assert line["end_user"] == "alice"
    assert {"termchat", "payments"} <= set(line["tags"])
    assert line["spend_logs_metadata"] == {"client": "termchat",
                                           "conversation_id": doc["conversation_id"]}


def test_mock_response_model_answers_from_the_gateway_itself(cli, team):
    out = cli("ask", "-m", "team/canned", "anything", env=key(team))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Canned answer from the gateway."
    assert team.upstream.requests_to("/v1/chat/completions") == []


def test_a_stream_cut_upstream_is_a_dropped_connection_with_the_text_kept(cli, team):
    words = " ".join(f"w{i}" for i in range(30))
    team.upstream.script({"text": words, "disconnect_after": 8, "delay": 0.02})
    out = cli("ask", "-m", "team/fake-small", "--json", "go", env=key(team))
    assert out.returncode == 4, out.stderr
    doc = json.loads(out.stdout)
    assert doc["text"].startswith("w0 w1") and doc["text"] != words
    assert doc["interrupted"] or doc["error"]["type"] == "connection"
    assert "gateway team" in doc["error"]["message"]


def test_a_429_upstream_is_passed_through_as_a_rate_limit(cli, team):
    team.upstream.script({"error": 429, "message": "slow down please", "type": "rate_limit_error"})
    out = cli("ask", "-m", "team/fake-small", "hi", env=key(team))
    assert out.returncode == 1
    assert "the gateway team is rate limiting requests" in out.stderr
    assert "slow down please" in out.stderr
    assert len(team.upstream.requests_to("/v1/chat/completions")) == 1  # nobody retried


def test_the_proxy_falls_back_from_a_failing_model_to_its_backup(cli, team):
    team.upstream.script({"text": "Backup speaking."})
    out = cli("ask", "-m", "team/broken", "hi", env=key(team))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Backup speaking."
    assert [r.body["model"] for r in team.upstream.requests_to("/v1/chat/completions")] == [
        "fake-backup"]


# ---------------------------------------------------------------------------------------------
# Images and speech


def test_images_go_through_the_gateway(cli, team, home):
    before = len(team.attributions())
    out = cli("image", "-m", "team/painter", "a lighthouse", "-o", "light.png", env=key(team))
    assert out.returncode == 0, out.stderr
    assert (home / "light.png").read_bytes().startswith(b"\x89PNG")
    [req] = team.upstream.requests_to("/v1/images/generations")
    assert req.body["model"] == "gpt-image-1" and "extra_headers" not in req.body
    line = team.wait_attributions(before + 1)[-1]
    assert line["model_group"] == "painter" and "termchat" in line["tags"]
    assert line["end_user"] == "alice"


def test_speech_goes_through_the_gateway(cli, team, home):
    before = len(team.attributions())
    out = cli("speak", "-m", "team/voice", "Hello there.", "-o", "hello.wav", env=key(team))
    assert out.returncode == 0, out.stderr
    assert (home / "hello.wav").read_bytes()[:4] == b"RIFF"
    [req] = team.upstream.requests_to("/v1/audio/speech")
    assert req.body["model"] == "tts-1"
    line = team.wait_attributions(before + 1)[-1]
    assert line["model_group"] == "voice" and "payments" in line["tags"]


def test_transcription_goes_through_the_gateway(cli, team, home):
    from tests.support.speech import make_wav

    (home / "clip.wav").write_bytes(make_wav(b"\x00\x10" * 16000, 16000))  # 1 s, not silent
    team.upstream.script({"transcript": "hello from the gateway"})
    before = len(team.attributions())
    out = cli("transcribe", "-m", "team/scribe", "clip.wav", env=key(team))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hello from the gateway"
    [req] = team.upstream.transcriptions
    assert req["model"] == "whisper-1" and req["size"] == (home / "clip.wav").stat().st_size
    line = team.wait_attributions(before + 1)[-1]
    assert line["model_group"] == "scribe" and "termchat" in line["tags"]
    assert line["end_user"] == "alice"


# ---------------------------------------------------------------------------------------------
# Keys, a proxy that is down, doctor


def test_a_key_the_gateway_does_not_take_is_exit_3(cli, team):
    out = cli("ask", "-m", "team/fake-small", "hi", env=key(team, TEAM_KEY="sk-not-a-team-key-42"))
    assert out.returncode == 3
    assert "the gateway team did not accept the key" in out.stderr
    assert "termchat keys set team" in out.stderr
    assert "sk-not-a-team-key-42" not in out.stderr + out.stdout
    assert team.upstream.requests_to("/v1/chat/completions") == []


def test_no_key_for_a_gateway_is_exit_3_before_any_request(cli, team, home):
    out = cli("ask", "-m", "team/fake-small", "hi", env={"TERMCHAT_RETRIES": "0"})
    assert out.returncode == 3
    assert "takes its key from $TEAM_KEY, which is not set" in out.stderr
    team_config(home, team.url, key_env=None)  # the key belongs in the keys file
    out = cli("ask", "-m", "team/fake-small", "hi", env={"TERMCHAT_RETRIES": "0"})
    assert out.returncode == 3
    assert "no key for the gateway 'team'" in out.stderr and "termchat keys set team" in out.stderr
    assert team.upstream.requests_to("/v1/chat/completions") == []
    # `termchat keys set team` stores it; then the gateway answers
    assert cli("keys", "set", "team", input=team.master_key + "\n").returncode == 0
    out = cli("ask", "-m", "team/canned", "hi")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Canned answer from the gateway."


def test_a_gateway_that_is_down_is_exit_4_naming_it(cli, home):
    url = f"http://127.0.0.1:{free_port()}"
    team_config(home, url)
    out = cli("ask", "-m", "team/fake-small", "hi", env={"TEAM_KEY": "sk-x-123456", "TERMCHAT_RETRIES": "0"})
    assert out.returncode == 4
    assert "could not reach the gateway team" in out.stderr and url in out.stderr


def test_doctor_checks_the_gateway_and_the_key(cli, team):
    out = cli("doctor", "--json", env=key(team))
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["gateway team"]["status"] == "ok", checks["gateway team"]
    assert "is alive and takes the key from env:TEAM_KEY" in checks["gateway team"]["message"]
    # the proxy here has no database: it reports no spend, and doctor says so without failing
    assert checks["spend team"]["status"] == "info"
    assert "spend not reported" in checks["spend team"]["message"]

    bad = cli("doctor", "--json", env=key(team, TEAM_KEY="sk-not-a-team-key-42"))
    assert bad.returncode == 1
    line = {c["name"]: c for c in json.loads(bad.stdout)["checks"]}["gateway team"]
    assert line["status"] == "fail" and "refuses the key" in line["message"]
    assert "no_db_connection" in line["message"] and "termchat keys set team" in line["fix"]


def test_doctor_fails_for_a_gateway_that_is_down(cli, home):
    url = f"http://127.0.0.1:{free_port()}"
    team_config(home, url)
    out = cli("doctor", "--json", env={"TEAM_KEY": "sk-x-123456"})
    assert out.returncode == 1
    line = {c["name"]: c for c in json.loads(out.stdout)["checks"]}["gateway team"]
    assert line["status"] == "fail" and url in line["message"]
    assert "connection refused" in line["message"]


# ---------------------------------------------------------------------------------------------
# What termchat sends, recorded by the scripted server standing in for the proxy


def test_attribution_goes_to_gateways_only_and_stops_with_privacy_off(cli, fake: FakeOpenAI, home):
    write_config(home, f'''
[endpoints.team]
kind = "litellm_proxy"
api_base = "{fake.url}"
api_key = "sk-team-123456"
user = "alice"
tags = ["payments"]

[endpoints.box]
api_base = "{fake.base_url}"
''')
    out = cli("ask", "-m", "team/fake-small", "--json", "one")
    assert out.returncode == 0, out.stderr
    cid = json.loads(out.stdout)["conversation_id"]
    [req] = fake.requests_to("/v1/chat/completions")
    assert req.headers["x-litellm-end-user-id"] == "alice"
    assert req.headers["x-litellm-tags"] == "termchat,payments"
    assert json.loads(req.headers["x-litellm-spend-logs-metadata"]) == {
        "client": "termchat", "conversation_id": cid}
    assert req.body["user"] == "alice"

    fake.reset()
    assert cli("ask", "-m", "box/fake-small", "two").returncode == 0
    [plain] = fake.requests_to("/v1/chat/completions")
    assert not any(h.startswith("x-litellm") for h in plain.headers) and "user" not in plain.body

    fake.reset()
    assert cli("config", "set", "privacy.send_metadata", "false").returncode == 0
    assert cli("ask", "-m", "team/fake-small", "three").returncode == 0
    [private] = fake.requests_to("/v1/chat/completions")
    assert not any(h.startswith("x-litellm") for h in private.headers)
    assert "user" not in private.body


def test_a_spent_budget_is_a_clear_error_not_a_generic_400(cli, fake: FakeOpenAI, home):
    write_config(home, f'[endpoints.team]\nkind = "litellm_proxy"\napi_base = "{fake.url}"\n'
                       'api_key = "sk-team-123456"\n')
    # LiteLLM 1.106's answer (proxy/auth/auth_exception_handler.py: ProxyErrorTypes.budget_exceeded,
    # status litellm.budget_exceeded_status_code = 422)
    fake.script({"error": 422, "type": "budget_exceeded", "code": "422",
                 "message": "Budget has been exceeded! Current cost: 10.02, Max budget: 10.0"})
    out = cli("ask", "-m", "team/fake-small", "hi", env={"TERMCHAT_RETRIES": "3"})
    assert out.returncode == 1
    assert "the gateway team refused the request: the budget is spent" in out.stderr
    assert "Max budget: 10.0" in out.stderr and "raise the budget" in out.stderr
    assert len(fake.requests_to("/v1/chat/completions")) == 1  # never retried


# ---------------------------------------------------------------------------------------------
# Team spend (the client-layer function the fronts call)


def _config(home: Path, url: str, **env: str):
    from termchat.config import load_config

    team_config(home, url)
    return load_config(env={**env})


def test_team_spend_reads_the_key_info_the_proxy_reports(fake: FakeOpenAI, home):
    from termchat.client.gateway import team_spend

    fake.key_info = {"spend": 3.25, "max_budget": 10.0, "budget_duration": "30d",
                     "budget_reset_at": "2027-01-01T00:00:00Z", "key_alias": "alice-laptop",
                     "team_id": "payments"}
    config = _config(home, fake.url)
    [s] = team_spend(config, env={"TEAM_KEY": "sk-team-123456"})
    assert (s.endpoint, s.spend_usd, s.max_budget_usd, s.remaining_usd) == ("team", 3.25, 10.0, 6.75)
    assert (s.key_alias, s.team_id, s.budget_duration) == ("alice-laptop", "payments", "30d")
    assert s.reported and not s.exceeded and s.error is None
    assert s.summary() == "$3.2500 of $10.00 spent (30d budget, resets 2027-01-01T00:00:00Z)"
    assert s.to_dict()["remaining_usd"] == 6.75
    [req] = fake.requests_to("/key/info")
    assert req.headers["authorization"] == "Bearer sk-team-123456"

    fake.key_info = {"spend": 10.5, "max_budget": 10.0}
    [over] = team_spend(config, env={"TEAM_KEY": "sk-team-123456"})
    assert over.exceeded and over.remaining_usd == 0.0


def test_team_spend_says_why_when_nothing_is_reported(fake: FakeOpenAI, home, gw: Gateway):
    from termchat.client.gateway import team_spend

    config = _config(home, fake.url)
    [nodb] = team_spend(config, env={"TEAM_KEY": "sk-team-123456"})  # fake.key_info unset
    assert not nodb.reported and nodb.error == "HTTP 400 (no_db_connection)"
    [nokey] = team_spend(config, env={})
    assert nokey.error == "no key for this gateway" and fake.requests_to("/key/info") != []
    # the real proxy without its database
    [real] = team_spend(_config(home, gw.url), env={"TEAM_KEY": gw.master_key})
    assert not real.reported and real.error.startswith("HTTP ")
    assert team_spend(None) == []


# ---------------------------------------------------------------------------------------------
# Configuration and the warm core's protocol


def test_usage_shows_the_team_spend_beside_the_local_figures(cli, fake: FakeOpenAI, home):
    fake.key_info = {"spend": 3.25, "max_budget": 10.0, "budget_duration": "30d"}
    team_config(home, fake.url)
    out = cli("usage", "--json", env={"TEAM_KEY": "sk-team-123456"})
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    [team] = report["team"]
    assert (team["endpoint"], team["spend_usd"], team["remaining_usd"]) == ("team", 3.25, 6.75)
    assert "total" in report and "sk-team" not in out.stdout
    assert len(fake.requests_to("/key/info")) == 1

    out = cli("usage", "--json", "--no-team", env={"TEAM_KEY": "sk-team-123456"})
    assert json.loads(out.stdout)["team"] == [] and len(fake.requests_to("/key/info")) == 1
    # into a pipe the tab-separated lines stay the local figures only (no proxy asked)
    out = cli("usage", env={"TEAM_KEY": "sk-team-123456"})
    assert out.returncode == 0 and out.stdout.startswith("day\t")
    assert len(fake.requests_to("/key/info")) == 1


def test_usage_on_a_terminal_shows_the_team_table(fake: FakeOpenAI, home):
    from tests.support.tty import run_on_tty

    fake.key_info = {"spend": 12.5, "max_budget": 10.0}
    team_config(home, fake.url)
    code, out, err = run_on_tty(home, "usage", env={"TEAM_KEY": "sk-team-123456", "COLUMNS": "120"})
    screen = out.decode("utf-8", "replace")
    assert code == 0, err
    assert "team gateways" in screen and "$12.5000" in screen and "$10.0000" in screen


def test_endpoint_kind_is_checked(home):
    from termchat.config import load_config
    from termchat.core.errors import ConfigError

    write_config(home, '[endpoints.team]\napi_base = "http://127.0.0.1:9"\nkind = "litelm"\n')
    with pytest.raises(ConfigError, match=r"endpoints\.team\.kind must be"):
        load_config()


def test_the_warm_core_takes_a_gateway_model_and_a_conversation_id():
    from termchat import __version__
    from termchat.warm_protocol import PROTOCOL
    from termchat.warm_server import parse_request

    msg = {"op": "chat", "version": __version__, "protocol": PROTOCOL,
           "request": {"model": "team/m", "messages": [{"role": "user", "content": "hi"}],
                       "conversation_id": "abc123"},
           "model": {"id": "team/m", "provider": "team", "litellm_model": "openai/m",
                     "info": {}, "kind": "litellm_proxy",
                     "gateway": {"user": "alice", "tags": ["termchat"]}}}
    parsed = parse_request(json.dumps(msg).encode())
    assert parsed["model"]["gateway"]["user"] == "alice"
    assert parsed["request"]["conversation_id"] == "abc123"


def test_the_warm_core_serves_the_gateway_with_its_attribution(whome, gw: Gateway):
    """`ask` through a running warm core: the resolved gateway model and the conversation id
    cross the warm core's socket, and the proxy attributes the request as in-process."""
    gw.upstream.reset()
    team_config(whome, gw.url)
    env = clean_env(whome, TEAM_KEY=gw.master_key)
    env.pop("TERMCHAT_NO_WARM")
    try:
        subprocess.run([sys.executable, "-m", "termchat", "warm", "start", "--wait", "120"],
                       env=env, check=True, capture_output=True, timeout=150)
        gw.upstream.script({"text": "Warm through the gateway."})
        before = len(gw.attributions())
        out = subprocess.run([sys.executable, "-m", "termchat", "ask", "-m", "team/fake-small",
                              "--json", "hi"], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["text"] == "Warm through the gateway."
        status = json.loads(subprocess.run(
            [sys.executable, "-m", "termchat", "warm", "status", "--json"], env=env,
            capture_output=True, text=True, timeout=60).stdout)
        assert status["served"] >= 1  # the warm core answered, not the ask process
        line = gw.wait_attributions(before + 1)[-1]
        assert line["end_user"] == "alice" and "payments" in line["tags"]
        assert line["spend_logs_metadata"]["conversation_id"] == doc["conversation_id"]
    finally:
        stop_warm_cores(whome)
