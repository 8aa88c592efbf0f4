"""``termchat speak``: text to speech, to a file, to standard output, or to the speakers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from ..core.errors import EXIT_OK, UsageError

HELP = """Turn text into speech: write an audio file, or play it.

The text is the argument, standard input, or both (argument, a blank line, stdin).

    termchat speak "Hello there" -o hello.mp3
    cat notes.md | termchat speak --voice nova --format wav --speed 1.2 -o notes.wav
    termchat speak "Bonjour" --play

Text longer than the provider takes in one request (4096 characters) is split at sentence
ends, spoken part by part and joined into one file (wav, pcm, mp3 and aac can be joined; opus
and flac cannot). -o - writes the audio to standard output; without -o the file is named from
the text and the time, in the current directory, and its path is printed. Existing files are
never overwritten without --force. --play plays wav or pcm audio (the default format with
--play is wav); Ctrl+C stops it.

Exit codes: 0 ok, 1 provider or audio-device error, 2 usage error, 3 configuration or
authentication, 4 network or timeout, 130 interrupted.
"""

#: Audio formats and their file extensions.
AUDIO_FORMATS = ("mp3", "wav", "opus", "flac", "aac", "pcm")


def register(app: typer.Typer) -> None:
    """Add the ``speak`` command to ``app``."""
    from .ask import KEY_ENV_HELP, KEY_HELP, key_from_options
    from .complete import complete_speech_model, complete_voice

    @app.command("speak", help=HELP)
    def speak(
        text: list[str] = typer.Argument(None, help="The text (words are joined)."),
        model: str = typer.Option(None, "-m", "--model", help="Model id or alias (default: config speech.model).", show_default=False, autocompletion=complete_speech_model),
        voice: str = typer.Option(None, "--voice", help="Voice (default: config speech.voice).", autocompletion=complete_voice),
        fmt: str = typer.Option(None, "--format", help="mp3|wav|opus|flac|aac|pcm (default: from -o, else mp3; wav with --play)."),
        speed: float = typer.Option(None, "--speed", help="0.25-4.0.", show_default=False),
        instructions: str = typer.Option(None, "--instructions", help="How to speak (gpt-4o-mini-tts and similar)."),
        output: str = typer.Option(None, "-o", "--output", help="Output file, or - for standard output."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
        play: bool = typer.Option(False, "--play", help="Play the audio (after writing -o, if given)."),
        api_base: str = typer.Option(None, "--api-base", help="OpenAI-compatible base URL for this call."),
        key: str = typer.Option(None, "--key", help=KEY_HELP),
        key_env: str = typer.Option(None, "--key-env", metavar="NAME", help=KEY_ENV_HELP),
        over_budget: bool = typer.Option(False, "--over-budget", help="Send this request even if it passes a budget limit."),
    ) -> None:
        code = run_speak(
            text=" ".join(text or []), model=model, voice=voice, fmt=fmt, speed=speed,
            instructions=instructions, output=output, force=force, play=play,
            api_base=api_base, key=key_from_options(key, key_env), over_budget=over_budget,
        )
        if code:
            raise typer.Exit(code)


def audio_format(fmt: str | None, output: str | None, play: bool) -> str:
    """The audio format: ``--format``, else the ``-o`` extension when it is an audio one, else
    ``wav`` with ``--play`` and ``mp3`` otherwise.

    Raises:
        UsageError: an unknown format, or ``--format`` and the ``-o`` extension disagree.
    """
    want = None
    if fmt is not None:
        want = fmt.strip().lower().lstrip(".")
        if want not in AUDIO_FORMATS:
            raise UsageError(f"unknown audio format {fmt!r}", hint=f"use {', '.join(AUDIO_FORMATS)}")
    suffix = Path(output).suffix.lower().lstrip(".") if output and output != "-" else ""
    from_ext = suffix if suffix in AUDIO_FORMATS else None
    if want and from_ext and want != from_ext:
        raise UsageError(f"-o names a .{suffix} file but --format is {want}", hint="make them agree")
    return want or from_ext or ("wav" if play else "mp3")


def plan_speech(
    rm: Any, voice: str, speed: float | None, instructions: str | None, fmt: str
) -> dict[str, Any]:
    """The provider options (``response_format``, ``speed``, ``instructions``) for ``rm``,
    checked: the voice against OpenAI's voices for OpenAI speech models, ``speed`` in
    0.25–4.0, ``instructions`` only for models that take them (unknown models: passed through).

    Raises:
        UsageError: an unknown voice, speed out of range, instructions for tts-1.
    """
    from ..core.media import OPENAI_VOICES, speech_model_family

    family = speech_model_family(rm)
    if not voice.strip():
        raise UsageError("empty --voice")
    if family is not None and voice not in OPENAI_VOICES:
        raise UsageError(
            f"unknown voice {voice!r} for {rm.id}", hint=f"use one of: {', '.join(OPENAI_VOICES)}"
        )
    options: dict[str, Any] = {"response_format": fmt}
    if speed is not None:
        if not 0.25 <= speed <= 4.0:
            raise UsageError(f"--speed takes 0.25-4.0, not {speed:g}")
        options["speed"] = speed
    if instructions is not None:
        if family == "openai-tts":
            raise UsageError(
                f"{rm.id} does not take --instructions",
                hint="use gpt-4o-mini-tts (-m tts), or drop --instructions",
            )
        if instructions.strip():
            options["instructions"] = instructions
    return options


def run_speak(
    *,
    text: str,
    model: str | None,
    voice: str | None,
    fmt: str | None,
    speed: float | None,
    instructions: str | None,
    output: str | None,
    force: bool,
    play: bool,
    api_base: str | None,
    key: str | None,
    over_budget: bool = False,
) -> int:
    """The ``speak`` flow; returns the exit code. Raises :class:`TermchatError` for bad input,
    configuration, provider and audio-device failures; a file asked for is written before
    playback starts, and nothing is written when synthesis fails."""
    from ..client.media import speech_parts, synthesize
    from ..client.routing import plan
    from ..config import load_config
    from ..core.media import SPEECH_INPUT_LIMIT
    from ..media import (
        check_output_device,
        check_outputs,
        decode_for_playback,
        output_paths,
        play_pcm,
        slugify,
        timestamp,
        write_outputs,
    )
    from ._media import read_text, run_media

    config = load_config()
    content = read_text(text, int(config.get("max_input_bytes")), "text", "speak")
    fmt_ = audio_format(fmt, output, play)
    if play and fmt_ not in ("wav", "pcm"):
        decode_for_playback(b"", fmt_)  # raises the clear "only wav/pcm" UsageError
    name = model or config.get("speech.model")
    rm, chain = plan(name, config, api_base=api_base, api_key=key)  # with its fallback chain
    from .ask import show_keys_warnings

    show_keys_warnings()
    voice_ = voice or str(config.get("speech.voice"))
    options = plan_speech(rm, voice_, speed, instructions, fmt_)

    parts = speech_parts(content)
    if len(parts) > 1 and fmt_ in ("opus", "flac"):
        raise UsageError(
            f"the text is {len(content):,} characters, more than the {SPEECH_INPUT_LIMIT:,} one "
            f"request takes, and {fmt_} files cannot be joined",
            hint="use --format wav or --format mp3",
        )

    to_stdout = output == "-"
    path: Path | None = None
    if to_stdout:
        if sys.stdout.isatty():
            raise UsageError("refusing to write audio to a terminal", hint="redirect it: -o - > file")
    elif output or not play:
        path = output_paths(
            output, 1, fmt_, default_dir=Path("."), slug=slugify(content, fallback="speech"),
            stamp=timestamp(),
        )[0]
        check_outputs([path], force)
    if play and path is None and not to_stdout:
        check_output_device()  # nothing to keep: fail before paying for a request

    label = f"{rm.id}: speaking" + ("" if len(parts) == 1 else f" {len(parts)} parts")
    from .spending import media_hold, speech_estimate

    cost = speech_estimate(rm.info, content)
    hold = media_hold(config, rm.id, cost, over_budget)
    audio = run_media(
        config,
        lambda core, notify, advance: synthesize(
            core, rm, parts, voice=voice_, options=options, fmt=fmt_, api_base=api_base,
            api_key=key, on_notice=notify, advance=advance,
        ),
        chain=chain, label=label + "…", total=len(parts),
    )
    hold.finish(cost, rm.id)  # the catalog's price of the text spoken

    if to_stdout:
        sys.stdout.buffer.write(audio)
        sys.stdout.buffer.flush()
    elif path is not None:
        write_outputs([(path, audio)], force)
        sys.stdout.write(f"{path}\n")
        sys.stdout.flush()

    if play:
        pcm_fmt, frames = decode_for_playback(audio, fmt_)
        try:
            play_pcm(pcm_fmt, frames)
        except KeyboardInterrupt:
            from ..core.errors import InterruptedError_

            raise InterruptedError_("playback stopped") from None
    return EXIT_OK
