"""``termchat config path|show|set|unset``."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    """Add the ``config`` command group to ``app``."""
    sub = typer.Typer(help="Show and change settings (TOML at `termchat config path`).", no_args_is_help=True)
    app.add_typer(sub, name="config")

    @sub.command("path")
    def path() -> None:
        """Print the config file's path."""
        from .. import paths

        typer.echo(str(paths.config_file()))

    @sub.command("show")
    def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Show every setting with its effective value and where it comes from."""
        from ..config import SETTINGS, load_config, unknown_keys
        from ..render import sanitize

        cfg = load_config()
        unknown = unknown_keys(cfg.data)
        rows = [
            {"key": k, "value": cfg.get(k), "source": cfg.source(k), "doc": s.doc,
             "range": s.range_text() or None}
            for k, s in SETTINGS.items()
        ]
        extra = {t: cfg.data.get(t, {}) for t in ("aliases", "endpoints", "keybindings", "local_models")}
        if as_json:
            typer.echo(json.dumps({"file": str(cfg.path), "settings": rows, **extra, "unknown": unknown},
                                  indent=2))
            return
        # Names and values come from the file: every line goes through the neutraliser.
        typer.echo(sanitize(f"# {cfg.path}"))
        for r in rows:
            val = "(unset)" if r["value"] is None else json.dumps(r["value"])
            typer.echo(f"{r['key']} = {val}    # {r['source']}")
        for table, content in extra.items():
            for name, value in content.items():
                if isinstance(value, dict):
                    shown = {k: ("***" if k == "api_key" else v) for k, v in value.items()}
                    typer.echo(sanitize(f"{table}.{name} = {json.dumps(shown)}"))
                else:
                    typer.echo(sanitize(f"{table}.{name} = {json.dumps(value)}"))
        for key in unknown:
            typer.echo(sanitize(f"# ignored, not a termchat setting: {key}"))

    @sub.command("set")
    def set_(key: str = typer.Argument(..., help="Setting, e.g. default_model or aliases.fast"),
             value: str = typer.Argument(..., help="Value (typed by the setting).")) -> None:
        """Set a value in the config file (written atomically). Numbers are checked against
        the setting's range; a value out of range leaves the file as it was."""
        from ..config_edit import set_value
        from ..render import sanitize

        typed = set_value(key, value)
        typer.echo(sanitize(f"{key} = {json.dumps(typed)}"), err=True)

    @sub.command("unset")
    def unset(key: str = typer.Argument(..., help="Setting to remove.")) -> None:
        """Remove a value from the config file (back to its default)."""
        from ..config_edit import unset_value

        if not unset_value(key):
            typer.echo(f"{key} was not set", err=True)
