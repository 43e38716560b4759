-- 0023_succeeded_unknown (PostgreSQL twin of the SQLite file): the
-- refunds that succeeded without a recorded time. A node older than 0022,
-- running beside one that applied it during a rolling upgrade, finishes
-- refunds without succeeded_at; each reconciliation fills those in first
-- (Tx.RecoverSucceededAt) and finds them through this index, which holds
-- nothing once every node runs the new code.
CREATE INDEX refunds_succeeded_unknown ON refunds (merchant_id)
    WHERE succeeded_at IS NULL AND status IN ('succeeded', 'reversed');
