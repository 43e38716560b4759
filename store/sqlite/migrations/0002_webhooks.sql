-- Webhook endpoints, deliveries of outbox events, and the delivery log.

CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    url         TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    events      TEXT NOT NULL DEFAULT '[]', -- JSON array; empty = all types
    secret      TEXT NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id, id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    event_id        TEXT NOT NULL REFERENCES events (id),
    endpoint_id     TEXT REFERENCES webhook_endpoints (id) ON DELETE CASCADE, -- NULL: a refund's notify URL
    url             TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    version         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- The dispatcher's queue: only pending rows, earliest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id);

CREATE TABLE webhook_attempts (
    id            TEXT PRIMARY KEY,
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    merchant_id   TEXT NOT NULL,
    endpoint_id   TEXT NOT NULL DEFAULT '',
    event_id      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    url           TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    status_code   INTEGER NOT NULL,
    latency_ms    INTEGER NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    at            INTEGER NOT NULL,
    next_retry_at INTEGER
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (merchant_id, endpoint_id, id);

CREATE TABLE notify_secrets (
    merchant_id TEXT PRIMARY KEY REFERENCES merchants (id),
    secret      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE INDEX events_merchant_type ON events (merchant_id, type, id);
CREATE INDEX events_refund ON events (refund_id, id);
