"""Media on the front side: image files (Pillow), audio files, terminal images and playback —
split by job into :mod:`.files`, :mod:`.images`, :mod:`.graphics`, :mod:`.audio` and
:mod:`.audiosplit`, every
public name re-exported here.

Everything here is local I/O; provider calls live in :mod:`termchat.core.media`. Pillow and
sounddevice are imported lazily, inside the functions that need them.

* Images: :func:`inspect_image` checks bytes with Pillow, :func:`convert_image` changes the
  format (keeping transparency for PNG/WebP), :func:`show_image` draws one on the terminal
  (Kitty graphics protocol, Sixel, or half-blocks with true colour).
* Audio: :func:`split_text` cuts long text at sentence boundaries, :func:`parse_wav` /
  :func:`join_audio` join parts into one valid file, :func:`play_pcm` plays PCM frames through
  PortAudio.
* Speech-to-text input (:mod:`.audiosplit`): :func:`sniff_audio` tells the format,
  :func:`decode_pcm` decodes to 16 kHz mono with PyAV, :func:`is_silent` checks loudness,
  :func:`split_ranges` / :func:`wav_part` cut long audio at pauses into WAV parts.
* Files: :func:`output_paths` names outputs (``-o`` path or ``{n}`` template, or a slug of the
  prompt and a timestamp), :func:`check_outputs` refuses clobbering and unwritable places
  before anything is requested, :func:`write_outputs` writes all files or none.
"""

from __future__ import annotations

from .audio import (
    CONCAT_FORMATS,
    PCM_FORMATS,
    PcmFormat,
    check_audio,
    check_output_device,
    decode_for_playback,
    join_audio,
    make_wav,
    parse_wav,
    play_pcm,
    split_text,
)
from .audiosplit import (
    av_available,
    decode_pcm,
    is_silent,
    max_part_samples,
    mime_for,
    sniff_audio,
    split_ranges,
    wav_part,
)
from .files import (
    check_directory,
    check_outputs,
    is_directory_target,
    output_paths,
    slugify,
    timestamp,
    write_outputs,
)
from .graphics import (
    graphics_protocol,
    halfblock_text,
    kitty_escape,
    show_image,
    sixel_escape,
)
from .images import (
    IMAGE_EXTENSIONS,
    IMAGE_FORMATS,
    ImageInfo,
    convert_image,
    inspect_image,
)

__all__ = [
    "CONCAT_FORMATS",
    "IMAGE_EXTENSIONS",
    "IMAGE_FORMATS",
    "PCM_FORMATS",
    "ImageInfo",
    "PcmFormat",
    "av_available",
    "check_audio",
    "check_directory",
    "check_output_device",
    "check_outputs",
    "convert_image",
    "decode_for_playback",
    "decode_pcm",
    "graphics_protocol",
    "halfblock_text",
    "inspect_image",
    "is_directory_target",
    "is_silent",
    "join_audio",
    "kitty_escape",
    "make_wav",
    "max_part_samples",
    "mime_for",
    "output_paths",
    "parse_wav",
    "play_pcm",
    "show_image",
    "sixel_escape",
    "slugify",
    "sniff_audio",
    "split_ranges",
    "split_text",
    "timestamp",
    "wav_part",
    "write_outputs",
]
