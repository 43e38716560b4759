-- 0002_webhooks: webhook endpoints, deliveries of outbox events, and the
-- delivery log; the PostgreSQL twin of store/sqlite/migrations/0002_webhooks.sql.

CREATE TABLE webhook_endpoints (
    id          TEXT COLLATE "C" PRIMARY KEY,
    merchant_id TEXT COLLATE "C" NOT NULL REFERENCES merchants (id),
    url         TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    events      TEXT[] NOT NULL DEFAULT '{}', -- subscribed types; empty = all types
    secret      TEXT NOT NULL,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id, id);

CREATE TABLE webhook_deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    merchant_id     TEXT COLLATE "C" NOT NULL REFERENCES merchants (id),
    event_id        TEXT COLLATE "C" NOT NULL REFERENCES events (id),
    endpoint_id     TEXT COLLATE "C" REFERENCES webhook_endpoints (id) ON DELETE CASCADE, -- NULL: a refund's notify URL
    url             TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    version         BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
-- The dispatcher's queue: only pending rows, earliest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id);

CREATE TABLE webhook_attempts (
    id            TEXT COLLATE "C" PRIMARY KEY,
    delivery_id   TEXT COLLATE "C" NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    merchant_id   TEXT COLLATE "C" NOT NULL,
    endpoint_id   TEXT COLLATE "C" NOT NULL DEFAULT '',
    event_id      TEXT COLLATE "C" NOT NULL,
    event_type    TEXT NOT NULL,
    url           TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    status_code   INTEGER NOT NULL,
    latency_ms    BIGINT NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    at            TIMESTAMPTZ NOT NULL,
    next_retry_at TIMESTAMPTZ
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (merchant_id, endpoint_id, id);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id); -- the cascade from deliveries

CREATE TABLE notify_secrets (
    merchant_id TEXT COLLATE "C" PRIMARY KEY REFERENCES merchants (id),
    secret      TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX events_merchant_type ON events (merchant_id, type, id);
CREATE INDEX events_refund ON events (refund_id, id);
