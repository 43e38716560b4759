-- 0011_credit_notes: every refund of an invoiced order gets a credit note,
-- and a reversed refund a debit note (type 'debit', its parent the credit
-- note). Lines are split by ZATCA's rule (VAT = net x rate), so a document's
-- total may differ from net + VAT by its rounding amount: those CHECKs go
-- (a line's rounding stays within two units).
-- Shipping keeps its own net and VAT, as a credit of part of it must.
-- ZATCA reporting becomes a queue: pending documents carry their attempts
-- and when the next one is due; 'rejected' is now 'failed'. Every new
-- document is chained per merchant (ZATCA phase 2): counter value, previous
-- hash, hash and signature.
--
-- SQLite cannot change a CHECK constraint in place: the invoices table is
-- rebuilt (the runner turns foreign key enforcement off for the migration
-- and runs foreign_key_check before it commits).

CREATE TABLE invoices_new (
    id                         INTEGER PRIMARY KEY,
    merchant_id                TEXT NOT NULL REFERENCES merchants (id),
    order_id                   TEXT NOT NULL REFERENCES orders (id),
    refund_id                  TEXT NOT NULL DEFAULT '', -- refund invoices
    parent_id                  INTEGER REFERENCES invoices (id), -- credit notes: the tax invoice; debit notes: the credit note
    parent_serial              TEXT NOT NULL DEFAULT '',
    serial                     TEXT NOT NULL,
    number                     INTEGER NOT NULL, -- the counter value inside serial
    type                       TEXT NOT NULL CHECK (type IN ('invoice', 'refund', 'debit')),
    status                     TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'void')),
    currency                   TEXT NOT NULL,
    reason                     TEXT NOT NULL DEFAULT '',
    seller_name                TEXT NOT NULL DEFAULT '',
    seller_vat_number          TEXT NOT NULL DEFAULT '',
    customer                   TEXT NOT NULL DEFAULT '{}', -- JSON refund.Customer
    payment_method             TEXT NOT NULL DEFAULT '',
    sub_total_amount           INTEGER NOT NULL,
    shipping_amount            INTEGER NOT NULL DEFAULT 0,
    shipping_excluding_tax     INTEGER NOT NULL DEFAULT 0,
    shipping_tax_amount        INTEGER NOT NULL DEFAULT 0,
    discount_amount            INTEGER NOT NULL DEFAULT 0,
    net_amount                 INTEGER NOT NULL,
    total_amount_excluding_tax INTEGER NOT NULL,
    tax_amount                 INTEGER NOT NULL,
    total_amount               INTEGER NOT NULL,
    tax_rate                   TEXT NOT NULL DEFAULT '',
    zatca_status               TEXT NOT NULL CHECK (zatca_status IN ('not_submitted', 'pending', 'reported', 'failed', 'aborted')),
    zatca_attempts             INTEGER NOT NULL DEFAULT 0,
    zatca_next_at              INTEGER, -- pending documents: when the reporting queue tries next
    icv                        INTEGER NOT NULL DEFAULT 0,  -- ZATCA phase 2: the merchant's document counter value
    previous_hash              TEXT NOT NULL DEFAULT '',   -- the merchant's previous document's hash (PIH)
    hash                       TEXT NOT NULL DEFAULT '',   -- this document's hash
    signature                  TEXT NOT NULL DEFAULT '',   -- its signature
    public_key                 TEXT NOT NULL DEFAULT '',   -- the signing key's public half
    invoice_error              TEXT NOT NULL DEFAULT '',
    issued_at                  INTEGER NOT NULL,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    CHECK ((type IN ('refund', 'debit')) = (parent_id IS NOT NULL))
);

INSERT INTO invoices_new (id, merchant_id, order_id, refund_id, parent_id, parent_serial, serial, number, type, status, currency, reason, seller_name, seller_vat_number, customer, payment_method, sub_total_amount, shipping_amount, discount_amount, net_amount, total_amount_excluding_tax, tax_amount, total_amount, tax_rate, zatca_status, invoice_error, issued_at, created_at, updated_at)
    SELECT id, merchant_id, order_id, refund_id, parent_id, parent_serial, serial, number, type, status, currency, reason, seller_name, seller_vat_number, customer, payment_method, sub_total_amount, shipping_amount, discount_amount, net_amount, total_amount_excluding_tax, tax_amount, total_amount, tax_rate, CASE zatca_status WHEN 'rejected' THEN 'failed' ELSE zatca_status END, invoice_error, issued_at, created_at, updated_at FROM invoices;
DROP TABLE invoices;
ALTER TABLE invoices_new RENAME TO invoices;
CREATE UNIQUE INDEX invoices_merchant_serial ON invoices (merchant_id, serial);
CREATE UNIQUE INDEX invoices_order_sale ON invoices (order_id) WHERE type = 'invoice'; -- one tax invoice per order
CREATE UNIQUE INDEX invoices_refund ON invoices (refund_id, type) WHERE refund_id <> '';  -- one credit note, and one debit note, per refund
CREATE INDEX invoices_merchant ON invoices (merchant_id, id);
CREATE INDEX invoices_parent ON invoices (parent_id);
CREATE INDEX invoices_zatca_due ON invoices (zatca_next_at) WHERE zatca_status = 'pending';

CREATE TABLE invoice_lines_new (
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
    -- a line's rounding: what ZATCA's VAT rule cannot place, a unit or so
    CHECK (abs(net_amount - total_amount_excluding_tax - tax_amount) <= 2)
);

INSERT INTO invoice_lines_new (id, invoice_id, position, item_id, parent_line_id, sku, name_en, name_ar, qty, unit_amount, amount, discount_amount, net_amount, total_amount_excluding_tax, tax_amount, tax_rate, taxable)
    SELECT id, invoice_id, position, item_id, parent_line_id, sku, name_en, name_ar, qty, unit_amount, amount, discount_amount, net_amount, total_amount_excluding_tax, tax_amount, tax_rate, taxable FROM invoice_lines;
DROP TABLE invoice_lines;
ALTER TABLE invoice_lines_new RENAME TO invoice_lines;
CREATE INDEX invoice_lines_invoice ON invoice_lines (invoice_id, position);
CREATE INDEX invoice_lines_parent ON invoice_lines (parent_line_id);

-- Each merchant's document chain: the last counter value and hash, advanced
-- in the transaction that issues a document.
CREATE TABLE invoice_chains (
    merchant_id TEXT PRIMARY KEY REFERENCES merchants (id),
    counter     INTEGER NOT NULL,
    last_hash   TEXT NOT NULL
);
