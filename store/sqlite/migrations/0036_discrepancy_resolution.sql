-- 0036_discrepancy_resolution: a person closes a discrepancy once they have
-- settled it outside refundd (refunded the customer by hand, confirmed with
-- the processor). It stays listed, with when (NULL while open), by whom
-- (the principal's actor: user:<id> or key:<id>) and their note. Every
-- discrepancy recorded before is open. The overview counts the open ones
-- of a merchant: the partial index holds only those.
ALTER TABLE discrepancies ADD COLUMN resolved_at INTEGER;
ALTER TABLE discrepancies ADD COLUMN resolved_by TEXT NOT NULL DEFAULT '';
ALTER TABLE discrepancies ADD COLUMN resolution TEXT NOT NULL DEFAULT '';
CREATE INDEX discrepancies_open ON discrepancies (merchant_id, id) WHERE resolved_at IS NULL;
