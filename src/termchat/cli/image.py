"""``termchat image``: generate images and write them to files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from ..core.errors import EXIT_OK, UsageError

HELP = """Generate images from a description and write them to files.

The description is the argument, standard input, or both (argument, a blank line, stdin).

    termchat image "a lighthouse in a storm, watercolour" -o lighthouse.png
    echo "isometric pixel-art desk" | termchat image --size 1536x1024 --n 3 --format webp
    termchat image "logo of a fox" --background transparent --quality high --show

Standard output gets one written path per line (so `termchat image … | xargs open` works), or
one JSON object with --json. Without -o, files are named from the description and the time,
in the current directory (or config image.dir). -o takes a path, or a template with {n} for
several images. Existing files are never overwritten without --force; if any output cannot be
written, none is. Options a model does not take are refused before any request.

Exit codes: 0 ok, 1 provider error, 2 usage error, 3 configuration or authentication,
4 network or timeout, 130 interrupted.
"""

#: Command-line flag of each provider option (for messages).
FLAGS = {
    "size": "--size",
    "quality": "--quality",
    "n": "--n",
    "style": "--style",
    "background": "--background",
    "output_format": "--format",
    "output_compression": "--compression",
    "moderation": "--moderation",
}
#: Options termchat can honour itself (by converting) when a model does not take them.
LOCAL_OPTIONS = ("output_format", "output_compression")


def register(app: typer.Typer) -> None:
    """Add the ``image`` command to ``app``."""
    from .ask import KEY_ENV_HELP, KEY_HELP, key_from_options
    from .complete import complete_image_model, complete_image_size

    @app.command("image", help=HELP)
    def image(
        prompt: list[str] = typer.Argument(None, help="The description (words are joined)."),
        model: str = typer.Option(None, "-m", "--model", help="Model id or alias (default: config image.model).", show_default=False, autocompletion=complete_image_model),
        output: str = typer.Option(None, "-o", "--output", help="Output file, or a template with {n} (1, 2, …)."),
        size: str = typer.Option(None, "--size", help="Image size, e.g. 1024x1024 (or auto).", autocompletion=complete_image_size),
        quality: str = typer.Option(None, "--quality", help="auto|low|medium|high (gpt-image-1), standard|hd (dall-e-3)."),
        n: int = typer.Option(None, "-n", "--n", help="Number of images.", show_default=False),
        style: str = typer.Option(None, "--style", help="vivid|natural (dall-e-3)."),
        background: str = typer.Option(None, "--background", help="auto|transparent|opaque (gpt-image-1)."),
        fmt: str = typer.Option(None, "--format", help="png|jpeg|webp (converted here when the model cannot)."),
        compression: int = typer.Option(None, "--compression", help="0-100 for jpeg/webp (100 keeps the most detail).", show_default=False),
        moderation: str = typer.Option(None, "--moderation", help="auto|low (gpt-image-1)."),
        force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object: paths, size, model, revised prompt, cost."),
        show: bool = typer.Option(False, "--show", help="Also draw the images on the terminal."),
        api_base: str = typer.Option(None, "--api-base", help="OpenAI-compatible base URL for this call."),
        key: str = typer.Option(None, "--key", help=KEY_HELP),
        key_env: str = typer.Option(None, "--key-env", metavar="NAME", help=KEY_ENV_HELP),
        over_budget: bool = typer.Option(False, "--over-budget", help="Send this request even if it passes a budget limit."),
    ) -> None:
        code = run_image(
            prompt=" ".join(prompt or []), model=model, output=output, size=size,
            quality=quality, n=n, style=style, background=background, fmt=fmt,
            compression=compression, moderation=moderation, force=force, as_json=as_json,
            show=show, api_base=api_base, key=key_from_options(key, key_env),
            over_budget=over_budget,
        )
        if code:
            raise typer.Exit(code)


def normalize_format(fmt: str | None) -> str | None:
    """``png``/``jpeg``/``webp`` from a ``--format`` value or file extension (``jpg`` ->
    ``jpeg``), ``None`` for ``None``. Raises :class:`UsageError` for anything else."""
    if fmt is None:
        return None
    from ..media import IMAGE_EXTENSIONS

    f = IMAGE_EXTENSIONS.get(fmt.strip().lower().lstrip("."))
    if f is None:
        raise UsageError(f"unknown image format {fmt!r}", hint="use png, jpeg or webp")
    return f


def target_format(fmt: str | None, output: str | None) -> str | None:
    """The format to write: ``--format``, else the ``-o`` extension when it is an image one,
    else ``None`` (keep what the provider sends).

    Raises:
        UsageError: an unknown format, or ``--format`` and the ``-o`` extension disagree.
    """
    from ..media import IMAGE_EXTENSIONS

    want = normalize_format(fmt)
    suffix = Path(output).suffix.lower().lstrip(".") if output and output != "-" else ""
    from_ext = IMAGE_EXTENSIONS.get(suffix) if suffix else None
    if want and from_ext and want != from_ext:
        raise UsageError(f"-o names a .{suffix} file but --format is {want}", hint="make them agree")
    return want or from_ext


def plan_options(rm: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The provider options to send for the command-line values in ``given`` (provider option
    names; ``None`` values are dropped), checked against what ``rm``'s model takes.

    For a model in :data:`termchat.core.media.IMAGE_MODEL_OPTIONS`, an option it does not take
    is refused, naming those it does — except ``output_format``/``output_compression``, which
    are then left out and applied here by conversion. Unknown models get everything as given.

    Raises:
        UsageError: an option or value the model does not take, ``--n`` below 1,
            ``--compression`` outside 0–100 or without jpeg/webp, JPEG with a transparent
            background.
    """
    from ..core.media import IMAGE_MODEL_OPTIONS, image_model_family

    opts = {k: v for k, v in given.items() if v is not None}
    if "n" in opts and opts["n"] < 1:
        raise UsageError("--n must be 1 or more")
    comp = opts.get("output_compression")
    if comp is not None:
        if not 0 <= comp <= 100:
            raise UsageError(f"--compression takes 0-100, not {comp}")
        if opts.get("output_format") not in ("jpeg", "webp"):
            raise UsageError("--compression applies to jpeg and webp", hint="add --format jpeg or --format webp")
    if opts.get("output_format") == "jpeg" and opts.get("background") == "transparent":
        raise UsageError(
            "JPEG has no transparency: --background transparent needs png or webp",
            hint="use --format png or --format webp",
        )
    family = image_model_family(rm)
    if family is None:
        return opts
    table = IMAGE_MODEL_OPTIONS[family]
    takes = [FLAGS[k] for k in FLAGS if k in table or k in LOCAL_OPTIONS]
    out: dict[str, Any] = {}
    for name, value in opts.items():
        allowed = table.get(name)
        if allowed is None:
            if name in LOCAL_OPTIONS:
                continue
            raise UsageError(
                f"{family} does not take {FLAGS[name]}; it takes {', '.join(takes)}",
                hint="drop the option or pick another model with -m",
            )
        if isinstance(allowed, range):
            if value not in allowed:
                raise UsageError(
                    f"{family} takes {FLAGS[name]} {allowed.start}-{allowed.stop - 1}, not {value}"
                )
        else:
            low = str(value).strip().lower()
            if low not in allowed:
                raise UsageError(
                    f"{family} does not take {FLAGS[name]} {value}; it takes {', '.join(allowed)}"
                )
            value = low
        out[name] = value
    return out


