package api

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/refundd/refundd/refund"
)

type policyJSON struct {
	Object            string           `json:"object"`
	ApprovalThreshold map[string]int64 `json:"approval_threshold"`
	OlderThanDays     int              `json:"older_than_days"`
	ApprovalExpiry    int64            `json:"approval_expiry_seconds"`
	UpdatedAt         *time.Time       `json:"updated_at"`
}

func policyOut(p *refund.RefundPolicy) policyJSON {
	j := policyJSON{Object: "refund_policy", ApprovalThreshold: p.ApprovalThreshold, OlderThanDays: p.OlderThanDays,
		ApprovalExpiry: int64(p.ApprovalExpiry / time.Second)}
	if j.ApprovalThreshold == nil {
		j.ApprovalThreshold = map[string]int64{}
	}
	if !p.UpdatedAt.IsZero() {
		j.UpdatedAt = &p.UpdatedAt
	}
	return j
}

type policyRequest struct {
	ApprovalThreshold *map[string]int64 `json:"approval_threshold"`
	OlderThanDays     *int              `json:"older_than_days"`
	ApprovalExpiry    *int64            `json:"approval_expiry_seconds"`
}

func (policyRequest) nonNull() []string {
	return []string{"approval_threshold", "older_than_days", "approval_expiry_seconds"}
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := a.svc.GetRefundPolicy(r.Context(), PrincipalFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policyOut(p))
}

func (a *API) putPolicy(w http.ResponseWriter, r *http.Request) {
	var req policyRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	in := refund.RefundPolicyInput{ApprovalThreshold: req.ApprovalThreshold, OlderThanDays: req.OlderThanDays}
	if req.ApprovalExpiry != nil {
		// Bounded where seconds still fit a Duration: beyond, they wrapped
		// into the range the core accepts (18446744134 s read as 60 s).
		if *req.ApprovalExpiry < 0 || *req.ApprovalExpiry > int64(math.MaxInt64/time.Second) {
			a.fail(w, r, refund.Errorf(refund.EInvalidRequest, "approval_expiry_seconds", "approval_expiry_seconds must be between 60 and 2592000"))
			return
		}
		d := time.Duration(*req.ApprovalExpiry) * time.Second
		in.ApprovalExpiry = &d
	}
	p, err := a.svc.PutRefundPolicy(r.Context(), PrincipalFrom(r.Context()), in)
	if err != nil {
		if refund.ErrorParam(err) == "approval_expiry" { // the core's name for it
			err = refund.Errorf(refund.EInvalidRequest, "approval_expiry_seconds", "approval_expiry_seconds must be between 60 and 2592000")
		}
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, policyOut(p))
}

// decodeOptional decodes a body that may be left out entirely.
func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 && r.Header.Get("Transfer-Encoding") == "" {
		return nil
	}
	return decode(r, v)
}

func (a *API) approveRefund(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if err := decodeOptional(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	a.refundAction(w, r, a.svc.ApproveRefund)
}

type rejectRequest struct {
	Reason string `json:"reason"`
}

func (a *API) rejectRefund(w http.ResponseWriter, r *http.Request) {
	var req rejectRequest
	if err := decodeOptional(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	a.refundAction(w, r, func(ctx context.Context, p refund.Principal, id string) (*refund.Refund, error) {
		return a.svc.RejectRefund(ctx, p, id, req.Reason)
	})
}
