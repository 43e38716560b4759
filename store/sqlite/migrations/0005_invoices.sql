-- 0005_invoices: tax invoices and refund invoices (credit notes) with their
-- lines, per-merchant gapless serial counters, and each merchant's invoice
-- configuration. store/postgres/migrations/0005_invoices.sql is the same
-- schema in PostgreSQL types.
--
-- Invoice and line ids are integers (the Techrar dialect's ids, shared by
-- the native API). Money is INTEGER minor units of the invoice's currency,
-- VAT-inclusive unless the column says "excluding_tax".

CREATE TABLE invoice_configs (
    merchant_id   TEXT PRIMARY KEY REFERENCES merchants (id),
    serial_prefix TEXT NOT NULL,
    seller_name   TEXT NOT NULL DEFAULT '', -- '' = the merchant's name
    vat_number    TEXT NOT NULL DEFAULT '', -- '' = the merchant's VAT number
    zatca_enabled INTEGER NOT NULL DEFAULT 1,
    updated_at    INTEGER NOT NULL
);

-- One row per merchant and year; "last_number" is the last serial number handed
-- out. Incremented in the transaction that issues the invoice, so a rolled
-- back invoice gives its number back and serials stay gapless.
CREATE TABLE invoice_counters (
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    year        INTEGER NOT NULL,
    last_number INTEGER NOT NULL CHECK (last_number > 0),
    PRIMARY KEY (merchant_id, year)
);

CREATE TABLE invoices (
    id                         INTEGER PRIMARY KEY,
    merchant_id                TEXT NOT NULL REFERENCES merchants (id),
    order_id                   TEXT NOT NULL REFERENCES orders (id),
    refund_id                  TEXT NOT NULL DEFAULT '', -- refund invoices
    parent_id                  INTEGER REFERENCES invoices (id), -- refund invoices: the tax invoice
    parent_serial              TEXT NOT NULL DEFAULT '',
    serial                     TEXT NOT NULL,
    number                     INTEGER NOT NULL, -- the counter value inside serial
    type                       TEXT NOT NULL CHECK (type IN ('invoice', 'refund')),
    status                     TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'void')),
    currency                   TEXT NOT NULL,
    reason                     TEXT NOT NULL DEFAULT '',
    seller_name                TEXT NOT NULL DEFAULT '',
    seller_vat_number          TEXT NOT NULL DEFAULT '',
    customer                   TEXT NOT NULL DEFAULT '{}', -- JSON refund.Customer
    payment_method             TEXT NOT NULL DEFAULT '',
    sub_total_amount           INTEGER NOT NULL,
    shipping_amount            INTEGER NOT NULL DEFAULT 0,
    discount_amount            INTEGER NOT NULL DEFAULT 0,
    net_amount                 INTEGER NOT NULL,
    total_amount_excluding_tax INTEGER NOT NULL,
    tax_amount                 INTEGER NOT NULL,
    total_amount               INTEGER NOT NULL,
    tax_rate                   TEXT NOT NULL DEFAULT '',
    zatca_status               TEXT NOT NULL CHECK (zatca_status IN ('not_submitted', 'reported', 'rejected', 'aborted')),
    invoice_error              TEXT NOT NULL DEFAULT '',
    issued_at                  INTEGER NOT NULL,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    CHECK (total_amount_excluding_tax + tax_amount = total_amount),
    CHECK ((type = 'refund') = (parent_id IS NOT NULL))
);
CREATE UNIQUE INDEX invoices_merchant_serial ON invoices (merchant_id, serial);
CREATE UNIQUE INDEX invoices_order_sale ON invoices (order_id) WHERE type = 'invoice'; -- one tax invoice per order
CREATE UNIQUE INDEX invoices_refund ON invoices (refund_id) WHERE refund_id <> '';  -- one refund invoice per refund
CREATE INDEX invoices_merchant ON invoices (merchant_id, id);
CREATE INDEX invoices_parent ON invoices (parent_id);

CREATE TABLE invoice_lines (
    id                         INTEGER PRIMARY KEY,
    invoice_id                 INTEGER NOT NULL REFERENCES invoices (id),
    position                   INTEGER NOT NULL,
    item_id                    TEXT NOT NULL, -- the order line
    parent_line_id             INTEGER REFERENCES invoice_lines (id), -- refund lines: the tax invoice's line
    sku                        TEXT NOT NULL DEFAULT '',
    name_en                    TEXT NOT NULL DEFAULT '',
    name_ar                    TEXT NOT NULL DEFAULT '',
    qty                        INTEGER NOT NULL,
    unit_amount                INTEGER NOT NULL,
    amount                     INTEGER NOT NULL,
    discount_amount            INTEGER NOT NULL DEFAULT 0,
    net_amount                 INTEGER NOT NULL,
    total_amount_excluding_tax INTEGER NOT NULL,
    tax_amount                 INTEGER NOT NULL,
    tax_rate                   TEXT NOT NULL,
    taxable                    INTEGER NOT NULL DEFAULT 1,
    CHECK (qty >= 0 AND amount >= 0 AND discount_amount >= 0),
    CHECK (total_amount_excluding_tax + tax_amount = net_amount)
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (invoice_id, position);
CREATE INDEX invoice_lines_parent ON invoice_lines (parent_line_id);
