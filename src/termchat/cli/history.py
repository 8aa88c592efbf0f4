"""``termchat history``: list, show, search and delete stored conversations."""

from __future__ import annotations

import time

import typer


def register(app: typer.Typer) -> None:
    """Add the ``history`` command group to ``app``."""
    sub = typer.Typer(help="Stored conversations (shared by `ask` and `chat`).", no_args_is_help=True)
    app.add_typer(sub, name="history")

    @sub.command("list")
    def list_(
        limit: int = typer.Option(20, "-n", "--limit", help="How many, newest first."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
    ) -> None:
        """List conversations: id, last update, messages, model, title.

        A conversation whose last question has no answer ends with ``[no reply (…)]``: the
        client was killed (SIGKILL, a crash), is still running, or the request failed before
        any text arrived (the reason is given)."""
        from ..render import json_dumps, sanitize
        from ..store import Store

        for c in Store().list_conversations(limit=limit):
            if as_json:
                typer.echo(json_dumps({
                    "id": c.id, "title": c.title, "model": c.model, "messages": c.message_count,
                    "updated_at": c.updated_at, "cost_usd": c.cost_usd, "no_reply": c.no_reply,
                }, ensure_ascii=True))
            else:
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated_at))
                note = f"  [{c.no_reply}]" if c.no_reply else ""
                line = f"{c.id}  {when}  {c.message_count:>3}  {c.model or '-'}  {c.title}{note}"
                typer.echo(sanitize(line))

    @sub.command("show")
    def show(
        cid: str = typer.Argument(..., help="Conversation id or unique prefix."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Print a conversation as Markdown (or JSON)."""
        from ..export import conversation_json, conversation_markdown
        from ..render import json_dumps, sanitize
        from ..store import Store

        store = Store()
        conv = store.get_conversation(cid)
        msgs = store.messages(conv.id)
        if as_json:
            typer.echo(json_dumps(conversation_json(conv, msgs), indent=2))
        else:
            typer.echo(sanitize(conversation_markdown(conv, msgs)))

    @sub.command("search")
    def search(query: list[str] = typer.Argument(..., help="Words to find.")) -> None:
        """Full-text search across every stored message."""
        from ..render import sanitize
        from ..store import Store

        for msg, snip in Store().search(" ".join(query)):
            typer.echo(f"{msg.conversation_id}  {msg.role:<9}  {sanitize(' '.join(snip.split()))}")

    @sub.command("delete")
    def delete(
        cid: str = typer.Argument(..., help="Conversation id or unique prefix."),
        yes: bool = typer.Option(False, "-y", "--yes", help="Do not ask for confirmation."),
    ) -> None:
        """Delete a conversation and its messages."""
        from ..core.errors import UsageError
        from ..store import Store

        store = Store()
        conv = store.get_conversation(cid)
        from ..render import sanitize

        if not yes and not typer.confirm(sanitize(f"Delete conversation {conv.id} ({conv.title!r})?")):
            raise UsageError("not deleted")
        store.delete_conversation(conv.id)
        typer.echo(f"deleted {conv.id}", err=True)
