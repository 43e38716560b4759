-- 0014_processor_accounts: a merchant's accounts at other processors, which
-- refundd calls as a client (connectors). The credential is sealed by the
-- node's secret key (AES-256-GCM, the key's id beside it for rotation);
-- the database alone never reveals it. An order names the account its
-- refunds go to, and the payment's id there; a refund keeps the
-- processor's own id for it.

CREATE TABLE processor_accounts (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    url         TEXT NOT NULL,
    credential  TEXT NOT NULL DEFAULT '', -- sealed: keyid:base64(nonce|ciphertext)
    options     JSONB NOT NULL DEFAULT '{}',
    is_default  BOOLEAN NOT NULL DEFAULT false,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX processor_accounts_name ON processor_accounts (merchant_id, name);
CREATE UNIQUE INDEX processor_accounts_default ON processor_accounts (merchant_id) WHERE is_default;

ALTER TABLE orders ADD COLUMN processor_account TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN processor_order_id TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN processor_reference TEXT NOT NULL DEFAULT '';
CREATE INDEX orders_processor_account ON orders (processor_account) WHERE processor_account <> '';
