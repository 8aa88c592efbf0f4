"""Voice mode of ``termchat chat`` (:class:`VoiceMixin`, part of
:class:`termchat.tui.app.ChatApp`).

* **Recording** (``chat.voice``, F5): the microphone is recorded off the UI thread
  (:class:`termchat.media.capture.Recorder` in a worker thread) while a level meter and the
  elapsed time show above the prompt (:class:`VoiceBar`, refreshed from the recorder's last
  figures ten times a second — the recorder never waits for the UI). F5 again, or silence after
  speech (``voice.silence_seconds``), stops it; Esc throws it away. The recording is
  transcribed through the client layer (:func:`termchat.client.transcribe.transcribe` on the
  app's core: the warm core, or in-process) and the text lands in the prompt, where it can be
  edited — or is sent at once when ``voice.auto_send`` is on.
* **Reading replies aloud** (``chat.read_aloud``, F6; default ``voice.read_aloud``): as a
  reply streams, each finished sentence is spoken through the speech pipeline
  (:func:`termchat.client.media.synthesize`, ``speech.model``/``speech.voice``) and played
  (:func:`termchat.media.play_pcm`) in order; the next sentence is synthesised while one
  plays (:class:`Speaker`). Esc stops the speech (and the reply).
"""

from __future__ import annotations

import asyncio
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from textual.app import SystemCommand
from textual.screen import Screen
from textual.widgets import Static

from ..core.errors import InterruptedError_, TermchatError

_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]*_]*(?=\s)|\n")
_MARKUP = re.compile(r"[*_`#>|]+|!?\[([^\]]*)\]\([^)]*\)")


class SentenceFeed:
    """Cuts streamed text into sentences to speak: :meth:`feed` takes the next piece of a
    reply and returns the sentences it completed (a sentence ends at ``.!?…`` followed by
    white space, or at a line break); :meth:`flush` returns the rest at the end. Code blocks
    (between ````` fences) are skipped and Markdown marks dropped: they are not for the ear."""

    def __init__(self) -> None:
        self._buf = ""
        self._in_code = False

    def feed(self, text: str) -> list[str]:
        """Sentences completed by ``text`` (spoken form, never empty)."""
        self._buf += text
        out: list[str] = []
        while True:
            m = _SENTENCE_END.search(self._buf)
            if m is None:
                return out
            piece, self._buf = self._buf[: m.end()], self._buf[m.end():]
            out.extend(self._spoken(piece))

    def flush(self) -> list[str]:
        """The unfinished last sentence, if any (and the feed is reset)."""
        rest, self._buf = self._buf, ""
        out = self._spoken(rest)
        self._in_code = False
        return out

    def _spoken(self, piece: str) -> list[str]:
        if piece.lstrip().startswith("```"):
            self._in_code = not self._in_code
            return []
        if self._in_code:
            return []
        text = " ".join(_MARKUP.sub(lambda m: m.group(1) or "", piece).split())
        return [text] if any(c.isalnum() for c in text) else []


#: Turns a sentence into playable PCM: ``synth(text) -> (PcmFormat, frames)``; blocking.
Synth = Callable[[str], tuple[Any, bytes]]
#: Plays PCM until done or until the event is set: ``play(fmt, frames, stop)``; blocking.
Play = Callable[[Any, bytes, threading.Event], None]


