"""``termchat models``: list models, show one, pick the default, pull and remove Ollama models.

The listing reads LiteLLM's catalog as data (never importing LiteLLM) and asks local servers
(the embedded model, Ollama, configured OpenAI-compatible endpoints) what they serve, each with a
short timeout, concurrently; see :mod:`termchat.core.listing`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from .complete import complete_any_model, complete_ollama_model, complete_provider
from .helptext import unwrap

if TYPE_CHECKING:
    from ..config import Config
    from ..core.listing import LiveResult, ModelRow

LIST_HELP = """List the models you can use: LiteLLM's catalog plus live local models.

Live local models are the embedded model, \\[local_models] from the config, Ollama
(OLLAMA_API_BASE or http://127.0.0.1:11434) and each OpenAI-compatible endpoint; each server
gets under a second to answer, and one that does not is left out. The live list is cached for
shell completion.

On a terminal: a table. Into a pipe: one model per line, no header, tab-separated columns:
id, aliases (comma-separated), context window (tokens), input USD per million tokens,
output USD per million tokens, capabilities (comma-separated), key status. Unknown values are
empty fields. Key status is one of: set, missing, not needed, unknown.

--json prints one JSON list of objects with the keys: id, provider, mode, aliases (list),
context_window, max_output_tokens (int or null), input_usd_per_mtok, output_usd_per_mtok
(number or null), capabilities (list), key (status as above), key_source (env:NAME,
keys file, endpoint config, or null), source (catalog, embedded, local_models, ollama or
endpoint:NAME), live (bool), available (bool: key set or served live), deprecation_date
(YYYY-MM-DD or null).

Subcommands: info MODEL, default [MODEL], pull ollama/NAME, rm ollama/NAME.
"""

INFO_HELP = """Show everything known about one model or alias.

Resolved id, provider, aliases, context window, max output, prices (USD per million tokens),
capabilities, key status and its source, deprecation date.

--json prints one object with all the keys of a `termchat models --json` object, plus: input
(what you typed), litellm_model, api_base, key_env, key_masked, in_catalog (bool), live (bool,
or null for cloud models: whether the local server serves it now), catalog (the raw catalog
entry; prices there are USD per token). Its source can also be "unlisted": a name the catalog
does not know, passed through to the provider as it is.
"""


class Mode(StrEnum):
    """``--mode`` values; :data:`termchat.core.listing.MODE_NAMES` maps them to catalog modes."""

    chat = "chat"
    image = "image"
    speech = "speech"
    transcription = "transcription"
    embedding = "embedding"


def fmt_tokens(n: int | None) -> str:
    """``1000000`` -> ``1M``, ``200000`` -> ``200k``, ``None`` -> ``""`` (for the table)."""
    if n is None:
        return ""
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1000:
        return f"{round(n / 1000):d}k"
    return str(n)


def fmt_price(usd: float | None) -> str:
    """USD per million tokens for the table: ``3.00``, ``0.075``, ``""`` when unknown."""
    if usd is None:
        return ""
    if usd == 0:
        return "0"
    return f"{usd:.2f}" if usd >= 0.1 else f"{usd:.4g}"


def _num(v: float | int | None) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _safe(text: str) -> str:
    """``text`` with control characters made visible (it holds names the user or a server gave)."""
    from ..render import sanitize

    return sanitize(text)


def tsv_line(row: ModelRow) -> str:
    """One pipe line for a :class:`~termchat.core.listing.ModelRow` (see the command help)."""
    cols = [
        row.id,
        ",".join(row.aliases),
        _num(row.context_window),
        _num(row.input_usd_per_mtok),
        _num(row.output_usd_per_mtok),
        ",".join(row.capabilities),
        row.key,
    ]
    return _safe("\t".join(c.replace("\t", " ").replace("\n", " ") for c in cols))


_KEY_COLOUR = {"set": "32", "missing": "31", "not needed": "2", "unknown": "33"}


def _colour_on() -> bool:
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def format_table(rows: list[ModelRow], width: int = 120, colour: bool = True) -> str:
    """The terminal table: a header, a rule, then one aligned line per model (model ids are
    never cut; the capabilities column takes the remaining ``width`` and is cut with "…").

    Written by hand rather than with ``rich.table``: Rich needs 6–10 s to lay out the 4,000-row
    catalog, this takes milliseconds. ANSI colours (header, live marker, key status) only when
    ``colour``."""

    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if colour and code and text.strip() else text

    from ..render import sanitize

    cells = []
    for r in rows:
        cells.append((
            sanitize(r.id), " live" if r.live else "", sanitize(", ".join(r.aliases)),
            fmt_tokens(r.context_window), fmt_price(r.input_usd_per_mtok),
            fmt_price(r.output_usd_per_mtok), ", ".join(r.capabilities), r.key,
        ))
    head = ("model", "aliases", "context", "in $/M", "out $/M", "capabilities", "key")
    w_model = min(48, max([len(head[0])] + [len(c[0]) + len(c[1]) for c in cells]))
    w_alias = min(24, max([len(head[1])] + [len(c[2]) for c in cells]))
    w_ctx = max([len(head[2])] + [len(c[3]) for c in cells])
    w_in = max([len(head[3])] + [len(c[4]) for c in cells])
    w_out = max([len(head[4])] + [len(c[5]) for c in cells])
    w_key = max([len(head[6])] + [len(c[7]) for c in cells])
    fixed = w_model + w_alias + w_ctx + w_in + w_out + w_key + 2 * 6
    w_caps = max(12, min(max([len(head[5])] + [len(c[6]) for c in cells]), width - fixed))

    def cut(text: str, n: int) -> str:
        return text if len(text) <= n else text[: max(0, n - 1)] + "…"

    lines = [paint(
        f"{head[0]:<{w_model}}  {head[1]:<{w_alias}}  {head[2]:>{w_ctx}}  {head[3]:>{w_in}}  "
        f"{head[4]:>{w_out}}  {head[5]:<{w_caps}}  {head[6]}", "1"),
        paint("─" * min(width, fixed + w_caps), "2")]
    for mid, live, aliases, ctx, pin, pout, caps, key in cells:
        pad = " " * max(0, w_model - len(mid) - len(live))
        lines.append(
            f"{mid}{paint(live, '32')}{pad}  {paint(f'{cut(aliases, w_alias):<{w_alias}}', '36')}  "
            f"{ctx:>{w_ctx}}  {pin:>{w_in}}  {pout:>{w_out}}  "
            f"{paint(f'{cut(caps, w_caps):<{w_caps}}', '2')}  {paint(key, _KEY_COLOUR.get(key, ''))}"
        )
    return "\n".join(line.rstrip() for line in lines) + "\n"


def print_table(rows: list[ModelRow]) -> None:
    """Write :func:`format_table` for this terminal's width to stdout."""
    import shutil

    width = shutil.get_terminal_size((120, 24)).columns
    sys.stdout.write(format_table(rows, width, _colour_on()))
    sys.stdout.flush()


def _known_provider(provider: str, config: Config) -> None:
    from ..core.catalog import all_endpoints, providers
    from ..core.errors import UsageError

    known = set(providers()) | set(all_endpoints(config))
    if provider not in known:
        import difflib

        close = difflib.get_close_matches(provider, sorted(known), n=3)
        raise UsageError(
            f"unknown provider {provider!r}",
            hint=f"did you mean: {', '.join(close)}?" if close else "see `termchat models`",
        )


def live_via_warm_core(config: Config) -> LiveResult | None:
    """The live local models as the warm core sees them (same environment, connections kept
    open), through the core client; ``None`` when no warm core answers — the listing then
    probes the servers itself. The completion cache is rewritten either way."""
    from .. import warm
    from ..client import Core
    from ..core.errors import TermchatError
    from ..core.listing import PROBE_TIMEOUT, write_local_cache

    core = Core(config, start_after=False)
    if not core.use_warm:
        return None
    try:
        live = core.warm_core().live_models(PROBE_TIMEOUT)
    except (warm.WarmUnavailable, TermchatError):
        return None
    write_local_cache(live.models)
    return live


def run_list(
    *, provider: str | None, mode: Mode | None, vision: bool, tools: bool, search: str | None,
    available: bool, as_json: bool,
) -> None:
    """The ``termchat models`` listing (see :data:`LIST_HELP` for the output shapes)."""
    from ..config import load_config
    from ..core.listing import MODE_NAMES, filter_rows, list_models

    config = load_config()
    if provider:
        _known_provider(provider, config)
    rows = filter_rows(
        list_models(config, live=live_via_warm_core(config)),
        provider=provider, mode=MODE_NAMES[mode.value] if mode else None, vision=vision,
        tools=tools, search=search, available=available,
    )
    if as_json:
        from ..render import json_dumps

        sys.stdout.write(json_dumps([r.to_dict() for r in rows]) + "\n")
        return
    if not rows:
        from ..render import stderr_line

        stderr_line("termchat: no model matches", style="yellow")
        return
    if sys.stdout.isatty():
        print_table(rows)
    else:
        sys.stdout.write("".join(tsv_line(r) + "\n" for r in rows))


# ---------------------------------------------------------------------------------------------
# info


def print_details(doc: dict[str, Any]) -> None:
    """``models info`` as aligned ``label  value`` lines."""
    from ..render import sanitize

    def price(v: float | None) -> str:
        return "unknown" if v is None else f"${v:,.4g} per million tokens"

    def tokens(v: int | None) -> str:
        return "unknown" if v is None else f"{v:,} tokens"

    key = doc["key"]
    if doc["key_source"]:
        key += f" ({doc['key_source']})"
    if doc["key_masked"]:
        key += f" {doc['key_masked']}"
    if doc["key"] == "missing" and doc["key_env"]:
        key += f" — set {doc['key_env']} or run `termchat keys set {doc['provider']}`"
    lines = [
        ("model", doc["id"]),
        ("you typed", doc["input"] if doc["input"] != doc["id"] else None),
        ("provider", doc["provider"]),
        ("aliases", ", ".join(doc["aliases"]) or "none"),
        ("mode", doc["mode"]),
        ("context window", tokens(doc["context_window"])),
        ("max output", tokens(doc["max_output_tokens"])),
        ("input price", price(doc["input_usd_per_mtok"])),
        ("output price", price(doc["output_usd_per_mtok"])),
        ("capabilities", ", ".join(doc["capabilities"]) or "none listed"),
        ("key", key),
        ("deprecation", doc["deprecation_date"]),
        ("source", doc["source"]),
        ("live", None if doc["live"] is None else ("yes" if doc["live"] else "no (not served now)")),
        ("litellm model", doc["litellm_model"]),
        ("api base", doc["api_base"]),
        ("in catalog", "yes" if doc["in_catalog"] else {
            "unlisted": "no (termchat passes the name through; the provider decides)",
            "embedded": "no (a GGUF model run in-process)",
            "local_models": "no (a GGUF model run in-process)",
        }.get(doc["source"], "no (the local server decides)")),
    ]
    width = max(len(label) for label, _ in lines)
    out = [f"{label:<{width}}  {sanitize(str(value))}" for label, value in lines if value is not None]
    sys.stdout.write("\n".join(out) + "\n")


# ---------------------------------------------------------------------------------------------
# pull


def refresh_ollama_cache() -> None:
    """Rewrite the completion cache's Ollama models after a pull or rm; when Ollama does not
    list them now, the cache is left as it was (and the reason logged)."""
    from ..core import ollama
    from ..core.errors import TermchatError
    from ..core.listing import ollama_id
    from ..core.modelcache import update_local_cache

    try:
        ids = [ollama_id(n) for n in ollama.tags()]
    except TermchatError as exc:
        logging.getLogger("termchat").debug("Ollama models not re-read: %s", exc.message)
        return
    update_local_cache("ollama", ids)


def run_pull(model: str) -> None:
    """Pull an Ollama model, showing progress on stderr (a Rich bar on a TTY, plain lines
    otherwise). Raises the errors of :func:`termchat.core.ollama.pull`."""
    from ..core import ollama

    name = ollama.ollama_name(model)
    events = ollama.pull(name)
    if sys.stderr.isatty():
        _pull_rich(events)
    else:
        _pull_plain(events)
    refresh_ollama_cache()
    typer.echo(_safe(f"pulled {model}"), err=True)


def _pull_plain(events: Any) -> None:
    from ..render import sanitize

    last: tuple[str, str, int] | None = None
    for ev in events:
        status = sanitize(str(ev.get("status", "")))  # the server's text
        total, done = ev.get("total"), ev.get("completed")
        if isinstance(total, int) and total > 0 and isinstance(done, int):
            pct = min(100, done * 100 // total)
            key = (status, str(ev.get("digest", "")), pct // 10)
            if key != last:
                last = key
                digest = sanitize(str(ev.get("digest", ""))[7:19])
                sys.stderr.write(f"{status} {digest} {pct}% ({done:,}/{total:,} bytes)\n")
        elif last is None or status != last[0]:
            last = (status, "", -1)
            sys.stderr.write(status + "\n")
        sys.stderr.flush()


def _pull_rich(events: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    from ..render import sanitize

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=console, transient=False,
    ) as progress:
        tasks: dict[str, Any] = {}
        status_task = progress.add_task("starting", total=None)
        for ev in events:
            status = escape(sanitize(str(ev.get("status", ""))))  # the server's text, not markup
            digest = ev.get("digest")
            total, done = ev.get("total"), ev.get("completed")
            if digest and isinstance(total, int):
                if digest not in tasks:
                    tasks[digest] = progress.add_task(f"{status} {escape(sanitize(str(digest)[7:19]))}", total=total)
                progress.update(tasks[digest], completed=done or 0)
            else:
                progress.update(status_task, description=status)


DEFAULT_HELP = """Show the effective default model and where it comes from, or set it.

Without MODEL: the model used when -m is not given (-m > TERMCHAT_MODEL > config
default_model > a provider whose key is set > a running Ollama > the embedded model).
With MODEL: check that it resolves, then write default_model to the config file.
"""

PULL_HELP = """Download an Ollama model, with progress on stderr.

Ollama reporting an error → exit 1 with its message; Ollama not reachable → exit 4.
Uses OLLAMA_API_BASE (default http://127.0.0.1:11434).
"""

RM_HELP = """Remove an Ollama model.

Unknown model → exit 2; Ollama not reachable → exit 4.
"""

# ---------------------------------------------------------------------------------------------
# registration


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group to ``app``."""
    sub = typer.Typer(invoke_without_command=True, no_args_is_help=False)
    app.add_typer(sub, name="models")

    @sub.callback(invoke_without_command=True, help=unwrap(LIST_HELP))
    def list_(
        ctx: typer.Context,
        provider: str = typer.Option(None, "--provider", "-p", help="Only this provider (ollama also matches ollama_chat).", autocompletion=complete_provider),
        mode: Mode = typer.Option(None, "--mode", help="Only models of this kind."),
        vision: bool = typer.Option(False, "--vision", help="Only models that take images."),
        tools: bool = typer.Option(False, "--tools", help="Only models with function calling."),
        search: str = typer.Option(None, "--search", "-s", help="Only ids or aliases containing TEXT (any case).", metavar="TEXT"),
        available: bool = typer.Option(False, "--available", "-a", help="Only models usable now: key set, or served by a local server that answers."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list (shape above)."),
    ) -> None:
        if ctx.invoked_subcommand is not None:
            return
        run_list(provider=provider, mode=mode, vision=vision, tools=tools, search=search,
                 available=available, as_json=as_json)

    @sub.command("info", help=unwrap(INFO_HELP))
    def info(
        model: str = typer.Argument(..., help="Model id or alias.", autocompletion=complete_any_model),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        from ..config import load_config
        from ..core.details import model_details

        doc = model_details(model, load_config())
        if as_json:
            sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        else:
            print_details(doc)

    @sub.command("default", help=unwrap(DEFAULT_HELP))
    def default(
        model: str = typer.Argument(None, help="Model id or alias to make the default.", autocompletion=complete_any_model),
        unset: bool = typer.Option(False, "--unset", help="Remove default_model from the config file."),
        as_json: bool = typer.Option(False, "--json", help="Print {model, id, source, configured} as JSON."),
    ) -> None:
        from ..config import load_config
        from ..config_edit import set_value, unset_value
        from ..core.catalog import pick_default_model, resolve_model
        from ..core.errors import UsageError

        config = load_config()
        if unset:
            if model:
                raise UsageError("give MODEL or --unset, not both")
            removed = unset_value("default_model")
            typer.echo("default_model removed" if removed else "default_model was not set", err=True)
            return
        if model:
            rm = resolve_model(model, config, require_key=False)
            set_value("default_model", model)
            note = f" → {rm.id}" if rm.id != model else ""
            typer.echo(_safe(f"default_model = {model}{note}"), err=True)
            if config.source("default_model").startswith("env:"):
                typer.echo("note: TERMCHAT_MODEL is set and overrides the file", err=True)
            return
        name, why = pick_default_model(config)
        rm = resolve_model(name, config, require_key=False)
        if why:
            source = f"automatic: {why}"
        else:
            src = config.source("default_model")
            source = f"config file {config.path}" if src == "file" else src
        if as_json:
            sys.stdout.write(json.dumps({"model": name, "id": rm.id, "source": source,
                                         "configured": not why}) + "\n")
            return
        shown = name if name == rm.id else f"{name} → {rm.id}"
        typer.echo(_safe(f"{shown}    ({source})"))

    @sub.command("pull", help=unwrap(PULL_HELP))
    def pull(model: str = typer.Argument(..., help="ollama/NAME, e.g. ollama/llama3.2")) -> None:
        run_pull(model)

    @sub.command("rm", help=unwrap(RM_HELP))
    def rm(model: str = typer.Argument(..., help="ollama/NAME", autocompletion=complete_ollama_model)) -> None:
        from ..core import ollama

        name = ollama.ollama_name(model)
        ollama.delete(name)
        refresh_ollama_cache()
        typer.echo(_safe(f"removed {model}"), err=True)
