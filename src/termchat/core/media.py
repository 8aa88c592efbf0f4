"""Image generation and text-to-speech through LiteLLM — the core side.

The fronts build an :class:`~termchat.core.types.ImageRequest` / :class:`SpeechRequest`, resolve
the model (:func:`termchat.core.catalog.resolve_model`) and call :func:`generate_images` /
:func:`synthesize_speech`. They get back an :class:`ImageResult` / :class:`SpeechResult` of
plain bytes (JSON-able through ``to_dict``/``from_dict``, bytes as base64, so that a warm core
can send them over its socket) and do all file and terminal I/O themselves.

LiteLLM is imported lazily (:func:`termchat.core.engine.aload_litellm`), never at module import.
Every failure is raised as a :class:`~termchat.core.errors.TermchatError` (mapped with
:func:`termchat.core.engine.map_exception`).

Retries are termchat's own, as for chat: on 429, 5xx and connection errors, wait
``min(2**attempt, retry_max_wait)`` seconds (or the provider's ``Retry-After``) and try again, up
to config ``retries`` times; a timeout is never retried (an image may already be billed). The
OpenAI SDK's own retries are off: LiteLLM's image path ignores ``max_retries=0`` for
OpenAI-compatible providers, so those calls get a client whose ``max_retries`` stays 0.

Images the provider returns as URLs are downloaded here (``httpx``, with the request timeout and
a :data:`MAX_DOWNLOAD_BYTES` cap), so an :class:`ImageResult` always carries the bytes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .catalog import ResolvedModel, model_info
from .errors import (
    ConnectionFailedError,
    ProviderError,
    TermchatError,
    TimeoutError_,
)
from .mediaspec import IMAGE_MODEL_OPTIONS, OPENAI_VOICES  # noqa: F401  (importable here)
from .openai_client import no_retry_client
from .settings import Values
from .types import ImageRequest, SpeechRequest

_log = logging.getLogger("termchat")

#: Largest image download accepted from a provider URL, in bytes (50 MiB).
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024

Notify = Callable[[str], None]

#: Seconds added to the request timeout for the outer backstop around a LiteLLM call: the HTTP
#: client enforces ``timeout`` itself (connect, first byte); LiteLLM's own work before sending
#: (about a second on its first call) must not count against it.
_GRACE = 5.0


# ---------------------------------------------------------------------------------------------
# What models take

# IMAGE_MODEL_OPTIONS (option -> allowed values, a tuple of strings or an inclusive ``range``)
# and OPENAI_VOICES live in core.mediaspec, which shell completion reads too.


def _base_name(rm: ResolvedModel) -> str:
    return rm.litellm_model.rsplit("/", 1)[-1].lower()


def image_model_family(rm: ResolvedModel) -> str | None:
    """The :data:`IMAGE_MODEL_OPTIONS` key for ``rm`` (``gpt-image-1`` also covers
    ``gpt-image-1-mini`` and ``gpt-image-1.5``), or ``None`` for a model termchat has no table
    for (its options are passed through unchecked)."""
    name = _base_name(rm)
    if name.startswith("gpt-image-1"):
        return "gpt-image-1"
    for family in ("dall-e-3", "dall-e-2"):
        if name.startswith(family):
            return family
    return None


#: Image options LiteLLM takes as named arguments on every supported version (and prices by).
_LITELLM_IMAGE_ARGS = ("n", "size", "quality")


def _image_options(rm: ResolvedModel, options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments that carry ``options`` to the provider.

    For a model in :data:`IMAGE_MODEL_OPTIONS`, options other than ``n``/``size``/``quality``
    go in ``extra_body``: LiteLLM checks named options against a parameter table of its own,
    which lags the providers (1.109 refuses dall-e-3's ``style``, which the API takes), while
    termchat has already checked them against its own table. Other models get the options as
    named arguments, for LiteLLM to map per provider.
    """
    if image_model_family(rm) is None:
        return dict(options)
    named = {k: v for k, v in options.items() if k in _LITELLM_IMAGE_ARGS}
    extra = {k: v for k, v in options.items() if k not in _LITELLM_IMAGE_ARGS}
    return {**named, "extra_body": extra} if extra else named


#: Characters OpenAI's speech endpoint takes in one request; also used for unknown providers.
SPEECH_INPUT_LIMIT = 4096


