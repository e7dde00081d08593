-- Oneshot's tables. River's own tables (river_job and friends) are created by River's
-- migrations in the same `oneshot migrate`.

CREATE TABLE oneshot_schema (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL
);

CREATE TABLE tasks (
    id               text PRIMARY KEY,
    spec             jsonb NOT NULL,
    run              jsonb NOT NULL,
    -- The run's state, copied out of run so it can be indexed and filtered.
    state            text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    worker_id        text NOT NULL DEFAULT '',
    cancel_requested boolean NOT NULL DEFAULT false,
    trace_context    jsonb,
    created_by       text NOT NULL DEFAULT '',
    idempotency_key  text,
    request_hash     text NOT NULL DEFAULT '',
    river_job_id     bigint,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Newest-first listing and cursor pagination, with and without a state filter.
CREATE INDEX tasks_created ON tasks (created_at, id);
CREATE INDEX tasks_state_created ON tasks (state, created_at, id);

-- One row per label, with the task's created_at, so label=key=value lists newest
-- first from one index.
CREATE TABLE task_labels (
    task_id    text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    key        text NOT NULL,
    value      text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (task_id, key)
);

CREATE INDEX task_labels_filter ON task_labels (key, value, created_at, task_id);

CREATE TABLE events (
    task_id   text NOT NULL,
    seq       bigint NOT NULL,
    ts        timestamptz NOT NULL,
    iteration integer NOT NULL DEFAULT 0,
    role      text NOT NULL DEFAULT '',
    executor  text NOT NULL DEFAULT '',
    type      text NOT NULL,
    text      text NOT NULL DEFAULT '',
    -- json, not jsonb: the agent's original event is kept byte for byte.
    data      json,
    PRIMARY KEY (task_id, seq)
);

CREATE TABLE tokens (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    admin      boolean NOT NULL DEFAULT false,
    -- sha256 of the secret; the secret itself is never stored.
    hash       bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE TABLE workers (
    id        text PRIMARY KEY,
    host      text NOT NULL DEFAULT '',
    slots     integer NOT NULL DEFAULT 0,
    running   integer NOT NULL DEFAULT 0,
    draining  boolean NOT NULL DEFAULT false,
    last_seen timestamptz NOT NULL
);
