"""Shell completion for `termchat cache` and the --fallback/--cache options of ask and chat."""

from __future__ import annotations

import pytest

from tests.test_completion import candidates


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_cache_subcommands_complete(home, shell):
    values = [v for v, _ in candidates(home, shell, "termchat cache ")]
    assert "stats" in values and "clear" in values
    assert "cache" in [v for v, _ in candidates(home, shell, "termchat ca")]


def test_fallback_and_cache_options_complete(home):
    for cmd in ("ask", "chat"):
        values = [v for v, _ in candidates(home, "bash", f"termchat {cmd} --")]
        assert {"--fallback", "--cache", "--no-cache"} <= set(values), (cmd, values)
        models = [v for v, _ in candidates(home, "bash", f"termchat {cmd} --fallback cla")]
        assert "claude" in models, (cmd, models)
    assert "--json" in [v for v, _ in candidates(home, "bash", "termchat cache stats --")]
