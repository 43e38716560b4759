-- 0035_item_exemption: an order line may say why it is not taxed, with
-- ZATCA's exemption reason code (VATEX-SA-..., BT-121), which its tax
-- invoice's line then states in place of the code every zero-rated or
-- untaxed line gets (0034). Lines recorded before, and lines that do not
-- say, keep '' and their documents state that code, as before.
ALTER TABLE order_items ADD COLUMN exemption_code TEXT NOT NULL DEFAULT '';
