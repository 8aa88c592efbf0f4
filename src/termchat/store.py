"""Conversations and messages in SQLite, shared by ``ask`` and ``chat``.

The database is ``paths.store_file()``. It runs in WAL mode with a 10 s busy timeout so that
parallel ``ask`` processes and a running ``chat`` never fail with "database is locked". The schema
is migrated on ``PRAGMA user_version`` (see :data:`MIGRATIONS`); message text is indexed with
FTS5 for full-text search.

Timestamps are UNIX seconds (float, UTC). Costs are USD. Token counts are the provider's.
Message content is stored verbatim (control sequences included: they are neutralised only when
shown). Keys are never stored.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .core.errors import ConfigError, UsageError
from .store_schema import MIGRATIONS


def new_id() -> str:
    """A conversation id: 8 hex digits of seconds since the epoch and 6 random hex digits;
    sortable by creation time, typed by prefix (``--cid 6743ab``)."""
    return f"{int(time.time()):08x}{secrets.token_hex(3)}"


@dataclass
class StoredMessage:
    """A message row. ``interrupted`` marks a reply cut short (Ctrl+C, Esc, dropped stream)."""

    id: int
    conversation_id: str
    role: str
    content: str
    model: str | None = None
    created_at: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    duration_s: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None
    interrupted: bool = False
    error: str | None = None
    reasoning: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    #: replayed from the response cache (cost 0, no request made)
    cached: bool = False
    #: the tool rounds of an assistant reply, or ``None``: ``[{"at": offset in content where
    #: the round's calls were made, "calls": [{"id", "name", "arguments"}], "results": [{"id",
    #: "name", "content", "ok", "duration_s"}]}]`` (:class:`termchat.turn.Outcome`)
    tool_rounds: list[dict[str, Any]] | None = None


#: The ``error`` of a user message whose reply is still being fetched: ``ask`` stores the
#: question with ``awaiting reply: pid N`` and clears it when the reply is stored (or replaces it
#: with ``no reply: WHY`` when none came). A question still marked awaiting whose process is
#: gone lost its reply with its client (SIGKILL, a crash, power loss).
AWAITING_PREFIX = "awaiting reply: pid "
NO_REPLY_PREFIX = "no reply: "


def awaiting_marker() -> str:
    """The ``error`` to store a question with while this process fetches its reply."""
    return f"{AWAITING_PREFIX}{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def no_reply_note(role: str | None, error: str | None) -> str | None:
    """What the history shows for a conversation whose last message is ``role`` with
    ``error``: ``None`` when the last message is a reply; for a question without an answer,
    ``"no reply yet (pid N is still running)"``, ``"no reply (the client was killed)"``,
    ``"no reply (WHY)"`` (a failure before any text, e.g. the provider's error), or
    ``"no reply"`` (an older row that says nothing more)."""
    if role != "user":
        return None
    err = error or ""
    if err.startswith(AWAITING_PREFIX):
        try:
            pid = int(err[len(AWAITING_PREFIX):].split()[0])
        except (ValueError, IndexError):
            pid = 0
        if pid and pid != os.getpid() and _pid_alive(pid):
            return f"no reply yet (pid {pid} is still running)"
        return "no reply (the client was killed)"
    if err.startswith(NO_REPLY_PREFIX):
        return f"no reply ({err[len(NO_REPLY_PREFIX):]})"
    return "no reply"


@dataclass
class Conversation:
    """A conversation row; ``options`` are model options (temperature, …) kept with it.
    ``last_role``/``last_error`` describe its newest message (see :func:`no_reply_note`)."""

    id: str
    title: str
    model: str | None
    system: str | None
    options: dict[str, Any]
    created_at: float
    updated_at: float
    message_count: int = 0
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_role: str | None = None
    last_error: str | None = None

    @property
    def no_reply(self) -> str | None:
        """:func:`no_reply_note` of the newest message: ``None`` unless the conversation ends
        with a question that has no answer."""
        return no_reply_note(self.last_role, self.last_error)


class Store:
    """Access to the SQLite store. One instance per thread (sqlite3 connections are not shared).

    Raises :class:`ConfigError` (exit 3) when the file cannot be opened or is not a database.
    """

    def __init__(self, path: Path | None = None):
        self.path = path or paths.store_file()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA busy_timeout = 10000")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"cannot open the history store {self.path}: {exc}",
                hint="move the file away to start a fresh history",
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot create the history store {self.path}: {exc.strerror}") from None

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version >= len(MIGRATIONS):
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]  # re-read under lock
            for i in range(version, len(MIGRATIONS)):
                for stmt in _split_sql(MIGRATIONS[i]):
                    self.db.execute(stmt)
                self.db.execute(f"PRAGMA user_version = {i + 1}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # -- conversations ------------------------------------------------------------------------

    def create_conversation(
        self,
        model: str | None,
        system: str | None = None,
        title: str = "",
        options: dict[str, Any] | None = None,
    ) -> Conversation:
        """Create and return a new, empty conversation."""
        now = time.time()
        cid = new_id()
        self.db.execute(
            "INSERT INTO conversations (id, title, model, system, options, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cid, title, model, system, json.dumps(options or {}), now, now),
        )
        return Conversation(cid, title, model, system, options or {}, now, now)

    def _row_to_conv(self, row: sqlite3.Row) -> Conversation:
        keys = row.keys()
        return Conversation(
            id=row["id"],
            title=row["title"],
            model=row["model"],
            system=row["system"],
            options=json.loads(row["options"] or "{}"),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            message_count=row["n"] if "n" in keys else 0,
            cost_usd=(row["cost"] or 0.0) if "cost" in keys else 0.0,
            prompt_tokens=(row["pt"] or 0) if "pt" in keys else 0,
            completion_tokens=(row["ct"] or 0) if "ct" in keys else 0,
            last_role=row["last_role"] if "last_role" in keys else None,
            last_error=row["last_error"] if "last_error" in keys else None,
        )

    _CONV_SELECT = (
        "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n,"
        " (SELECT sum(cost_usd) FROM messages m WHERE m.conversation_id = c.id) AS cost,"
        " (SELECT sum(prompt_tokens) FROM messages m WHERE m.conversation_id = c.id) AS pt,"
        " (SELECT sum(completion_tokens) FROM messages m WHERE m.conversation_id = c.id) AS ct,"
        " (SELECT role FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1)"
        " AS last_role,"
        " (SELECT error FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1)"
        " AS last_error"
        " FROM conversations c"
    )

    def get_conversation(self, cid: str) -> Conversation:
        """The conversation whose id is ``cid`` or starts with it (a unique prefix).

        Raises:
            UsageError: no such conversation, or the prefix is ambiguous (exit 2).
        """
        rows = self.db.execute(
            self._CONV_SELECT + " WHERE c.id = ? OR c.id LIKE ? ORDER BY c.id = ? DESC LIMIT 3",
            (cid, _like_prefix(cid), cid),
        ).fetchall()
        if not rows:
            raise UsageError(f"no conversation {cid!r}", hint="`termchat history` lists them")
        if rows[0]["id"] != cid and len(rows) > 1:
            raise UsageError(f"conversation id {cid!r} is ambiguous", hint="type more of it")
        return self._row_to_conv(rows[0])

    def latest_conversation(self) -> Conversation | None:
        """The most recently updated conversation, or ``None`` when the store is empty."""
        row = self.db.execute(self._CONV_SELECT + " ORDER BY c.updated_at DESC, c.id DESC LIMIT 1").fetchone()
        return self._row_to_conv(row) if row else None

    def list_conversations(self, limit: int = 100, offset: int = 0) -> list[Conversation]:
        """Conversations, most recently updated first."""
        rows = self.db.execute(
            self._CONV_SELECT + " ORDER BY c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        return [self._row_to_conv(r) for r in rows]

    def update_conversation(self, cid: str, **fields: Any) -> None:
        """Set ``title``, ``model``, ``system`` or ``options`` of a conversation."""
        allowed = {"title", "model", "system", "options"}
        sets, vals = [], []
        for k, v in fields.items():
            if k not in allowed:
                raise ValueError(f"cannot update {k}")
            sets.append(f"{k} = ?")
            vals.append(json.dumps(v) if k == "options" else v)
        if not sets:
            return
        sets.append("updated_at = ?")
        vals.append(time.time())
        self.db.execute(f"UPDATE conversations SET {', '.join(sets)} WHERE id = ?", (*vals, cid))

    def delete_conversation(self, cid: str) -> bool:
        """Delete a conversation and its messages; returns whether it existed."""
        cur = self.db.execute("DELETE FROM conversations WHERE id = ?", (cid,))
        return cur.rowcount > 0

    # -- messages -----------------------------------------------------------------------------

    def add_message(self, cid: str, role: str, content: str, **fields: Any) -> int:
        """Append a message to a conversation and touch its ``updated_at``; returns the id.

        ``fields``: any :class:`StoredMessage` column (model, prompt_tokens, completion_tokens,
        cost_usd, duration_s, ttft_s, finish_reason, interrupted, error, reasoning, attachments).
        """
        cols = ["conversation_id", "role", "content", "created_at"]
        vals: list[Any] = [cid, role, content, time.time()]
        for k, v in fields.items():
            if k in ("attachments", "tool_rounds"):
                v = json.dumps(v) if v else None
            elif k in ("interrupted", "cached"):
                v = int(bool(v))
            cols.append(k)
            vals.append(v)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cur = self.db.execute(
                f"INSERT INTO messages ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                vals,
            )
            self.db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (time.time(), cid))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return int(cur.lastrowid or 0)

    # -- media calls --------------------------------------------------------------------------

    def add_media_call(self, kind: str, model: str, **fields: Any) -> int:
        """Record one media call (``kind``: ``transcription``, ``image`` or ``speech``) and return its id. ``fields``:
        ``input_bytes``, ``audio_s`` (seconds of audio), ``duration_s`` (wall seconds),
        ``cost_usd``, ``parts``, ``failed_parts`` (list of 1-based numbers), ``error``."""
        allowed = ("input_bytes", "audio_s", "duration_s", "cost_usd", "parts", "failed_parts", "error")
        cols, vals = ["kind", "model", "created_at"], [kind, model, time.time()]
        for k in allowed:
            if fields.get(k) is not None:
                cols.append(k)
                vals.append(json.dumps(fields[k]) if k == "failed_parts" else fields[k])
        cur = self.db.execute(
            f"INSERT INTO media_calls ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", vals
        )
        return int(cur.lastrowid or 0)

    def media_calls(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest media calls, newest first, as dicts of the table's columns."""
        rows = self.db.execute("SELECT * FROM media_calls ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    def update_message(self, mid: int, **fields: Any) -> None:
        """Update columns of a message (used to finish a streamed reply in place)."""
        if not fields:
            return
        sets, vals = [], []
        for k, v in fields.items():
            if k == "interrupted":
                v = int(bool(v))
            elif k in ("attachments", "tool_rounds"):
                v = json.dumps(v) if v else None
            sets.append(f"{k} = ?")
            vals.append(v)
        self.db.execute(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", (*vals, mid))

    def delete_message(self, mid: int) -> None:
        """Delete one message (regenerate replaces the last reply)."""
        self.db.execute("DELETE FROM messages WHERE id = ?", (mid,))

    def messages(self, cid: str, limit: int | None = None) -> list[StoredMessage]:
        """Messages of a conversation, oldest first; with ``limit``, the newest ``limit``."""
        if limit is None:
            rows = self.db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (cid,)
            ).fetchall()
        else:
            rows = self.db.execute(
                "SELECT * FROM (SELECT * FROM messages WHERE conversation_id = ? ORDER BY id DESC"
                " LIMIT ?) ORDER BY id",
                (cid, limit),
            ).fetchall()
        return [_row_to_msg(r) for r in rows]

    def get_message(self, mid: int) -> StoredMessage | None:
        """One message by id."""
        row = self.db.execute("SELECT * FROM messages WHERE id = ?", (mid,)).fetchone()
        return _row_to_msg(row) if row else None

    def search(self, query: str, limit: int = 50) -> list[tuple[StoredMessage, str]]:
        """Full-text search over all messages (FTS5). Returns (message, snippet) pairs, best
        first; the query is taken as plain words (FTS syntax characters are quoted)."""
        words = [w.replace('"', '""') for w in query.split()]
        if not words:
            return []
        fts = " ".join(f'"{w}"' for w in words)
        rows = self.db.execute(
            "SELECT m.*, snippet(messages_fts, 0, '[', ']', '…', 12) AS snip FROM messages_fts"
            " JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH ?"
            " ORDER BY rank LIMIT ?",
            (fts, limit),
        ).fetchall()
        return [(_row_to_msg(r), r["snip"]) for r in rows]


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _row_to_msg(r: sqlite3.Row) -> StoredMessage:
    return StoredMessage(
        id=r["id"],
        conversation_id=r["conversation_id"],
        role=r["role"],
        content=r["content"],
        model=r["model"],
        created_at=r["created_at"],
        prompt_tokens=r["prompt_tokens"],
        completion_tokens=r["completion_tokens"],
        cost_usd=r["cost_usd"],
        duration_s=r["duration_s"],
        ttft_s=r["ttft_s"],
        finish_reason=r["finish_reason"],
        interrupted=bool(r["interrupted"]),
        error=r["error"],
        reasoning=r["reasoning"],
        attachments=json.loads(r["attachments"]) if r["attachments"] else [],
        cached=bool(r["cached"]),
        tool_rounds=json.loads(r["tool_rounds"]) if r["tool_rounds"] else None,
    )


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (triggers contain ``;`` inside BEGIN…END)."""
    out, buf = [], []
    depth = 0
    for line in script.strip().splitlines():
        buf.append(line)
        up = line.strip().upper()
        if up.endswith("BEGIN"):
            depth += 1
        if up.startswith("END;"):
            depth -= 1
        if depth == 0 and line.rstrip().endswith(";"):
            out.append("\n".join(buf))
            buf = []
    if "".join(buf).strip():
        out.append("\n".join(buf))
    return out
