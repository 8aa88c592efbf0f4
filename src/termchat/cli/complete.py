"""Shell-completion callables, for Typer's ``autocompletion=`` on options and arguments.

Wire one in with ``typer.Option(..., autocompletion=complete_model)``. Each takes what the user
has typed so far (``incomplete``) and returns candidates: plain strings, or ``(value, description)``
tuples — zsh and fish show the description, bash shows only values. Typer keeps the candidates
that start with ``incomplete``.

They run at every TAB, so they are fast and offline: no network, no LiteLLM, no Textual. Model
names come from the built-in and user aliases (the config file read as plain TOML), the cached
list of live local models (``local_models.json``, written by ``termchat models`` and ``doctor``),
endpoint models listed in the config, and a compact cache of catalog ids per mode
(``catalog_ids.json``, rebuilt only when LiteLLM's JSON changes); see
:mod:`termchat.core.listing`. Conversation ids come from the history store, newest first, with
titles as descriptions. A callable never raises: on any error it offers nothing.

In a completion run (``_TERMCHAT_COMPLETE`` set), importing this module also adjusts two things
in Typer (0.29) that have nothing to do with completing and cost more than all the rest of a TAB;
both are skipped silently if Typer's internals change (completion then still works, slower):

* :func:`install_fast_resilient_parsing`: while Click only walks the command line to find what
  to complete (``resilient_parsing``), Typer still coerces every parameter value through
  Pydantic TypeAdapters — importing Pydantic, about 0.1 s — and runs parameter callbacks. Click's
  own contract for that walk is "it doesn't trigger input prompts or callbacks", and it discards
  the values; so in that mode values are passed through unconverted.
* :func:`install_plain_help`: zsh and fish show descriptions, which Typer renders through Rich
  (importing it, about 0.15 s); termchat's descriptions are plain text, so a plain-text
  rendering is used instead.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..core.mediaspec import OPENAI_VOICES, image_sizes

#: Voices of OpenAI-style text-to-speech (``termchat speak --voice``): the core's one list, the
#: one ``speak`` checks a voice against (:mod:`termchat.core.mediaspec`, data only).
VOICES = OPENAI_VOICES
#: Audio formats of ``termchat speak --format``.
AUDIO_FORMATS = ("mp3", "wav", "opus", "flac", "aac", "pcm")
#: Image sizes of ``termchat image --size``: every size some image model family takes.
IMAGE_SIZES = image_sizes()

#: How many recent conversations ``--cid`` completion offers.
CID_LIMIT = 200

Candidate = str | tuple[str, str]


def _config_data() -> dict[str, Any]:
    """The config file as plain TOML (no validation), ``{}`` on any problem."""
    import tomllib

    from .. import paths

    try:
        data = tomllib.loads(paths.config_file().read_text("utf-8"))
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _aliases(data: dict[str, Any]) -> dict[str, str]:
    from ..core.catalog import BUILTIN_ALIASES

    merged = dict(BUILTIN_ALIASES)
    merged.update({k: v for k, v in _table(data, "aliases").items() if isinstance(v, str)})
    return merged


def _expand(name: str, aliases: dict[str, str]) -> str:
    seen: set[str] = set()
    while name in aliases and name not in seen:
        seen.add(name)
        name = aliases[name]
    return name


def _help(text: str) -> str:
    """A one-line description, safe for Typer's Rich rendering of help text."""
    return " ".join(text.split()).replace("[", "\\[")[:80]


def _model_candidates(incomplete: str, mode: str) -> list[Candidate]:
    """Aliases, live local models, configured endpoint models and catalog ids of ``mode``
    (``chat``, ``image_generation``, ``audio_speech`` or ``audio_transcription``) that start
    with ``incomplete``."""
    from ..core.modelcache import catalog_ids, gateway_modes, read_local_cache

    data = _config_data()
    aliases = _aliases(data)
    ids = catalog_ids()
    wanted = ids.get(mode, [])
    # Chat is "anything that is not an image or speech model" (aliases to local or unlisted
    # models are chat); the other modes need their target in the catalog's list.
    wanted_set = set(wanted) if mode != "chat" else set()
    others = {i for m, lst in ids.items() if m != mode for i in lst} if mode == "chat" else set()

    out: list[Candidate] = []
    seen: set[str] = set()

    def add(value: str, help_: str = "") -> None:
        if value in seen or not value.startswith(incomplete):
            return
        seen.add(value)
        out.append((value, _help(help_)) if help_ else value)

    for name in sorted(aliases):
        target = _expand(name, aliases)
        fits = target in wanted_set if mode != "chat" else target not in others
        if fits:
            add(name, f"alias of {target}")
    live_modes = gateway_modes()  # a gateway's image and speech models go to image/speak
    for m in read_local_cache():
        live_mode = live_modes.get(m["id"], "chat")
        if live_mode == mode or (mode == "chat" and live_mode in ("completion", "responses")):
            add(m["id"], f"live, {m['source']}")
    if mode == "chat":
        for ep_name, ep in _table(data, "endpoints").items():
            models = ep.get("models") if isinstance(ep, dict) else None
            for name in models if isinstance(models, list) else []:
                add(f"{ep_name}/{name}", f"endpoint {ep_name}")
        for name in _table(data, "local_models"):
            add(f"local/{name}", "local model")
    for mid in wanted:
        add(mid)
    return out


