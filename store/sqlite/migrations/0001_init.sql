-- 0001_init: refundd's first schema. store/postgres/migrations/0001_init.sql
-- is the same schema in PostgreSQL types.
--
-- Money is INTEGER minor units (int64). Times are INTEGER nanoseconds since
-- the Unix epoch, UTC; 0 is "not set" and NULL marks an optional time that
-- never happened (revoked_at, completed_at). Booleans are INTEGER 0/1.
--
-- The refund invariant (refunded + pending <= captured - voided, per order,
-- capture, vendor and item) is kept by the store's guarded updates; the
-- CHECK constraints repeat it so that a bug there fails loudly instead of
-- over-refunding.

CREATE TABLE merchants (
    id          TEXT PRIMARY KEY,
    app_id      INTEGER NOT NULL UNIQUE, -- Techrar's integer app-id
    name        TEXT NOT NULL,
    cr          TEXT NOT NULL DEFAULT '',
    freelancer  TEXT NOT NULL DEFAULT '',
    email       TEXT NOT NULL DEFAULT '',
    mobile      TEXT NOT NULL DEFAULT '',
    account_no  TEXT NOT NULL DEFAULT '',
    vat_number  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
-- FindMerchant looks merchants up by each of these.
CREATE INDEX merchants_cr         ON merchants (cr)         WHERE cr <> '';
CREATE INDEX merchants_freelancer ON merchants (freelancer) WHERE freelancer <> '';
CREATE INDEX merchants_email      ON merchants (email)      WHERE email <> '';
CREATE INDEX merchants_mobile     ON merchants (mobile)     WHERE mobile <> '';
CREATE INDEX merchants_account_no ON merchants (account_no) WHERE account_no <> '';

CREATE TABLE partners (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE partner_merchants (
    partner_id  TEXT NOT NULL REFERENCES partners (id),
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    position    INTEGER NOT NULL, -- order of Partner.MerchantIDs
    PRIMARY KEY (partner_id, merchant_id)
);
CREATE INDEX partner_merchants_merchant ON partner_merchants (merchant_id);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    prefix      TEXT NOT NULL UNIQUE,
    hash        BLOB NOT NULL, -- SHA-256 of the whole key; the key itself is never stored
    merchant_id TEXT REFERENCES merchants (id),
    partner_id  TEXT REFERENCES partners (id),
    scopes      TEXT NOT NULL DEFAULT '', -- space-separated
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    CHECK ((merchant_id IS NULL) <> (partner_id IS NULL))
);

CREATE TABLE orders (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    reference             TEXT NOT NULL DEFAULT '', -- the merchant's own; may be empty
    currency              TEXT NOT NULL,
    amount                INTEGER NOT NULL,
    captured_amount       INTEGER NOT NULL,
    refunded_amount       INTEGER NOT NULL DEFAULT 0,
    pending_refund_amount INTEGER NOT NULL DEFAULT 0,
    voided_amount         INTEGER NOT NULL DEFAULT 0,
    payment_method        TEXT NOT NULL DEFAULT '',
    source                TEXT NOT NULL DEFAULT '{}', -- JSON refund.Card
    customer              TEXT NOT NULL DEFAULT '{}', -- JSON refund.Customer
    description           TEXT NOT NULL DEFAULT '',
    refund_count          INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    CHECK (refunded_amount >= 0 AND pending_refund_amount >= 0 AND voided_amount >= 0),
    CHECK (refunded_amount + pending_refund_amount <= captured_amount - voided_amount)
);
CREATE UNIQUE INDEX orders_merchant_reference ON orders (merchant_id, reference) WHERE reference <> '';
CREATE INDEX orders_merchant ON orders (merchant_id, id);

CREATE TABLE order_items (
    order_id        TEXT NOT NULL REFERENCES orders (id),
    item_id         TEXT NOT NULL,
    position        INTEGER NOT NULL,
    sku             TEXT NOT NULL DEFAULT '',
    name_en         TEXT NOT NULL DEFAULT '',
    name_ar         TEXT NOT NULL DEFAULT '',
    qty             INTEGER NOT NULL,
    unit_amount     INTEGER NOT NULL,
    tax_rate        TEXT NOT NULL DEFAULT '',
    taxable         INTEGER NOT NULL DEFAULT 1,
    amount          INTEGER NOT NULL,
    refunded_qty    INTEGER NOT NULL DEFAULT 0,
    pending_qty     INTEGER NOT NULL DEFAULT 0,
    refunded_amount INTEGER NOT NULL DEFAULT 0,
    pending_amount  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, item_id),
    CHECK (refunded_qty >= 0 AND pending_qty >= 0 AND refunded_qty + pending_qty <= qty),
    CHECK (refunded_amount >= 0 AND pending_amount >= 0 AND refunded_amount + pending_amount <= amount)
);

