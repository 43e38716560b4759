-- 0024_approval_expires_at: when a refund waiting for approval stops
-- being approvable. It was read from next_attempt_at, which a worker's
-- claim moves a lease ahead: an approver in that window approved a refund
-- whose approval had expired.
ALTER TABLE refunds ADD COLUMN approval_expires_at INTEGER; -- NULL for a refund that never waited

-- Refunds waiting now: next_attempt_at is their deadline unless a claim
-- moved it, and a claim only takes one whose deadline has passed (it is
-- then canceled when the claim's lease runs out, if not before).
UPDATE refunds SET approval_expires_at = next_attempt_at WHERE status = 'requires_approval';
