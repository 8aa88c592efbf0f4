"""The history store's schema: :data:`MIGRATIONS`, applied in order by
:class:`termchat.store.Store` and counted in ``PRAGMA user_version`` (a database at version
*n* has had the first *n* applied). Append new ones at the end; never edit an applied one."""

MIGRATIONS: list[str] = [
    # 1: conversations, messages, full-text index
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        model TEXT,
        system TEXT,
        options TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL,
        reasoning TEXT,
        model TEXT,
        created_at REAL NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cost_usd REAL,
        duration_s REAL,
        ttft_s REAL,
        finish_reason TEXT,
        interrupted INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        attachments TEXT
    );
    CREATE INDEX messages_conversation ON messages(conversation_id, id);
    CREATE INDEX conversations_updated ON conversations(updated_at);
    CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='id');
    CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    """,
    # budget holds (reservations of estimated cost, see termchat.client.budget)
    """
    CREATE TABLE budget_holds (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        amount_usd REAL NOT NULL,
        pid INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'settled'))
    );
    CREATE INDEX budget_holds_created ON budget_holds(created_at);
    """,
    # a reply replayed from the response cache (termchat.client.cache) is stored with
    # cost 0 and marked cached
    """
    ALTER TABLE messages ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;
    """,
    # covering indexes for `termchat usage` (by time, by model) and the budget's
    # spent-so-far sums (after the cached column above: usage counts cache hits from it)
    """
    CREATE INDEX messages_usage ON messages(role, created_at, model, cost_usd, prompt_tokens,
        completion_tokens, cached);
    CREATE INDEX messages_usage_model ON messages(role, model, created_at, cost_usd,
        prompt_tokens, completion_tokens, cached);
    """,
    # tools (#13): an assistant reply's tool rounds, JSON (see StoredMessage.tool_rounds)
    "ALTER TABLE messages ADD COLUMN tool_rounds TEXT;",
    # media calls that are not chat messages (transcriptions): what they cost and took
    """
    CREATE TABLE media_calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        model TEXT NOT NULL,
        created_at REAL NOT NULL,
        input_bytes INTEGER,
        audio_s REAL,
        duration_s REAL,
        cost_usd REAL,
        parts INTEGER,
        failed_parts TEXT,
        error TEXT
    );
    CREATE INDEX media_calls_created ON media_calls(created_at);
    """,
]
