-- 0039_idempotency_version: the PostgreSQL twin of
-- store/sqlite/migrations/0039_idempotency_version.sql. An idempotency
-- key's row counts its writes, so that a request writes it only as it last
-- saw it.
ALTER TABLE idempotency_keys ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
