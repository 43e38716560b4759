-- 0021_reported_refunds: the settlement reports a merchant has reconciled,
-- by processor account and the days they cover, and the refunds each listed, so that a
-- refund a processor reports a day late is not called missing by the
-- report of the day after (see refund.Reconcile's settlement lag).
CREATE TABLE settlement_reports (
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    processor_account TEXT NOT NULL, -- the account's id; '' for a report of all the merchant's refunds
    day               INTEGER NOT NULL, -- the report's day: its latest row's, midnight UTC
    covers_from       INTEGER NOT NULL, -- its earliest row's day
    reconciled_at     INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, processor_account, covers_from, day)
);
CREATE TABLE reported_refunds (
    merchant_id       TEXT NOT NULL,
    processor_account TEXT NOT NULL,
    report_from       INTEGER NOT NULL,
    report_day        INTEGER NOT NULL,
    refund_id         TEXT NOT NULL REFERENCES refunds (id),
    PRIMARY KEY (merchant_id, processor_account, report_from, report_day, refund_id),
    FOREIGN KEY (merchant_id, processor_account, report_from, report_day)
        REFERENCES settlement_reports (merchant_id, processor_account, covers_from, day)
);
CREATE INDEX reported_refunds_refund ON reported_refunds (refund_id);
