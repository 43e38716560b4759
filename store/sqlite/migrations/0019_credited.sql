-- 0019_credited: a tax invoice keeps, per line and for its shipping, what
-- its credit notes credit (those not void, less what debit notes took
-- back). A credit note starts each line where the earlier ones left it;
-- the Service read every earlier note of the order, with its lines, for
-- that on every refund, so a refund of a busy invoiced order cost more
-- with each one before it. The Service keeps these as it issues, voids
-- and revives notes (Tx.AddCredited); below, what the notes so far add up
-- to. A debit note's lines name the tax invoice's lines, as its credit
-- note's do.
ALTER TABLE invoice_lines ADD COLUMN credited_amount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN credited_shipping INTEGER NOT NULL DEFAULT 0;

UPDATE invoice_lines SET credited_amount = (
    SELECT COALESCE(SUM(CASE n.type WHEN 'refund' THEN l.net_amount ELSE -l.net_amount END), 0)
    FROM invoice_lines l JOIN invoices n ON n.id = l.invoice_id
    WHERE l.parent_line_id = invoice_lines.id AND n.type IN ('refund', 'debit') AND n.status <> 'void')
WHERE invoice_id IN (SELECT id FROM invoices WHERE type = 'invoice');

UPDATE invoices SET credited_shipping = (
    SELECT COALESCE(SUM(CASE n.type WHEN 'refund' THEN n.shipping_amount ELSE -n.shipping_amount END), 0)
    FROM invoices n -- through invoices_order (0018): merchant, order, type
    WHERE n.merchant_id = invoices.merchant_id AND n.order_id = invoices.order_id
      AND n.type IN ('refund', 'debit') AND n.status <> 'void')
WHERE type = 'invoice';
