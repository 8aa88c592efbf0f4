"""The fixed vocabularies of image and speech requests: image options per model family and the
speech voices. Data only, importing nothing, so shell completion reads the same lists the core
checks requests against (:mod:`termchat.core.media`) at no cost to a TAB.
"""

from __future__ import annotations

#: Provider options the known image models take, per model family
#: (:func:`termchat.core.media.image_model_family`): option -> allowed values (a tuple of
#: strings) or an inclusive integer range given as a ``range``.
IMAGE_MODEL_OPTIONS: dict[str, dict[str, tuple[str, ...] | range]] = {
    "gpt-image-1": {
        "size": ("auto", "1024x1024", "1536x1024", "1024x1536"),
        "quality": ("auto", "low", "medium", "high"),
        "n": range(1, 11),
        "background": ("auto", "transparent", "opaque"),
        "output_format": ("png", "jpeg", "webp"),
        "output_compression": range(0, 101),
        "moderation": ("auto", "low"),
    },
    "dall-e-3": {
        "size": ("1024x1024", "1792x1024", "1024x1792"),
        "quality": ("standard", "hd"),
        "n": range(1, 2),
        "style": ("vivid", "natural"),
    },
    "dall-e-2": {
        "size": ("256x256", "512x512", "1024x1024"),
        "n": range(1, 11),
    },
}

#: OpenAI's text-to-speech voices.
OPENAI_VOICES = (
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage",
    "shimmer", "verse",
)


def image_sizes() -> tuple[str, ...]:
    """Every ``size`` some image family takes, smallest first, ``auto`` last."""
    sizes = {s for opts in IMAGE_MODEL_OPTIONS.values() for s in opts.get("size", ())}

    def area(s: str) -> tuple[int, str]:
        w, _, h = s.partition("x")
        return (int(w) * int(h), s) if w.isdigit() and h.isdigit() else (1 << 62, s)

    return tuple(sorted(sizes, key=area))
