"""``termchat cache stats|clear``: the response cache (see :mod:`termchat.client.cache`)."""

from __future__ import annotations

from typing import Any

import typer


def _open() -> Any:
    from ..client.cache import ResponseCache
    from ..config import load_config

    cfg = load_config()
    return ResponseCache(float(cfg.get("cache.ttl_seconds")))


def register(app: typer.Typer) -> None:
    """Add the ``cache`` command group to ``app``."""
    sub = typer.Typer(
        help="The response cache: replies to repeated requests (temperature 0) answered without "
        "a provider call. On with --cache or `termchat config set cache.enabled true`.",
        no_args_is_help=True,
    )
    app.add_typer(sub, name="cache")

    @sub.command("stats")
    def stats(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Entries (and how many are still fresh), replays, the USD the replayed replies cost
        when first asked, and the size of the cache file."""
        import json
        from dataclasses import asdict

        from ..render import sanitize

        cache = _open()
        st = cache.stats()
        cache.close()
        if as_json:
            typer.echo(json.dumps(asdict(st)))
            return
        typer.echo(
            f"response cache: {st.entries} entries ({st.fresh} fresh, TTL {st.ttl_seconds:.0f} s),"
            f" {st.hits} replays saving ${st.saved_usd:.6f}, {st.size_bytes:,} bytes,"
            f" {sanitize(st.path)}"
        )

    @sub.command("clear")
    def clear() -> None:
        """Remove every cached reply (the history is not touched)."""
        cache = _open()
        n = cache.clear()
        cache.close()
        typer.echo(f"response cache: removed {n} entr{'y' if n == 1 else 'ies'}")
