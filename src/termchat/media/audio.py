"""Text and audio: :func:`split_text` cuts long text at sentence ends, :func:`parse_wav` /
:func:`join_audio` join parts into one valid file, :func:`check_audio` checks a provider's
answer, :func:`play_pcm` plays PCM frames through PortAudio (sounddevice, imported lazily)."""

from __future__ import annotations

import io
import re
import struct
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import ProviderError, TermchatError, UsageError
from .images import _describe

#: Formats whose files can be joined by concatenating them (frames are self-delimiting).
CONCAT_FORMATS = ("mp3", "aac")
#: Formats termchat can join by re-writing PCM frames.
PCM_FORMATS = ("wav", "pcm")
#: OpenAI's raw ``pcm`` format: 24 kHz, 16-bit signed little-endian, mono.
PCM_RATE, PCM_WIDTH, PCM_CHANNELS = 24000, 2, 1

_SENTENCE = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\s*\n\s*")


def split_text(text: str, limit: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters, in order, at sentence ends
    (``.!?…`` followed by space, or a line break); a sentence longer than ``limit`` is cut at
    ``,;:``, then at spaces, then anywhere. Pieces are stripped and never empty; text that
    fits is returned as one piece."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    sentences = [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]
    units: list[str] = []
    for s in sentences:
        units.extend(_cut(s, limit, (r"(?<=[,;:])\s+", r"\s+")))
    return _pack(units, limit)


def _pack(units: list[str], limit: int) -> list[str]:
    """Join consecutive ``units`` with single spaces into pieces of at most ``limit``
    characters (a unit is never split here)."""
    pieces: list[str] = []
    cur = ""
    for u in units:
        if not cur:
            cur = u
        elif len(cur) + 1 + len(u) <= limit:
            cur = f"{cur} {u}"
        else:
            pieces.append(cur)
            cur = u
    if cur:
        pieces.append(cur)
    return pieces


def _cut(s: str, limit: int, seps: tuple[str, ...]) -> list[str]:
    if len(s) <= limit:
        return [s]
    if not seps:
        return [s[i : i + limit] for i in range(0, len(s), limit)]
    parts = [p for p in re.split(seps[0], s) if p]
    if len(parts) == 1:
        return _cut(s, limit, seps[1:])
    return _pack([q for p in parts for q in _cut(p, limit, seps[1:])], limit)


@dataclass(frozen=True)
class PcmFormat:
    """PCM layout: ``channels``, ``sampwidth`` (bytes per sample) and ``rate`` (Hz)."""

    channels: int
    sampwidth: int
    rate: int

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame (``channels * sampwidth``)."""
        return self.channels * self.sampwidth


def parse_wav(data: bytes) -> tuple[PcmFormat, bytes]:
    """The PCM format and frames of a WAV file.

    Tolerates streamed WAVs whose RIFF/data sizes are 0 or ``0xFFFFFFFF`` (the data then runs
    to the end); a trailing partial frame is dropped.

    Raises:
        ValueError: not a RIFF/WAVE file, not PCM, or no ``fmt``/``data`` chunk.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise ValueError("WAV fmt chunk is too short")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body : body + 16])
            if tag == 0xFFFE and size >= 26:
                tag = struct.unpack("<H", data[body + 24 : body + 26])[0]
            if tag != 1:
                raise ValueError(f"WAV is not PCM (format tag {tag})")
            if channels < 1 or bits not in (8, 16, 24, 32) or rate < 1:
                raise ValueError("WAV has an unsupported layout")
            fmt = PcmFormat(channels, bits // 8, rate)
        elif cid == b"data":
            if fmt is None:
                raise ValueError("WAV data comes before its format")
            end = body + size
            if size in (0, 0xFFFFFFFF) or end > len(data):
                end = len(data)
            frames = data[body:end]
            frames = frames[: len(frames) - len(frames) % fmt.frame_bytes]
            return fmt, frames
        pos = body + size + (size & 1)
    raise ValueError("WAV has no data chunk" if fmt else "WAV has no fmt chunk")


def make_wav(fmt: PcmFormat, frames: bytes) -> bytes:
    """A WAV file of ``frames`` in format ``fmt`` (stdlib :mod:`wave`)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(fmt.channels)
        w.setsampwidth(fmt.sampwidth)
        w.setframerate(fmt.rate)
        w.writeframes(frames)
    return buf.getvalue()


def _strip_id3v2(data: bytes) -> bytes:
    if len(data) >= 10 and data[:3] == b"ID3":
        size = 0
        for b in data[6:10]:
            size = (size << 7) | (b & 0x7F)
        footer = 10 if data[5] & 0x10 else 0
        return data[10 + size + footer :]
    return data


def join_audio(parts: Sequence[bytes], fmt: str) -> bytes:
    """Join audio ``parts`` (in order) of format ``fmt`` into one valid file.

    ``wav``: the PCM frames are joined under one header (all parts must share channels, sample
    width and rate). ``pcm``: bytes concatenated. ``mp3``/``aac``: frames concatenated (ID3v2
    tags of later MP3 parts dropped). One part is returned as it is.

    Raises:
        UsageError: ``opus``/``flac`` with more than one part (their files cannot be joined).
        ProviderError: a WAV part is not valid PCM WAV, or the parts' formats differ.
    """
    if len(parts) == 1:
        return parts[0]
    if fmt == "wav":
        first: PcmFormat | None = None
        frames = []
        for i, part in enumerate(parts, 1):
            try:
                f, fr = parse_wav(part)
            except ValueError as exc:
                raise ProviderError(f"audio part {i} is not a valid WAV file: {exc}") from None
            if first is None:
                first = f
            elif f != first:
                raise ProviderError(f"audio part {i} has a different format ({f}) than part 1 ({first})")
            frames.append(fr)
        assert first is not None
        return make_wav(first, b"".join(frames))
    if fmt == "pcm":
        return b"".join(parts)
    if fmt == "mp3":
        return parts[0] + b"".join(_strip_id3v2(p) for p in parts[1:])
    if fmt == "aac":
        return b"".join(parts)
    raise UsageError(f"{fmt} files cannot be joined", hint="use --format wav or mp3")


def check_audio(data: bytes, fmt: str, what: str = "the audio") -> None:
    """Check that ``data`` plausibly is ``fmt`` audio: a WAV must parse as PCM WAV, PCM must be
    whole 16-bit samples; other formats must not be an empty or JSON/text document (they are
    not decoded here).

    Raises:
        ProviderError: the check fails.
    """
    if not data:
        raise ProviderError(f"{what} is empty")
    if fmt == "wav":
        try:
            parse_wav(data)
        except ValueError as exc:
            raise ProviderError(f"{what} is not a valid WAV file ({exc}; the provider sent {_describe(data)})") from None
    elif fmt == "pcm":
        if len(data) % PCM_WIDTH:
            raise ProviderError(f"{what} is not whole 16-bit PCM samples ({len(data)} bytes)")
    elif data.lstrip()[:1] in (b"{", b"[", b"<"):
        raise ProviderError(f"{what} is not {fmt} audio (the provider sent {_describe(data)})")


def decode_for_playback(data: bytes, fmt: str) -> tuple[PcmFormat, bytes]:
    """PCM format and frames to play: WAV parsed, ``pcm`` taken as OpenAI's 24 kHz 16-bit mono.

    Raises:
        UsageError: any other format (no decoder here).
        ProviderError: a WAV that does not parse.
    """
    if fmt == "wav":
        try:
            return parse_wav(data)
        except ValueError as exc:
            raise ProviderError(f"cannot play the audio: {exc}") from None
    if fmt == "pcm":
        return PcmFormat(PCM_CHANNELS, PCM_WIDTH, PCM_RATE), data
    raise UsageError(
        f"--play can only play wav or pcm audio here (there is no {fmt} decoder)",
        hint="use --format wav",
    )


def sounddevice_module(action: str = "play") -> Any:
    """The ``sounddevice`` module (imported on first use: it loads PortAudio).

    Raises:
        TermchatError: the PortAudio library is missing (exit 1); ``action`` (``play``,
            ``record``) names what could not be done.
    """
    try:
        import sounddevice
    except OSError as exc:  # PortAudio library missing
        raise TermchatError(
            f"cannot {action} audio: {exc}", hint="install PortAudio (Debian: apt install libportaudio2)"
        ) from None
    return sounddevice


_sounddevice = sounddevice_module


def check_output_device() -> str:
    """The name of the default audio output device.

    Raises:
        TermchatError: PortAudio is missing or finds no output device (exit 1).
    """
    sd = _sounddevice()
    try:
        dev = sd.query_devices(kind="output")
    except Exception as exc:
        raise TermchatError(
            f"no audio output device found ({exc})",
            hint="check the sound setup; write a file with -o instead",
        ) from None
    return str(dev.get("name", "default")) if isinstance(dev, dict) else "default"


_DTYPES = {1: "uint8", 2: "int16", 3: "int24", 4: "int32"}


def play_pcm(fmt: PcmFormat, frames: bytes, block_seconds: float = 0.05,
             stop: Any = None) -> None:
    """Play PCM ``frames`` in format ``fmt`` on the default output device and wait until they
    have been played.

    Frames are written in blocks of ``block_seconds``, so Ctrl+C is noticed within about that
    long; it stops the sound at once (``abort``) and re-raises ``KeyboardInterrupt``. A
    ``stop`` event (:class:`threading.Event`, set from another thread) ends playback the same
    way, within a block, and returns.

    Raises:
        TermchatError: PortAudio is missing, there is no output device, or the device fails.
        KeyboardInterrupt: the user stopped playback.
    """
    sd = _sounddevice()
    check_output_device()
    try:
        stream = sd.RawOutputStream(
            samplerate=fmt.rate, channels=fmt.channels, dtype=_DTYPES[fmt.sampwidth]
        )
    except Exception as exc:
        raise TermchatError(f"cannot open the audio device: {exc}") from None
    step = max(fmt.frame_bytes, int(fmt.rate * block_seconds) * fmt.frame_bytes)
    try:
        stream.start()
        for i in range(0, len(frames), step):
            if stop is not None and stop.is_set():
                stream.abort()
                stream.close()
                return
            stream.write(frames[i : i + step])
        stream.stop()
    except KeyboardInterrupt:
        try:
            stream.abort()
        finally:
            stream.close()
        raise
    except sd.PortAudioError as exc:
        raise TermchatError(f"audio playback failed: {exc}") from None
    stream.close()
