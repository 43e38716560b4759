-- 0034_line_exemption: a zero-rated or untaxed line keeps its VAT
-- exemption reason code (ZATCA's VATEX-SA-..., BT-121), from which its
-- document renders the reason text ZATCA asks beside it (BT-120,
-- BR-KSA-83). Nothing is backfilled: a line issued before keeps '' and its
-- document renders the code alone, as it was sealed, so the hash chain is
-- unchanged.
ALTER TABLE invoice_lines ADD COLUMN exemption_code text NOT NULL DEFAULT '';
