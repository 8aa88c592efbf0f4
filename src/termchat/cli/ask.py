"""``termchat ask``: one-shot, pipe-friendly questions."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from ..core.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
)

HELP = """Ask a model one question and stream the answer.

Standard input is the material, the argument is the instruction: when both are given the
prompt is the argument, a blank line, then standard input.

    git diff | termchat ask -m claude "write a commit message"

On a terminal the answer is rendered as Markdown; into a pipe it is the model's exact text,
flushed as it arrives (control characters neutralised unless --raw). Notices, usage and errors
go to stderr. The exchange is stored in the history (continue it with -c, or here and in
`termchat chat` with --cid ID) unless --no-log.

Tools (-T NAME, repeatable: a built-in — files, fetch, time, shell —, every tool of the MCP
server NAME, or one as NAME.tool; config tools.enabled): on a terminal each call is shown on
stderr and asks y / n / always; without a terminal the tools named with -T (and config
tools.allow) run, the shell tool only with --yes. One line per call on stderr.

--key puts the key in this process's command line, which other users of the machine can read
(ps); prefer --key-env NAME (the key is read from that environment variable) or `termchat keys
set`.

With --voice the instruction is spoken: termchat records from the default microphone (Enter or
a pause after speech stops it, Ctrl+C cancels), shows the transcript on stderr, and uses it as
the instruction (`termchat ask --voice < notes.txt`).

