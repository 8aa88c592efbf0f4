"""``/image`` and ``/speak`` in ``termchat chat``: the same core calls and file rules as
``termchat image`` and ``termchat speak``, run from the app's worker.

* ``/image <prompt>`` generates with config ``image.model`` and writes the image(s) next to
  where ``termchat image`` would (config ``image.dir``, else the current directory), named from
  the prompt and the time; Pillow checks every image first; nothing is overwritten.
* ``/speak [text]`` speaks the text, or the last reply when no text is given, with config
  ``speech.model``/``speech.voice``, as WAV (long text split at sentence ends and joined), writes
  it the same way (``speech`` slug) and plays it when an output device exists.

Everything here is imported on first use (not before the first frame). Errors are
:class:`~termchat.core.errors.TermchatError` for the app to show as a notice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..core.errors import UsageError


def _default_dir(config: Any) -> Path:
    d = config.get("image.dir")
    return Path(d).expanduser() if d else Path.cwd()


async def make_images(config: Any, prompt: str, notify: Any = None) -> list[Path]:
    """Generate images for ``prompt`` with the configured image model and write them; returns
    the written paths.

    Raises:
        UsageError: empty prompt. TermchatError: the provider's error (nothing written), an
        answer that is not an image, an unwritable directory.
    """
    from .. import media
    from ..core.catalog import resolve_model
    from ..core.media import generate_images
    from ..core.types import ImageRequest

    prompt = prompt.strip()
    if not prompt:
        raise UsageError("/image needs a description, e.g. /image a lighthouse in a storm")
    rm = resolve_model(str(config.get("image.model")), config)
    result = await generate_images(ImageRequest(model=rm.id, prompt=prompt), config, rm, on_notice=notify)
    datas = [im.data or b"" for im in result.images]
    infos = [media.inspect_image(d, what=f"image {i} from {rm.provider}") for i, d in enumerate(datas, 1)]
    ext = infos[0].ext if infos else "png"
    paths = media.output_paths(
        None, len(datas), ext, default_dir=_default_dir(config),
        slug=media.slugify(prompt), stamp=media.timestamp(),
    )
    media.check_outputs(paths, force=False)
    await asyncio.to_thread(media.write_outputs, list(zip(paths, datas, strict=True)), False)
    return paths


async def speak(config: Any, text: str, notify: Any = None, play: bool = True) -> tuple[Path, str]:
    """Synthesise ``text`` as WAV with the configured speech model and voice, write it, and play
    it when ``play`` and an output device exist. Returns ``(path, note)`` where ``note`` says
    whether it played (or why not).

    Raises:
        UsageError: empty text. TermchatError: the provider's error (nothing written).
    """
    from .. import media
    from ..core.catalog import resolve_model
    from ..core.media import SPEECH_INPUT_LIMIT, synthesize_speech
    from ..core.types import SpeechRequest

    text = text.strip()
    if not text:
        raise UsageError("nothing to speak: /speak <text>, or /speak alone after a reply")
    rm = resolve_model(str(config.get("speech.model")), config)
    voice = str(config.get("speech.voice"))
    parts = media.split_text(text, SPEECH_INPUT_LIMIT)
    audio_parts = []
    for i, part in enumerate(parts, 1):
        req = SpeechRequest(model=rm.id, input=part, voice=voice, options={"response_format": "wav"})
        res = await synthesize_speech(req, config, rm, on_notice=notify)
        media.check_audio(res.audio, "wav", what="the audio" if len(parts) == 1 else f"audio part {i}")
        audio_parts.append(res.audio)
    audio = media.join_audio(audio_parts, "wav")
    path = media.output_paths(
        None, 1, "wav", default_dir=_default_dir(config),
        slug=media.slugify(text, fallback="speech"), stamp=media.timestamp(),
    )[0]
    media.check_outputs([path], force=False)
    await asyncio.to_thread(media.write_outputs, [(path, audio)], False)
    if not play:
        return path, "saved"
    try:
        media.check_output_device()
    except Exception as exc:  # no device: the file is what the user gets
        return path, f"saved; not played ({getattr(exc, 'message', exc)})"
    fmt, frames = media.decode_for_playback(audio, "wav")
    await asyncio.to_thread(media.play_pcm, fmt, frames)
    return path, "played and saved"


async def on_core_thread(coro: Any) -> Any:
    """Await ``coro`` on the app's core thread, where LiteLLM's HTTP clients live (they are
    bound to the event loop that first used them; see ``turns._CoreThread``)."""
    from .turns import _CoreThread

    fut = asyncio.run_coroutine_threadsafe(coro, _CoreThread.loop())
    try:
        return await asyncio.wrap_future(fut)
    except asyncio.CancelledError:
        fut.cancel()
        raise
