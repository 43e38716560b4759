-- 0007_review: refunds the processor has not definitely settled wait in
-- requires_review with their amount reserved; refunds executed at the
-- processor that could not be recorded as succeeded are discrepancies;
-- merchant references are unique per surface (an SGate merchantRefundId and
-- a UPayments reference of the same text are different refunds);
-- idempotency keys store the first answer so that a retry replays it.
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
    status             TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'requires_review', 'succeeded', 'failed', 'canceled', 'reversed')),
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
    number             INTEGER NOT NULL DEFAULT 0
);
INSERT INTO refunds_new SELECT id, merchant_id, order_id, seq, amount, currency, status, reason, merchant_reference,
    capture_id, items, vendors, notify_url, surface, failure_code, failure_message, response_code, rrn, stan,
    auth_code, arn, attempts, next_attempt_at, request_hash, version, created_at, updated_at, number FROM refunds;
DROP TABLE refunds;
ALTER TABLE refunds_new RENAME TO refunds;
CREATE UNIQUE INDEX refunds_merchant_reference ON refunds (merchant_id, surface, merchant_reference) WHERE merchant_reference <> '';
CREATE INDEX refunds_due ON refunds (status, next_attempt_at);
CREATE INDEX refunds_merchant ON refunds (merchant_id, id);
CREATE INDEX refunds_order ON refunds (order_id);
CREATE UNIQUE INDEX refunds_number ON refunds (number);

CREATE TABLE discrepancies (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    kind        TEXT NOT NULL,
    refund_id   TEXT NOT NULL DEFAULT '',
    order_id    TEXT NOT NULL DEFAULT '',
    amount      INTEGER NOT NULL DEFAULT 0,
    currency    TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
-- One discrepancy of a kind per refund: a second sync finding the same
-- truth records nothing new.
CREATE UNIQUE INDEX discrepancies_refund_kind ON discrepancies (refund_id, kind) WHERE refund_id <> '';
CREATE INDEX discrepancies_merchant ON discrepancies (merchant_id, id);

ALTER TABLE idempotency_keys RENAME COLUMN refund_id TO object_id;
ALTER TABLE idempotency_keys ADD COLUMN reply_status INTEGER NOT NULL DEFAULT 0;
ALTER TABLE idempotency_keys ADD COLUMN reply_type TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN reply_body BLOB;
