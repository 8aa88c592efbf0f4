"""``termchat doctor``'s voice lines: the input devices (for ``listen``, ``ask --voice`` and
the chat app's voice mode) and the speech-to-text model (``transcribe`` and voice input)."""

from __future__ import annotations

from typing import Any


def input_devices() -> tuple[list[str], str | None]:
    """The names of PortAudio's input devices (``sounddevice.query_devices``, inputs only:
    ``max_input_channels > 0``) and the default input's name, or ``None`` without one.

    Raises:
        OSError: PortAudio is not installed. ImportError: sounddevice is missing.
    """
    import sounddevice as sd

    names = [str(d.get("name", "?")) for d in sd.query_devices() if d.get("max_input_channels", 0) > 0]
    try:
        default = sd.query_devices(kind="input")
        default_name = str(default.get("name", "?")) if isinstance(default, dict) else None
    except Exception:  # no default input device: PortAudio raises; reported as None
        default_name = None
    return names, default_name


def voice_checks(out: list[Any], config: Any, make: Any) -> None:
    """Append the ``microphone`` and ``speech-to-text`` checks to ``out`` (``make`` builds a
    :class:`termchat.cli.doctor.Check`). Neither fails the doctor: voice is optional."""
    try:
        names, default = input_devices()
    except OSError:
        out.append(make("microphone", "warn", "PortAudio is not installed: listen and ask --voice "
                        "cannot record", "install PortAudio (Debian/Ubuntu: apt install libportaudio2)"))
        names, default = None, None
    except ImportError:
        out.append(make("microphone", "warn", "the sounddevice package is missing: listen and "
                        "ask --voice cannot record", "pip install sounddevice"))
        names, default = None, None
    if names is not None:
        if not names:
            out.append(make("microphone", "warn", "no audio input device: listen and ask --voice "
                            "cannot record (transcribe still works on files)",
                            "connect or enable a microphone (check `python -m sounddevice`)"))
        else:
            shown = ", ".join(names[:4]) + (f", … ({len(names)} in all)" if len(names) > 4 else "")
            out.append(make("microphone", "ok", f"input devices: {shown}; default: {default or 'none'}"))

    from ..client.transcribe import pick_transcription_model
    from ..core import stt_local
    from ..core.errors import TermchatError

    if stt_local.available():
        try:
            where = str(stt_local.model_dir(stt_local.EMBEDDED_STT_MODEL))
            out.append(make("speech-to-text", "ok",
                            f"embedded {stt_local.EMBEDDED_STT_MODEL} installed ({where})"))
        except TermchatError as err:
            out.append(make("speech-to-text", "warn", err.message, err.hint))
    else:
        out.append(make("speech-to-text", "info", f"embedded {stt_local.EMBEDDED_STT_MODEL} is "
                        f"not installed ({stt_local.INSTALL_HINT} for offline transcription)"))
    try:
        model, why = pick_transcription_model(config)
        out.append(make("transcription model", "ok",
                        f"{model} ({why or 'configured: transcription.model'})"))
    except TermchatError as err:
        out.append(make("transcription model", "warn", err.message, err.hint))
