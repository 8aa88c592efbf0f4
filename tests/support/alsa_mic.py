"""A real microphone for tests: an ALSA configuration whose default device captures from a file
(the ``file`` plugin's ``infile``) or a FIFO (paced by a writer thread) and plays into ``null``,
so PortAudio records known audio through the real capture path. Speech is made by espeak-ng."""

from __future__ import annotations

import math
import os
import random
import shutil
import struct
import subprocess
import threading
import time
import wave
from pathlib import Path

RATE = 16000

ALSA_MIC_CONF = """
pcm.!default {{
    type asym
    playback.pcm {{ type null }}
    capture.pcm {{
        type file
        slave.pcm {{ type null }}
        file "/dev/null"
        infile "{infile}"
        format "raw"
    }}
}}
ctl.!default {{
    type hw
    card 0
}}
"""
# Capture from a file, playback appended to a file (raw samples as played; the plugin's
# ``|command`` form, since every playback stream would truncate a plain file), over ``null``.
ALSA_DUPLEX_CONF = """
pcm.!default {{
    type asym
    playback.pcm {{
        type file
        slave.pcm {{ type null }}
        file "|cat >> '{played}'"
        format "raw"
    }}
    capture.pcm {{
        type file
        slave.pcm {{ type null }}
        file "/dev/null"
        infile "{infile}"
        format "raw"
    }}
}}
ctl.!default {{
    type hw
    card 0
}}
"""
# No usable device at all: the default names a card that does not exist.
ALSA_NO_DEVICE_CONF = """
pcm.!default {
    type hw
    card 99
}
ctl.!default {
    type hw
    card 99
}
"""


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_pcm(text: str, tmp: Path) -> bytes:
    """``text`` spoken by espeak-ng as 16 kHz mono 16-bit PCM (resampled linearly from its
    22.05 kHz)."""
    wav = tmp / "espeak.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, timeout=60)
    with wave.open(str(wav)) as w:
        rate, n = w.getframerate(), w.getnframes()
        src = struct.unpack(f"<{n}h", w.readframes(n))
    out_n = int(n * RATE / rate)
    out = []
    for i in range(out_n):
        x = i * (n - 1) / max(1, out_n - 1)
        j = int(x)
        f = x - j
        nxt = src[j + 1] if j + 1 < n else src[j]
        out.append(int(src[j] * (1 - f) + nxt * f))
    return struct.pack(f"<{len(out)}h", *out)


def room_tone(seconds: float, level: int = 60, seed: int = 1) -> bytes:
    """Quiet noise (about ``level`` RMS in sample units, ≈ −55 dBFS): a room before speech."""
    rnd = random.Random(seed)
    n = int(seconds * RATE)
    return struct.pack(f"<{n}h", *(int(rnd.gauss(0, level)) for _ in range(n)))


def tone(seconds: float, amplitude: int = 8000, freq: float = 220.0) -> bytes:
    """A loud sine: something the detector takes for speech, as long as it lasts."""
    n = int(seconds * RATE)
    return struct.pack(f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * freq * i / RATE)) for i in range(n)))


def silence(seconds: float) -> bytes:
    return b"\0\0" * int(seconds * RATE)


def mic_from_file(tmp: Path, pcm: bytes) -> dict[str, str]:
    """Env for a subprocess whose default capture device plays ``pcm`` (16 kHz mono 16-bit),
    then digital silence. The device is not paced: it delivers as fast as it is read."""
    raw = tmp / "mic.raw"
    raw.write_bytes(pcm)
    conf = tmp / "asound-mic.conf"
    conf.write_text(ALSA_MIC_CONF.format(infile=raw))
    return {"ALSA_CONFIG_PATH": str(conf)}


def mic_and_speaker(tmp: Path, pcm: bytes) -> tuple[dict[str, str], Path]:
    """Env whose default device captures ``pcm`` (as :func:`mic_from_file`) and plays into a
    file; returns the env and that file's path (raw samples of everything played)."""
    raw = tmp / "mic.raw"
    raw.write_bytes(pcm)
    played = tmp / "played.raw"
    conf = tmp / "asound-duplex.conf"
    conf.write_text(ALSA_DUPLEX_CONF.format(infile=raw, played=played))
    return {"ALSA_CONFIG_PATH": str(conf)}, played


def no_device(tmp: Path) -> dict[str, str]:
    conf = tmp / "asound-none.conf"
    conf.write_text(ALSA_NO_DEVICE_CONF)
    return {"ALSA_CONFIG_PATH": str(conf)}


class PacedMic:
    """A capture device fed in real time: a FIFO the ALSA ``file`` plugin reads, written by a
    thread at 16 kHz (``pcm`` once, then loud tone — or with ``quiet_after``, room tone — until
    :meth:`close`), so a recording takes as long on the clock as it is long."""

    def __init__(self, tmp: Path, pcm: bytes = b"", quiet_after: bool = False):
        self.fifo = tmp / "mic.fifo"
        os.mkfifo(self.fifo)
        conf = tmp / "asound-fifo.conf"
        conf.write_text(ALSA_MIC_CONF.format(infile=self.fifo))
        self.env = {"ALSA_CONFIG_PATH": str(conf)}
        self.pcm = pcm
        self.quiet_after = quiet_after
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._write, daemon=True)
        self._thread.start()

    def _write(self) -> None:
        # PortAudio opens the device more than once (probing, then recording): each time the
        # reader closes, the writer gets EPIPE and waits for the next reader, starting over.
        while not self._done.is_set():
            try:
                fd = os.open(self.fifo, os.O_WRONLY)  # waits for a reader
            except OSError:
                return
            try:
                self._feed(fd)
            except OSError:
                pass
            finally:
                os.close(fd)

    def _feed(self, fd: int) -> None:
        step = RATE // 20 * 2  # 50 ms
        data, pos, t0 = self.pcm, 0, time.monotonic()
        sent = 0
        while not self._done.is_set():
            if pos >= len(data):
                data, pos = (room_tone(1.0) if self.quiet_after else tone(1.0)), 0
            chunk = data[pos:pos + step]
            pos += len(chunk)
            os.write(fd, chunk)
            sent += len(chunk)
            ahead = t0 + sent / 2 / RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def close(self) -> None:
        self._done.set()
        try:  # unblock a writer still waiting for a reader
            fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
        self._thread.join(5)
