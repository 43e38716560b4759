-- 0009_sweeps: a succeeded refund is asked about again at set ages (a
-- reversal nobody notified is still found). sweeps_left counts the looks
-- still to come, due at next_attempt_at; refunds that succeeded before
-- this migration have none.
ALTER TABLE refunds ADD COLUMN sweeps_left INTEGER NOT NULL DEFAULT 0;
