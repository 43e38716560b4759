-- 0030_credited_split: the PostgreSQL twin of
-- store/sqlite/migrations/0030_credited_split.sql. A tax invoice keeps,
-- beside what its credit notes credit (0019), the net and VAT they state
-- of it, per line and for its shipping, so a new note starts from what
-- the live notes state without reading every note of the order. The
-- Service keeps these with 0019's (Tx.AddCredited); below, what the notes
-- so far state.
ALTER TABLE invoice_lines ADD COLUMN credited_excluding_tax bigint NOT NULL DEFAULT 0;
ALTER TABLE invoice_lines ADD COLUMN credited_tax bigint NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN credited_shipping_excluding_tax bigint NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN credited_shipping_tax bigint NOT NULL DEFAULT 0;

UPDATE invoice_lines SET
    credited_excluding_tax = (
        SELECT COALESCE(SUM(CASE n.type WHEN 'refund' THEN l.total_amount_excluding_tax ELSE -l.total_amount_excluding_tax END), 0)
        FROM invoice_lines l JOIN invoices n ON n.id = l.invoice_id
        WHERE l.parent_line_id = invoice_lines.id AND n.type IN ('refund', 'debit') AND n.status <> 'void'),
    credited_tax = (
        SELECT COALESCE(SUM(CASE n.type WHEN 'refund' THEN l.tax_amount ELSE -l.tax_amount END), 0)
        FROM invoice_lines l JOIN invoices n ON n.id = l.invoice_id
        WHERE l.parent_line_id = invoice_lines.id AND n.type IN ('refund', 'debit') AND n.status <> 'void')
WHERE invoice_id IN (SELECT id FROM invoices WHERE type = 'invoice');

UPDATE invoices SET
    credited_shipping_excluding_tax = (
        SELECT COALESCE(SUM(CASE n.type WHEN 'refund' THEN n.shipping_excluding_tax ELSE -n.shipping_excluding_tax END), 0)
        FROM invoices n -- through invoices_order (0018): merchant, order, type
        WHERE n.merchant_id = invoices.merchant_id AND n.order_id = invoices.order_id
          AND n.type IN ('refund', 'debit') AND n.status <> 'void'),
    credited_shipping_tax = (
        SELECT COALESCE(SUM(CASE n.type WHEN 'refund' THEN n.shipping_tax_amount ELSE -n.shipping_tax_amount END), 0)
        FROM invoices n
        WHERE n.merchant_id = invoices.merchant_id AND n.order_id = invoices.order_id
          AND n.type IN ('refund', 'debit') AND n.status <> 'void')
WHERE type = 'invoice';
