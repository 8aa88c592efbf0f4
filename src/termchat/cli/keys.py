"""``termchat keys set|list|remove``: API keys, kept in a 0600 file apart from the config."""

from __future__ import annotations

import json
import sys

import typer


def _check_provider(provider: str) -> str:
    from ..config import load_config
    from ..core.catalog import PROVIDER_KEY_ENV, all_endpoints, providers
    from ..core.errors import UsageError

    cfg = load_config()
    known = set(PROVIDER_KEY_ENV) | set(all_endpoints(cfg)) | set(providers())
    from ..mcp_config import servers as mcp_servers  # HTTP MCP servers' bearer tokens

    known |= {s.token_key for s in mcp_servers(cfg.data).values() if s.url}
    if provider not in known:
        import difflib

        close = difflib.get_close_matches(provider, sorted(known), n=3)
        raise UsageError(
            f"unknown provider {provider!r}",
            hint=f"did you mean: {', '.join(close)}?" if close else "e.g. openai, anthropic, gemini",
        )
    return provider


def register(app: typer.Typer) -> None:
    """Add the ``keys`` command group to ``app``."""
    sub = typer.Typer(help="Manage API keys (stored with mode 0600).", no_args_is_help=True)
    app.add_typer(sub, name="keys")

    @sub.command("set")
    def set_(provider: str = typer.Argument(..., help="Provider, e.g. openai, anthropic, gemini.")) -> None:
        """Store a key for PROVIDER. Asks for it with a hidden prompt, or reads one line from stdin."""
        from ..config import save_key
        from ..core.errors import UsageError

        _check_provider(provider)
        if sys.stdin.isatty():
            import getpass

            key = getpass.getpass(f"{provider} key (input hidden): ")
        else:
            key = sys.stdin.readline()
        key = key.strip()
        if not key:
            raise UsageError("no key given; nothing was stored")
        path = save_key(provider, key)
        typer.echo(f"stored the {provider} key in {path}", err=True)

    @sub.command("list")
    def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Show which providers have keys (masked) and where each comes from."""
        import os

        from ..config import mask, read_keys
        from ..core.catalog import PROVIDER_KEY_ENV

        stored = read_keys()
        rows = []
        seen = set()
        for provider, var in PROVIDER_KEY_ENV.items():
            if os.environ.get(var):
                rows.append({"provider": provider, "key": mask(os.environ[var]), "source": f"env:{var}"})
                seen.add(provider)
        for provider, key in stored.items():
            source = "keys file" + (" (overridden by env)" if provider in seen else "")
            rows.append({"provider": provider, "key": mask(key), "source": source})
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            typer.echo("no keys set (termchat keys set PROVIDER)", err=True)
            return
        from ..render import sanitize

        width = max(len(r["provider"]) for r in rows)
        for r in rows:  # provider names may come from the keys file: neutralised
            typer.echo(sanitize(f"{r['provider']:<{width}}  {r['key']:<12}  {r['source']}"))
        from .ask import show_keys_warnings

        show_keys_warnings()

    @sub.command("remove")
    def remove(provider: str = typer.Argument(..., help="Provider whose stored key to delete.")) -> None:
        """Delete a stored key (environment variables are left alone)."""
        from ..config import remove_key
        from ..core.errors import UsageError

        if not remove_key(provider):
            raise UsageError(f"no stored key for {provider!r}")
        typer.echo(f"removed the {provider} key", err=True)