def _safe(fn: Any, *args: Any) -> list[Candidate]:
    try:
        return fn(*args)
    except Exception:
        if os.environ.get("TERMCHAT_DEBUG"):
            raise
        return []


def complete_model(incomplete: str) -> list[Candidate]:
    """Chat models for ``-m``: aliases (described by their target), cached live local models,
    configured endpoint models, then the catalog's chat ids."""
    return _safe(_model_candidates, incomplete, "chat")


def complete_image_model(incomplete: str) -> list[Candidate]:
    """Image-generation models for ``termchat image -m``: aliases to them, then catalog ids."""
    return _safe(_model_candidates, incomplete, "image_generation")


def complete_speech_model(incomplete: str) -> list[Candidate]:
    """Text-to-speech models for ``termchat speak -m``: aliases to them, then catalog ids."""
    return _safe(_model_candidates, incomplete, "audio_speech")


#: Output formats of ``termchat transcribe --format``.
TRANSCRIPT_FORMATS = ("text", "json", "srt", "vtt")
#: The embedded speech-to-text model (``core.stt_local.EMBEDDED_STT_MODEL``; repeated here so a
#: TAB does not import the core).
EMBEDDED_STT = "local/whisper-tiny.en"


def _transcription_candidates(incomplete: str) -> list[Candidate]:
    out = _model_candidates(incomplete, "audio_transcription")
    if EMBEDDED_STT.startswith(incomplete):
        out.insert(0, (EMBEDDED_STT, "embedded, offline"))
    return out


def complete_transcription_model(incomplete: str) -> list[Candidate]:
    """Speech-to-text models for ``termchat transcribe -m`` and ``listen -m``: the embedded
    model, aliases to transcription models, then the catalog's transcription ids."""
    return _safe(_transcription_candidates, incomplete)


def complete_transcript_format(incomplete: str) -> list[str]:
    """Formats for ``termchat transcribe --format`` (:data:`TRANSCRIPT_FORMATS`)."""
    return [f for f in TRANSCRIPT_FORMATS if f.startswith(incomplete)]


def complete_any_model(incomplete: str) -> list[Candidate]:
    """Models of every completed mode (chat first), for ``models info`` and ``aliases set``."""
    out = complete_model(incomplete)
    seen = {c if isinstance(c, str) else c[0] for c in out}
    for extra in (complete_image_model(incomplete), complete_speech_model(incomplete),
                  complete_transcription_model(incomplete)):
        for c in extra:
            value = c if isinstance(c, str) else c[0]
            if value not in seen:
                seen.add(value)
                out.append(c)
    return out


def complete_voice(incomplete: str) -> list[str]:
    """Voices for ``termchat speak --voice`` (:data:`VOICES`)."""
    return [v for v in VOICES if v.startswith(incomplete)]


def complete_audio_format(incomplete: str) -> list[str]:
    """Formats for ``termchat speak --format`` (:data:`AUDIO_FORMATS`)."""
    return [f for f in AUDIO_FORMATS if f.startswith(incomplete)]


def complete_image_size(incomplete: str) -> list[str]:
    """Sizes for ``termchat image --size`` (:data:`IMAGE_SIZES`, width x height in pixels)."""
    return [s for s in IMAGE_SIZES if s.startswith(incomplete)]


def _cids(incomplete: str) -> list[Candidate]:
    from .. import paths

    if not paths.store_file().exists():  # never create a store just to complete
        return []
    from ..store import Store

    store = Store()
    try:
        convs = store.list_conversations(limit=CID_LIMIT)
    finally:
        store.close()
    out: list[Candidate] = []
    for c in convs:
        if c.id.startswith(incomplete):
            out.append((c.id, _help(c.title or c.model or "")) if (c.title or c.model) else c.id)
    return out


def complete_cid(incomplete: str) -> list[Candidate]:
    """Conversation ids for ``--cid`` (the :data:`CID_LIMIT` most recently updated), each with
    its title as description; nothing when there is no history store yet."""
    return _safe(_cids, incomplete)


def complete_user_alias(incomplete: str) -> list[Candidate]:
    """The user's own aliases (``[aliases]`` in the config), for ``aliases remove``."""

    def run(incomplete: str) -> list[Candidate]:
        user = _table(_config_data(), "aliases")
        return [(k, _help(f"alias of {v}")) for k, v in sorted(user.items())
                if isinstance(v, str) and k.startswith(incomplete)]

    return _safe(run, incomplete)


