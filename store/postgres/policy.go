package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// GetRefundPolicy returns ENotFound when the merchant never set one.
func (t *tx) GetRefundPolicy(ctx context.Context, merchantID string) (*refund.RefundPolicy, error) {
	p := refund.RefundPolicy{MerchantID: merchantID}
	var thresholds []byte
	var expiry int64
	err := t.q.QueryRow(ctx, `SELECT approval_threshold, older_than_days, approval_expiry_s, updated_at
		FROM refund_policies WHERE merchant_id = $1`, merchantID).Scan(&thresholds, &p.OlderThanDays, &expiry, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no refund policy")
	}
	if err != nil {
		return nil, t.fail("get refund policy", err)
	}
	if err := json.Unmarshal(thresholds, &p.ApprovalThreshold); err != nil {
		return nil, fmt.Errorf("postgres: refund policy of %s: %w", merchantID, err)
	}
	p.ApprovalExpiry = time.Duration(expiry) * time.Second
	return &p, nil
}

// PutRefundPolicy inserts or replaces the merchant's policy.
func (t *tx) PutRefundPolicy(ctx context.Context, p *refund.RefundPolicy) error {
	thresholds, err := json.Marshal(p.ApprovalThreshold)
	if err != nil {
		return fmt.Errorf("postgres: put refund policy: %w", err)
	}
	_, err = t.exec(ctx, "put refund policy", `INSERT INTO refund_policies (merchant_id, approval_threshold, older_than_days, approval_expiry_s, updated_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id) DO UPDATE SET approval_threshold = excluded.approval_threshold,
		older_than_days = excluded.older_than_days, approval_expiry_s = excluded.approval_expiry_s, updated_at = excluded.updated_at`,
		p.MerchantID, string(thresholds), p.OlderThanDays, int64(p.ApprovalExpiry/time.Second), p.UpdatedAt)
	return err
}
