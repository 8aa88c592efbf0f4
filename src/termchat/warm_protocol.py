"""The warm core's wire protocol, shared by its client (:mod:`termchat.warm`) and its server
(:mod:`termchat.warm_server`): the protocol number and limits, the errors both ends raise, the
private-directory and peer-uid checks, and the request (de)serialisation. Neither end imports
the other for these (no import cycle).
"""

from __future__ import annotations

import os
import socket
import stat
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .core.errors import UsageError

PROTOCOL = 2
"""2 (#13): chat requests may carry ``tools``/``max_rounds`` and tool messages; the core may send
``{"awaiting": "tool_results"}`` after a round's ToolCall events and then reads one
``{"tool_results": [...]}`` line from the client (:func:`tool_results_from`). Requests without
tools are exchanged as in 1."""
START_DELAY = 1.0  # seconds a new core waits before importing the provider core
MiB = 1024 * 1024
MAX_LINE_BYTES = 64 * MiB
"""Largest request line, in bytes (the server answers a longer one with a
:class:`ProtocolError`). Room for termchat's own ``max_input_bytes`` (8 MiB) of text even
in the worst JSON escaping (6 bytes per input byte: 48 MiB) plus 16 MiB of margin; a larger
request (a raised ``max_input_bytes``, big images in a long chat) is not sent: it runs
in-process."""
FIRST_LINE_TIMEOUT = 60.0  # seconds the server waits for a connection's request line


class WarmUnavailable(Exception):
    """The warm core cannot serve this request; run it in-process."""


class WarmRefused(WarmUnavailable):
    """The warm core was refused for safety: an unsafe runtime directory, or a socket served by
    another uid. Like :class:`WarmUnavailable` the request runs in-process, but the user is told
    why (:func:`notice`). ``fix`` is a one-line remedy for ``termchat doctor``, or ``None``."""

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.fix = fix


class ProtocolError(UsageError):
    """A warm-core protocol message that is malformed: too long, not UTF-8, not JSON, or a field
    of the wrong type (sent as ``{"error": {"type": "protocol", ...}}``; exit code 2)."""

    kind = "protocol"


class VersionMismatch(ProtocolError):
    """A request from another termchat version or protocol (``{"error": {"type": "version"}}``):
    that client runs its request in-process."""

    kind = "version"


def check_private_dir(d: Path) -> None:
    """Check that ``d`` is safe for the warm core's socket; never changes it.

    Safe means: a real directory (not a symlink), owned by this user, with no permission bits
    for group or others (``mode & 0o077 == 0``), in a parent directory that only this user or
    root owns and that others cannot write to (unless it is sticky, like ``/tmp``).

    Raises:
        WarmRefused: it is not safe (the message says why, ``fix`` says what to do).
        OSError: it cannot be examined (e.g. it does not exist).
    """
    st = os.lstat(d)
    if stat.S_ISLNK(st.st_mode):
        raise WarmRefused(f"the runtime directory {d} is a symlink", f"remove the symlink: rm '{d}'")
    if not stat.S_ISDIR(st.st_mode):
        raise WarmRefused(f"the runtime directory {d} is not a directory", f"remove it: rm '{d}'")
    if st.st_uid != os.getuid():
        raise WarmRefused(f"the runtime directory {d} belongs to uid {st.st_uid}, not to you "
                          f"(uid {os.getuid()})", f"remove it (as its owner or root): rm -r '{d}'")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise WarmRefused(f"the runtime directory {d} is open to other users (mode {mode:04o})",
                          f"chmod 700 '{d}'")
    parent = d.parent
    pst = os.stat(parent)
    if pst.st_uid not in (os.getuid(), 0):
        raise WarmRefused(f"the runtime directory {d} is inside {parent}, which belongs to uid "
                          f"{pst.st_uid}", "set XDG_RUNTIME_DIR (or TERMCHAT_HOME) to a "
                          "directory of your own")
    if pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX:
        raise WarmRefused(f"the runtime directory {d} is inside {parent}, which others may write "
                          f"to (mode {stat.S_IMODE(pst.st_mode):04o})", f"chmod go-w '{parent}'")


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket, from
    ``SO_PEERCRED`` (``struct ucred``: pid, uid, gid as three C ints; for a server, the uid it
    had when it called ``listen()``). Raises ``OSError``."""
    import struct

    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def _request_dict(req: Any) -> dict[str, Any]:
    d = asdict(req)
    for m in d["messages"]:
        for a in m.get("attachments", []):
            import base64

            a["data"] = base64.b64encode(a["data"]).decode("ascii")
    return d


def _request_from(d: dict[str, Any]) -> Any:
    import base64

    from .core.types import Attachment, ChatRequest, Message, ToolCall

    msgs = [
        Message(
            m["role"],
            m["content"],
            [Attachment(a["mime"], base64.b64decode(a["data"], validate=True), a.get("name", ""))
             for a in m.get("attachments", [])],
            [ToolCall(**c) for c in m.get("tool_calls", [])],
            m.get("tool_call_id"),
        )
        for m in d.pop("messages")
    ]
    return ChatRequest(messages=msgs, **d)


def tool_results_line(results: list[Any]) -> dict[str, Any]:
    """The client's answer to ``{"awaiting": "tool_results"}``: ``{"tool_results": [ToolResult
    fields…]}``."""
    return {"tool_results": [asdict(r) for r in results]}


def tool_results_from(line: bytes, calls: list[Any]) -> list[Any]:
    """The :class:`~termchat.core.types.ToolResult` list of a client's ``tool_results`` line,
    checked: UTF-8 JSON, at most :data:`MAX_LINE_BYTES`, an object with ``tool_results`` a list
    of objects with ``id`` and ``content`` strings (``name`` string, ``ok`` bool,
    ``duration_s`` number, ``round`` int optional), one for each of ``calls`` by id.

    Raises:
        ProtocolError: anything else (the request ends with that error).
    """
    import json

    from .core.types import ToolResult

    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"tool results line longer than {MAX_LINE_BYTES} bytes")
    try:
        msg = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("tool results are not UTF-8 JSON") from None
    items = msg.get("tool_results") if isinstance(msg, dict) else None
    if not isinstance(items, list):
        raise ProtocolError("expected a {\"tool_results\": [...]} line")
    kinds = {"id": str, "name": str, "content": str, "ok": bool, "duration_s": (int, float),
             "round": int}
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not {"id", "content"} <= item.keys():
            raise ProtocolError(f"tool_results[{i}] needs id and content")
        for k, v in item.items():
            if k not in kinds or not isinstance(v, kinds[k]) or (k != "ok" and isinstance(v, bool)):
                raise ProtocolError(f"tool_results[{i}].{k} is not a field of the protocol "
                                    "or has the wrong type")
        out.append(ToolResult(**{"name": "", **item}))
    if sorted(r.id for r in out) != sorted(c.id for c in calls):
        raise ProtocolError("tool_results do not answer the calls the core sent")
    return out