def speech_model_family(rm: ResolvedModel) -> str | None:
    """``"openai-tts"`` for OpenAI's ``tts-1``/``tts-1-hd`` (no ``instructions``),
    ``"openai-gpt-tts"`` for ``gpt-4o-mini-tts``-style models (take ``instructions``), or
    ``None`` for other models (voice and options passed through unchecked)."""
    name = _base_name(rm)
    if name.startswith("tts-1"):
        return "openai-tts"
    if name.startswith("gpt-") and "tts" in name:
        return "openai-gpt-tts"
    return None


# ---------------------------------------------------------------------------------------------
# Results


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


@dataclass
class GeneratedImage:
    """One generated image.

    Attributes:
        data: the image file bytes as the provider sent them (PNG, JPEG, WebP…), or ``None``
            when only a URL is known (results of :func:`generate_images` always have bytes).
        url: the provider's URL for the image, when it answered with one, else ``None``.
        revised_prompt: the prompt the provider actually used (DALL·E 3 rewrites prompts), or
            ``None``.
    """

    data: bytes | None = None
    url: str | None = None
    revised_prompt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``{"data_b64", "url", "revised_prompt"}``."""
        return {"data_b64": _b64(self.data), "url": self.url, "revised_prompt": self.revised_prompt}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GeneratedImage:
        """Inverse of :meth:`to_dict`."""
        return cls(_unb64(d.get("data_b64")), d.get("url"), d.get("revised_prompt"))


@dataclass
class ImageResult:
    """What :func:`generate_images` returns.

    Attributes:
        images: the images, in the provider's order.
        model: the canonical model id that made them.
        cost_usd: USD cost from the catalog (per image for the size/quality, or per token when
            the provider reports image-token usage), ``None`` when the model is not priced.
    """

    images: list[GeneratedImage] = field(default_factory=list)
    model: str = ""
    cost_usd: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``{"images": [...], "model", "cost_usd"}`` (bytes as base64)."""
        return {
            "images": [im.to_dict() for im in self.images],
            "model": self.model,
            "cost_usd": self.cost_usd,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            [GeneratedImage.from_dict(x) for x in d.get("images", [])],
            d.get("model", ""),
            d.get("cost_usd"),
        )


