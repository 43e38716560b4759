-- 0023_succeeded_unknown: the refunds that succeeded without a recorded
-- time. A node older than 0022, running beside one that applied it during
-- a rolling upgrade, finishes refunds without succeeded_at; each
-- reconciliation fills those in first (Tx.RecoverSucceededAt) and finds
-- them through this index, which holds nothing once every node runs the
-- new code: a refund's own update sets the time with its status.
CREATE INDEX refunds_succeeded_unknown ON refunds (merchant_id)
    WHERE succeeded_at IS NULL AND status IN ('succeeded', 'reversed');
