"""termchat's built-in tools, each off until enabled (``-T NAME``, config ``tools.enabled``).

Groups (``-T`` names) and their tools:

* ``files`` — ``read_file`` (a text file, UTF-8) and ``list_folder``, only inside the allowed
  roots: the working directory and the folders in config ``tools.roots`` / ``ask --root``.
  A path is resolved (``..`` and every symlink followed) before it is checked, so neither
  ``..`` nor a symlink leads out of the roots.
* ``fetch`` — ``fetch_url``: an ``http``/``https`` URL as text (httpx; at most
  :data:`FETCH_MAX_BYTES` downloaded; HTML turned into text by Python's standard
  ``html.parser``: tags dropped, scripts and styles skipped, block elements on their own lines).
* ``time`` — ``current_time``: the date and time now (local, or an IANA zone).
* ``shell`` — ``shell``: one command line run by ``/bin/sh`` in the working directory; asks
  before every call (the exact command shown), killed (its process group) on timeout or
  Ctrl+C/Esc.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .base import Tool, ToolError

#: Most bytes ``fetch_url`` downloads (the rest is not read).
FETCH_MAX_BYTES = 2 * 1024 * 1024
#: Most bytes ``read_file`` reads from a file.
READ_MAX_BYTES = 4 * 1024 * 1024
#: Most entries ``list_folder`` lists.
LIST_MAX_ENTRIES = 1000


def allowed_roots(config: Any, extra: list[str] | None = None) -> list[Path]:
    """The folders the file tools may read: the working directory, config ``tools.roots``
    and ``extra``, each resolved (``~`` expanded, symlinks followed)."""
    roots = [os.getcwd()]
    try:
        roots += list(config.get("tools.roots") or [])
    except (KeyError, AttributeError):
        pass
    roots += list(extra or [])
    return [Path(os.path.expanduser(str(r))).resolve() for r in roots]


def inside(path: str, roots: list[Path]) -> Path:
    """``path`` (relative to the working directory) resolved, when it lies in one of ``roots``.

    Raises:
        ToolError: it resolves outside every root (``..``, an absolute path, a symlink out).
    """
    if not isinstance(path, str) or not path or "\0" in path:
        raise ToolError("give a path")
    real = Path(os.path.expanduser(path)).resolve()
    for root in roots:
        if real == root or root in real.parents:
            return real
    raise ToolError(f"{path} is outside the allowed folders ({', '.join(map(str, roots))})")


def _read_file(roots: list[Path]) -> Any:
    def read_file(args: dict[str, Any]) -> str:
        p = inside(args.get("path", ""), roots)
        if not p.exists():
            raise ToolError(f"{args.get('path')}: no such file")
        if not p.is_file():
            raise ToolError(f"{args.get('path')}: not a regular file")
        with open(p, "rb") as f:
            data = f.read(READ_MAX_BYTES + 1)
        note = ""
        if len(data) > READ_MAX_BYTES:
            data = data[:READ_MAX_BYTES]
            note = f"\n[file longer than {READ_MAX_BYTES:,} bytes: the rest was not read]"
        if b"\0" in data:
            raise ToolError(f"{args.get('path')}: a binary file ({p.stat().st_size:,} bytes)")
        return data.decode("utf-8", "replace") + note

    return read_file


def _list_folder(roots: list[Path]) -> Any:
    def list_folder(args: dict[str, Any]) -> str:
        p = inside(args.get("path") or ".", roots)
        if not p.is_dir():
            raise ToolError(f"{args.get('path') or '.'}: not a folder")
        lines = []
        entries = sorted(p.iterdir(), key=lambda e: e.name)
        for e in entries[:LIST_MAX_ENTRIES]:
            try:
                if e.is_symlink():
                    lines.append(f"{e.name} -> {os.readlink(e)}")
                elif e.is_dir():
                    lines.append(f"{e.name}/")
                else:
                    lines.append(f"{e.name}  {e.stat().st_size:,} bytes")
            except OSError:
                lines.append(e.name)
        if len(entries) > LIST_MAX_ENTRIES:
            lines.append(f"[{len(entries) - LIST_MAX_ENTRIES:,} more entries not listed]")
        return "\n".join(lines) or "(empty folder)"

    return list_folder


def html_to_text(html: str) -> str:
    """Readable text of an HTML page with Python's standard ``html.parser``: tags dropped,
    ``script``/``style``/``head``-only content skipped, block elements as line breaks,
    entities decoded, runs of blank lines folded."""
    from html.parser import HTMLParser

    blocks = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
              "article", "header", "footer", "pre", "blockquote", "table", "ul", "ol", "title"}
    skip = {"script", "style", "noscript", "template", "svg"}

    class Parser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.out: list[str] = []
            self.skipping = 0

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag in skip:
                self.skipping += 1
            elif tag in blocks:
                self.out.append("\n")

        def handle_endtag(self, tag: str) -> None:
            if tag in skip:
                self.skipping = max(0, self.skipping - 1)
            elif tag in blocks:
                self.out.append("\n")

        def handle_data(self, data: str) -> None:
            if not self.skipping:
                self.out.append(data)

    parser = Parser()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.out).splitlines()]
    text, blank = [], False
    for line in lines:
        if line or not blank:
            text.append(line)
        blank = not line
    return "\n".join(text).strip()


async def fetch_url(args: dict[str, Any]) -> str:
    """The ``fetch_url`` tool: GET ``args["url"]`` and return its text (see module doc)."""
    import httpx

    url = args.get("url")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise ToolError("give an http:// or https:// URL")
    async with httpx.AsyncClient(follow_redirects=True, max_redirects=5, timeout=20.0,
                                 headers={"User-Agent": "termchat"}) as client:
        try:
            async with client.stream("GET", url) as resp:
                chunks, size, cut = [], 0, False
                async for chunk in resp.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > FETCH_MAX_BYTES:
                        cut = True
                        break
                body = b"".join(chunks)[:FETCH_MAX_BYTES]
        except httpx.HTTPError as exc:
            raise ToolError(f"could not fetch {url}: {type(exc).__name__}: {exc}") from None
    kind = resp.headers.get("content-type", "")
    text = body.decode(resp.encoding or "utf-8", "replace")
    if "html" in kind or text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        text = html_to_text(text)
    elif b"\0" in body[:4096]:
        raise ToolError(f"{url} is not text ({kind or 'unknown type'}, {len(body):,} bytes)")
    head = f"HTTP {resp.status_code} {kind}\n\n" if resp.status_code != 200 else ""
    tail = f"\n[download stopped at {FETCH_MAX_BYTES:,} bytes]" if cut else ""
    return head + text + tail


def current_time(args: dict[str, Any]) -> str:
    """The ``current_time`` tool: now, ISO 8601 with the weekday, in the local zone or
    ``args["timezone"]`` (IANA name)."""
    from datetime import datetime

    zone = args.get("timezone")
    if zone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            now = datetime.now(ZoneInfo(str(zone)))
        except (ZoneInfoNotFoundError, ValueError):
            raise ToolError(f"unknown time zone {zone!r} (use an IANA name like Europe/Paris)") from None
    else:
        now = datetime.now().astimezone()
    return f"{now.isoformat(timespec='seconds')} ({now.strftime('%A')}, {now.tzname()})"


async def shell(args: dict[str, Any]) -> str:
    """The ``shell`` tool: run ``args["command"]`` with ``/bin/sh -c`` in the working
    directory, stdin closed, stdout and stderr together; the exit status and the output. The
    process group is killed when the call is cancelled or times out."""
    import asyncio
    import signal

    cmd = args.get("command")
    if not isinstance(cmd, str) or not cmd.strip():
        raise ToolError("give a command")
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )
    try:
        out, _ = await proc.communicate()
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        raise
    text = out.decode("utf-8", "replace")
    return f"exit status {proc.returncode}\n{text}"


def builtin_tools(config: Any, roots: list[str] | None = None) -> dict[str, list[Tool]]:
    """The built-in tools by group (``files``, ``fetch``, ``time``, ``shell``); ``roots``
    adds folders for the file tools (see :func:`allowed_roots`)."""
    allowed = allowed_roots(config, roots)
    path_arg = {"type": "object", "properties": {"path": {"type": "string", "description":
                "a path relative to the working directory"}}, "required": ["path"]}
    return {
        "files": [
            Tool("read_file", "Read a UTF-8 text file inside the user's working directory "
                 "(or folders the user allowed).", path_arg, _read_file(allowed), group="files"),
            Tool("list_folder", "List the entries of a folder inside the user's working "
                 "directory (or folders the user allowed).",
                 {"type": "object", "properties": {"path": {"type": "string", "description":
                  "a folder relative to the working directory; default ."}}},
                 _list_folder(allowed), group="files"),
        ],
        "fetch": [Tool("fetch_url", "Fetch an http(s) URL and return its content as text "
                       "(HTML turned into plain text).",
                       {"type": "object", "properties": {"url": {"type": "string"}},
                        "required": ["url"]}, fetch_url, group="fetch")],
        "time": [Tool("current_time", "The current date and time (local time zone, or the "
                      "IANA time zone given).",
                      {"type": "object", "properties": {"timezone": {"type": "string",
                       "description": "optional IANA zone, e.g. Europe/Paris"}}},
                      current_time, group="time")],
        "shell": [Tool("shell", "Run one shell command (/bin/sh -c) in the user's working "
                       "directory and return its exit status and output. The user approves "
                       "every command.",
                       {"type": "object", "properties": {"command": {"type": "string"}},
                        "required": ["command"]}, shell, group="shell", always_ask=True,
                       describe=lambda a: str(a.get("command", "")))],
    }