class Speaker:
    """Speaks sentences in order on two threads: one synthesises (``synth``), one plays
    (``play``), so sentence *n + 1* is being made while sentence *n* plays. :meth:`stop`
    drops everything queued and stops the sound within a playback block; sentences said after
    it are spoken again. ``on_error(err)`` (called on a speaker thread) gets a
    :class:`TermchatError`; the sentences queued then are dropped, and later ones too until
    :meth:`resume` (the next reply): one notice, not one per sentence."""

    def __init__(self, synth: Synth, play: Play, on_error: Callable[[TermchatError], None]):
        self.synth, self.play, self.on_error = synth, play, on_error
        self._texts: queue.Queue[tuple[int, str]] = queue.Queue()
        self._sounds: queue.Queue[tuple[int, str, Any, bytes]] = queue.Queue()
        self._gen = 0
        self._halt = threading.Event()
        self._pending = 0
        self._lock = threading.Lock()
        self.muted = False
        self.spoken: list[str] = []
        """Sentences played to the end, in order (what was heard)."""
        for target in (self._synth_loop, self._play_loop):
            threading.Thread(target=target, name="termchat-speaker", daemon=True).start()

    @property
    def active(self) -> bool:
        """Whether something is queued, being made or playing."""
        return self._pending > 0

    def say(self, text: str) -> None:
        """Queue ``text`` (one sentence) to be spoken after what is queued (ignored while
        muted by a failure)."""
        with self._lock:
            if self.muted:
                return
            self._pending += 1
            self._texts.put((self._gen, text))

    def resume(self) -> None:
        """Speak again after a failure muted the speaker."""
        self.muted = False

    def _fail(self, err: TermchatError) -> None:
        self.muted = True
        self.stop()
        self.on_error(err)

    def stop(self) -> None:
        """Stop speaking now and drop what is queued."""
        with self._lock:
            self._gen += 1
            self._halt.set()

    def _done_one(self) -> None:
        with self._lock:
            self._pending = max(0, self._pending - 1)

    def _stale(self, gen: int) -> bool:
        return gen != self._gen

    def _synth_loop(self) -> None:
        while True:
            gen, text = self._texts.get()
            if self._stale(gen):
                self._done_one()
                continue
            try:
                fmt, frames = self.synth(text)
            except Exception as exc:  # a thread that dies would leave the speaker mute
                err = _as_error(exc)
                self._done_one()
                if not self._stale(gen):
                    self._fail(err)
                continue
            self._sounds.put((gen, text, fmt, frames))

    def _play_loop(self) -> None:
        while True:
            gen, text, fmt, frames = self._sounds.get()
            try:
                if self._stale(gen):
                    continue
                with self._lock:
                    if self._gen == gen:
                        self._halt.clear()
                try:
                    self.play(fmt, frames, self._halt)
                except Exception as exc:
                    err = _as_error(exc)
                    if not self._stale(gen):
                        self._fail(err)
                    continue
                if not self._stale(gen):
                    self.spoken.append(text)
            finally:
                self._done_one()


def _as_error(exc: Exception) -> TermchatError:
    if isinstance(exc, TermchatError):
        return exc
    from ..core.errors import redact

    return TermchatError(redact(f"{type(exc).__name__}: {exc}"))


