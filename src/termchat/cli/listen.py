"""``termchat listen``: record from the microphone and print the transcript."""

from __future__ import annotations

import sys

import typer

HELP = """Record from the default microphone and print what was said.

A level meter and the elapsed time show on stderr (on a terminal). The recording stops when
you press Enter, after a stretch of silence following speech (`voice.silence_seconds`, 1.2 s
by default) or at `voice.max_seconds`; Ctrl+C cancels it and nothing is sent.

    termchat listen > note.txt
    termchat listen --json | jq -r .text

The transcript goes to stdout; the model is -m, else the transcription default (see
`termchat transcribe --help`).

Exit codes: 0 ok, 1 no input device or it failed, or a provider error, 2 nothing heard or
understood, 3 configuration or authentication, 4 network or timeout, 130 cancelled.
"""


def register(app: typer.Typer) -> None:
    """Add the ``listen`` command to ``app``."""
    from .ask import KEY_ENV_HELP, KEY_HELP, key_from_options
    from .complete import complete_transcription_model

    @app.command("listen", help=HELP)
    def listen(
        model: str = typer.Option(None, "-m", "--model", help="Transcription model id or alias.",
                                  show_default=False, autocompletion=complete_transcription_model),
        language: str = typer.Option(None, "--language", help="Language of the speech (ISO-639-1, e.g. en)."),
        prompt: str = typer.Option(None, "--prompt", help="Vocabulary or style hint for the model."),
        silence: float = typer.Option(None, "--silence", metavar="SECONDS",
                                      help="Silence after speech that ends the recording (0: only Enter)."),
        max_seconds: float = typer.Option(None, "--max-seconds", metavar="SECONDS", help="Longest recording."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object: text, model, language, durations."),
        api_base: str = typer.Option(None, "--api-base", help="OpenAI-compatible base URL for this call."),
        key: str = typer.Option(None, "--key", help=KEY_HELP),
        key_env: str = typer.Option(None, "--key-env", metavar="NAME", help=KEY_ENV_HELP),
        no_warm: bool = typer.Option(False, "--no-warm", help="Run in-process, without the warm core."),
    ) -> None:
        run_listen(model=model, language=language, prompt=prompt, silence=silence,
                   max_seconds=max_seconds, as_json=as_json, api_base=api_base,
                   key=key_from_options(key, key_env), no_warm=no_warm)


def run_listen(*, model: str | None, language: str | None, prompt: str | None,
               silence: float | None, max_seconds: float | None, as_json: bool,
               api_base: str | None, key: str | None, no_warm: bool) -> None:
    """Record, transcribe, print (text, or ``--json``: ``{"text", "model", "language",
    "recorded_s", "transcribe_s", "cost_usd"}``).

    Raises:
        UsageError: a bad --silence/--max-seconds, nothing heard or understood (exit 2).
        TermchatError: no input device, device failure, provider errors (see ``--help``).
    """
    from ..config import check_range, load_config
    from ..render import json_dumps, sanitize
    from .voice_input import listen

    config = load_config()
    if no_warm:
        config.overrides["warm_core.enabled"] = False
    if silence is not None:
        config.overrides["voice.silence_seconds"] = check_range("voice.silence_seconds", silence)
    if max_seconds is not None:
        config.overrides["voice.max_seconds"] = check_range("voice.max_seconds", max_seconds)
    rec, t = listen(config, model=model, language=language, prompt=prompt, api_base=api_base,
                    api_key=key)
    if as_json:
        out = json_dumps({"text": t.text.strip(), "model": t.model, "language": t.language,
                          "recorded_s": round(rec.seconds, 3), "transcribe_s": round(t.elapsed_s, 3),
                          "cost_usd": t.cost_usd})
    else:
        out = t.text.strip() if not sys.stdout.isatty() else sanitize(t.text.strip())
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
