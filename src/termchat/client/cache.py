"""The response cache: whole replies kept by exact request, replayed without a provider call.

A reply is cached under a key made of everything that decides it — the model id, the base URL
it was sent to, the messages (roles, text and the SHA-256 of every attachment) and the
parameters (``-o`` options) — as the SHA-256 of their canonical JSON. Only complete replies
(the provider's finish reason arrived; no error, no interruption) are written.

Sampled replies are not cached: a request is cacheable only with ``temperature`` set to 0,
unless ``cache.sampled = true``. A request without ``temperature`` takes the provider's default,
which is 1.0 for OpenAI, Anthropic and Gemini (sampled), so it is not cached either.

The cache lives in its own SQLite file, ``<data dir>/response-cache.db`` (WAL), apart from the
history (``termchat.db``): a cache that cannot be read — a corrupt file, a table of the wrong
shape — is deleted and rebuilt empty (one line in ``termchat.log``), and the history is never
touched. Entries older than ``cache.ttl_seconds`` are not used, and are removed on write.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.types import Finished, ReasoningDelta, TextDelta, Usage


def _log(msg: str, *args: Any) -> None:
    """One warning line in ``termchat.log`` (never on the terminal)."""
    from ..logs import get_logger

    get_logger().warning("response cache: " + msg, *args)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    reasoning TEXT,
    finish_reason TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    created_at REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    last_hit_at REAL
)
"""


def cache_file() -> Path:
    """``response-cache.db`` beside the history store (``TERMCHAT_HOME/data`` or the
    platformdirs data directory)."""
    from .. import paths

    return paths.data_dir() / "response-cache.db"


def enabled(config: Any, flag: bool | None) -> bool:
    """Whether the cache is used for a request: ``--cache`` (``flag``) when given, else
    config ``cache.enabled``."""
    return bool(config.get("cache.enabled")) if flag is None else flag


def cacheable(options: dict[str, Any], config: Any) -> str | None:
    """``None`` when a request with ``options`` may be cached, else why not (one phrase).

    The rule: ``temperature`` is 0, or ``cache.sampled`` is true."""
    if config.get("cache.sampled"):
        return None
    temp = options.get("temperature")
    if temp is None:
        return "temperature is not set (the provider's default samples); add -o temperature 0"
    if isinstance(temp, bool) or not isinstance(temp, int | float) or temp != 0:
        return f"temperature {temp} samples; replies are cached at temperature 0"
    return None


def request_key(req: Any, rm: Any) -> str:
    """The cache key of a :class:`~termchat.core.types.ChatRequest` for resolved model ``rm``:
    64 hex digits (SHA-256 of the canonical JSON of model id, base URL, messages and options;
    attachments enter as their SHA-256)."""
    messages = [
        {"role": m.role, "content": m.content,
         "attachments": [hashlib.sha256(a.data).hexdigest() for a in m.attachments]}
        for m in req.messages
    ]
    doc = {
        "model": rm.id,
        "api_base": req.api_base or rm.api_base or "",
        "messages": messages,
        "options": req.options,
    }
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Entry:
    """A cached reply: the text and reasoning, the model that wrote it, its finish reason, the
    original usage (tokens) and cost (USD, what the original request cost), when it was
    stored (UNIX seconds) and how often it was replayed."""

    model: str
    text: str
    reasoning: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    created_at: float
    hits: int = 0


@dataclass
class Stats:
    """``termchat cache stats``: entries, of which still fresh, total replays (hits), bytes of
    the database file, the USD the cached replies cost when first asked, and the file."""

    entries: int
    fresh: int
    hits: int
    saved_usd: float
    size_bytes: int
    path: str
    ttl_seconds: float


#: SQLite result codes (the primary code, ``sqlite_errorcode & 0xFF``) that mean the file or
#: its table is broken or foreign, so it is rebuilt: corrupt, not a database, and SQL errors
#: from a table of another shape ("no such column").
_BROKEN = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_ERROR,
                     sqlite3.SQLITE_SCHEMA, sqlite3.SQLITE_MISMATCH})


