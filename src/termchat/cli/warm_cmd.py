"""``termchat warm status|start|stop``: the background warm core (see termchat.warm)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``warm`` command group to ``app``."""
    sub = typer.Typer(
        help="The warm core: a background process that keeps the provider core loaded so `ask` "
        "answers in a fraction of a second.",
        no_args_is_help=True,
    )
    app.add_typer(sub, name="warm")

    @sub.command("status")
    def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Show this environment's warm core: pid, uptime, idle time, requests served (or why
        it is refused: an unsafe runtime directory, a socket served by another user)."""
        import json

        from .. import warm
        from ..config import load_config

        cfg = load_config()
        try:
            info = warm.control("status")
            info["running"] = True
        except warm.WarmRefused as exc:
            info = {"running": False, "refused": str(exc)}
        except warm.WarmUnavailable:
            info = {"running": False}
            pid = _starting()
            if pid is not None:
                info.update(starting=True, pid=pid)
        info["enabled"] = warm.enabled(cfg)
        if as_json:
            typer.echo(json.dumps(info))
            return
        if info.get("refused"):
            typer.echo(f"warm core: refused: {info['refused']}; `ask` runs in-process "
                       "(`termchat doctor` says how to fix it)")
            return
        if info.get("starting"):
            typer.echo(f"warm core: starting, pid {info['pid']} (loading the provider core)")
            return
        if not info["running"]:
            state = "enabled" if info["enabled"] else "disabled (TERMCHAT_NO_WARM / config)"
            typer.echo(f"warm core: not running ({state}); the next `ask` starts one")
            return
        typer.echo(
            f"warm core: running, pid {info['pid']}, up {info['uptime_s']:.0f} s, idle "
            f"{info['idle_s']:.0f} s of {info['idle_seconds']:.0f} s, {info['served']} requests, "
            f"socket {info['socket']}"
        )

    @sub.command("start")
    def start(wait: float = typer.Option(30.0, help="Seconds to wait until it answers.")) -> None:
        """Start this environment's warm core now (instead of at the next `ask`)."""
        import time

        from .. import warm
        from ..config import load_config
        from ..core.errors import ConfigError

        cfg = load_config()
        try:
            sock = warm.socket_path()
        except warm.WarmUnavailable as exc:
            raise ConfigError(f"the warm core cannot run here: {exc}",
                              hint=getattr(exc, "fix", None)) from None
        warm.start_background(float(cfg.get("warm_core.idle_seconds")), sock)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if warm.reachable(sock):
                typer.echo("warm core: running", err=True)
                return
            time.sleep(0.1)
        raise ConfigError("the warm core did not start in time", hint="see warm-core.log in the log directory")

    @sub.command("stop")
    def stop() -> None:
        """Stop this environment's warm core."""

        from .. import warm

        try:
            info = warm.control("stop")
            typer.echo(f"warm core {info.get('pid')} stopped", err=True)
        except warm.WarmRefused as exc:
            typer.echo(f"warm core: refused: {exc}", err=True)
        except warm.WarmUnavailable:
            pid = _starting()
            if pid is None:
                typer.echo("warm core: not running", err=True)
                return
            import os
            import signal

            # still importing the provider core: it serves nothing yet, so end it at once
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
            typer.echo(f"warm core {pid} stopped (it was starting)", err=True)


def _starting() -> int | None:
    """The pid of this environment's core if it is starting (see warm.starting_pid)."""
    from .. import warm

    try:
        return warm.starting_pid(warm.socket_path())
    except warm.WarmUnavailable:
        return None
