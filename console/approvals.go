package console

import (
	"net/http"
	"net/url"

	"github.com/refundd/refundd/refund"
)

// approval is one refund waiting for approval, with its order.
type approval struct {
	Refund *refund.Refund
	// Order is nil when the session may not read orders (a key with
	// refunds:approve and refunds:read only, the approver key the demo
	// prints): the queue still offers the refund.
	Order *refund.Order
	// Own: the signed-in person asked for it, so they may not decide on it.
	Own bool
}

type approvalsView struct {
	base
	Approvals []approval
	CanDecide bool // the session carries refunds:approve
	// Next is the cursor of the next page: more wait than a page holds.
	// The queue runs oldest first: those expire first.
	Next string
}

// approvals is the queue of refunds waiting for a second person, with each
// order's lines and vendors; approve and reject are offered to those who
// may decide, never on their own refunds.
func (c *Console) approvals(w http.ResponseWriter, r *http.Request, s *session) {
	page, err := c.svc.ListRefunds(r.Context(), s.principal, refund.RefundFilter{Status: refund.StatusRequiresApproval, Limit: refund.MaxPageSize,
		OldestFirst: true, Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := approvalsView{base: c.base(r, s, "approvals", "approvals.title"), CanDecide: s.principal.Has(refund.ScopeRefundsApprove)}
	if page.HasMore {
		v.Next = page.NextCursor
	}
	if id, ok := map[string]string{"approved": "approvals.notice.approved", "rejected": "approvals.notice.rejected"}[r.URL.Query().Get("m")]; ok {
		v.Notice = v.loc.S(id)
	}
	readsOrders := s.principal.Has(refund.ScopeOrdersRead)
	for _, rf := range page.Data {
		var o *refund.Order
		if readsOrders {
			if o, err = c.svc.GetOrder(r.Context(), s.principal, rf.OrderID); err != nil {
				c.fail(w, r, s, err)
				return
			}
		}
		v.Approvals = append(v.Approvals, approval{Refund: rf, Order: o, Own: rf.CreatedBy != "" && rf.CreatedBy == s.principal.Actor()})
	}
	c.render(w, r, http.StatusOK, "approvals.html", &v)
}

// decide approves or rejects a refund; the core refuses the creator and
// anyone without refunds:approve, whatever the page showed.
func (c *Console) decide(approve bool) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		var err error
		if approve {
			_, err = c.svc.ApproveRefund(r.Context(), s.principal, r.PathValue("id"))
		} else {
			_, err = c.svc.RejectRefund(r.Context(), s.principal, r.PathValue("id"), r.PostForm.Get("reason"))
		}
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		m := map[bool]string{true: "approved", false: "rejected"}[approve]
		http.Redirect(w, r, "/console/approvals?m="+url.QueryEscape(m), http.StatusSeeOther)
	}
}
