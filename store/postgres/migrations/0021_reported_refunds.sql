-- 0021_reported_refunds (PostgreSQL twin of the SQLite file): the first
-- day whose reconciled settlement report listed each refund, so that a
-- refund a processor reports a day late is not called missing by the
-- report of the day after (see refund.Reconcile's settlement lag).
CREATE TABLE reported_refunds (
    refund_id   TEXT COLLATE "C" PRIMARY KEY REFERENCES refunds (id),
    merchant_id TEXT COLLATE "C" NOT NULL,
    reported_on TIMESTAMPTZ NOT NULL -- the report's day, midnight UTC
);