def run_image(
    *,
    prompt: str,
    model: str | None,
    output: str | None,
    size: str | None,
    quality: str | None,
    n: int | None,
    style: str | None,
    background: str | None,
    fmt: str | None,
    compression: int | None,
    moderation: str | None,
    force: bool,
    as_json: bool,
    show: bool,
    api_base: str | None,
    key: str | None,
    over_budget: bool = False,
) -> int:
    """The ``image`` flow; returns the exit code. Raises :class:`TermchatError` for bad input,
    configuration, provider failures and unwritable outputs; nothing is written on failure."""
    from ..client.media import generate
    from ..client.routing import plan
    from ..config import load_config
    from ..core.types import ImageRequest
    from ..media import (
        IMAGE_FORMATS,
        check_directory,
        check_outputs,
        is_directory_target,
        output_paths,
        slugify,
        timestamp,
        write_outputs,
    )
    from ..render import stderr_line
    from ._media import read_text, run_media

    config = load_config()
    if output == "-":
        raise UsageError("images cannot be written to standard output", hint="give a file name with -o")
    text = read_text(prompt, int(config.get("max_input_bytes")), "description", "image")
    want = target_format(fmt, output)
    name = model or config.get("image.model")
    rm, chain = plan(name, config, api_base=api_base, api_key=key)  # with its fallback chain
    from .ask import show_keys_warnings

    show_keys_warnings()
    options = plan_options(
        rm,
        {
            "size": size.strip().lower() if size else None,
            "quality": quality,
            "n": n,
            "style": style,
            "background": background,
            "output_format": want,
            "output_compression": compression,
            "moderation": moderation,
        },
    )
    count = n or 1
    default_dir = Path(str(config.get("image.dir") or ".")).expanduser()
    slug, stamp = slugify(text, fallback="image"), timestamp()

    def paths_for(k: int, ext: str) -> list[Path]:
        return output_paths(output, k, ext, default_dir=default_dir, slug=slug, stamp=stamp)

    # Refuse clobbering and unwritable places before paying for a request.
    if output and is_directory_target(output):
        check_directory(Path(output).expanduser())
    elif output and (want or Path(output).suffix):
        check_outputs(paths_for(count, IMAGE_FORMATS[want] if want else "png"), force)
    else:
        check_directory(Path(output).parent if output else default_dir)

    req = ImageRequest(model=rm.id, prompt=text, options=options, api_base=api_base, api_key=key)
    noun = "image" if count == 1 else f"{count} images"
    from ..core.media import image_cost_usd
    from .spending import media_hold

    hold = media_hold(config, rm.id, image_cost_usd(rm, options, count), over_budget)
    images = run_media(
        config,
        lambda core, notify, advance: generate(
            core, req, rm, want=want, compression=compression,
            convert_compression="output_compression" not in options, on_notice=notify,
        ),
        chain=chain, label=f"{rm.id}: generating {noun}…",
    )
    result, datas, infos, write_fmt = images.result, images.datas, images.infos, images.format
    hold.finish(result.cost_usd if result.cost_usd is not None else hold.estimate_usd, result.model)
    paths = paths_for(len(datas), images.ext)
    write_outputs(list(zip(paths, datas, strict=True)), force)

    revised = next((im.revised_prompt for im in result.images if im.revised_prompt), None)
    if as_json:
        sizes = {f"{i.width}x{i.height}" for i in infos}
        doc: dict[str, Any] = {
            "paths": [str(p) for p in paths],
            "size": sizes.pop() if len(sizes) == 1 else None,
            "model": result.model,
            "revised_prompt": revised,
            "cost_usd": result.cost_usd,
            "format": write_fmt,
            "images": [
                {
                    "path": str(p),
                    "width": info.width,
                    "height": info.height,
                    "format": info.format,
                    "bytes": len(d),
                    "revised_prompt": im.revised_prompt,
                }
                for p, info, d, im in zip(paths, infos, datas, result.images, strict=True)
            ],
        }
        from ..render import json_dumps

        sys.stdout.write(json_dumps(doc) + "\n")  # the revised prompt is provider text
    else:
        for p in paths:
            sys.stdout.write(f"{p}\n")
        if revised and sys.stderr.isatty():
            from ..render import sanitize

            stderr_line(f"revised prompt: {sanitize(revised)}", style="dim")
    sys.stdout.flush()

    if show:
        if sys.stdout.isatty():
            from ..media import show_image

            for data in datas:
                show_image(data)
        else:
            stderr_line("termchat: --show ignored: standard output is not a terminal", style="yellow")
    return EXIT_OK
