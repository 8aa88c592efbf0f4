"""``termchat mcp list|tools NAME``: the MCP servers the config declares and their tools."""

from __future__ import annotations

import typer

from .complete import complete_mcp_server


def register(app: typer.Typer) -> None:
    """Add the ``mcp`` command group to ``app``."""
    sub = typer.Typer(
        help="MCP servers ([mcp.servers.NAME] in the config): list them and their tools.",
        no_args_is_help=True,
    )
    app.add_typer(sub, name="mcp")

    @sub.command("list")
    def list_(
        check: bool = typer.Option(False, "--check", help="Start each server to see whether it "
                                   "answers, and count its tools (then stop it)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show the configured MCP servers: name, transport (stdio or http) and command or URL;
        with --check, whether each starts and how many tools it offers (exit 1 when one does not)."""
        from ..config import load_config
        from ..core.errors import TermchatError
        from ..mcp_config import servers
        from ..render import json_dumps, sanitize

        cfg = load_config()
        declared = servers(cfg.data)
        rows = [{"name": s.name, "transport": s.transport, "target": s.target()}
                for s in declared.values()]
        if check and declared:
            from ..client.mcp_hub import McpHub

            hub = McpHub(declared)
            try:
                for row in rows:
                    try:
                        row["tools"] = len(hub.tools(row["name"]))
                        row["status"] = "ok"
                        row["start_s"] = round(hub.start_seconds(row["name"]) or 0.0, 3)
                    except TermchatError as exc:
                        row["status"] = "error"
                        row["error"] = exc.message
            finally:
                hub.close()
        if as_json:
            typer.echo(json_dumps(rows, indent=2))
            return
        if not rows:
            typer.echo("no MCP servers configured (add [mcp.servers.NAME] to "
                       f"{cfg.path}; README: MCP servers)", err=True)
            return
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            line = f"{r['name']:<{width}}  {r['transport']:<5}  {sanitize(r['target'])}"
            if r.get("status") == "ok":
                line += f"  ok, {r['tools']} tools, started in {r['start_s']:.2f} s"
            elif r.get("status") == "error":
                line += f"  error: {sanitize(r['error'])}"
            typer.echo(line)
        if any(r.get("status") == "error" for r in rows):
            raise typer.Exit(1)

    @sub.command("tools")
    def tools(
        name: str = typer.Argument(..., help="The server's name in the config.",
                                   autocompletion=complete_mcp_server),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (name, description, "
                                     "input_schema for each tool)."),
    ) -> None:
        """Start server NAME, list its tools (as termchat names them: NAME.tool) with their
        descriptions, and stop it."""
        from ..client.mcp_hub import McpHub
        from ..config import load_config
        from ..mcp_config import servers
        from ..render import json_dumps, sanitize

        hub = McpHub(servers(load_config().data))
        try:
            found = hub.tools(name)
        finally:
            hub.close()
        if as_json:
            typer.echo(json_dumps([{"name": t.full_name, "description": t.description,
                                    "input_schema": t.input_schema} for t in found], indent=2))
            return
        if not found:
            typer.echo(f"MCP server {name} offers no tools", err=True)
            return
        for t in found:
            desc = " ".join(t.description.split())
            typer.echo(sanitize(f"{t.full_name}  {desc}" if desc else t.full_name))
