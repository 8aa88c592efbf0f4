"""Smoke: ask against the scripted server through the real CLI."""
from tests.conftest import write_config


def test_ask_against_endpoint(cli, fake, home):
    write_config(home, f'[endpoints.fake]\napi_base = "{fake.base_url}"\n')
    fake.script({"text": "Hello there, friend.", "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    r = cli("ask", "-m", "fake/fake-small", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Hello there, friend."
