-- 0003_refund_number: a positive integer per refund, unique across the
-- database and never changed (refund.Refund.Number; the Paylink dialect's
-- integer refund id). New refunds take MAX(number) + 1 under the single
-- writer; existing ones are numbered by rowid, which is unique.

ALTER TABLE refunds ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
UPDATE refunds SET number = rowid;
CREATE UNIQUE INDEX refunds_number ON refunds (number);
