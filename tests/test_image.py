"""``termchat image`` through the real CLI (subprocesses) against the scripted server, plus the
core's ``generate_images`` in-process for the provider-error matrix."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import write_config
from tests.support.tty import run_on_tty

HOME_DIRS = {"config", "data", "logs", "cache", "run"}
IMAGES = "/v1/images/generations"


def written(home: Path) -> list[str]:
    """Files the CLI left in its working directory (``home``), termchat's own dirs excluded,
    plus any leftover temporary file anywhere under it."""
    top = sorted(p.name for p in home.iterdir() if p.name not in HOME_DIRS)
    temps = [str(p) for p in home.rglob("*.tmp")]
    return top + temps


def image_of(path: Path) -> Image.Image:
    img = Image.open(path)
    img.load()
    return img


def one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------
# Success paths


def test_b64_from_stdin_default_name_in_image_dir_and_show_on_tty(fake, home):
    write_config(home, '[image]\ndir = "pics"\n')
    (home / "pics").mkdir()
    code, out, err = run_on_tty(
        home, "image", "--show", "--api-base", fake.base_url,
        input=b"A lighthouse in a storm, watercolour\n",
        env={"KITTY_WINDOW_ID": "1"},
    )
    assert code == 0, err
    text = out.decode("utf-8", "replace")
    first = text.split("\r\n", 1)[0]
    assert re.fullmatch(r"pics/a-lighthouse-in-a-storm-watercolour-\d{8}-\d{6}\.png", first), text[:200]
    # --show on a terminal that says it is kitty: the Kitty graphics protocol, carrying a PNG.
    chunks = re.findall(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\", text)
    assert chunks and chunks[0][0].startswith("a=T,f=100")
    shown = Image.open(io.BytesIO(base64.b64decode("".join(c[1] for c in chunks))))
    assert shown.size == (64, 64)
    img = image_of(home / first)
    assert (img.format, img.size) == ("PNG", (64, 64))
    body = fake.requests_to(IMAGES)[-1].body
    assert body == {"model": "gpt-image-1", "prompt": "A lighthouse in a storm, watercolour"}
    assert written(home) == ["pics"]


def test_urls_n3_template_converted_to_webp_json_and_show_ignored_in_pipe(cli, fake, home):
    fake.script({"image": {"as": "url", "revised_prompt": "A red fox, three times"}})
    r = cli("image", "a fox", "-m", "dall-e-2", "--n", "3", "--json", "--show",
            "--api-base", fake.base_url, "-o", "fox-{n}.webp")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["paths"] == ["fox-1.webp", "fox-2.webp", "fox-3.webp"]
    assert doc["size"] == "64x64" and doc["model"] == "openai/dall-e-2" and doc["format"] == "webp"
    assert doc["revised_prompt"] == "A red fox, three times"
    assert "cost_usd" in doc and doc["cost_usd"] is None  # no catalog price for this size
    assert [i["format"] for i in doc["images"]] == ["webp"] * 3
    for p in doc["paths"]:
        assert image_of(home / p).format == "WEBP"
    # The three images were fetched from the URLs the provider answered with.
    assert len(fake.requests_to(IMAGES)) == 1
    assert len([r for r in fake.requests if r.path.startswith("/files/")]) == 3
    assert fake.requests_to(IMAGES)[0].body["n"] == 3
    assert "--show ignored" in r.stderr
    assert written(home) == ["fox-1.webp", "fox-2.webp", "fox-3.webp"]


def test_dalle3_png_converted_to_jpeg_over_existing_file_with_force(cli, fake, home):
    (home / "portrait.jpg").write_bytes(b"old contents")
    r = cli("image", "a portrait", "-m", "dall-e-3", "--size", "1024x1024", "--quality", "hd",
            "--style", "natural", "--compression", "60", "--force",
            "--api-base", fake.base_url, "-o", "portrait.jpg")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "portrait.jpg\n"
    img = image_of(home / "portrait.jpg")
    assert (img.format, img.size, img.mode) == ("JPEG", (1024, 1024), "RGB")
    body = fake.requests_to(IMAGES)[-1].body
    assert body == {"model": "dall-e-3", "prompt": "a portrait", "size": "1024x1024",
                    "quality": "hd", "style": "natural"}  # no output_format: converted here


def test_gpt_image_options_sent_and_priced(cli, fake, home):
    r = cli("image", "logo of a fox", "--size", "1024x1024", "--quality", "low", "--n", "2",
            "--background", "transparent", "--moderation", "low", "--compression", "80",
            "--json", "--api-base", fake.base_url, "--output", "logo-{n}.webp")
    assert r.returncode == 0, r.stderr
    body = fake.requests_to(IMAGES)[-1].body
    assert body == {"model": "gpt-image-1", "prompt": "logo of a fox", "size": "1024x1024",
                    "quality": "low", "n": 2, "background": "transparent",
                    "output_format": "webp", "output_compression": 80, "moderation": "low"}
    doc = json.loads(r.stdout)
    assert doc["paths"] == ["logo-1.webp", "logo-2.webp"] and doc["size"] == "1024x1024"
    assert doc["cost_usd"] == pytest.approx(2 * 0.011)  # catalog: low/1024-x-1024/gpt-image-1
    assert all(image_of(home / p).format == "WEBP" for p in doc["paths"])


# ---------------------------------------------------------------------------------------------
# Failures: one line, the right exit code, nothing on disk


def test_non_image_payload_is_an_error_not_a_file(cli, fake, home):
    fake.script({"image": {"bad_payload": True, "n": 2}})
    r = cli("image", "a cat", "--n", "2", "--api-base", fake.base_url, "-o", "cat-{n}.png")
    assert r.returncode == 1
    line = one_line_error(r.stderr)
    assert "image 1 from openai is not an image" in line and "text starting" in line
    assert r.stdout == "" and written(home) == []


def test_broken_url_writes_nothing(cli, fake, home):
    fake.script({"image": {"broken_url": True, "n": 2}})
    r = cli("image", "a cat", "-m", "dall-e-2", "--n", "2", "--api-base", fake.base_url)
    assert r.returncode == 1
    assert "downloading image 1 from 127.0.0.1 failed: HTTP 404" in one_line_error(r.stderr)
    assert r.stdout == "" and written(home) == []


def test_rejected_key_is_exit_3(cli, fake, home):
    fake.script({"error": 401, "message": "Incorrect API key provided: sk-abcdef123456789."},
                family="images")
    r = cli("image", "a cat", "--api-base", fake.base_url, "--key", "sk-abcdef123456789")
    assert r.returncode == 3
    line = one_line_error(r.stderr)
    assert "rejected the key (401)" in line and "sk-abcdef123456789" not in line
    assert written(home) == [] and len(fake.requests_to(IMAGES)) == 1  # the SDK did not retry


def test_stalled_provider_times_out(cli, fake, home):
    fake.script({"stall": 30}, family="images")
    started = time.monotonic()
    r = cli("image", "a cat", "--api-base", fake.base_url, "-o", "cat.png",
            env={"TERMCHAT_TIMEOUT": "1"})
    assert r.returncode == 4
    assert "did not answer in time" in one_line_error(r.stderr)
    assert time.monotonic() - started < 25
    assert len(fake.requests_to(IMAGES)) == 1 and written(home) == []


def test_refusals_before_any_request(cli, fake, home):
    """Bad options, empty prompt, clashes and unwritable places: exit 2 (or 1 for the place),
    one line, no request, no file — and no LiteLLM import, so these are quick."""
    (home / "fox-3.png").write_bytes(b"mine")
    (home / "taken.png").write_bytes(b"mine")
    (home / "afile").write_bytes(b"x")
    base = ["--api-base", fake.base_url]
    cases = [
        (["image", "x", "--format", "jpeg", "--background", "transparent", *base], 2, "JPEG has no transparency"),
        (["image", "x", "-m", "dall-e-3", "--background", "opaque", *base], 2, "dall-e-3 does not take --background; it takes --size, --quality, --n, --style"),
        (["image", "x", "--size", "640x480", *base], 2, "does not take --size 640x480"),
        (["image", "x", "--format", "gif", *base], 2, "unknown image format 'gif'"),
        (["image", "x", "--format", "png", "--compression", "50", *base], 2, "--compression applies to jpeg and webp"),
        (["image", "   ", *base], 2, "empty description"),
        (["image", "x", "--n", "3", *base, "-o", "fox-{n}.png"], 2, "fox-3.png already exists (use --force"),
        (["image", "x", *base, "-o", "taken.png"], 2, "taken.png already exists"),
        (["image", "x", *base, "-o", "-"], 2, "cannot be written to standard output"),
        (["image", "x", *base, "-o", "/proc/termchat-test.png"], 1, "cannot write to /proc"),
        (["image", "x", *base, "-o", "afile/x.png"], 1, "not a directory"),
    ]
    for args, code, needle in cases:
        r = cli(*args, timeout=60)
        assert r.returncode == code, (args, r.stderr)
        assert needle in one_line_error(r.stderr), (args, r.stderr)
        assert r.stdout == ""
    assert fake.requests == []
    assert written(home) == ["afile", "fox-3.png", "taken.png"]
    assert (home / "fox-3.png").read_bytes() == b"mine"


# ---------------------------------------------------------------------------------------------
# The core, in-process: the error matrix without a subprocess per case


@pytest.fixture
def core(home):
    from termchat.config import load_config

    cfg = load_config()
    cfg.overrides.update({"retries": 0, "timeout": 5.0})
    return cfg


async def test_core_maps_errors_without_sdk_retries(core, fake):
    from termchat.core import errors
    from termchat.core.catalog import resolve_model
    from termchat.core.media import generate_images
    from termchat.core.types import ImageRequest

    rm = resolve_model("gpt-image-1", core, api_base=fake.base_url)
    cases = [
        ({"error": 429}, errors.RateLimitError),
        ({"error": 500}, errors.ProviderError),
        ({"error": 503}, errors.ProviderError),
        ({"error": 401}, errors.AuthenticationError),
        ({"error": 404}, errors.ModelNotFoundError),
        ({"error": 400, "code": "content_policy_violation", "message": "rejected by safety system"}, errors.ContentPolicyError),
    ]
    for spec, cls in cases:
        before = len(fake.requests_to(IMAGES))
        fake.script(spec, family="images")
        with pytest.raises(cls) as ei:
            await generate_images(ImageRequest(rm.id, "a cat"), core, rm)
        assert len(fake.requests_to(IMAGES)) == before + 1, spec  # exactly one request
        assert "\n" not in ei.value.message
    assert "refused the request on content-policy grounds: rejected by safety system" in ei.value.message
    fake.script({"stall": 10}, family="images")
    core.overrides["timeout"] = 0.5
    t0 = time.monotonic()
    with pytest.raises(errors.TimeoutError_):
        await generate_images(ImageRequest(rm.id, "a cat"), core, rm)
    assert time.monotonic() - t0 < 3


async def test_core_downloads_with_limits(core, fake):
    from termchat.core import errors
    from termchat.core.media import download

    url = fake._add_file(b"x" * 5000, "png", "image/png")
    assert await download(url, timeout=5) == b"x" * 5000
    with pytest.raises(errors.ProviderError, match="larger than 1,000 bytes"):
        await download(url, timeout=5, limit=1000)
    with pytest.raises(errors.ProviderError, match="HTTP 404"):
        await download(f"{fake.url}/files/nothing.png", timeout=5)
    with pytest.raises(errors.ConnectionFailedError):
        await download("http://127.0.0.1:9/x.png", timeout=5)
    with pytest.raises(errors.ProviderError, match="not an http"):
        await download("file:///etc/passwd", timeout=5)
    assert await download("data:image/png;base64," + base64.b64encode(b"abc").decode(), timeout=5) == b"abc"


async def test_core_retries_on_its_own_terms(core, fake):
    from termchat.core import errors
    from termchat.core.catalog import resolve_model
    from termchat.core.media import generate_images
    from termchat.core.types import ImageRequest

    rm = resolve_model("gpt-image-1", core, api_base=fake.base_url)
    core.overrides["retries"] = 2
    fake.script({"error": 500}, {"error": 429, "headers": {"retry-after": "0"}}, family="images")
    notices: list[str] = []
    res = await generate_images(ImageRequest(rm.id, "a cat"), core, rm, on_notice=notices.append)
    assert len(fake.requests_to(IMAGES)) == 3
    assert len(notices) == 2
    assert "server error (500)" in notices[0] and "retrying in 1.0 s (attempt 1 of 2)" in notices[0]
    assert "rate limiting" in notices[1] and "retrying in 0.0 s" in notices[1]
    assert len(res.images) == 1 and res.images[0].data.startswith(b"\x89PNG")
    assert res.model == "openai/gpt-image-1" and res.cost_usd is None
    # A Retry-After longer than retry_max_wait fails at once.
    fake.script({"error": 429, "headers": {"retry-after": "999"}}, family="images")
    with pytest.raises(errors.RateLimitError, match="asks to wait 999 s"):
        await generate_images(ImageRequest(rm.id, "a cat"), core, rm, on_notice=notices.append)
    assert len(fake.requests_to(IMAGES)) == 4 and len(notices) == 2