class VoiceBar(Static):
    """The line above the prompt while recording (level meter, elapsed time, keys) or
    transcribing; hidden otherwise."""

    DEFAULT_CSS = """
    VoiceBar { height: 1; padding: 0 1; color: $text-warning; display: none; }
    """

    def __init__(self) -> None:
        super().__init__("", id="voice-bar")
        self.recorder: Any = None
        self.level = 0.0
        self.seconds = 0.0
        self.keys = ""
        self._timer: Any = None

    def on_level(self, level: float, seconds: float) -> None:
        """The recorder's callback (its thread): keep the latest figures; the UI polls them."""
        self.level, self.seconds = level, seconds

    def start(self, keys: str = "F5: stop · Esc: cancel") -> None:
        """Show the meter (with ``keys``, what the keys do) and refresh it ten times a second."""
        self.keys = keys
        self.level = self.seconds = 0.0
        self.display = True
        self._refresh_meter()
        self._timer = self.set_interval(0.1, self._refresh_meter)

    def _refresh_meter(self) -> None:
        from ..media.capture import meter_line

        self.update(meter_line(self.level, self.seconds, self.keys, cells=12))

    def show(self, text: str) -> None:
        """Stop the meter and show ``text`` instead."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.update(text)
        self.display = True

    def hide(self) -> None:
        """Stop the meter and hide."""
        self.show("")
        self.display = False


class _ReadAloudView:
    """A reply view that also hands the streamed text to the speaker, sentence by sentence
    (``set_status``/``write`` are what :func:`termchat.tui.turns.run_stream` uses)."""

    def __init__(self, view: Any, feed: SentenceFeed, say: Callable[[str], None]):
        self._view, self._feed, self._say = view, feed, say

    def set_status(self, text: str) -> None:
        self._view.set_status(text)

    async def write(self, safe_text: str) -> None:
        await self._view.write(safe_text)
        for sentence in self._feed.feed(safe_text):
            self._say(sentence)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)


class VoiceMixin:
    """Voice mode of :class:`~termchat.tui.app.ChatApp` (which provides ``config``, ``core``,
    ``prompt``, ``send``, ``notify`` and ``call_from_thread``); see the module docstring."""

    config: Any
    core: Any
    _voice_recorder: Any = None
    _voice_task: Any = None
    _speaker: Speaker | None = None
    _reading: bool | None = None
    _feed: SentenceFeed | None = None
    voice_latency: float | None = None
    """Seconds from the end of the last recording (its last block read) to its transcript in
    the prompt (bench/bench_voice.py reads it)."""

    # -- state ----------------------------------------------------------------------------------

    @property
    def read_aloud(self: Any) -> bool:
        """Whether replies are spoken as they stream (``voice.read_aloud`` until toggled)."""
        if self._reading is None:
            self._reading = bool(self.config.get("voice.read_aloud"))
        return self._reading

    @property
    def voice_active(self) -> bool:
        """Whether a recording runs or speech plays (Esc then stops it)."""
        return self._voice_recorder is not None or (self._speaker is not None and self._speaker.active)

    def voice_bar(self: Any) -> VoiceBar:
        """The meter line above the prompt (mounted on first use)."""
        bars = self.query(VoiceBar)
        if bars:
            return bars.first()
        bar = VoiceBar()
        self.query_one("#main").mount(bar, before=self.prompt)
        return bar

    # -- recording ------------------------------------------------------------------------------

    def action_voice_record(self: Any) -> None:
        """Start recording; while recording, stop and transcribe."""
        if self._voice_recorder is not None:
            self._voice_recorder.stop()
            return
        if self._voice_task is not None and not self._voice_task.is_finished:
            self.notify("still transcribing the last recording", severity="warning")
            return
        from ..media.capture import CaptureSettings, Recorder

        bar = self.voice_bar()
        settings = CaptureSettings(silence_seconds=float(self.config.get("voice.silence_seconds")),
                                   max_seconds=float(self.config.get("voice.max_seconds")))
        self._voice_recorder = Recorder(settings, on_level=bar.on_level)
        key = (getattr(self, "keymap_overrides", None) or {}).get("chat.voice", "f5").split(",")[0]
        bar.start(f"{key.strip().upper() if len(key.strip()) <= 3 else key.strip()}: stop · Esc: cancel")
        threading.Thread(target=self._preload_stt, name="termchat-stt-preload", daemon=True).start()
        self._voice_task = self.run_worker(self._voice_flow(self._voice_recorder, bar),
                                           group="voice", exclusive=False)

    async def _voice_flow(self: Any, recorder: Any, bar: VoiceBar) -> None:
        try:
            try:
                rec = await asyncio.to_thread(recorder.record)
            except asyncio.CancelledError:
                recorder.cancel()
                raise
            finally:
                self._voice_recorder = None
            bar.show("transcribing…")
            text = await self._transcribe(rec.wav)
        except InterruptedError_:
            bar.hide()
            return
        except TermchatError as err:
            bar.hide()
            from .turns import error_text

            self.notify(error_text(err), severity="error", timeout=8)
            return
        bar.hide()
        await self.voice_insert(text, rec.stopped_at)

    def _preload_stt(self: Any) -> None:
        """Load the transcription model where it will run while the user speaks
        (:func:`termchat.client.transcribe.preload`); a failure is left for the
        transcription to report."""
        from ..client.transcribe import preload

        try:
            preload(self.core.client)
        except Exception:  # said by the transcription, with its hint
            pass

    async def _transcribe(self: Any, wav: bytes) -> str:
        from ..client.transcribe import transcribe
        from ..core.errors import UsageError
        from ..core.types import TranscriptionRequest

        req = TranscriptionRequest(model="", audio=wav, filename="recording.wav", mime="audio/wav",
                                   response_format="json")

        def work(client: Any) -> Any:
            return transcribe(client, req, on_notice=self._notice_from_core)

        # Not core.call: that waits until chat requests can run (LiteLLM imported here when
        # the warm core is off), which the embedded model does not need; the core client
        # picks the warm core or runs in-process by itself.
        t = await asyncio.to_thread(work, self.core.client)
        text = " ".join(t.text.split())
        if not text:
            raise UsageError("nothing was understood in the recording")
        return text

    async def voice_insert(self: Any, text: str, stopped_at: float | None = None) -> None:
        """Put a transcript into the prompt after what is there (editable), or send it at
        once when ``voice.auto_send`` is on. ``stopped_at``: :func:`time.monotonic` at the
        end of the recording (sets :attr:`voice_latency`)."""
        from ..render import sanitize

        text = sanitize(text)
        current = self.prompt.text
        self.prompt.text = f"{current.rstrip()} {text}" if current.strip() else text
        self.prompt.move_cursor(self.prompt.document.end)
        if stopped_at is not None:
            self.voice_latency = time.monotonic() - stopped_at
        self.prompt.focus()
        if bool(self.config.get("voice.auto_send")):
            await self.send(self.prompt.text)

    # -- reading aloud --------------------------------------------------------------------------

    def action_read_aloud(self: Any) -> None:
        """Turn reading replies aloud on or off (off also stops what is being said)."""
        self._reading = not self.read_aloud
        if not self._reading and self._speaker is not None:
            self._speaker.stop()
        self.notify(f"read replies aloud: {'on' if self._reading else 'off'}", timeout=3)

    def speaker(self: Any) -> Speaker:
        """The app's speaker (made on first use)."""
        if self._speaker is None:
            self._speaker = Speaker(self._synth_sentence, _play, self._speech_failed)
        return self._speaker

    def _synth_sentence(self: Any, text: str) -> tuple[Any, bytes]:
        from ..client.media import speech_parts, synthesize
        from ..core.catalog import resolve_model
        from ..media import decode_for_playback

        rm = resolve_model(str(self.config.get("speech.model")), self.config)
        audio = synthesize(self.core.client, rm, speech_parts(text),
                           voice=str(self.config.get("speech.voice")),
                           options={"response_format": "wav"}, fmt="wav")
        return decode_for_playback(audio, "wav")

    def _speech_failed(self: Any, err: TermchatError) -> None:
        from .turns import error_text

        try:
            self.call_from_thread(self.notify, f"read aloud: {error_text(err)}", severity="error", timeout=8)
        except RuntimeError:  # the app has closed meanwhile
            pass

    def read_aloud_view(self: Any, view: Any) -> Any:
        """``view`` for a reply about to stream: one that also speaks it sentence by sentence
        when reading aloud is on, else ``view`` itself."""
        if not self.read_aloud:
            self._feed = None
            return view
        self._feed = SentenceFeed()
        self.speaker().resume()
        return _ReadAloudView(view, self._feed, self.speaker().say)

    def read_aloud_end(self: Any, interrupted: bool) -> None:
        """The reply ended: speak its unfinished last sentence (not when it was cut short)."""
        feed, self._feed = self._feed, None
        if feed is not None and not interrupted and self.read_aloud:
            for sentence in feed.flush():
                self.speaker().say(sentence)

    def voice_cancel(self) -> None:
        """Esc: throw the recording away and stop speaking."""
        if self._voice_recorder is not None:
            self._voice_recorder.cancel()
        if self._speaker is not None:
            self._speaker.stop()

    def voice_commands(self: Any, screen: Screen) -> Any:
        """The command palette's voice entries."""
        yield SystemCommand("Voice: record", "Record from the microphone into the prompt (F5 again stops)",
                            self.action_voice_record)
        yield SystemCommand("Voice: read replies aloud", "Speak each reply as it streams (on/off)",
                            self.action_read_aloud)


def _play(fmt: Any, frames: bytes, stop: threading.Event) -> None:
    from ..media import play_pcm

    play_pcm(fmt, frames, stop=stop)
