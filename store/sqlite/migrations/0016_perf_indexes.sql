-- 0016_perf_indexes: a refund's cost no longer grows with the refunds its
-- order already had, nor a worker pass with every refund ever made.

-- A refund reads its order's captures (GetOrderForRefund, twice per
-- refund). Through UNIQUE (order_id, seq) that read walked every
-- transaction of the order, one refund transaction per earlier refund, to
-- find the one or two captures; this index holds only the captures.
CREATE INDEX transactions_captures ON transactions (order_id, seq) WHERE type = 'capture';

-- The worker's claim selects "status IN (...) OR sweeps_left > 0" (the
-- PostgreSQL store's refunds_due since 0009). refunds_due (status,
-- next_attempt_at) cannot serve that OR, so every pass scanned and sorted
-- all refunds inside the write transaction that refunds wait for.
CREATE INDEX refunds_claim ON refunds (next_attempt_at, id)
    WHERE status IN ('requires_approval', 'pending', 'processing', 'requires_review') OR sweeps_left > 0;

-- An order's refunds newest first (GET /v1/refunds?order_id=, the bench's
-- check) is a walk of this index instead of a sort of all of them per page.
CREATE INDEX refunds_order_newest ON refunds (order_id, id);
DROP INDEX refunds_order; -- its prefix
