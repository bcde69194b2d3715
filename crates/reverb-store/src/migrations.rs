//! Ordered schema migrations. A later feature adds a new entry; entries are never edited.

/// (version, SQL) pairs applied in order, each in its own transaction.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            lane TEXT NOT NULL,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_ms INTEGER NOT NULL,
            last_error TEXT,
            state TEXT NOT NULL DEFAULT 'pending',
            dead_ms INTEGER
        );
        CREATE INDEX outbox_state ON outbox(state, id);
        CREATE TABLE message_refs (
            ref_key TEXT PRIMARY KEY,
            channel_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            updated_ms INTEGER NOT NULL
        );
        CREATE TABLE judgments (
            judgment_key TEXT PRIMARY KEY,
            claimant TEXT NOT NULL,
            state TEXT NOT NULL,
            outcome TEXT,
            updated_ms INTEGER NOT NULL
        );",
    ),
    (
        2,
        "CREATE TABLE echo_forwards (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            headers TEXT NOT NULL,
            body BLOB NOT NULL,
            created_ms INTEGER NOT NULL
        );",
    ),
    (
        3,
        "CREATE TABLE secrets (
            name TEXT PRIMARY KEY,
            value BLOB NOT NULL,
            created_ms INTEGER NOT NULL
        );
        CREATE TABLE seen_requests (
            request_key TEXT PRIMARY KEY,
            seen_ms INTEGER NOT NULL
        );
        CREATE INDEX seen_requests_age ON seen_requests(seen_ms);
        CREATE TABLE pending_clicks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            payload TEXT NOT NULL,
            received_ms INTEGER NOT NULL
        );",
    ),
    (
        4,
        "CREATE TABLE heartbeat (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            beat_ms INTEGER NOT NULL
        );",
    ),
];
