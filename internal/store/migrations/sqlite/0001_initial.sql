-- Oneshot's tables. River's own tables (river_job and friends) are created by River's
-- migrations in the same `oneshot migrate`. Times are integer microseconds since the
-- Unix epoch (UTC), booleans 0/1, JSON text.

CREATE TABLE oneshot_schema (
    version    INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
) STRICT;

CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    spec             TEXT NOT NULL,
    run              TEXT NOT NULL,
    -- The run's state, copied out of run so it can be indexed and filtered.
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    worker_id        TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    trace_context    TEXT,
    created_by       TEXT NOT NULL DEFAULT '',
    idempotency_key  TEXT,
    request_hash     TEXT NOT NULL DEFAULT '',
    river_job_id     INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Newest-first listing and cursor pagination, with and without a state filter.
CREATE INDEX tasks_created ON tasks (created_at, id);
CREATE INDEX tasks_state_created ON tasks (state, created_at, id);

-- One row per label, with the task's created_at, so label=key=value lists newest
-- first from one index.
CREATE TABLE task_labels (
    task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (task_id, key)
) STRICT;

CREATE INDEX task_labels_filter ON task_labels (key, value, created_at, task_id);

CREATE TABLE events (
    task_id   TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    iteration INTEGER NOT NULL DEFAULT 0,
    role      TEXT NOT NULL DEFAULT '',
    executor  TEXT NOT NULL DEFAULT '',
    type      TEXT NOT NULL,
    text      TEXT NOT NULL DEFAULT '',
    data      TEXT,
    PRIMARY KEY (task_id, seq)
) STRICT;

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    admin      INTEGER NOT NULL DEFAULT 0,
    -- sha256 of the secret; the secret itself is never stored.
    hash       BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE TABLE workers (
    id        TEXT PRIMARY KEY,
    host      TEXT NOT NULL DEFAULT '',
    slots     INTEGER NOT NULL DEFAULT 0,
    running   INTEGER NOT NULL DEFAULT 0,
    draining  INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER NOT NULL
) STRICT;
