package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/refundd/refundd/refund"
)

// GetRefundPolicy returns ENotFound when the merchant never set one.
func (t *tx) GetRefundPolicy(ctx context.Context, merchantID string) (*refund.RefundPolicy, error) {
	if v, ok := t.recall(aheadPolicy + merchantID); ok {
		r := v.(policyRead)
		if r.err != nil {
			return nil, r.err
		}
		p := *r.p
		p.ApprovalThreshold = maps.Clone(r.p.ApprovalThreshold)
		return &p, nil
	}
	p, err := scanPolicy(t.q.QueryRow(ctx, policySelect+` WHERE merchant_id = $1`, merchantID), merchantID)
	if err != nil && refund.ErrorCode(err) != refund.ENotFound {
		return nil, t.fail("get refund policy", err)
	}
	return p, err
}

// PutRefundPolicy inserts or replaces the merchant's policy.
func (t *tx) PutRefundPolicy(ctx context.Context, p *refund.RefundPolicy) error {
	thresholds, err := json.Marshal(p.ApprovalThreshold)
	if err != nil {
		return fmt.Errorf("postgres: put refund policy: %w", err)
	}
	t.forget(aheadPolicy)
	_, err = t.exec(ctx, "put refund policy", `INSERT INTO refund_policies (merchant_id, approval_threshold, older_than_days, approval_expiry_s, updated_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id) DO UPDATE SET approval_threshold = excluded.approval_threshold,
		older_than_days = excluded.older_than_days, approval_expiry_s = excluded.approval_expiry_s, updated_at = excluded.updated_at`,
		p.MerchantID, string(thresholds), p.OlderThanDays, int64(p.ApprovalExpiry/time.Second), p.UpdatedAt)
	return err
}
