-- 0012_approvals: maker-checker refunds. A refund above the merchant's
-- policy waits in requires_approval (its amount reserved, the processor not
-- called) until a principal other than its creator approves or rejects it,
-- or its approval expires. Refunds record who created them.
--
-- SQLite cannot change a CHECK constraint in place: the refunds table is
-- rebuilt (the runner turns foreign key enforcement off for the migration
-- and runs foreign_key_check before it commits).

CREATE TABLE refunds_new (
    id                 TEXT PRIMARY KEY,
    merchant_id        TEXT NOT NULL REFERENCES merchants (id),
    order_id           TEXT NOT NULL REFERENCES orders (id),
    seq                INTEGER NOT NULL,
    amount             INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('requires_approval', 'pending', 'processing', 'requires_review', 'succeeded', 'failed', 'canceled', 'reversed')),
    reason             TEXT NOT NULL DEFAULT '',
    merchant_reference TEXT NOT NULL DEFAULT '',
    capture_id         TEXT NOT NULL DEFAULT '',
    items              TEXT NOT NULL DEFAULT '[]',
    vendors            TEXT NOT NULL DEFAULT '[]',
    notify_url         TEXT NOT NULL DEFAULT '',
    surface            TEXT NOT NULL DEFAULT '',
    failure_code       TEXT NOT NULL DEFAULT '',
    failure_message    TEXT NOT NULL DEFAULT '',
    response_code      TEXT NOT NULL DEFAULT '',
    rrn                TEXT NOT NULL DEFAULT '',
    stan               TEXT NOT NULL DEFAULT '',
    auth_code          TEXT NOT NULL DEFAULT '',
    arn                TEXT NOT NULL DEFAULT '',
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    INTEGER NOT NULL DEFAULT 0,
    request_hash       TEXT NOT NULL DEFAULT '',
    version            INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    number             INTEGER NOT NULL DEFAULT 0,
    sweeps_left        INTEGER NOT NULL DEFAULT 0,
    created_by         TEXT NOT NULL DEFAULT '' -- the key (or console user) that asked for it: it may not approve it
);

INSERT INTO refunds_new (id, merchant_id, order_id, seq, amount, currency, status, reason, merchant_reference, capture_id, items, vendors, notify_url, surface, failure_code, failure_message, response_code, rrn, stan, auth_code, arn, attempts, next_attempt_at, request_hash, version, created_at, updated_at, number, sweeps_left)
    SELECT id, merchant_id, order_id, seq, amount, currency, status, reason, merchant_reference, capture_id, items, vendors, notify_url, surface, failure_code, failure_message, response_code, rrn, stan, auth_code, arn, attempts, next_attempt_at, request_hash, version, created_at, updated_at, number, sweeps_left FROM refunds;
DROP TABLE refunds;
ALTER TABLE refunds_new RENAME TO refunds;
CREATE UNIQUE INDEX refunds_merchant_reference ON refunds (merchant_id, surface, merchant_reference) WHERE merchant_reference <> '';
CREATE INDEX refunds_due ON refunds (status, next_attempt_at);
CREATE INDEX refunds_merchant ON refunds (merchant_id, id);
CREATE INDEX refunds_order ON refunds (order_id);
CREATE UNIQUE INDEX refunds_number ON refunds (number);
CREATE INDEX refunds_arn ON refunds (merchant_id, arn) WHERE arn <> '';
CREATE INDEX refunds_rrn ON refunds (merchant_id, rrn) WHERE rrn <> '';

-- Each merchant's refund policy: approval thresholds per currency (JSON
-- object of minor units), refunds of orders older than older_than_days
-- (0: off), and how long an approval may wait.
CREATE TABLE refund_policies (
    merchant_id        TEXT PRIMARY KEY REFERENCES merchants (id),
    approval_threshold TEXT NOT NULL DEFAULT '{}',
    older_than_days    INTEGER NOT NULL DEFAULT 0,
    approval_expiry_s  INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
