-- The audit trail: one row per state-changing call, written in the
-- transaction that made the change. Never updated, never deleted by
-- refundd. merchant_id is '' for calls outside any merchant (partner keys).
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    key_prefix  TEXT NOT NULL,
    surface     TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    ip          TEXT NOT NULL,
    before      TEXT NOT NULL,
    after       TEXT NOT NULL,
    at          INTEGER NOT NULL -- unix nanoseconds, UTC
);
CREATE INDEX audit_log_merchant ON audit_log (merchant_id, id);
CREATE INDEX audit_log_object ON audit_log (merchant_id, object_id, id);
