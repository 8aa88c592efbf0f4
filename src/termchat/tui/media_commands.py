"""``/image`` and ``/speak`` in ``termchat chat``: the same pipelines (:mod:`termchat.client.media`),
core client and file rules as ``termchat image`` and ``termchat speak``, run from the app's
worker on a thread (LiteLLM stays out of the app's process while the warm core serves).

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

from pathlib import Path
from typing import Any

from ..core.errors import UsageError


def _default_dir(config: Any) -> Path:
    d = config.get("image.dir")
    return Path(d).expanduser() if d else Path.cwd()


async def make_images(core: Any, config: Any, prompt: str, notify: Any = None) -> list[Path]:
    """Generate images for ``prompt`` with the configured image model through ``core`` (the
    app's :class:`~termchat.tui.turns.CoreLink`: the warm core, or in-process) and write them;
    returns the written paths. The pipeline is ``termchat image``'s
    (:func:`termchat.client.media.generate`).

    Raises:
        UsageError: empty prompt. TermchatError: the provider's error (nothing written), an
        answer that is not an image, an unwritable directory.
    """
    from .. import media
    from ..client.media import generate
    from ..client.routing import Routed, Routing, plan
    from ..core.types import ImageRequest

    prompt = prompt.strip()
    if not prompt:
        raise UsageError("/image needs a description, e.g. /image a lighthouse in a storm")
    rm, chain = plan(str(config.get("image.model")), config)

    def work(client: Any) -> list[Path]:
        client = Routed(client, config, Routing(chain=chain))  # the model's fallback chain
        images = generate(client, ImageRequest(model=rm.id, prompt=prompt), rm, on_notice=notify)
        paths = media.output_paths(
            None, len(images.datas), images.ext, default_dir=_default_dir(config),
            slug=media.slugify(prompt), stamp=media.timestamp(),
        )
        media.check_outputs(paths, force=False)
        media.write_outputs(list(zip(paths, images.datas, strict=True)), False)
        return paths

    return await core.call(work)


async def speak(core: Any, config: Any, text: str, notify: Any = None,
                play: bool = True) -> tuple[Path, str]:
    """Synthesise ``text`` as WAV with the configured speech model and voice through ``core``
    (the pipeline of ``termchat speak``: :func:`termchat.client.media.synthesize`), write it,
    and play it when ``play`` and an output device exist. Returns ``(path, note)`` where
    ``note`` says whether it played (or why not).

    Raises:
        UsageError: empty text. TermchatError: the provider's error (nothing written).
    """
    from .. import media
    from ..client.media import speech_parts, synthesize
    from ..client.routing import Routed, Routing, plan

    text = text.strip()
    if not text:
        raise UsageError("nothing to speak: /speak <text>, or /speak alone after a reply")
    rm, chain = plan(str(config.get("speech.model")), config)
    voice = str(config.get("speech.voice"))
    parts = speech_parts(text)

    def work(client: Any) -> tuple[Path, str]:
        client = Routed(client, config, Routing(chain=chain))  # the model's fallback chain
        audio = synthesize(client, rm, parts, voice=voice, options={"response_format": "wav"},
                           fmt="wav", on_notice=notify)
        path = media.output_paths(
            None, 1, "wav", default_dir=_default_dir(config),
            slug=media.slugify(text, fallback="speech"), stamp=media.timestamp(),
        )[0]
        media.check_outputs([path], force=False)
        media.write_outputs([(path, audio)], False)
        if not play:
            return path, "saved"
        try:
            media.check_output_device()
        except Exception as exc:  # no device: the file is what the user gets
            return path, f"saved; not played ({getattr(exc, 'message', exc)})"
        fmt, frames = media.decode_for_playback(audio, "wav")
        media.play_pcm(fmt, frames)
        return path, "played and saved"

    return await core.call(work)