CREATE TABLE order_vendors (
    order_id        TEXT NOT NULL REFERENCES orders (id),
    vendor_id       TEXT NOT NULL,
    position        INTEGER NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    iban            TEXT NOT NULL DEFAULT '',
    amount          INTEGER NOT NULL,
    refunded_amount INTEGER NOT NULL DEFAULT 0,
    pending_amount  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, vendor_id),
    CHECK (refunded_amount >= 0 AND pending_amount >= 0 AND refunded_amount + pending_amount <= amount)
);

-- Money movements on an order: captures (with their refund counters), the
-- processor's answers to refunds, voids.
CREATE TABLE transactions (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    seq             INTEGER NOT NULL,
    type            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT '',
    amount          INTEGER NOT NULL,
    refunded_amount INTEGER NOT NULL DEFAULT 0,
    pending_amount  INTEGER NOT NULL DEFAULT 0,
    refund_id       TEXT NOT NULL DEFAULT '',
    response_code   TEXT NOT NULL DEFAULT '',
    message         TEXT NOT NULL DEFAULT '',
    rrn             TEXT NOT NULL DEFAULT '',
    stan            TEXT NOT NULL DEFAULT '',
    auth_code       TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    UNIQUE (order_id, seq),
    CHECK (refunded_amount >= 0 AND pending_amount >= 0 AND refunded_amount + pending_amount <= amount)
);
CREATE INDEX transactions_refund ON transactions (refund_id) WHERE refund_id <> '';

CREATE TABLE refunds (
    id                 TEXT PRIMARY KEY,
    merchant_id        TEXT NOT NULL REFERENCES merchants (id),
    order_id           TEXT NOT NULL REFERENCES orders (id),
    seq                INTEGER NOT NULL,
    amount             INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'succeeded', 'failed', 'canceled', 'reversed')),
    reason             TEXT NOT NULL DEFAULT '',
    merchant_reference TEXT NOT NULL DEFAULT '',
    capture_id         TEXT NOT NULL DEFAULT '',
    items              TEXT NOT NULL DEFAULT '[]', -- JSON []refund.RefundItem
    vendors            TEXT NOT NULL DEFAULT '[]', -- JSON []refund.RefundVendor
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
    updated_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX refunds_merchant_reference ON refunds (merchant_id, merchant_reference) WHERE merchant_reference <> '';
CREATE INDEX refunds_due ON refunds (status, next_attempt_at);  -- the worker's claim
CREATE INDEX refunds_merchant ON refunds (merchant_id, id);     -- listing, newest first
CREATE INDEX refunds_order ON refunds (order_id);

CREATE TABLE refund_transitions (
    id          INTEGER PRIMARY KEY, -- insertion order
    refund_id   TEXT NOT NULL REFERENCES refunds (id),
    from_status TEXT NOT NULL DEFAULT '',
    to_status   TEXT NOT NULL,
    cause       TEXT NOT NULL DEFAULT '',
    at          INTEGER NOT NULL
);
CREATE INDEX refund_transitions_refund ON refund_transitions (refund_id, id);

-- The outbox: written in the transaction of the change it reports.
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    type        TEXT NOT NULL,
    refund_id   TEXT NOT NULL DEFAULT '',
    order_id    TEXT NOT NULL DEFAULT '',
    data        BLOB,
    created_at  INTEGER NOT NULL
);
CREATE INDEX events_merchant ON events (merchant_id, id);

CREATE TABLE idempotency_keys (
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    refund_id       TEXT NOT NULL DEFAULT '',
    err_code        TEXT NOT NULL DEFAULT '',
    err_message     TEXT NOT NULL DEFAULT '',
    err_param       TEXT NOT NULL DEFAULT '',
    locked_until    INTEGER NOT NULL DEFAULT 0,
    completed_at    INTEGER,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, idempotency_key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
