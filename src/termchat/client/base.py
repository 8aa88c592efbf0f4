"""The interface of a core as the fronts see it (no implementation here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

#: Receives a notice (a retry, a wait) as one line of text, from any thread.
Notify = Callable[[str], None]


class EventStream(Protocol):
    """The events of one chat request, in order (``TextDelta``, ``ReasoningDelta``, ``Usage``,
    ``Notice``, ``ToolCall``, ``ToolResult``, ``Finished``). Iterating blocks until the next event; it ends after the last
    one, or soon after :meth:`cancel`, and raises the request's :class:`TermchatError`.

    Usable from the CLI's main thread (Ctrl+C while it waits raises ``KeyboardInterrupt``
    there, and the request is stopped) and from a TUI worker thread (another thread calls
    :meth:`cancel`)."""

    def __iter__(self) -> Iterator[Any]: ...

    def cancel(self) -> None:
        """Stop the request (the provider stream is closed); thread-safe, idempotent."""


class CoreClient(Protocol):
    """Where requests run. Every method blocks; none needs an event loop of the caller's."""

    def chat(self, req: Any, rm: Any, tools: Any = None) -> EventStream:
        """The events of the :class:`~termchat.core.types.ChatRequest` ``req`` for the resolved
        model ``rm`` (nothing is sent before the stream is iterated). ``tools``: the
        :class:`~termchat.client.tools.ToolSet` that answers the request's tool rounds in the
        iterating thread (``ToolCall``/``ToolResult`` events come through the stream)."""
        ...

    def image(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        """The :class:`~termchat.core.media.ImageResult` of an ``ImageRequest``."""
        ...

    def speech(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        """The :class:`~termchat.core.media.SpeechResult` of a ``SpeechRequest``."""
        ...

    def transcribe(self, req: Any, rm: Any, on_notice: Notify | None = None) -> Any:
        """The :class:`~termchat.core.types.Transcript` of one ``TranscriptionRequest`` (one
        upload; :func:`termchat.client.transcribe.transcribe` splits and checks)."""
        ...

    def load_stt(self, rm: Any) -> float:
        """Load the speech-to-text model ``rm`` where transcriptions will run (the embedded
        model; a provider needs nothing); seconds it took."""
        ...

    def live_models(self, timeout: float) -> Any:
        """The models local sources serve now (:class:`~termchat.core.listing.LiveResult`:
        the embedded model, Ollama, LM Studio, llama.cpp, configured endpoints), each server
        given ``timeout`` seconds. Never raises for a server that does not answer."""
        ...
