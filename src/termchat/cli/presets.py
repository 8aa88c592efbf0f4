"""``termchat presets``: list, show, save, export and import saved model configurations
(``[presets.NAME]`` tables of the config; :mod:`termchat.client.presets`)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``presets`` command group to ``app``."""
    from .complete import complete_model, complete_preset

    sub = typer.Typer(help="Saved model configurations: model, system prompt, options, tools, "
                      "fallbacks (use one with `ask -p NAME`).", no_args_is_help=True)
    app.add_typer(sub, name="presets")

    @sub.command("list")
    def list_(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        """List presets: name, then model, system prompt, options, tools and fallbacks."""
        from ..client.presets import all_presets
        from ..config import load_config
        from ..render import json_dumps, sanitize

        presets = all_presets(load_config())
        if as_json:
            typer.echo(json_dumps({n: p.to_table() for n, p in presets.items()}))
            return
        for name, p in presets.items():
            typer.echo(sanitize(f"{name}\t{p.summary()}"))

    @sub.command("show")
    def show(name: str = typer.Argument(..., help="Preset name.", autocompletion=complete_preset),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Print one preset as TOML (or JSON)."""
        from ..client.presets import export_text, get_preset
        from ..config import load_config
        from ..render import json_dumps, sanitize

        p = get_preset(load_config(), name)
        typer.echo(json_dumps(p.to_table()) if as_json else sanitize(export_text([p]).rstrip()))

    @sub.command("save")
    def save(
        name: str = typer.Argument(..., help="Preset name."),
        model: str = typer.Option(None, "-m", "--model", help="Model id or alias.", autocompletion=complete_model),
        system: str = typer.Option(None, "-s", "--system", help="System prompt."),
        option: list[str] = typer.Option(None, "-o", "--option", metavar="NAME=VALUE",
                                         help="Model option (-o temperature=0.2)."),
        fallback: list[str] = typer.Option(None, "--fallback", help="Fallback model (repeatable).",
                                           autocompletion=complete_model),
        tool: list[str] = typer.Option(None, "--tool", help="Tool name (repeatable)."),
        description: str = typer.Option(None, "--description", help="One line about it."),
        force: bool = typer.Option(False, "--force", help="Replace a preset of that name."),
    ) -> None:
        """Save a preset from these flags into the config (never over an existing one without
        --force)."""
        from ..client.presets import preset_from_flags, save_presets
        from .ask import parse_option_value, split_options

        opts = {k: parse_option_value(v) for k, v in split_options(option or []).items()}
        p = preset_from_flags(name, model, system, opts, fallback, tool, description)
        path = save_presets([p], force=force)
        typer.echo(f"saved preset {name} in {path}", err=True)

    @sub.command("export")
    def export(
        names: list[str] = typer.Argument(None, help="Presets to export (default: all).",
                                          autocompletion=complete_preset),
        output: Path = typer.Option(None, "-o", "--output", help="Write to FILE (default: stdout)."),
        force: bool = typer.Option(False, "--force", help="Replace FILE if it exists."),
    ) -> None:
        """Write presets as TOML ([presets.NAME] tables), for `presets import`."""
        from ..client.presets import all_presets, export_text, get_preset
        from ..config import load_config
        from ..core.errors import UsageError

        config = load_config()
        chosen = [get_preset(config, n) for n in names] if names else list(all_presets(config).values())
        if not chosen:
            raise UsageError("there are no presets to export",
                             hint="`termchat presets save NAME -m …` makes one")
        text = export_text(chosen)
        if output is None:
            sys.stdout.write(text)
            return
        from ..media.files import check_outputs, write_outputs

        check_outputs([output], force)
        write_outputs([(output, text.encode("utf-8"))], force=force)
        typer.echo(f"exported {len(chosen)} preset(s) to {output}", err=True)

    @sub.command("import")
    def import_(
        file: Path = typer.Argument(..., help="TOML file of [presets.NAME] tables."),
        force: bool = typer.Option(False, "--force", help="Replace presets of the same name."),
    ) -> None:
        """Add the presets of FILE to the config, checked first (errors name the key and line);
        an existing preset is replaced only with --force."""
        from ..client.presets import read_preset_file, save_presets
        from ..config import load_config

        load_config()  # the config itself must be sound before it is rewritten
        presets = read_preset_file(file)
        path = save_presets(presets, force=force)
        typer.echo(f"imported {', '.join(p.name for p in presets)} into {path}", err=True)