Exit codes: 0 ok, 1 provider error, 2 usage error, 3 configuration or authentication,
4 network or timeout, 130 interrupted, 141 standard output closed (| head), 143 terminated
(SIGTERM), 129 the terminal was closed (SIGHUP) — in the last four cases what arrived is
stored as interrupted.
"""

#: ``--key`` help, shared by ``ask``, ``image`` and ``speak``.
KEY_HELP = (
    "API key for this call (beats env and keys file). Visible to other users in the process "
    "list: prefer --key-env."
)
KEY_ENV_HELP = "Read the API key for this call from the environment variable NAME."


def key_from_options(key: str | None, key_env: str | None) -> str | None:
    """The key given with ``--key`` or, with ``--key-env NAME``, the value of ``$NAME``
    (``None`` when neither is given).

    Raises:
        UsageError: both options, an invalid NAME, or ``$NAME`` is unset or empty (exit 2).
    """
    if key_env is None:
        return key
    import os

    if key is not None:
        raise UsageError("give --key or --key-env, not both")
    name = key_env.strip().lstrip("$")
    if not name or "=" in name or "\0" in name:
        raise UsageError(f"--key-env takes an environment variable name, not {key_env!r}")
    value = os.environ.get(name, "").strip()
    if not value:
        raise UsageError(f"--key-env {name}: the environment variable {name} is not set or empty",
                         hint=f"export {name}=… first")
    return value


def show_keys_warnings() -> None:
    """Print, once each, the warnings found while reading the keys file (see
    :func:`termchat.config.check_keys_file`) on stderr."""
    from ..config import pop_keys_warnings
    from ..render import stderr_line

    for warning in pop_keys_warnings():
        stderr_line(warning, style="yellow")



def parse_option_value(raw: str) -> Any:
    """``-o`` values: JSON scalars (``0.2``, ``100``, ``true``, ``null``, ``"x"``, lists) are
    typed; anything else is a string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def read_stdin(limit: int) -> str | None:
    """Standard input as text when it is not a terminal, else ``None``.

    Raises:
        UsageError: more than ``limit`` bytes, binary data (NUL bytes) or not UTF-8 (exit 2).
    """
    stream = sys.stdin
    if stream is None or stream.closed:
        return None
    try:
        if stream.isatty():
            return None
        data = stream.buffer.read(limit + 1)
    except (OSError, ValueError):
        return None
    if len(data) > limit:
        raise UsageError(
            f"standard input is larger than {limit:,} bytes",
            hint="raise max_input_bytes with `termchat config set max_input_bytes N`, or send less",
        )
    if b"\x00" in data:
        raise UsageError("standard input looks binary (it has NUL bytes); send text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"standard input is not UTF-8 text (byte {exc.start})") from None


def split_options(items: list[str]) -> dict[str, str]:
    """``["temperature=0.2", …]`` (what :func:`termchat.cli.join_option_pairs` makes of
    ``-o temperature 0.2``) -> ``{"temperature": "0.2"}``. Raises :class:`UsageError` on an
    item without a value."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-o takes a name and a value, e.g. -o temperature 0.2 (got {item!r})")
        out[name.strip()] = value
    return out


def build_prompt(argument: str, stdin_text: str | None) -> str:
    """The README rule ("Stdin and argument"): argument, a blank line, then stdin; either alone is the prompt.
    Raises :class:`UsageError` when the result is empty or blank."""
    arg = argument.strip()
    material = (stdin_text or "").strip("\n")
    if arg and material.strip():
        prompt = f"{arg}\n\n{material}"
    else:
        prompt = arg or material
    if not prompt.strip():
        raise UsageError(
            "empty prompt", hint='give the question as an argument or on stdin: termchat ask "…"'
        )
    return prompt


# --fallback and --cache (ask and chat) -----------------------------------------------

FALLBACK_HELP = ("Model to try when the model fails before any text (rate limit, 5xx, network, "
                 "timeout, missing key, context too small); repeat for a chain. Replaces the "
                 "config's [fallbacks] chain for this call.")
CACHE_HELP = ("Answer from the response cache when this exact request was answered before "
              "(temperature 0; cost 0), and store the reply (default: config cache.enabled).")


def _routing(name: str, config: Any, api_base: str | None, key: str | None,
             fallbacks: list[str] | None, cache: bool | None,
             preset_fallbacks: list[str] | None = None) -> tuple[Any, Any]:
    """The resolved model and its :class:`termchat.client.routing.Routing` (fallback chain from
    ``--fallback``, else a preset's, else the config; ``--cache``)."""
    from ..client.routing import Routing, plan

    rm, chain = plan(name, config, api_base=api_base, api_key=key,
                     fallbacks=fallbacks or preset_fallbacks or None)
    return rm, Routing(chain=chain, cache=cache)


def register(app: typer.Typer) -> None:
    """Add the ``ask`` command to ``app``."""
    from .complete import complete_cid, complete_model, complete_preset, complete_tool

    @app.command("ask", help=HELP)
    def ask(
        prompt: list[str] = typer.Argument(None, help="The instruction (words are joined)."),
        model: str = typer.Option(None, "-m", "--model", help="Model id or alias.", show_default=False, autocompletion=complete_model),
        system: str = typer.Option(None, "-s", "--system", help="System prompt."),
        option: list[str] = typer.Option(
            None, "-o", "--option", metavar="NAME VALUE",
            help="Model option, e.g. -o temperature 0.2 -o max_tokens 200 (or -o name=value).",
        ),
        continue_: bool = typer.Option(False, "-c", "--continue", help="Continue the last conversation."),
        cid: str = typer.Option(None, "--cid", help="Continue the conversation with this id (or prefix).", autocompletion=complete_cid),
        no_stream: bool = typer.Option(False, "--no-stream", help="Wait for the whole answer."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object with text, model, usage, cost, finish_reason and conversation id."),
        usage: bool = typer.Option(False, "-u", "--usage", help="Show tokens and USD cost on stderr."),
        no_log: bool = typer.Option(False, "--no-log", help="Do not store this exchange."),
        raw: bool = typer.Option(False, "--raw", help="Pass control characters through untouched."),
        api_base: str = typer.Option(None, "--api-base", help="OpenAI-compatible base URL for this call."),
        key: str = typer.Option(None, "--key", help=KEY_HELP),
        key_env: str = typer.Option(None, "--key-env", metavar="NAME", help=KEY_ENV_HELP),
        no_warm: bool = typer.Option(False, "--no-warm", help="Run in-process, without the warm core."),
        preset: str = typer.Option(None, "-p", "--preset", help="Start from the preset NAME (flags win over it).", autocompletion=complete_preset),
        over_budget: bool = typer.Option(False, "--over-budget", help="Send this request even if it passes a budget limit."),
        fallback: list[str] = typer.Option(None, "--fallback", metavar="MODEL", help=FALLBACK_HELP, autocompletion=complete_model),
        cache: bool = typer.Option(None, "--cache/--no-cache", help=CACHE_HELP, show_default=False),
        tool: list[str] = typer.Option(
            None, "-T", "--tool", metavar="NAME",
            help="Enable a tool: files, fetch, time, shell, an MCP server NAME or NAME.tool (repeatable).",
            autocompletion=complete_tool,
        ),
        yes: bool = typer.Option(False, "--yes", help="Run every tool call without asking."),
        root: list[str] = typer.Option(
            None, "--root", metavar="DIR", help="A folder the file tools may read besides the working directory (repeatable).",
        ),
        voice: bool = typer.Option(False, "--voice", help="Speak the instruction: record from the microphone and transcribe it first (then the argument, a blank line and stdin follow it as material)."),
    ) -> None:
        words = " ".join(prompt or [])
        if voice:
            from .voice_input import voice_prompt

            words = voice_prompt(words, no_warm=no_warm)
        code = run_ask(
            prompt=words,
            model=model,
            system=system,
            options=split_options(option or []),
            continue_=continue_,
            cid=cid,
            stream=not no_stream,
            as_json=as_json,
            show_usage=usage,
            no_log=no_log,
            raw=raw,
            api_base=api_base,
            key=key_from_options(key, key_env),
            no_warm=no_warm,
            fallbacks=fallback or None,
            cache=cache,
            preset=preset,
            over_budget=over_budget,
            tools=list(tool or []),
            yes=yes,
            roots=list(root or []),
        )
        if code:
            raise typer.Exit(code)


def run_ask(
    *,
    prompt: str,
    model: str | None,
    system: str | None,
    options: dict[str, str],
    continue_: bool,
    cid: str | None,
    stream: bool,
    as_json: bool,
    show_usage: bool,
    no_log: bool,
    raw: bool,
    api_base: str | None,
    key: str | None,
    no_warm: bool = False,
    preset: str | None = None,
    over_budget: bool = False,
    fallbacks: list[str] | None = None,
    cache: bool | None = None,
    tools: list[str] | None = None,
    yes: bool = False,
    roots: list[str] | None = None,
) -> int:
    """The ``ask`` flow; returns the exit code (raises :class:`TermchatError` before any request
    is made, for bad input or configuration).

    Exit codes besides the errors': 0 ok, 130 Ctrl+C, 143 SIGTERM, 129 SIGHUP (the terminal
    was closed), 141 standard output closed; in those cases what arrived is stored as
    interrupted (a question without any answer
    is marked ``no reply: WHY``; see :func:`termchat.store.no_reply_note`)."""
    from ..config import load_config
    from ..core.catalog import pick_default_model
    from ..core.types import ChatRequest, Message
    from ..render import stderr_line
    from ..store import Store
    from ..turn import history_messages
    from .runner import SignalGuard

    config = load_config()
    if no_warm:
        config.overrides["warm_core.enabled"] = False
    text = build_prompt(prompt, read_stdin(int(config.get("max_input_bytes"))))
    typed_options = {k: parse_option_value(v) for k, v in options.items()}
    preset_fallbacks: list[str] = []  # -p NAME (flags win over the preset)
    if preset:
        from .spending import apply_preset

        model, system, typed_options, preset_fallbacks, preset_tools = apply_preset(
            config, preset, model, system, typed_options)
        tools = tools or preset_tools

    logging_on = not no_log and bool(config.get("log"))
    store = Store() if (logging_on or continue_ or cid) else None
    conv = None
    if cid:
        assert store is not None
        conv = store.get_conversation(cid)
    elif continue_:
        assert store is not None
        conv = store.latest_conversation()
        if conv is None:
            raise UsageError("there is no conversation to continue yet", hint="drop -c to start one")

    why = ""
    name = model or (conv.model if conv and conv.model else None)
    if not name:
        name, why = pick_default_model(config)
    rm, routing = _routing(name, config, api_base, key, fallbacks, cache,
                           preset_fallbacks)
    show_keys_warnings()
    if why:
        stderr_line(f"termchat: using {rm.id} ({why})", style="dim")

    sys_prompt = system if system is not None else (conv.system if conv else None)
    rows = store.messages(conv.id) if conv is not None and store is not None else []
    messages: list[Message] = [*history_messages(rows, sys_prompt), Message("user", text)]
    if conv is not None:
        typed_options = {**conv.options, **typed_options}

    from .tools_cli import toolset_for_ask

    toolset = toolset_for_ask(config, tools or [], yes, roots or [])
    req = ChatRequest(
        model=rm.id, messages=messages, options=typed_options, stream=stream,
        api_base=api_base, api_key=key,
    )
    if toolset is not None:
        req.tools, req.max_rounds = toolset.schemas(), toolset.max_rounds

    from .spending import budget_hold

    hold = budget_hold(config, store, rm.id, messages, typed_options, over_budget)

    with SignalGuard() as guard:  # from here on, SIGTERM stores what arrived
        return _run(
            req, config, rm, store, conv, text, typed_options, guard,
            model=model, system=system, sys_prompt=sys_prompt, logging_on=logging_on,
            as_json=as_json, raw=raw, show_usage=show_usage, hold=hold, routing=routing,
            toolset=toolset,
        )


def _run(req: Any, config: Any, rm: Any, store: Any, conv: Any, text: str,
         typed_options: dict[str, Any], guard: Any, *, model: str | None, system: str | None,
         sys_prompt: str | None, logging_on: bool, as_json: bool, raw: bool,
         show_usage: bool, hold: Any = None, routing: Any = None,
         toolset: Any = None) -> int:
    """Store the question, run the request, store the reply, print JSON/usage/errors; returns
    the exit code."""
    import os

    from ..render import json_dumps, stderr_line
    from ..store import awaiting_marker
    from ..turn import Outcome, store_reply, title_for
    from .runner import EXIT_OUTPUT_CLOSED, stream_to_terminal

    conv_id = conv.id if conv else None
    user_mid = None
    if logging_on and store is not None:
        if conv is None:
            conv = store.create_conversation(rm.id, sys_prompt, title=title_for(text), options=typed_options)
            conv_id = conv.id
        else:
            updates: dict[str, Any] = {}
            if model and rm.id != conv.model:
                updates["model"] = rm.id
            if system is not None and system != conv.system:
                updates["system"] = system
            if updates:
                store.update_conversation(conv.id, **updates)
        user_mid = store.add_message(conv.id, "user", text, error=awaiting_marker())

    req.conversation_id = conv_id  # told to a gateway (core.gateway), to no one else
    outcome = Outcome(model=rm.id)
    stream_to_terminal(req, config, rm, outcome, as_json=as_json, raw=raw, guard=guard,
                       routing=routing, tools=toolset)

    assistant_mid = None
    if logging_on and store is not None and conv_id is not None:
        assistant_mid = store_reply(store, conv_id, outcome, user_mid=user_mid)
    if hold is not None:  # the reply's cost replaces the budget hold's estimate
        hold.finish(outcome.cost_usd, outcome.model, stored=assistant_mid is not None)

    if as_json:
        doc: dict[str, Any] = {
            "text": outcome.text,
            "model": outcome.model,
            "usage": {
                "prompt_tokens": outcome.prompt_tokens,
                "completion_tokens": outcome.completion_tokens,
                "total_tokens": (outcome.prompt_tokens or 0) + (outcome.completion_tokens or 0)
                if outcome.prompt_tokens is not None else None,
            },
            "cost_usd": outcome.cost_usd,
            "finish_reason": outcome.finish_reason,
            "conversation_id": conv_id if logging_on else None,
            "message_id": assistant_mid,
            "user_message_id": user_mid,
            "duration_s": round(outcome.duration_s, 4),
            "ttft_s": round(outcome.ttft_s, 4) if outcome.ttft_s is not None else None,
            "interrupted": outcome.interrupted,
            "cached": outcome.cached,  # replayed from the response cache
        }
        if outcome.reasoning:
            doc["reasoning"] = outcome.reasoning
        if outcome.tool_rounds:
            doc["tool_rounds"] = [{k: v for k, v in r.items() if k != "round"}
                                  for r in outcome.tool_rounds]
        if outcome.error is not None:
            doc["error"] = outcome.error.to_dict()
        if not outcome.output_closed:
            try:
                sys.stdout.write(json_dumps(doc) + "\n")
                sys.stdout.flush()
            except (OSError, ValueError):  # EPIPE; EIO from a closed terminal
                outcome.output_closed = True

    if outcome.output_closed:
        # The reader left (`| head`): quiet, like any Unix filter; Python must not complain
        # at exit about the output it can no longer flush.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    if show_usage:
        stderr_line(format_usage(outcome), style="dim")
    if outcome.error is not None:
        from . import report_error

        report_error(outcome.error)
        return outcome.error.exit_code
    if guard.signum is not None:
        if outcome.signal is None:  # arrived while the reply was being stored
            outcome.signal = guard.signum
            from .runner import interrupted_notice

            stderr_line(interrupted_notice(outcome), style="yellow")
        return 128 + outcome.signal
    if outcome.output_closed:
        return EXIT_OUTPUT_CLOSED
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK


def format_usage(o: Any) -> str:
    """``usage: 12 prompt + 34 completion tokens, $0.000123, 1.23 s (first token 0.20 s)``."""
    if o.prompt_tokens is None and o.completion_tokens is None:
        tokens = "tokens not reported"
    else:
        tokens = f"{o.prompt_tokens or 0} prompt + {o.completion_tokens or 0} completion tokens"
    cost = "cost unknown" if o.cost_usd is None else f"${o.cost_usd:.6f}"
    ttft = f" (first token {o.ttft_s:.2f} s)" if o.ttft_s is not None else ""
    return f"usage: {tokens}, {cost}, {o.duration_s:.2f} s{ttft} — {o.model}"
