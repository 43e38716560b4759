package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/refundd/refundd/refund"
)

// GetRefundPolicy returns ENotFound when the merchant never set one.
func (t *tx) GetRefundPolicy(ctx context.Context, merchantID string) (*refund.RefundPolicy, error) {
	p := refund.RefundPolicy{MerchantID: merchantID}
	var thresholds string
	var expiry, updated int64
	err := t.q.QueryRowContext(ctx, `SELECT approval_threshold, older_than_days, approval_expiry_s, updated_at
		FROM refund_policies WHERE merchant_id = ?`, merchantID).Scan(&thresholds, &p.OlderThanDays, &expiry, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no refund policy")
	}
	if err != nil {
		return nil, wrap("get refund policy", err)
	}
	if err := json.Unmarshal([]byte(thresholds), &p.ApprovalThreshold); err != nil {
		return nil, fmt.Errorf("sqlite: refund policy of %s: %w", merchantID, err)
	}
	p.ApprovalExpiry, p.UpdatedAt = time.Duration(expiry)*time.Second, fromNanos(updated)
	return &p, nil
}

// PutRefundPolicy inserts or replaces the merchant's policy.
func (t *tx) PutRefundPolicy(ctx context.Context, p *refund.RefundPolicy) error {
	thresholds, err := json.Marshal(p.ApprovalThreshold)
	if err != nil {
		return fmt.Errorf("sqlite: put refund policy: %w", err)
	}
	_, err = t.exec(ctx, "put refund policy", `INSERT INTO refund_policies (merchant_id, approval_threshold, older_than_days, approval_expiry_s, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (merchant_id) DO UPDATE SET approval_threshold = excluded.approval_threshold,
		older_than_days = excluded.older_than_days, approval_expiry_s = excluded.approval_expiry_s, updated_at = excluded.updated_at`,
		p.MerchantID, string(thresholds), p.OlderThanDays, int64(p.ApprovalExpiry/time.Second), nanos(p.UpdatedAt))
	return err
}