def complete_ollama_model(incomplete: str) -> list[Candidate]:
    """Ollama models from the cached live list, for ``models rm``."""

    def run(incomplete: str) -> list[Candidate]:
        from ..core.modelcache import read_local_cache

        return [m["id"] for m in read_local_cache()
                if m["source"] == "ollama" and m["id"].startswith(incomplete)]

    return _safe(run, incomplete)


def complete_provider(incomplete: str) -> list[Candidate]:
    """Provider names for ``models --provider``: those of the cached catalog ids, the ones
    termchat knows keys for, ``local``, ``ollama`` and the configured endpoints."""

    def run(incomplete: str) -> list[Candidate]:
        from ..core.catalog import BUILTIN_ENDPOINTS, PROVIDER_KEY_ENV
        from ..core.modelcache import catalog_ids

        names = set(PROVIDER_KEY_ENV) | set(BUILTIN_ENDPOINTS) | {"local", "ollama", "ollama_chat"}
        names |= set(_table(_config_data(), "endpoints"))
        for ids in catalog_ids().values():
            names.update(i.split("/", 1)[0] for i in ids)
        return sorted(n for n in names if n.startswith(incomplete))

    return _safe(run, incomplete)


def complete_mcp_server(incomplete: str) -> list[Candidate]:
    """MCP servers declared in the config (``[mcp.servers.NAME]``), each described by its
    command or URL, for ``termchat mcp tools``; no server is started."""

    def run(incomplete: str) -> list[Candidate]:
        servers = _table(_table(_config_data(), "mcp"), "servers")
        out: list[Candidate] = []
        for name, srv in servers.items():
            if not name.startswith(incomplete) or not isinstance(srv, dict):
                continue
            target = srv.get("url") or srv.get("command")
            out.append((name, _help(str(target))) if isinstance(target, str) else name)
        return out

    return _safe(run, incomplete)


#: The built-in tool groups of ``ask -T`` (termchat.client.tools.builtins), described.
BUILTIN_TOOLS = {"files": "read a file / list a folder (working directory, --root)",
                 "fetch": "fetch a URL as text", "time": "the current date and time",
                 "shell": "run a shell command (asks every time)"}


def complete_tool(incomplete: str) -> list[Candidate]:
    """``ask -T``: the built-in tools, then the MCP servers of the config (no server is
    started, so their single tools are not listed)."""

    def run(incomplete: str) -> list[Candidate]:
        out: list[Candidate] = [(k, _help(v)) for k, v in BUILTIN_TOOLS.items()
                                if k.startswith(incomplete)]
        return out + complete_mcp_server(incomplete)

    return _safe(run, incomplete)


# Rich markup tags ("[bold]", "[/]", "[link=…]"), not escaped ones ("\\[aliases]").
_MARKUP = re.compile(r"(?<!\\)\[/?(?:[a-zA-Z#@][^\[\]]*)?\]")


def plain_help(text: str) -> str:
    """``text`` without Rich markup tags, escaped brackets unescaped: what Typer's Rich render of
    a completion description gives for the plain descriptions termchat uses."""
    return _MARKUP.sub("", text).replace("\\[", "[")


def install_plain_help() -> bool:
    """Make Typer describe zsh/fish candidates with :func:`plain_help` instead of importing Rich.
    Returns whether Typer's hook was found (if Typer changes, nothing is patched and completion
    still works, only slower)."""
    try:
        from typer import _completion_classes as cc
    except ImportError:
        return False
    if not callable(getattr(cc, "_sanitize_help_text", None)):
        return False
    cc._sanitize_help_text = plain_help
    return True


def install_fast_resilient_parsing() -> bool:
    """Make Typer skip value coercion and callbacks while Click resolves the command line for
    completion (``ctx.resilient_parsing``); outside that mode nothing changes. Returns whether
    Typer's hook was found."""
    try:
        from typer.core import _TyperParameter
    except ImportError:
        return False
    original = _TyperParameter.__dict__.get("process_value")
    if original is None or getattr(original, "_termchat_fast", False):
        return original is not None

    def process_value(self: Any, ctx: Any, value: Any) -> Any:
        if getattr(ctx, "resilient_parsing", False):
            return value
        return original(self, ctx, value)

    process_value._termchat_fast = True  # type: ignore[attr-defined]
    _TyperParameter.process_value = process_value
    return True


if os.environ.get("_TERMCHAT_COMPLETE"):
    install_fast_resilient_parsing()
    install_plain_help()


def complete_preset(incomplete: str) -> list[Candidate]:
    """Preset names (``[presets.NAME]`` in the config), each with its model as description, for
    ``-p`` and ``presets show|export``."""

    def run(incomplete: str) -> list[Candidate]:
        presets = _table(_config_data(), "presets")
        return [(k, _help(str(v.get("model") or "preset"))) for k, v in presets.items()
                if isinstance(v, dict) and k.startswith(incomplete)]

    return _safe(run, incomplete)
