-- 0032_seller_address: the seller's commercial registration number (CRN,
-- ZATCA's BR-KSA-08) and postal address (BR-KSA-09), set in the merchant's
-- invoice configuration and copied onto each document issued from then
-- on, which renders them in its supplier party. The address is JSON
-- ({"street","building_number","district","city","postal_code"}), '' for
-- none. Nothing is backfilled: a document issued before keeps '' and
-- renders as it was sealed, so the hash chain is unchanged, and a merchant
-- who sets neither issues as before.
ALTER TABLE invoice_configs ADD COLUMN seller_crn TEXT NOT NULL DEFAULT '';
ALTER TABLE invoice_configs ADD COLUMN seller_address TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN seller_crn TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN seller_address TEXT NOT NULL DEFAULT '';
