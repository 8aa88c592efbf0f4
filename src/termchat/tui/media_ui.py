"""``/image`` and ``/speak`` in the chat app: the workers that run them and show what they made
(:class:`MediaMixin`, part of :class:`termchat.tui.app.ChatApp`); the core calls and file rules
are :mod:`termchat.tui.media_commands`."""

from __future__ import annotations

from typing import Any

from ..core.errors import TermchatError
from . import turns


class MediaMixin:
    """``/image`` and ``/speak`` workers of :class:`~termchat.tui.app.ChatApp` (which provides
    ``config``, ``core``, ``session``, ``prompt``, ``notify`` and ``call_from_thread``)."""

    core: Any

    def _notice_from_core(self: Any, text: str) -> None:
        """A retry notice from a core call (another thread), shown in the app."""
        self.call_from_thread(self.notify, text, severity="warning")

    async def image(self: Any, prompt: str, line: str) -> None:
        """``/image <prompt>``: generate with ``image.model`` and save (see media_commands)."""
        from . import media_commands as mc

        if not prompt.strip():
            self.notify("/image needs a description, e.g. /image a lighthouse in a storm", severity="error")
            self.prompt.restore(line)
            return
        self.notify(f"generating an image with {self.config.get('image.model')}…", timeout=3)
        try:
            paths = await mc.make_images(self.core, self.config, prompt, notify=self._notice_from_core)
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error", timeout=8)
            self.prompt.restore(line)
            return
        self.notify("image saved: " + ", ".join(str(p) for p in paths), timeout=8)

    async def speak(self: Any, text: str, line: str) -> None:
        """``/speak [text]``: speak the text or the last reply; save the WAV and play it."""
        from . import media_commands as mc

        if not text.strip():
            text = self.session.last_reply_text()
        if not text.strip():
            self.notify("nothing to speak: /speak <text>, or /speak alone after a reply", severity="error")
            self.prompt.restore(line)
            return
        self.notify(f"speaking with {self.config.get('speech.model')}…", timeout=3)
        try:
            path, note = await mc.speak(self.core, self.config, text, notify=self._notice_from_core)
        except TermchatError as err:
            self.notify(turns.error_text(err), severity="error", timeout=8)
            self.prompt.restore(line)
            return
        self.notify(f"speech {note}: {path}", timeout=8)
