"""``termchat chat``: the full-screen chat app (Textual, imported only when the command runs)."""

from __future__ import annotations

import typer

from .ask import CACHE_HELP, FALLBACK_HELP

HELP = """Open the full-screen chat app.

Conversations are shared with `termchat ask` (continue one here with -c or --cid ID).
Enter sends, Ctrl+J inserts a new line, Ctrl+L picks a model, Ctrl+P opens the command
palette, F1 lists every key, Ctrl+Q quits. Keys can be remapped in the config file's
[keybindings] table (binding id = "key").
"""


def register(app: typer.Typer) -> None:
    """Add the ``chat`` command to ``app``."""
    from .complete import complete_model, complete_preset

    @app.command("chat", help=HELP)
    def chat(
        model: str = typer.Option(None, "-m", "--model", help="Model id or alias.", show_default=False),
        continue_: bool = typer.Option(False, "-c", "--continue", help="Open the last conversation."),
        cid: str = typer.Option(None, "--cid", help="Open the conversation with this id (or prefix)."),
        system: str = typer.Option(None, "-s", "--system", help="System prompt of a new conversation."),
        option: list[str] = typer.Option(
            None, "-o", "--option", metavar="NAME VALUE",
            help="Model option for a new conversation, e.g. -o temperature 0.2 -o max_tokens 200.",
        ),
        no_warm: bool = typer.Option(
            False, "--no-warm", help="Load the model core in the app's process, not the warm core."
        ),
        fallback: list[str] = typer.Option(None, "--fallback", metavar="MODEL", help=FALLBACK_HELP,
                                           autocompletion=complete_model),
        cache: bool = typer.Option(None, "--cache/--no-cache", help=CACHE_HELP, show_default=False),
        preset: str = typer.Option(None, "-p", "--preset", help="Start from the preset NAME (flags win over it).", autocompletion=complete_preset),
        over_budget: bool = typer.Option(False, "--over-budget", help="Let the first request that passes a budget limit through."),
    ) -> None:
        from ..client.fallback import resolve_candidate
        from ..config import load_config
        from ..core.catalog import resolve_model
        from ..store import Store
        from .ask import parse_option_value, split_options

        config = load_config()
        if no_warm:
            config.overrides["warm_core.enabled"] = False
        options = {k: parse_option_value(v) for k, v in split_options(option or []).items()}
        preset_fallbacks: list[str] = []  # -p NAME under the flags
        if preset:
            from .spending import apply_preset

            model, system, options, preset_fallbacks, preset_tools = apply_preset(
                config, preset, model, system, options)
            if preset_tools:  # the preset's tools are the chat's enabled tools
                config.overrides["tools.enabled"] = preset_tools
        name = None
        if model:
            name = resolve_model(model, config, require_key=False).id  # a typo fails here, exit 2
        store = Store()
        if cid:
            store.get_conversation(cid)  # unknown id: exit 2 before the screen opens
        for extra in fallback or []:
            resolve_candidate(extra, config)  # a typo in --fallback: exit 2 before the screen
        from ..tui.app import ChatApp

        app = ChatApp(
            config, store, model=name, conversation_id=cid, continue_last=continue_,
            system=system, options=options,
        )
        app.session.fallbacks = list(fallback) if fallback else (preset_fallbacks or None)
        app.session.over_budget = over_budget
        app.session.cache = cache
        app.run()
