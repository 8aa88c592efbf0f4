"""In-process tests of the media helpers: names and files, Pillow checks and conversion, text
splitting, WAV joining, terminal image encodings, option planning, result serialisation.

No provider and no LiteLLM here (see test_image.py / test_speak.py for the real CLI)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from PIL import Image

from termchat.cli.image import plan_options, target_format
from termchat.cli.speak import audio_format, plan_speech
from termchat.core.catalog import ResolvedModel, model_info, resolve_model
from termchat.core.errors import ProviderError, TermchatError, UsageError
from termchat.core.media import (
    GeneratedImage,
    ImageResult,
    SpeechResult,
    image_cost_usd,
    image_model_family,
    speech_model_family,
)
from termchat.media import (
    PcmFormat,
    check_audio,
    check_directory,
    check_outputs,
    convert_image,
    decode_for_playback,
    graphics_protocol,
    halfblock_text,
    inspect_image,
    join_audio,
    kitty_escape,
    make_wav,
    output_paths,
    parse_wav,
    sixel_escape,
    slugify,
    split_text,
    write_outputs,
)
from tests.conftest import clean_env
from tests.support.fake_openai import make_png
from tests.support.fake_openai import make_wav as fake_wav


def rgba_png(size=(8, 6), transparent_left=True) -> bytes:
    img = Image.new("RGBA", size, (200, 30, 40, 255))
    if transparent_left:
        for x in range(size[0] // 2):
            for y in range(size[1]):
                img.putpixel((x, y), (0, 0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def rm_for(model: str) -> ResolvedModel:
    provider = model.split("/", 1)[0]
    return ResolvedModel(id=model, provider=provider, litellm_model=model, info=model_info(model))


# ---------------------------------------------------------------------------------------------
# Names and files


def test_slugify():
    assert slugify("A lighthouse in a storm, watercolour!") == "a-lighthouse-in-a-storm-watercolour"
    assert slugify("Ünïcödé café — déjà vu") == "unicode-cafe-deja-vu"
    assert slugify("x" * 100) == "x" * 40
    assert slugify("one two three four five six seven eight nine", max_len=20) == "one-two-three-four"
    assert slugify("日本語だけ", fallback="speech") == "speech"
    assert slugify("../../etc/passwd") == "etc-passwd"


def test_output_paths(tmp_path):
    kw = dict(default_dir=tmp_path, slug="fox", stamp="20250101-120000")
    assert output_paths("out.png", 1, "png", **kw) == [Path("out.png")]
    assert output_paths("fox-{n}.webp", 3, "webp", **kw) == [Path(f"fox-{i}.webp") for i in (1, 2, 3)]
    assert output_paths("d/fox.png", 2, "png", **kw) == [Path("d/fox-1.png"), Path("d/fox-2.png")]
    assert output_paths("noext", 1, "jpg", **kw) == [Path("noext.jpg")]
    assert output_paths("~/x.png", 1, "png", **kw) == [Path.home() / "x.png"]
    assert output_paths(None, 1, "png", **kw) == [tmp_path / "fox-20250101-120000.png"]
    assert output_paths(None, 2, "png", **kw) == [
        tmp_path / "fox-20250101-120000-1.png",
        tmp_path / "fox-20250101-120000-2.png",
    ]
    # A directory target gets default names inside it.
    (tmp_path / "pics").mkdir()
    assert output_paths(str(tmp_path / "pics"), 1, "png", **kw) == [tmp_path / "pics" / "fox-20250101-120000.png"]
    assert output_paths("new/", 1, "wav", **kw) == [Path("new/fox-20250101-120000.wav")]
    # Default names never clash: an existing file moves the whole set to a new stem.
    (tmp_path / "fox-20250101-120000-2.png").write_bytes(b"x")
    assert output_paths(None, 2, "png", **kw) == [
        tmp_path / "fox-20250101-120000-2-1.png",
        tmp_path / "fox-20250101-120000-2-2.png",
    ]


def test_check_outputs(tmp_path):
    existing = tmp_path / "a.png"
    existing.write_bytes(b"old")
    with pytest.raises(UsageError, match="already exists"):
        check_outputs([tmp_path / "new.png", existing], force=False)
    check_outputs([existing], force=True)
    with pytest.raises(UsageError, match="same file"):
        check_outputs([tmp_path / "b.png", tmp_path / "b.png"], force=False)
    with pytest.raises(UsageError, match="is a directory"):
        check_outputs([tmp_path], force=True)
    # A parent that is a file: one clear error, exit 1.
    with pytest.raises(TermchatError, match="not a directory") as ei:
        check_outputs([existing / "x.png"], force=False)
    assert ei.value.exit_code == 1
    # Directories that do not exist yet are probed at their nearest existing ancestor.
    check_outputs([tmp_path / "new" / "dir" / "c.png"], force=False)
    assert not (tmp_path / "new").exists()
    with pytest.raises(TermchatError, match="cannot write to /proc"):
        check_directory(Path("/proc"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_write_outputs_all_or_none(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"i am a file")
    items = [(tmp_path / "one.png", b"1"), (tmp_path / "two.png", b"2"), (blocker / "three.png", b"3")]
    with pytest.raises(TermchatError):
        write_outputs(items, force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]  # no files, no temporaries

    # A clash on the last file: none written.
    (tmp_path / "c3.png").write_bytes(b"old")
    with pytest.raises(UsageError, match=r"c3\.png already exists"):
        write_outputs([(tmp_path / f"c{i}.png", b"new") for i in (1, 2, 3)], force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "c3.png"]

    # --force replaces; new directories are created; mode follows the umask, not 0600.
    write_outputs([(tmp_path / "c3.png", b"new"), (tmp_path / "sub" / "d.png", b"d")], force=True)
    assert (tmp_path / "c3.png").read_bytes() == b"new"
    assert (tmp_path / "sub" / "d.png").read_bytes() == b"d"
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "sub" / "d.png").stat().st_mode & 0o777 == 0o666 & ~mask
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------------------------
# Images


def test_inspect_image():
    info = inspect_image(make_png(10, 7))
    assert (info.format, info.width, info.height, info.has_alpha, info.ext) == ("png", 10, 7, False, "png")
    assert inspect_image(rgba_png()).has_alpha
    with pytest.raises(ProviderError, match=r"not an image.*text starting 'this is not an image"):
        inspect_image(b"this is not an image, just text bytes")
    with pytest.raises(ProviderError, match=r"damaged|not an image"):
        inspect_image(make_png(64, 64)[:60])
    with pytest.raises(ProviderError, match="empty"):
        inspect_image(b"")


def test_convert_image_keeps_or_flattens_alpha():
    src = rgba_png()
    webp = convert_image(src, "webp")
    with Image.open(io.BytesIO(webp)) as img:
        assert img.format == "WEBP" and img.mode == "RGBA"
        assert img.getpixel((0, 0))[3] == 0 and img.getpixel((7, 0))[3] == 255
    png = convert_image(make_png(8, 8), "png")
    assert inspect_image(png).format == "png"
    jpeg = convert_image(src, "jpeg", compression=80)
    with Image.open(io.BytesIO(jpeg)) as img:
        assert img.format == "JPEG" and img.mode == "RGB"
        r, g, b = img.getpixel((0, 0))
        assert min(r, g, b) > 230  # transparent area laid on white, not black
    big = Image.effect_noise((128, 128), 80).convert("RGB")
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    small_q = convert_image(buf.getvalue(), "jpeg", compression=10)
    high_q = convert_image(buf.getvalue(), "jpeg", compression=95)
    assert len(small_q) < len(high_q)
    with pytest.raises(UsageError):
        convert_image(src, "bmp")


def test_target_format_and_plan_options():
    assert target_format(None, "x.jpg") == "jpeg"
    assert target_format("WEBP", None) == "webp"
    assert target_format(None, "x.png") == "png"
    assert target_format(None, "noext") is None
    with pytest.raises(UsageError, match=r"but --format"):
        target_format("png", "x.webp")
    with pytest.raises(UsageError, match="unknown image format"):
        target_format("tiff", None)

    gpt = rm_for("openai/gpt-image-1")
    assert image_model_family(gpt) == "gpt-image-1"
    assert plan_options(gpt, {"size": "1536x1024", "n": 3, "output_format": "webp", "output_compression": 80, "background": None}) == {
        "size": "1536x1024", "n": 3, "output_format": "webp", "output_compression": 80,
    }
    with pytest.raises(UsageError, match=r"gpt-image-1 does not take --style; it takes --size, --quality, --n, --background, --format, --compression, --moderation"):
        plan_options(gpt, {"style": "vivid"})
    with pytest.raises(UsageError, match="does not take --size 64x64; it takes auto, 1024x1024"):
        plan_options(gpt, {"size": "64x64"})
    with pytest.raises(UsageError, match="JPEG has no transparency"):
        plan_options(gpt, {"output_format": "jpeg", "background": "transparent"})
    with pytest.raises(UsageError, match="applies to jpeg and webp"):
        plan_options(gpt, {"output_format": "png", "output_compression": 50})
    with pytest.raises(UsageError, match="0-100"):
        plan_options(gpt, {"output_format": "jpeg", "output_compression": 101})

    dalle3 = rm_for("openai/dall-e-3")
    # --format / --compression are done locally for models that do not take them.
    assert plan_options(dalle3, {"style": "Natural", "output_format": "jpeg", "output_compression": 50}) == {"style": "natural"}
    with pytest.raises(UsageError, match="takes --n 1-1, not 2"):
        plan_options(dalle3, {"n": 2})
    with pytest.raises(UsageError, match="dall-e-3 does not take --background"):
        plan_options(dalle3, {"background": "transparent"})
    with pytest.raises(UsageError, match="dall-e-2 does not take --quality"):
        plan_options(rm_for("openai/dall-e-2"), {"quality": "hd"})
    # Unknown models: passed through as given.
    other = rm_for("openai/flux-schnell")
    assert image_model_family(other) is None
    assert plan_options(other, {"size": "77x99", "style": "x", "moderation": "strict"}) == {
        "size": "77x99", "style": "x", "moderation": "strict",
    }
    with pytest.raises(UsageError, match="--n must be 1 or more"):
        plan_options(other, {"n": 0})


def test_image_cost_from_catalog():
    gpt = rm_for("openai/gpt-image-1")
    low = model_info("openai/low/1024-x-1024/gpt-image-1")["input_cost_per_image"]
    assert image_cost_usd(gpt, {"size": "1024x1024", "quality": "low"}, 2) == pytest.approx(2 * low)
    assert image_cost_usd(gpt, {}, 1) is None  # size "auto": not priced
    usage = {"input_tokens": 10, "output_tokens": 1000}
    info = model_info("openai/gpt-image-1")
    expect = 10 * info["input_cost_per_token"] + 1000 * info["output_cost_per_image_token"]
    assert image_cost_usd(gpt, {}, 1, usage) == pytest.approx(expect)
    assert image_cost_usd(rm_for("openai/flux-schnell"), {"size": "1024x1024"}, 1) is None


def test_results_round_trip_json():
    res = ImageResult([GeneratedImage(b"\x89PNG\x00\xff", "http://x/y.png", "rev"), GeneratedImage(None, "u", None)], "openai/gpt-image-1", 0.04)
    again = ImageResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert again == res
    sp = SpeechResult(b"RIFF\x00\x01", "audio/wav", "openai/tts-1")
    assert SpeechResult.from_dict(json.loads(json.dumps(sp.to_dict()))) == sp


# ---------------------------------------------------------------------------------------------
# Terminal images


def test_graphics_protocol_detection():
    assert graphics_protocol({"TERM": "xterm-kitty"}) == "kitty"
    assert graphics_protocol({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "3"}) == "kitty"
    assert graphics_protocol({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}) == "kitty"
    assert graphics_protocol({"TERM": "foot"}) == "sixel"
    assert graphics_protocol({"TERM": "xterm-sixel"}) == "sixel"
    assert graphics_protocol({"TERM": "xterm-256color"}) == "blocks"
    assert graphics_protocol({"TERM": "xterm-kitty", "TERMCHAT_GRAPHICS": "blocks"}) == "blocks"


def test_kitty_escape_is_chunked_png():
    noisy = Image.effect_noise((200, 200), 90).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, format="PNG")
    seq = kitty_escape(buf.getvalue(), columns=40)
    chunks = re.findall(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\", seq)
    assert len(chunks) > 1
    assert chunks[0][0].startswith("a=T,f=100") and "c=40" in chunks[0][0] and chunks[0][0].endswith("m=1")
    assert chunks[-1][0] == "m=0" and all(len(c[1]) <= 4096 for c in chunks)
    png = base64.b64decode("".join(c[1] for c in chunks))
    assert inspect_image(png).width == 200


def test_sixel_escape():
    seq = sixel_escape(rgba_png((12, 13)))
    assert seq.startswith('\x1bPq"1;1;12;13') and seq.endswith("\x1b\\\n")
    assert seq.count("-") >= 3  # 13 rows = 3 bands of six
    body = seq[len('\x1bPq"1;1;12;13') : -3]
    assert re.fullmatch(r"(#\d+(;2;\d+;\d+;\d+)?|[?-~]|!\d+[?-~]|\$|-)+", body)


def test_halfblocks_truecolour():
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=40)
    console.print(halfblock_text(rgba_png((8, 6)), 40, 20), end="")
    text = out.getvalue()
    assert "▀" in text and "\x1b[38;2;200;30;40" in text
    assert len(text.rstrip("\n").split("\n")) == 3  # 6 pixel rows -> 3 cell rows
    lines = Console(file=io.StringIO(), width=40).render_lines(halfblock_text(make_png(80, 80), 20, 5), pad=False)
    assert len(lines) <= 6


# ---------------------------------------------------------------------------------------------
# Text and audio


def test_split_text_at_sentences():
    text = " ".join(f"Sentence number {i} is here." for i in range(300))
    parts = split_text(text, 500)
    assert len(parts) > 1 and all(0 < len(p) <= 500 for p in parts)
    assert all(p.endswith(".") for p in parts)  # cut only at sentence ends
    assert " ".join(parts) == text  # nothing lost, order kept
    assert split_text("  short  ", 4096) == ["short"]
    assert split_text("", 10) == []
    # Paragraph breaks are boundaries too; an over-long sentence is cut at commas, then spaces.
    long_sentence = ", ".join(["word " * 10] * 30)
    pieces = split_text("Intro line\n\n" + long_sentence, 200)
    assert pieces[0] == "Intro line" or pieces[0].startswith("Intro line")
    assert all(len(p) <= 200 for p in pieces)
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_wav_join_and_parse():
    a, b = fake_wav(0.1), fake_wav(0.25, frequency=220)
    joined = join_audio([a, b], "wav")
    with wave.open(io.BytesIO(joined)) as w:
        assert w.getnframes() == 2400 + 6000 and w.getframerate() == 24000 and w.getsampwidth() == 2
        frames = w.readframes(w.getnframes())
    assert frames == parse_wav(a)[1] + parse_wav(b)[1]
    # Streamed WAVs with unknown sizes (0xFFFFFFFF) still parse to the end of the data.
    streamed = bytearray(a)
    streamed[4:8] = b"\xff\xff\xff\xff"
    streamed[40:44] = b"\xff\xff\xff\xff"
    assert parse_wav(bytes(streamed)) == parse_wav(a)
    other = make_wav(PcmFormat(2, 2, 44100), b"\x00" * 400)
    with pytest.raises(ProviderError, match="different format"):
        join_audio([a, other], "wav")
    with pytest.raises(ValueError, match="not a WAV"):
        parse_wav(b"ID3\x03\x00" + b"\x00" * 40)
    assert join_audio([b"ab", b"cd"], "pcm") == b"abcd"
    id3 = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 5]) + b"TAGXX"
    assert join_audio([id3 + b"\xff\xfbAAA", id3 + b"\xff\xfbBBB"], "mp3") == id3 + b"\xff\xfbAAA\xff\xfbBBB"
    assert join_audio([b"only"], "opus") == b"only"
    with pytest.raises(UsageError, match="cannot be joined"):
        join_audio([b"a", b"b"], "flac")


def test_check_audio_and_playback_decoding():
    check_audio(fake_wav(0.01), "wav")
    check_audio(b"\xff\xfb\x90\x00", "mp3")
    with pytest.raises(ProviderError, match="not a valid WAV"):
        check_audio(b'{"error": "nope"}', "wav")
    with pytest.raises(ProviderError, match="not mp3 audio"):
        check_audio(b'  {"error": "nope"}', "mp3")
    with pytest.raises(ProviderError, match="whole 16-bit"):
        check_audio(b"\x00\x01\x02", "pcm")
    fmt, frames = decode_for_playback(b"\x00\x01" * 10, "pcm")
    assert fmt == PcmFormat(1, 2, 24000) and len(frames) == 20
    with pytest.raises(UsageError, match="only play wav or pcm"):
        decode_for_playback(b"", "mp3")


def test_speech_planning():
    tts = rm_for("openai/gpt-4o-mini-tts")
    assert speech_model_family(tts) == "openai-gpt-tts"
    assert plan_speech(tts, "nova", 1.2, "cheerful", "wav") == {"response_format": "wav", "speed": 1.2, "instructions": "cheerful"}
    with pytest.raises(UsageError, match="unknown voice 'bob'"):
        plan_speech(tts, "bob", None, None, "mp3")
    with pytest.raises(UsageError, match=r"0\.25-4\.0"):
        plan_speech(tts, "nova", 5.0, None, "mp3")
    tts1 = rm_for("openai/tts-1")
    with pytest.raises(UsageError, match="does not take --instructions"):
        plan_speech(tts1, "alloy", None, "whisper", "mp3")
    other = rm_for("openai/kokoro")
    assert plan_speech(other, "af_bella", None, "calm", "mp3") == {"response_format": "mp3", "instructions": "calm"}
    assert audio_format(None, "x.wav", False) == "wav"
    assert audio_format(None, None, True) == "wav"
    assert audio_format(None, "-", False) == "mp3"
    with pytest.raises(UsageError, match="but --format is mp3"):
        audio_format("mp3", "x.wav", False)
    with pytest.raises(UsageError, match="unknown audio format"):
        audio_format("ogg", None, False)


def test_resolve_defaults_for_media(home):
    from termchat.config import load_config

    cfg = load_config()
    rm = resolve_model(cfg.get("image.model"), cfg, api_base="http://127.0.0.1:9/v1")
    assert rm.litellm_model == "openai/gpt-image-1"
    assert image_model_family(rm) == "gpt-image-1"
    rm = resolve_model("tts", cfg, api_base="http://127.0.0.1:9/v1")
    assert speech_model_family(rm) == "openai-gpt-tts"


def test_help_loads_no_heavy_modules(home):
    code = (
        "import sys\nfrom termchat.cli import main\n"
        "for cmd in ('image', 'speak'):\n"
        "    try:\n        main([cmd, '--help'])\n    except SystemExit:\n        pass\n"
        "print([m for m in ('litellm', 'openai', 'PIL', 'sounddevice', 'httpx') if m in sys.modules])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(home), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("[]"), r.stdout[-500:]
    assert "--background" in r.stdout and "--instructions" in r.stdout


def test_parse_wav_truncated_drops_partial_frame():
    w = fake_wav(0.01)  # 240 frames of 2 bytes
    fmt, frames = parse_wav(w[:-1])  # the data chunk claims more than there is
    assert len(frames) == 239 * fmt.frame_bytes
