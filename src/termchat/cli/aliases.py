"""``termchat aliases list|set|remove``: short names for model ids.

Built-in aliases (``claude``, ``gpt``, ``local``…) ship with termchat; the user's live in the
``[aliases]`` table of the config file, where they override and extend the built-in ones.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any

import typer

from .complete import complete_any_model, complete_user_alias
from .helptext import unwrap

if TYPE_CHECKING:
    from ..config import Config

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]*$")


def alias_rows(config: Config) -> list[dict[str, Any]]:
    """Every alias as ``{"name", "model", "resolves_to", "builtin", "source", "overrides"}``:
    ``model`` is the target as written, ``resolves_to`` the model id at the end of the chain,
    ``builtin`` whether termchat ships the name, ``source`` ``built-in`` or ``config``,
    ``overrides`` the built-in target a user alias replaces (or ``None``). Sorted by name."""
    from ..core.catalog import BUILTIN_ALIASES, all_aliases
    from ..core.listing import alias_targets

    merged = all_aliases(config)
    targets = alias_targets(config)
    user = config.aliases if config is not None else {}
    rows = []
    for name in sorted(merged):
        rows.append({
            "name": name,
            "model": merged[name],
            "resolves_to": targets.get(name, merged[name]),
            "builtin": name in BUILTIN_ALIASES,
            "source": "config" if name in user else "built-in",
            "overrides": BUILTIN_ALIASES[name] if name in user and name in BUILTIN_ALIASES else None,
        })
    return rows


LIST_HELP = """List aliases: name, target, and whether it is built-in or yours.

--json prints a list of objects: name, model (the target as written), resolves_to (the
model id it ends at), builtin (bool), source ("built-in" or "config"), overrides (the
built-in target a user alias replaces, or null).
"""

REMOVE_HELP = """Delete one of your aliases.

Built-in aliases cannot be removed (point them elsewhere with `aliases set`); removing your
override of one brings the built-in back.
"""


def _safe(text: str) -> str:
    """``text`` with control characters made visible (alias names and targets are the user's)."""
    from ..render import sanitize

    return sanitize(text)


def register(app: typer.Typer) -> None:
    """Add the ``aliases`` command group to ``app``."""
    sub = typer.Typer(help="Short names for models: built-in ones and yours (\\[aliases] in the config).",
                      no_args_is_help=True)
    app.add_typer(sub, name="aliases")

    @sub.command("list", help=unwrap(LIST_HELP))
    def list_(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
        from ..config import load_config
        from ..render import sanitize

        rows = alias_rows(load_config())
        if as_json:
            sys.stdout.write(json.dumps(rows, indent=1) + "\n")
            return
        width = max(len(r["name"]) for r in rows)
        mwidth = max(len(r["model"]) for r in rows)
        for r in rows:
            note = r["source"]
            if r["overrides"]:
                note += f" (overrides built-in {r['overrides']})"
            elif r["resolves_to"] != r["model"]:
                note += f" (→ {r['resolves_to']})"
            typer.echo(sanitize(f"{r['name']:<{width}}  {r['model']:<{mwidth}}  {note}"))

    @sub.command("set")
    def set_(
        name: str = typer.Argument(..., help="The alias, e.g. fast."),
        model: str = typer.Argument(..., help="Model id or alias it stands for.",
                                    autocompletion=complete_any_model),
    ) -> None:
        """Make NAME stand for MODEL (checked first: an unknown model is refused, exit 2)."""
        from ..config import load_config
        from ..config_edit import set_value
        from ..core.catalog import BUILTIN_ALIASES, resolve_model
        from ..core.errors import UsageError

        if not _NAME.match(name):
            raise UsageError(
                f"alias name {name!r} is not allowed",
                hint="use letters, digits, '-', '_' or '+', starting with a letter or digit",
            )
        if model.strip() == name:
            raise UsageError(f"alias {name!r} cannot stand for itself")
        config = load_config()
        rm = resolve_model(model, config, require_key=False)
        set_value(f"aliases.{name}", model)
        target = f"{model} → {rm.id}" if rm.id != model else model
        note = " (overrides the built-in alias)" if name in BUILTIN_ALIASES else ""
        typer.echo(_safe(f"{name} = {target}{note}"), err=True)

    @sub.command("remove", help=unwrap(REMOVE_HELP))
    def remove(name: str = typer.Argument(..., help="Your alias to delete.",
                                          autocompletion=complete_user_alias)) -> None:
        from ..config import load_config
        from ..config_edit import unset_value
        from ..core.catalog import BUILTIN_ALIASES
        from ..core.errors import UsageError

        config = load_config()
        if name not in config.aliases:
            if name in BUILTIN_ALIASES:
                raise UsageError(
                    f"{name!r} is a built-in alias and cannot be removed",
                    hint=f"point it elsewhere with `termchat aliases set {name} MODEL`",
                )
            raise UsageError(f"no alias {name!r}", hint="`termchat aliases list` shows them")
        unset_value(f"aliases.{name}")
        if name in BUILTIN_ALIASES:
            typer.echo(_safe(f"removed your {name}; the built-in {name} → {BUILTIN_ALIASES[name]} applies again"),
                       err=True)
        else:
            typer.echo(_safe(f"removed {name}"), err=True)
