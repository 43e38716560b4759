-- 0026_endpoint_secret_rotation: an endpoint's secret before its last
-- rotation, and until when deliveries are signed with it as well (Unix
-- nanoseconds; 0 when there is none), so a receiver can switch secrets
-- without refusing a delivery.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_until INTEGER NOT NULL DEFAULT 0;
