"""Recording from the microphone: :class:`Recorder` reads the default input device through
PortAudio (sounddevice, imported lazily) at 16 kHz, mono, 16-bit, measures each block's level,
finds speech and the silence after it (:class:`SpeechDetector`), and returns the recording as
WAV bytes (:class:`Recording`).

Voice-activity detection is by RMS energy against a noise floor that is calibrated from the
first blocks and then follows the quietest recent level: no compiled dependency, the same
behaviour at any input level, and every threshold a number in :class:`CaptureSettings`
(webrtcvad's frame classifier would add a C extension for little gain on a close microphone).

The recorder knows nothing about terminals; :func:`meter_line` draws its level as text, which
the CLI shows on stderr (with the Enter key: :mod:`termchat.cli.voice_input`) and the chat app
above the prompt (:mod:`termchat.tui.voice`).
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.errors import InterruptedError_, TermchatError, UsageError
from .audio import sounddevice_module

#: What Whisper-family models expect: 16 kHz, mono, 16-bit signed little-endian.
RATE, CHANNELS, SAMPWIDTH = 16000, 1, 2
#: Full scale of a 16-bit sample (the reference of the dBFS figures).
FULL_SCALE = 32768.0


@dataclass(frozen=True)
class CaptureSettings:
    """How a recording starts and stops (all times in seconds).

    * ``block_seconds``: length of one read from the device (the level meter's and the
      detector's step).
    * ``max_seconds``: the recording stops here whatever is heard.
    * ``silence_seconds``: after speech, this much continuous silence ends the recording
      (``0``: never; stop with Enter or ``stop()``).
    * ``no_speech_seconds``: give up when nothing louder than the floor came this long
      (``0``: wait until ``max_seconds``).
    * ``min_speech_seconds``: blocks above the threshold needed before it counts as speech.
    * ``calibrate_seconds``: the first blocks that set the noise floor.
    * ``ratio``: speech is a block whose RMS is at least ``ratio`` times the noise floor …
    * ``min_level``: … and at least this RMS (16-bit sample units; 300 ≈ −41 dBFS), so a
      digitally silent input does not make every click speech.
    * ``max_floor``: the highest noise floor (RMS; 1000 ≈ −30 dBFS): a threshold never above
      ``ratio * max_floor`` (≈ −20 dBFS), which close speech exceeds.
    """

    block_seconds: float = 0.05
    max_seconds: float = 120.0
    silence_seconds: float = 1.2
    no_speech_seconds: float = 15.0
    min_speech_seconds: float = 0.15
    calibrate_seconds: float = 0.3
    ratio: float = 3.0
    min_level: float = 300.0
    max_floor: float = 1000.0


def rms(block: bytes) -> float:
    """Root-mean-square of 16-bit little-endian mono samples, in sample units (0–32768);
    ``0.0`` for an empty block."""
    samples = array("h")
    samples.frombytes(block[: len(block) - len(block) % 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def dbfs(level: float) -> float:
    """``level`` (RMS in sample units) in dB relative to full scale; −96 dB for silence."""
    return 20 * math.log10(level / FULL_SCALE) if level > 0 else -96.0


#: Width of the level meter in cells; it spans −60 dBFS (empty) to 0 dBFS (full).
METER_CELLS = 20


def meter_line(level: float, seconds: float, keys: str = "", cells: int = METER_CELLS) -> str:
    """The recording meter as one line of text, e.g. ``● REC 00:03.2 ▕██████░░░░░░░░░░░░░░▏
    -23 dB  Enter: stop · Ctrl+C: cancel`` (``level``: RMS in 16-bit sample units;
    ``seconds`` recorded; ``keys``: what the front's keys do; ``cells``: the bar's width).
    Shown by the CLI on stderr and by the chat app above the prompt."""
    db = dbfs(level)
    full = round(max(0.0, min(1.0, (db + 60) / 60)) * cells)
    bar = "█" * full + "░" * (cells - full)
    m, s = divmod(seconds, 60)
    line = f"● REC {int(m):02d}:{s:04.1f} ▕{bar}▏ {db:4.0f} dB"
    return f"{line}  {keys}" if keys else line


class SpeechDetector:
    """Energy voice-activity detection over consecutive blocks of one length.

    Feed every block's RMS to :meth:`feed`; it answers whether the recording should stop
    because speech was followed by ``silence_seconds`` of silence. ``speech`` tells whether
    speech was heard at all; ``floor`` is the current noise floor (RMS, sample units).

    The floor starts as the quietest block of the first ``calibrate_seconds`` and afterwards
    falls at once to any quieter block and rises slowly (1 % of the gap per block), never
    above ``max_floor``: it follows a fan switched on, but a speaker who talks from the first
    block (or without pause) cannot raise it to speech level.
    """

    def __init__(self, settings: CaptureSettings):
        self.s = settings
        self.floor: float | None = None
        self._calib: list[float] = []
        self.speech = False
        self._loud = 0.0
        self._quiet = 0.0

    def threshold(self) -> float:
        """The RMS a block needs to count as speech (sample units)."""
        return max(self.s.min_level, (self.floor or 0.0) * self.s.ratio)

    def feed(self, level: float, seconds: float) -> bool:
        """Account one block of ``seconds`` with RMS ``level``; ``True`` when speech has
        been followed by ``silence_seconds`` of silence."""
        if self.floor is None:
            self._calib.append(level)
            if len(self._calib) * seconds >= self.s.calibrate_seconds:
                self.floor = min(min(self._calib), self.s.max_floor)
        elif level < self.floor:
            self.floor = level
        else:
            self.floor = min(self.floor + (level - self.floor) * 0.01, self.s.max_floor)
        if level >= self.threshold():
            self._loud += seconds
            self._quiet = 0.0
            if self._loud >= self.s.min_speech_seconds:
                self.speech = True
        else:
            self._quiet += seconds
            if self._quiet >= 0.3:
                self._loud = 0.0
        return self.speech and self.s.silence_seconds > 0 and self._quiet >= self.s.silence_seconds


@dataclass(frozen=True)
class Recording:
    """A finished recording: ``wav`` (16 kHz mono 16-bit WAV file bytes), ``seconds`` of
    audio, whether ``speech`` was heard, why it stopped (``"silence"``, ``"stopped"`` by the
    user, ``"max"`` duration) and ``stopped_at``: :func:`time.monotonic` when the last block
    was read (the bench measures from it)."""

    wav: bytes
    seconds: float
    speech: bool
    reason: str
    stopped_at: float


#: Called after every block with (RMS level in sample units, seconds recorded so far).
LevelCallback = Callable[[float, float], None]


def _sounddevice() -> Any:
    return sounddevice_module("record")


def input_device() -> str:
    """The name of the default input device.

    Raises:
        TermchatError: PortAudio is missing or finds no input device (exit 1).
    """
    sd = _sounddevice()
    try:
        dev = sd.query_devices(kind="input")
    except Exception as exc:
        raise TermchatError(
            f"no audio input device found ({exc})",
            hint="connect a microphone or check the sound setup; or record a file and use `termchat transcribe`",
        ) from None
    if isinstance(dev, dict) and not dev.get("max_input_channels"):
        raise TermchatError("no audio input device found (the default device cannot record)",
                            hint="connect a microphone or check the sound setup")
    return str(dev.get("name", "default")) if isinstance(dev, dict) else "default"


class Recorder:
    """One recording from the default input device.

    :meth:`record` blocks the calling thread until the recording ends: after silence
    following speech, at ``max_seconds``, or when :meth:`stop` is called (from any thread) or
    :meth:`cancel` (then :class:`~termchat.core.errors.InterruptedError_`). Ctrl+C in the
    recording thread aborts the device and re-raises ``KeyboardInterrupt``.
    ``on_level(level, seconds)`` runs in the recording thread after every block.
    """

    def __init__(self, settings: CaptureSettings | None = None,
                 on_level: LevelCallback | None = None):
        self.settings = settings or CaptureSettings()
        self.on_level = on_level
        self._stop = threading.Event()
        self._cancel = threading.Event()

    def stop(self) -> None:
        """End the recording after the current block and keep what was recorded."""
        self._stop.set()

    def cancel(self) -> None:
        """End the recording after the current block and throw it away."""
        self._cancel.set()
        self._stop.set()

    def record(self) -> Recording:
        """Record and return the result (see the class docstring for when it ends).

        Raises:
            TermchatError: no input device, the device cannot be opened, or it fails or
                disappears mid-recording (exit 1).
            UsageError: nothing was recorded, or no speech was heard (exit 2).
            InterruptedError_: :meth:`cancel` was called (exit 130).
            KeyboardInterrupt: Ctrl+C in this thread (the device is aborted first).
        """
        sd = _sounddevice()
        input_device()
        s = self.settings
        block = max(1, int(RATE * s.block_seconds))
        try:
            # half a second of buffer: a busy interpreter (a model loading in another
            # thread) must not make the device drop samples
            stream = sd.RawInputStream(samplerate=RATE, channels=CHANNELS, dtype="int16",
                                       blocksize=block, latency=0.5)
            stream.start()
        except Exception as exc:
            raise TermchatError(f"cannot open the audio input device: {exc}",
                                hint="check the sound setup (`termchat doctor` lists the devices)") from None
        chunks: list[bytes] = []
        detector = SpeechDetector(s)
        frames, reason = 0, "stopped"
        try:
            while not self._stop.is_set():
                try:
                    data, _overflow = stream.read(block)
                except sd.PortAudioError as exc:
                    raise TermchatError(f"the audio input device failed mid-recording: {exc}",
                                        hint="check that the microphone is still connected") from None
                data = bytes(data)
                chunks.append(data)
                frames += len(data) // SAMPWIDTH
                seconds = frames / RATE
                level = rms(data)
                if self.on_level is not None:
                    self.on_level(level, seconds)
                if detector.feed(level, len(data) / SAMPWIDTH / RATE):
                    reason = "silence"
                    break
                if seconds >= s.max_seconds:
                    reason = "max"
                    break
                if (not detector.speech and s.no_speech_seconds > 0
                        and seconds >= s.no_speech_seconds):
                    reason = "no speech"
                    break
        except BaseException:
            _close(stream, abort=True)
            raise
        stopped_at = time.monotonic()
        _close(stream, abort=True)
        if self._cancel.is_set():
            raise InterruptedError_("recording cancelled; nothing was sent")
        audio = b"".join(chunks)
        if not audio:
            raise UsageError("the recording is empty", hint="speak after the meter appears; check the microphone")
        if not detector.speech:
            raise UsageError(
                f"no speech heard in {frames / RATE:.1f} s of recording (input level never rose above "
                f"{dbfs(detector.threshold()):.0f} dBFS)",
                hint="check the microphone and its volume",
            )
        from .audio import PcmFormat, make_wav

        return Recording(wav=make_wav(PcmFormat(CHANNELS, SAMPWIDTH, RATE), audio),
                         seconds=frames / RATE, speech=True, reason=reason, stopped_at=stopped_at)


def _close(stream: Any, *, abort: bool) -> None:
    try:
        if abort:
            stream.abort()
        else:
            stream.stop()
    except Exception:  # the device is already gone; closing is all that is left
        pass
    try:
        stream.close()
    except Exception:
        pass
