-- 0039_idempotency_version: an idempotency key's row counts its writes, so
-- that a request writes it only as it last saw it (refund.Tx.
-- UpdateIdempotency): not once a retry has taken the key over after its
-- lease ran out, nor over a write of its own whose commit's answer was
-- lost. Rows written before start at 0.
ALTER TABLE idempotency_keys ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
