-- 0016_perf_indexes: the PostgreSQL twin of
-- store/sqlite/migrations/0016_perf_indexes.sql. A refund's cost no longer
-- grows with the refunds its order already had.
--
-- CREATE INDEX (not CONCURRENTLY, which cannot run in the migration's
-- transaction) holds off writes to the table while it builds: on a large
-- install, build them CONCURRENTLY by hand under these names first; this
-- migration then only drops the index they replace.

-- A refund reads its order's captures (GetOrderForRefund, twice per
-- refund). Through UNIQUE (order_id, seq) that read walked every
-- transaction of the order, one refund transaction per earlier refund, to
-- find the one or two captures; this index holds only the captures.
CREATE INDEX IF NOT EXISTS transactions_captures ON transactions (order_id, seq) WHERE type = 'capture';

-- An order's refunds newest first (GET /v1/refunds?order_id=, the bench's
-- check) is a walk of this index instead of a sort of all of them per page.
CREATE INDEX IF NOT EXISTS refunds_order_newest ON refunds (order_id, id);
DROP INDEX IF EXISTS refunds_order; -- its prefix
