"""The ``termchat`` command line (Typer).

One module per subcommand. Nothing here imports LiteLLM, Textual, the OpenAI SDK or Pillow at
module level: ``--help`` and shell completion must stay fast; each command imports what it uses.
:func:`main` is the console-script entry point: it turns every :class:`TermchatError` into one line
on stderr and its exit code, and an unexpected exception into one line (the traceback goes to the
log file; ``TERMCHAT_DEBUG=1`` shows it).
"""

from __future__ import annotations

import os
import sys

import typer

from .. import __version__
from ..core.errors import EXIT_ERROR, EXIT_INTERRUPTED, TermchatError

#: Exit code when the reader of standard output went away (``| head``): 128 + SIGPIPE.
EXIT_OUTPUT_CLOSED = 141

app = typer.Typer(
    name="termchat",
    help="Chat with any model from the terminal: a full-screen chat app and a pipe-friendly CLI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"termchat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", help="Show the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Chat with any model from the terminal.

    Exit codes: 0 ok, 1 provider or other error, 2 usage error, 3 configuration or
    authentication, 4 network or timeout, 129 terminal closed (SIGHUP), 130 interrupted,
    141 standard output closed, 143 terminated (SIGTERM).
    """


def report_error(err: TermchatError) -> None:
    """Print a :class:`TermchatError` as one line on stderr: ``termchat: <message> (<hint>)``,
    neutralised by :func:`termchat.render.stderr_line` (messages carry provider text)."""
    from ..render import stderr_line

    line = f"termchat: {err.message}"
    if err.hint:
        line += f" ({err.hint})"
    stderr_line(line, style="bold red")


def _register() -> None:
    from . import ask, chat, config_cmd, history, keys

    ask.register(app)
    chat.register(app)
    config_cmd.register(app)
    keys.register(app)
    history.register(app)
    from . import image, speak

    image.register(app)
    speak.register(app)
    from . import aliases, doctor, models

    models.register(app)
    aliases.register(app)
    doctor.register(app)
    from . import warm_cmd

    warm_cmd.register(app)
    from . import presets, usage

    usage.register(app)
    presets.register(app)
    from . import cache

    cache.register(app)
    from . import mcp

    mcp.register(app)
    from . import transcribe

    transcribe.register(app)
    from . import listen

    listen.register(app)


_register()


#: Subcommands whose ``-o`` is a model option taking two values (``image``/``speak`` use ``-o``
#: for the output file).
TWO_VALUE_O = ("ask", "chat")


def join_option_pairs(argv: list[str]) -> list[str]:
    """For ``ask`` and ``chat``, rewrite ``-o NAME VALUE`` as ``-o NAME=VALUE`` (Typer has no
    repeated two-value option). ``-o NAME=VALUE`` is left as it is; so is everything after
    ``--`` and every other subcommand's arguments."""
    sub = next((a for a in argv if not a.startswith("-")), None)
    if sub not in TWO_VALUE_O:
        return argv
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            out += argv[i:]
            break
        if tok in ("-o", "--option") and i + 2 < len(argv):
            name = argv[i + 1]
            if "=" not in name:
                out += [tok, f"{name}={argv[i + 2]}"]
                i += 3
                continue
        out.append(tok)
        i += 1
    return out


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; exits with the documented exit code."""
    try:
        _main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        _fast_exit(code)
        raise


def _fast_exit(code: int) -> None:
    """When this process imported LiteLLM, skip the interpreter's teardown (about 1 s of
    finalising LiteLLM's ~2,700 modules): everything termchat writes is already on disk (the
    store commits each statement; output files are renamed into place), so flush the standard
    streams and the log, and leave at once. The TUI (``chat``) does not come through here with
    its event loop still running."""
    if "litellm" not in sys.modules or os.environ.get("TERMCHAT_DEBUG"):
        return
    if "termchat.client.mcp" in sys.modules:  # os._exit skips atexit: stop MCP servers first
        sys.modules["termchat.client.mcp"].shutdown()
    import logging

    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    logging.shutdown()
    os._exit(code)


def _main(argv: list[str] | None) -> None:
    args = join_option_pairs(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=args, prog_name="termchat", standalone_mode=True)
    except TermchatError as err:
        report_error(err)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say; keep Python quiet at exit, and
        # end as `ask` does then (128 + SIGPIPE, what a shell reports for other filters).
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        sys.exit(EXIT_OUTPUT_CLOSED)
    except SystemExit:
        raise
    except Exception as exc:  # last resort: one line, never a traceback
        if os.environ.get("TERMCHAT_DEBUG"):
            raise
        import traceback

        from ..core.errors import redact
        from ..logs import get_logger
        from ..render import sanitize

        get_logger().error(redact(traceback.format_exc()))
        sys.stderr.write(sanitize(
            f"termchat: internal error: {redact(type(exc).__name__ + ': ' + str(exc))}"
            " (TERMCHAT_DEBUG=1 shows the traceback)"
        ) + "\n")
        sys.exit(EXIT_ERROR)