@dataclass
class SpeechResult:
    """What :func:`synthesize_speech` returns.

    Attributes:
        audio: the audio file bytes (mp3, wav, opus, flac, aac, or raw PCM as asked).
        content_type: the response's ``Content-Type`` (``audio/wav``…), or ``None``.
        model: the canonical model id that spoke.
    """

    audio: bytes = b""
    content_type: str | None = None
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``{"audio_b64", "content_type", "model"}``."""
        return {"audio_b64": _b64(self.audio), "content_type": self.content_type, "model": self.model}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeechResult:
        """Inverse of :meth:`to_dict`."""
        return cls(_unb64(d.get("audio_b64")) or b"", d.get("content_type"), d.get("model", ""))


# ---------------------------------------------------------------------------------------------
# Prices


def _usage_tokens(usage: Any) -> tuple[int, int]:
    if usage is None:
        return 0, 0
    get = usage.get if isinstance(usage, dict) else lambda k, d=None: getattr(usage, k, d)
    inp = get("input_tokens", None) or get("prompt_tokens", None) or 0
    out = get("output_tokens", None) or get("completion_tokens", None) or 0
    try:
        return int(inp), int(out)
    except (TypeError, ValueError):
        return 0, 0


def image_cost_usd(
    rm: ResolvedModel, options: dict[str, Any], count: int, usage: Any = None
) -> float | None:
    """USD cost of ``count`` images from the catalog, or ``None`` when not priced.

    Token usage reported by the provider (gpt-image models) is priced per token when the
    catalog has per-token prices; otherwise the per-image price of the
    ``[quality/]WxH/model`` entry for the requested ``size``/``quality`` (``input_cost_per_image``
    or ``input_cost_per_pixel`` × pixels); otherwise the model's flat per-image price.
    """
    provider, _, model = rm.litellm_model.partition("/")
    if not model:
        provider, model = rm.provider, rm.litellm_model
    info = rm.info or model_info(f"{provider}/{model}")
    inp, out = _usage_tokens(usage)
    out_price = info.get("output_cost_per_image_token", info.get("output_cost_per_token"))
    if (inp or out) and out_price is not None:
        return inp * float(info.get("input_cost_per_token") or 0) + out * float(out_price)

    size = str(options.get("size") or "")
    quality = str(options.get("quality") or "")
    if "x" in size:
        w, _, h = size.partition("x")
        if w.isdigit() and h.isdigit():
            qualities = [quality] if quality and quality != "auto" else []
            if model.startswith("dall-e-3") and not qualities:
                qualities = ["standard"]
            keys = [f"{provider}/{q}/{w}-x-{h}/{model}" for q in qualities]
            keys.append(f"{provider}/{w}-x-{h}/{model}")
            for key in keys:
                entry = model_info(key)
                per = entry.get("input_cost_per_image", entry.get("output_cost_per_image"))
                if per is not None:
                    return float(per) * count
                pixel = entry.get("input_cost_per_pixel")
                if pixel is not None:
                    return float(pixel) * int(w) * int(h) * count
    per = info.get("output_cost_per_image", info.get("input_cost_per_image"))
    if per is not None:
        return float(per) * count
    return None


# ---------------------------------------------------------------------------------------------
# Calls


def _settings(req: ImageRequest | SpeechRequest, config: Values | None) -> tuple[float, int, float]:
    timeout = float(req.timeout or (config.get("timeout") if config is not None else 120.0))
    retries = int(config.get("retries") if config is not None else 3)
    max_wait = float(config.get("retry_max_wait") if config is not None else 30.0)
    return timeout, retries, max_wait


def _openai_compatible(rm: ResolvedModel) -> bool:
    return rm.litellm_model.startswith("openai/")


_no_retry_client = no_retry_client  # its old name here


async def _close(client: Any) -> None:
    if client is not None:
        try:
            await client.close()
        except Exception:  # the result is in hand; a failed close only leaks a socket
            _log.debug("closing the media client failed", exc_info=True)


async def _with_retries(
    call: Callable[[], Any], rm: ResolvedModel, retries: int, max_wait: float, notify: Notify | None
) -> Any:
    attempt = 0
    while True:
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # mapped below; nothing escapes unmapped
            err = exc if isinstance(exc, TermchatError) else _map(exc, rm)
            if attempt >= retries or not err.retryable:
                raise err from None
            attempt += 1
            delay = err.retry_after if err.retry_after is not None else min(2.0 ** (attempt - 1), max_wait)
            if delay > max_wait:
                raise err from None
            if notify is not None:
                notify(f"{err.message} — retrying in {delay:.1f} s (attempt {attempt} of {retries})")
            await asyncio.sleep(delay)


def _map(exc: BaseException, rm: ResolvedModel) -> TermchatError:
    from .engine import map_exception

    return map_exception(exc, rm)


def _kwargs(rm: ResolvedModel, timeout: float) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": rm.litellm_model,
        "timeout": timeout,
        "max_retries": 0,
        "num_retries": 0,
    }
    if rm.api_base:
        kwargs["api_base"] = rm.api_base
    if rm.api_key:
        kwargs["api_key"] = rm.api_key
    return kwargs


async def generate_images(
    req: ImageRequest, config: Values | None, rm: ResolvedModel, *, on_notice: Notify | None = None
) -> ImageResult:
    """Generate images for ``req`` with the resolved model ``rm``.

    ``req.options`` go to the provider as given (``size``, ``n``, ``quality``, ``style``,
    ``background``, ``output_format``, ``output_compression``, ``moderation``); the front has
    checked them. ``config`` gives ``timeout`` (seconds, unless ``req.timeout``), ``retries``
    and ``retry_max_wait``. ``on_notice`` receives one-line retry notices.

    Returns an :class:`ImageResult` whose images all carry their bytes (URLs downloaded, at
    most :data:`MAX_DOWNLOAD_BYTES` each). The bytes are not checked to be images here; the
    front does that with Pillow.

    Raises:
        TermchatError: any failure, mapped (content policy, authentication, rate limit,
            timeout, connection, a response without images, a failed download…).
    """
    timeout, retries, max_wait = _settings(req, config)
    from .engine import aload_litellm

    litellm = await aload_litellm()
    kwargs = {**_kwargs(rm, timeout), "prompt": req.prompt, **_image_options(rm, req.options)}

    async def call() -> Any:
        client = _no_retry_client(rm, timeout) if _openai_compatible(rm) else None
        try:
            extra = {"client": client} if client is not None else {}
            return await asyncio.wait_for(
                litellm.aimage_generation(**kwargs, **extra), timeout + _GRACE
            )
        finally:
            await _close(client)

    resp = await _with_retries(call, rm, retries, max_wait, on_notice)
    items = list(getattr(resp, "data", None) or [])
    if not items:
        raise ProviderError(f"{rm.provider} returned no images for {rm.id}")
    images: list[GeneratedImage] = []
    for i, item in enumerate(items, 1):
        get = item.get if isinstance(item, dict) else lambda k, it=item: getattr(it, k, None)
        b64, url, revised = get("b64_json"), get("url"), get("revised_prompt")
        data: bytes | None = None
        if b64:
            try:
                data = base64.b64decode(b64, validate=False)
            except (binascii.Error, ValueError):
                raise ProviderError(f"{rm.provider} returned image {i} as invalid base64") from None
        elif url:
            data = await download(str(url), timeout=timeout, limit=MAX_DOWNLOAD_BYTES, what=f"image {i}")
        else:
            raise ProviderError(f"{rm.provider} returned image {i} with neither data nor a URL")
        images.append(GeneratedImage(data=data, url=str(url) if url else None, revised_prompt=revised))
    cost = image_cost_usd(rm, req.options, len(images), getattr(resp, "usage", None))
    return ImageResult(images=images, model=rm.id, cost_usd=cost)


async def download(url: str, *, timeout: float, limit: int = MAX_DOWNLOAD_BYTES, what: str = "file") -> bytes:
    """GET ``url`` (http, https, or a ``data:`` URL) and return its body.

    ``timeout`` is in seconds (connect, and each read); ``limit`` in bytes. No credentials are
    sent. Raises :class:`ProviderError` (bad status, too large, bad scheme),
    :class:`TimeoutError_` or :class:`ConnectionFailedError`.
    """
    if url.startswith("data:"):
        head, _, payload = url.partition(",")
        try:
            data = base64.b64decode(payload) if head.endswith(";base64") else payload.encode()
        except (binascii.Error, ValueError):
            raise ProviderError(f"{what}: the data URL is not valid base64") from None
        if len(data) > limit:
            raise ProviderError(f"{what} is larger than {limit:,} bytes")
        return data
    if not url.startswith(("http://", "https://")):
        raise ProviderError(f"{what}: cannot download {url[:80]!r} (not an http(s) URL)")
    import httpx

    host = httpx.URL(url).host
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as resp,
        ):
            if resp.status_code >= 400:
                raise ProviderError(f"downloading {what} from {host} failed: HTTP {resp.status_code}")
            length = resp.headers.get("content-length")
            if length and length.isdigit() and int(length) > limit:
                raise ProviderError(f"{what} at {host} is larger than {limit:,} bytes")
            buf = bytearray()
            async for chunk in resp.aiter_bytes():
                buf += chunk
                if len(buf) > limit:
                    raise ProviderError(f"{what} at {host} is larger than {limit:,} bytes")
            return bytes(buf)
    except TermchatError:
        raise
    except httpx.TimeoutException:
        raise TimeoutError_(f"downloading {what} from {host} timed out after {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ConnectionFailedError(
            f"downloading {what} from {host} failed: {type(exc).__name__}: {exc}"
        ) from None


#: Content types that mean the provider sent an error document instead of audio.
_NOT_AUDIO = ("application/json", "text/")


async def synthesize_speech(
    req: SpeechRequest, config: Values | None, rm: ResolvedModel, *, on_notice: Notify | None = None
) -> SpeechResult:
    """Synthesise ``req.input`` with the resolved model ``rm`` (one provider request).

    ``req.options`` go to the provider as given (``response_format``, ``speed``,
    ``instructions``). The caller splits text longer than the provider's input limit.
    ``config`` gives ``timeout`` (seconds), ``retries`` and ``retry_max_wait``.

    Raises:
        TermchatError: any failure, mapped; :class:`ProviderError` when the answer is empty or
            is a JSON/text document rather than audio.
    """
    timeout, retries, max_wait = _settings(req, config)
    from .engine import aload_litellm

    litellm = await aload_litellm()
    kwargs = {**_kwargs(rm, timeout), "input": req.input, "voice": req.voice, **req.options}

    async def call() -> Any:
        # A gateway's attribution headers ride on a client of termchat's own (core.openai_client)
        client = no_retry_client(rm, timeout) if rm.gateway and _openai_compatible(rm) else None
        try:
            extra = {"client": client} if client is not None else {}
            return await asyncio.wait_for(litellm.aspeech(**kwargs, **extra), timeout + _GRACE)
        finally:
            await _close(client)

    resp = await _with_retries(call, rm, retries, max_wait, on_notice)
    try:
        audio = bytes(resp.content)
    except Exception as exc:
        raise _map(exc, rm) from None
    response = getattr(resp, "response", None)
    ctype = response.headers.get("content-type") if response is not None else None
    if ctype and ctype.lower().startswith(_NOT_AUDIO):
        raise ProviderError(f"{rm.provider} answered with {ctype.split(';')[0]}, not audio")
    if not audio:
        raise ProviderError(f"{rm.provider} returned no audio for {rm.id}")
    return SpeechResult(audio=audio, content_type=ctype, model=rm.id)
