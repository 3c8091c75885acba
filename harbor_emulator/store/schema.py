"""The versioned schema. Each migration runs once, in order, tracked by PRAGMA user_version.

Times are integer milliseconds since the epoch on the emulator clock (`*_ms`).
Deleted endpoints and subscriptions are kept with `deleted_ms` so their deliveries and
attempts stay readable; every read of them filters `deleted_ms IS NULL`.
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: the whole model of the contract.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE workspaces (
        id TEXT PRIMARY KEY,
        name TEXT,
        created_ms INTEGER NOT NULL
    );

    CREATE TABLE api_keys (
        key TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        livemode INTEGER NOT NULL,
        scopes TEXT NOT NULL,            -- space-separated
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    );

    CREATE TABLE events (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        livemode INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,           -- compact JSON, as measured for the size limit
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX events_by_time ON events (workspace_id, livemode, created_ms, id);
    CREATE INDEX events_by_type ON events (workspace_id, livemode, type, created_ms, id);

    CREATE TABLE endpoints (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('webhook', 'destination')),
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        livemode INTEGER NOT NULL,
        url TEXT NOT NULL,
        label TEXT,                      -- a destination's name, a webhook's description
        event_types TEXT,                -- JSON list of patterns (webhooks only)
        metadata TEXT NOT NULL DEFAULT '{}',
        retry_policy TEXT,               -- JSON, NULL for the default policy
        status TEXT NOT NULL CHECK (status IN ('active', 'paused')),
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        deleted_ms INTEGER
    );
    CREATE INDEX endpoints_by_time ON endpoints (workspace_id, livemode, kind, created_ms, id);

    CREATE TABLE signing_keys (
        id TEXT PRIMARY KEY,
        endpoint_id TEXT NOT NULL REFERENCES endpoints (id),
        secret TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER               -- NULL for the current key
    );
    CREATE INDEX signing_keys_by_endpoint ON signing_keys (endpoint_id, created_ms);

    CREATE TABLE subscriptions (
        id TEXT PRIMARY KEY,
        destination_id TEXT NOT NULL REFERENCES endpoints (id),
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        livemode INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        deleted_ms INTEGER
    );
    CREATE INDEX subscriptions_by_destination ON subscriptions (destination_id, created_ms);
    CREATE INDEX subscriptions_by_time ON subscriptions (workspace_id, livemode, created_ms, id);

    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events (id),
        endpoint_id TEXT NOT NULL REFERENCES endpoints (id),
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        livemode INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('pending', 'held', 'succeeded', 'failed', 'cancelled')),
        attempt_count INTEGER NOT NULL DEFAULT 0,
        response_code INTEGER,
        envelope BLOB NOT NULL,          -- the exact bytes every attempt sends
        first_attempt_ms INTEGER,        -- the retry policy's max age counts from here
        last_attempt_ms INTEGER,
        next_attempt_ms INTEGER,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX deliveries_due ON deliveries (next_attempt_ms) WHERE status = 'pending';
    CREATE INDEX deliveries_by_time ON deliveries (workspace_id, livemode, created_ms, id);
    CREATE INDEX deliveries_by_event ON deliveries (event_id);
    CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, status);

    CREATE TABLE attempts (
        id TEXT PRIMARY KEY,
        delivery_id TEXT NOT NULL REFERENCES deliveries (id),
        attempt_number INTEGER NOT NULL,
        attempted_ms INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        response_code INTEGER,
        response_body TEXT,
        error TEXT,
        UNIQUE (delivery_id, attempt_number)
    );

    CREATE TABLE idempotency_keys (
        api_key TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        body BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (api_key, idempotency_key)
    ) WITHOUT ROWID;
    """,
    # 2: the headers each attempt sent, so the dashboard can show its signature.
    """
    ALTER TABLE attempts ADD COLUMN request_headers TEXT;  -- JSON object, NULL if none sent
    """,
    # 3: each endpoint's due deliveries in order, so dispatch probes endpoints instead of
    # sorting the whole backlog.
    """
    CREATE INDEX deliveries_due_by_endpoint ON deliveries (endpoint_id, next_attempt_ms, id)
        WHERE status = 'pending';
    """,
    # 4: open-sandbox keys seen so far and the workspace each adopted (the first it named),
    # so the default workspace of a key survives restarts and the dashboard can list keys.
    """
    CREATE TABLE open_sandbox_keys (
        key TEXT PRIMARY KEY,
        workspace_id TEXT,               -- NULL until the key names a workspace
        first_seen_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 5: what the dashboard needs to debug an attempt: why it failed in words (the API's
    # `error` keeps its fixed values), the timeout that applied, the response headers.
    """
    ALTER TABLE attempts ADD COLUMN error_detail TEXT;
    ALTER TABLE attempts ADD COLUMN timeout_ms INTEGER;
    ALTER TABLE attempts ADD COLUMN response_headers TEXT;  -- JSON [[name, value], ...]
    """,
    # 6: lists across workspaces (the dashboard's "All workspaces", /_control/events and
    # /_control/deliveries) read a page from an index range, as /v1 lists do from the
    # workspace's, instead of scanning and sorting the whole table for every page.
    """
    CREATE INDEX events_by_mode ON events (livemode, created_ms, id);
    CREATE INDEX deliveries_by_mode ON deliveries (livemode, created_ms, id);
    """,
    # 7: sinks and faults, kept in memory before: --db keeps all of the state.
    """
    CREATE TABLE sinks (
        name TEXT PRIMARY KEY,
        received_count INTEGER NOT NULL  -- every request ever received, trimmed ones too
    ) WITHOUT ROWID;

    CREATE TABLE sink_requests (
        sink TEXT NOT NULL REFERENCES sinks (name),
        number INTEGER NOT NULL,         -- the sink's received_count once it arrived
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        headers TEXT NOT NULL,           -- JSON object, lower-case names
        body BLOB NOT NULL,              -- the first megabyte
        received_ms INTEGER NOT NULL,
        truncated INTEGER NOT NULL,
        PRIMARY KEY (sink, number)
    );

    CREATE TABLE sink_script (
        sink TEXT NOT NULL REFERENCES sinks (name),
        position INTEGER NOT NULL,       -- answered lowest first
        status INTEGER NOT NULL,
        delay_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        headers TEXT NOT NULL,           -- JSON object
        PRIMARY KEY (sink, position)
    );

    CREATE TABLE faults (
        seq INTEGER PRIMARY KEY,         -- creation order: the first that fires wins
        id TEXT NOT NULL UNIQUE,
        fields TEXT NOT NULL,            -- JSON: what it matches and does, fixed at creation
        remaining INTEGER,               -- NULL: fires without a count
        fired_count INTEGER NOT NULL,
        rng_state TEXT                   -- JSON [version, state, gauss] of its generator
    );
    """,
    # 8: which chaos faults bent an attempt ("delay=300 ack_lost"), for the dashboard: the
    # API's attempt object keeps its fixed shape; and the chaos delay a delivery's next
    # attempt already took, so it goes out when due again instead of being delayed twice.
    """
    ALTER TABLE attempts ADD COLUMN chaos TEXT;
    ALTER TABLE deliveries ADD COLUMN chaos_delay_seconds INTEGER;  -- NULL: not delayed
    """,
)

# Tables emptied by POST /_control/reset, children before parents for the foreign keys.
STATE_TABLES: tuple[str, ...] = (
    "sink_requests",
    "sink_script",
    "sinks",
    "faults",
    "attempts",
    "deliveries",
    "subscriptions",
    "signing_keys",
    "endpoints",
    "events",
    "idempotency_keys",
    "open_sandbox_keys",
    "api_keys",
    "workspaces",
)
