-- 0031_billing_serial: a credit or debit note keeps the serial its billing
-- reference (BT-25) names, the tax invoice it corrects: ZATCA reads BT-25
-- as the original invoice, and a debit note named the credit note it takes
-- back (its parent_serial). Nothing is backfilled: a note issued before
-- keeps '' and its XML names parent_serial, as it was sealed, so the hash
-- chain of documents already issued is unchanged.
ALTER TABLE invoices ADD COLUMN billing_serial TEXT NOT NULL DEFAULT '';