class ResponseCache:
    """The cache file, opened on first use. Every method survives a corrupt or foreign file by
    rebuilding it (see the module docstring); a cache that cannot be created at all (a
    read-only disk) makes lookups miss and writes do nothing — a cache never fails a request.
    """

    def __init__(self, ttl_seconds: float, path: Path | None = None) -> None:
        self.ttl = float(ttl_seconds)
        self.path = path or cache_file()
        self._db: sqlite3.Connection | None = None

    # -- opening, and rebuilding a broken file -------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            try:
                db.execute("PRAGMA busy_timeout = 10000")
                db.execute("PRAGMA synchronous = NORMAL")  # WAL: no fsync per hit count
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version != SCHEMA_VERSION:
                    db.execute("PRAGMA journal_mode = WAL")
                    db.execute(_SCHEMA)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("SELECT key, model, text, reasoning, finish_reason, prompt_tokens,"
                           " completion_tokens, cost_usd, created_at, hits FROM replies LIMIT 0")
            except sqlite3.DatabaseError:
                db.close()
                raise
            try:
                self.path.chmod(0o600)
            except OSError:
                pass
            self._db = db
        return self._db

    def _rebuild(self, exc: BaseException) -> None:
        _log("%s unreadable (%s): rebuilt empty", self.path, exc)
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                Path(str(self.path) + suffix).unlink()
            except OSError:  # gone already, or not ours to remove: the next open says so
                pass

    def _run(self, work: Any, default: Any) -> Any:
        """``work(db)``; on a database error the file is rebuilt and ``work`` tried once more;
        ``default`` when even that fails (or the file cannot be created)."""
        for attempt in (1, 2):
            try:
                return work(self._open())
            except sqlite3.DatabaseError as exc:
                code = (getattr(exc, "sqlite_errorcode", None) or sqlite3.SQLITE_ERROR) & 0xFF
                if code not in _BROKEN:  # busy, locked, read-only, disk full: not broken
                    _log("%s not usable now (%s): going without the cache", self.path, exc)
                    break
                if attempt == 1:
                    self._rebuild(exc)
            except OSError as exc:
                _log("%s not usable: %s", self.path, exc)
                break
        return default

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- entries -------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        """The fresh entry under ``key`` (younger than the TTL), counting the hit; else ``None``."""
        now = time.time()

        def work(db: sqlite3.Connection) -> Entry | None:
            row = db.execute(
                "SELECT model, text, reasoning, finish_reason, prompt_tokens, completion_tokens,"
                " cost_usd, created_at, hits FROM replies WHERE key = ? AND created_at > ?",
                (key, now - self.ttl),
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE replies SET hits = hits + 1, last_hit_at = ? WHERE key = ?",
                       (now, key))
            return Entry(*row[:8], hits=row[8] + 1)

        return self._run(work, None)

    def put(self, key: str, entry: Entry) -> None:
        """Store (or replace) the entry under ``key``; drop entries past the TTL."""
        now = time.time()

        def work(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT OR REPLACE INTO replies (key, model, text, reasoning, finish_reason,"
                    " prompt_tokens, completion_tokens, cost_usd, created_at, hits)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                    (key, entry.model, entry.text, entry.reasoning, entry.finish_reason,
                     entry.prompt_tokens, entry.completion_tokens, entry.cost_usd, now),
                )
                db.execute("DELETE FROM replies WHERE created_at <= ?", (now - self.ttl,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        self._run(work, None)

    def stats(self) -> Stats:
        """The figures ``termchat cache stats`` shows."""
        now = time.time()

        def work(db: sqlite3.Connection) -> tuple[Any, ...]:
            return db.execute(
                "SELECT COUNT(*), COALESCE(SUM(created_at > ?), 0), COALESCE(SUM(hits), 0),"
                " COALESCE(SUM(hits * COALESCE(cost_usd, 0)), 0) FROM replies",
                (now - self.ttl,),
            ).fetchone()

        entries, fresh, hits, saved = self._run(work, (0, 0, 0, 0.0))
        size = 0
        for suffix in ("", "-wal"):
            try:
                size += Path(str(self.path) + suffix).stat().st_size
            except OSError:
                pass
        return Stats(int(entries), int(fresh), int(hits), float(saved), size, str(self.path),
                     self.ttl)

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""

        def work(db: sqlite3.Connection) -> int:
            n = db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
            db.execute("DELETE FROM replies")
            db.execute("VACUUM")
            return int(n)

        return int(self._run(work, 0))


class CachedStream:
    """A chat :class:`~termchat.client.base.EventStream` replaying a cached reply at once:
    a :class:`~termchat.turn.CachedNotice`, the text (one delta per line, so a terminal
    renders it as a stream), usage with ``cost_usd = 0.0``, and ``Finished`` with the time the
    replay took."""

    cached = True

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self._cancelled = False

    def __iter__(self) -> Iterator[Any]:
        from ..turn import CachedNotice

        e = self.entry
        t0 = time.monotonic()
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created_at))
        yield CachedNotice(f"cached reply from {when} (no request made, cost $0)")
        if e.reasoning:
            yield ReasoningDelta(e.reasoning)
        ttft = time.monotonic() - t0
        for piece in e.text.splitlines(keepends=True) or [""]:
            if self._cancelled:
                return
            if piece:
                yield TextDelta(piece)
        yield Usage(prompt_tokens=e.prompt_tokens or 0, completion_tokens=e.completion_tokens or 0,
                    cost_usd=0.0)
        yield Finished(e.finish_reason, e.model, duration_s=time.monotonic() - t0, ttft_s=ttft)

    def cancel(self) -> None:
        self._cancelled = True
