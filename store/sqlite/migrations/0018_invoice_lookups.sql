-- 0018_invoice_lookups: a refund of an invoiced order no longer walks the
-- merchant's invoices.
--
-- Issuing a credit note reads every note of the order (what earlier
-- refunds credited), and the sale-invoice and debit-note lookups are by
-- order too. No index led with the order for those reads but the partial
-- invoices_order_sale, so they walked invoices_merchant (merchant_id, id):
-- every invoice the merchant ever issued, per refund. This one serves the
-- merchant-and-order lookups, newest first, without a sort.
CREATE INDEX invoices_order ON invoices (merchant_id, order_id, id);
