"""The command line's microphone: record with a live level meter and elapsed time on stderr
(only when stderr is a terminal), stop on Enter (read from the terminal, also when standard
input is a pipe), on Ctrl+C (cancel: exit 130, nothing sent) or after silence following speech,
then transcribe through the client layer (:func:`termchat.client.transcribe.transcribe`).
Used by ``termchat listen`` and ``termchat ask --voice``."""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from typing import Any

from ..core.errors import InterruptedError_, UsageError


class _Meter:
    """Redraws :func:`meter_line` on stderr at most 10 times a second (terminal only)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._last = 0.0
        self.shown = False

    def __call__(self, level: float, seconds: float) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        try:
            from ..media.capture import meter_line

            sys.stderr.write("\r\x1b[2K" + meter_line(level, seconds, "Enter: stop · Ctrl+C: cancel"))
            sys.stderr.flush()
            self.shown = True
        except (OSError, ValueError):
            self.enabled = False

    def clear(self) -> None:
        if self.shown:
            try:
                sys.stderr.write("\r\x1b[2K")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass


def _terminal_fd() -> tuple[int | None, bool]:
    """A file descriptor to read Enter from: standard input when it is a terminal, else the
    controlling terminal (``/dev/tty``); ``(None, False)`` when there is none. The flag says
    whether the descriptor was opened here (and must be closed)."""
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            return sys.stdin.fileno(), False
    except (OSError, ValueError):
        pass
    try:
        return os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY), True
    except OSError:
        return None, False


def _watch_enter(fd: int, recorder: Any, done: threading.Event) -> None:
    """Stop ``recorder`` when a line (Enter) can be read from ``fd``; return when ``done``."""
    while not done.is_set():
        try:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                os.read(fd, 4096)
                recorder.stop()
                return
        except (OSError, ValueError):
            return


def record(config: Any) -> Any:
    """Record one utterance from the default input device, showing the meter on a terminal.
    Returns a :class:`termchat.media.capture.Recording`.

    Settings: ``voice.silence_seconds`` (silence after speech that ends it) and
    ``voice.max_seconds``.

    Raises:
        TermchatError: no input device, or it fails mid-recording (exit 1).
        UsageError: an empty recording, or no speech heard (exit 2).
        InterruptedError_: Ctrl+C (exit 130); nothing is sent.
    """
    from ..media.capture import CaptureSettings, Recorder

    settings = CaptureSettings(
        silence_seconds=float(config.get("voice.silence_seconds")),
        max_seconds=float(config.get("voice.max_seconds")),
    )
    meter = _Meter(_isatty(sys.stderr))
    recorder = Recorder(settings, on_level=meter)
    fd, opened = _terminal_fd()
    done = threading.Event()
    watcher = None
    if fd is not None:
        watcher = threading.Thread(target=_watch_enter, args=(fd, recorder, done), daemon=True)
        watcher.start()
    try:
        return recorder.record()
    except KeyboardInterrupt:
        raise InterruptedError_("recording cancelled; nothing was sent") from None
    finally:
        done.set()
        meter.clear()
        if watcher is not None:
            watcher.join(0.5)
        if opened and fd is not None:
            os.close(fd)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (OSError, ValueError):
        return False


def transcribe_recording(core: Any, wav: bytes, *, model: str | None, language: str | None,
                         prompt: str | None, api_base: str | None = None,
                         api_key: str | None = None) -> Any:
    """Transcribe a recording's WAV bytes on ``core`` (a :class:`termchat.client.Core`: the
    warm core or in-process), with a spinner on a terminal. Returns a
    :class:`termchat.core.types.Transcript` whose text is not blank.

    Raises:
        UsageError: nothing was understood (blank transcript; exit 2).
        InterruptedError_: Ctrl+C (exit 130).
        TermchatError: the provider's or the embedded model's error.
    """
    from ..client.transcribe import transcribe
    from ..core.types import TranscriptionRequest
    from ._media import _Progress

    req = TranscriptionRequest(model=model or "", audio=wav, filename="recording.wav",
                               mime="audio/wav", language=language, prompt=prompt,
                               response_format="json", api_base=api_base, api_key=api_key)
    try:
        with _Progress("transcribing", 1) as ui:
            result = transcribe(core, req, on_notice=ui.notify)
    except KeyboardInterrupt:
        raise InterruptedError_("interrupted while transcribing") from None
    if not result.text.strip():
        raise UsageError("nothing was understood in the recording",
                         hint="speak closer to the microphone, or name the language with --language")
    return result


def listen(config: Any, *, model: str | None, language: str | None, prompt: str | None,
           api_base: str | None = None, api_key: str | None = None) -> tuple[Any, Any]:
    """:func:`record`, then :func:`transcribe_recording`, on one core client; meanwhile the
    transcription model is loaded where it will run
    (:func:`termchat.client.transcribe.preload`), so the transcript does not wait for it.
    Returns ``(Recording, Transcript)``."""
    from ..client import Core
    from ..client.transcribe import preload
    from ..media.capture import input_device

    input_device()  # no microphone: say so before loading anything
    with Core(config) as core:
        def load() -> None:
            try:
                preload(core, model or "", api_base=api_base, api_key=api_key)
            except Exception:  # the transcription itself reports what is wrong
                pass

        loader = threading.Thread(target=load, name="termchat-stt-preload", daemon=True)
        loader.start()
        rec = record(config)
        loader.join()
        return rec, transcribe_recording(core, rec.wav, model=model, language=language,
                                         prompt=prompt, api_base=api_base, api_key=api_key)


def voice_prompt(argument: str, *, no_warm: bool, language: str | None = None) -> str:
    """``ask --voice``: record, transcribe with the configured transcription model, echo the
    transcript on stderr (``termchat: heard: …``) and return the instruction text: the
    transcript, then (after a blank line) the argument's words when some were given. Standard
    input is added after it by ``ask`` as usual (argument, blank line, stdin).

    Raises:
        the errors of :func:`record` and :func:`transcribe_recording`.
    """
    from ..config import load_config
    from ..render import stderr_line

    config = load_config()
    if no_warm:
        config.overrides["warm_core.enabled"] = False
    text = listen(config, model=None, language=language, prompt=None)[1].text.strip()
    stderr_line(f"termchat: heard: {text}", style="dim")
    if not text:
        raise UsageError("nothing was understood in the recording")
    return f"{text}\n\n{argument.strip()}" if argument.strip() else text
