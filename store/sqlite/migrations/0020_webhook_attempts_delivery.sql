-- 0020_webhook_attempts_delivery: deleting a webhook endpoint no longer
-- scans every attempt once per delivery.
--
-- Deleting an endpoint cascades to its deliveries, and each delivery's
-- delete cascades to its attempts (0002). SQLite finds a child's rows by
-- an index on the child key or else by a scan of the whole child table:
-- webhook_attempts had none on delivery_id, so an endpoint with a long
-- history held the write lock (every refund's commit) for a scan of all
-- attempts per delivery. PostgreSQL has had this index since 0002.
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
