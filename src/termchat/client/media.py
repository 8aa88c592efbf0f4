"""The image and speech pipelines, one each, used by ``termchat image``/``termchat speak`` and by
``/image``/``/speak`` in the chat app. They take a :class:`~termchat.client.base.CoreClient`
(warm or in-process) and return checked bytes; where and how the files are written, and what is
shown meanwhile, stays with the front."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import CoreClient, Notify


def _nothing() -> None:
    pass


def speech_parts(text: str) -> list[str]:
    """``text`` split at sentence ends into parts one speech request takes."""
    from ..core.media import SPEECH_INPUT_LIMIT
    from ..media import split_text

    return split_text(text, SPEECH_INPUT_LIMIT)


def synthesize(
    core: CoreClient,
    rm: Any,
    parts: list[str],
    *,
    voice: str,
    options: dict[str, Any],
    fmt: str,
    api_base: str | None = None,
    api_key: str | None = None,
    on_notice: Notify | None = None,
    advance: Callable[[], None] = _nothing,
) -> bytes:
    """Speak ``parts`` (from :func:`speech_parts`) one request each, in order, check every
    answer is ``fmt`` audio, and join them into one file's bytes (``advance()`` after each
    part).

    Raises:
        TermchatError: the provider's error, audio that is not ``fmt``, parts that cannot be
            joined (nothing is written by then).
    """
    from ..core.types import SpeechRequest
    from ..media import check_audio, join_audio

    audio: list[bytes] = []
    for i, part in enumerate(parts, 1):
        req = SpeechRequest(model=rm.id, input=part, voice=voice, options=options,
                            api_base=api_base, api_key=api_key)
        res = core.speech(req, rm, on_notice)
        what = "the audio" if len(parts) == 1 else f"audio part {i} of {len(parts)}"
        check_audio(res.audio, fmt, what=what)
        audio.append(res.audio)
        advance()
    return join_audio(audio, fmt)


@dataclass
class Images:
    """Generated images, checked and converted, ready to write: ``datas[i]`` with
    ``infos[i]`` (:class:`termchat.media.ImageInfo`), all in ``format``; ``result`` is the
    core's :class:`~termchat.core.media.ImageResult` (model, cost, revised prompts)."""

    result: Any
    format: str
    datas: list[bytes] = field(default_factory=list)
    infos: list[Any] = field(default_factory=list)

    @property
    def ext(self) -> str:
        from ..media import IMAGE_FORMATS

        return IMAGE_FORMATS[self.format]


def generate(
    core: CoreClient,
    req: Any,
    rm: Any,
    *,
    want: str | None = None,
    compression: int | None = None,
    convert_compression: bool = False,
    on_notice: Notify | None = None,
) -> Images:
    """Generate the images of ``req`` and check every one with Pillow before any is written;
    convert them to ``want`` (png/jpeg/webp; ``None``: what the provider sent when it is one
    of those, else png), also when ``convert_compression`` (the model could not apply
    ``compression`` itself).

    Raises:
        TermchatError: the provider's error, an answer that is not an image.
    """
    from ..media import IMAGE_FORMATS, convert_image, inspect_image

    result = core.image(req, rm, on_notice)
    out = Images(result=result, format=want or "")
    for i, im in enumerate(result.images, 1):
        data = im.data or b""
        info = inspect_image(data, what=f"image {i} from {rm.provider}")
        if not out.format:
            out.format = info.format if info.format in IMAGE_FORMATS else "png"
        if info.format != out.format or (compression is not None and convert_compression):
            data = convert_image(data, out.format, compression)
            info = inspect_image(data, what=f"image {i} after conversion")
        out.datas.append(data)
        out.infos.append(info)
    out.format = out.format or "png"
    return out
