-- 0036_discrepancy_resolution: the PostgreSQL twin of
-- store/sqlite/migrations/0036_discrepancy_resolution.sql. A discrepancy a
-- person settled is resolved: when (NULL while open), by whom (the
-- principal's actor) and their note; every one recorded before is open.
-- The partial index holds the open ones the overview counts.
ALTER TABLE discrepancies ADD COLUMN resolved_at TIMESTAMPTZ;
ALTER TABLE discrepancies ADD COLUMN resolved_by TEXT NOT NULL DEFAULT '';
ALTER TABLE discrepancies ADD COLUMN resolution TEXT NOT NULL DEFAULT '';
CREATE INDEX discrepancies_open ON discrepancies (merchant_id, id) WHERE resolved_at IS NULL;
