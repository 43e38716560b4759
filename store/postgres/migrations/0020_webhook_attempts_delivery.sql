-- 0020_webhook_attempts_delivery: the PostgreSQL twin of
-- store/sqlite/migrations/0020_webhook_attempts_delivery.sql, where
-- SQLite gains the index on webhook_attempts (delivery_id) that the
-- delete cascade from deliveries needs. PostgreSQL has had it since 0002;
-- this keeps the two stores' migrations in step.
CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON webhook_attempts (delivery_id);
