-- 0028_notify_secret_rotation (PostgreSQL twin of the SQLite file): a
-- merchant's notify secret before its last rotation, and until when
-- deliveries to refunds' notify URLs are signed with it as well (NULL when
-- there is none), so a receiver can switch secrets without refusing a
-- delivery, as endpoints do (0026).
ALTER TABLE notify_secrets ADD COLUMN previous_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE notify_secrets ADD COLUMN previous_secret_until TIMESTAMPTZ;
