-- 0010_reconciliation (PostgreSQL twin): a discrepancy about a report row refundd cannot
-- match to a refund is kept once per reference (the row's refund id, ARN
-- or RRN), so reconciling the same report again records nothing new.
ALTER TABLE discrepancies ADD COLUMN reference TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX discrepancies_reference ON discrepancies (merchant_id, kind, reference)
    WHERE refund_id = '' AND reference <> '';
-- Report rows name refunds by ARN or RRN.
CREATE INDEX refunds_arn ON refunds (merchant_id, arn) WHERE arn <> '';
CREATE INDEX refunds_rrn ON refunds (merchant_id, rrn) WHERE rrn <> '';
