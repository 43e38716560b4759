package console

import (
	"net/http"
	"net/url"

	"github.com/refundd/refundd/refund"
)

type attentionView struct {
	base
	Review           []*refund.Refund // waiting for review, oldest first
	CanResolve       bool
	RequiresApproval int64
	Discrepancies    int64
	DiscrepancyMore  bool
}

// attention gathers what needs a person: refunds waiting for review
// (resolved here, with a note), and the counts of the approvals queue and
// of open discrepancies, each with its page.
func (c *Console) attention(w http.ResponseWriter, r *http.Request, s *session) {
	o, err := c.svc.Overview(r.Context(), s.principal)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	page, err := c.svc.ListRefunds(r.Context(), s.principal, refund.RefundFilter{Status: refund.StatusRequiresReview, Limit: refund.MaxPageSize})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := attentionView{base: c.base(r, s, "attention", "attention.title"), Review: page.Data,
		CanResolve: s.principal.Has(refund.ScopeRefundsReview), RequiresApproval: o.RequiresApproval,
		Discrepancies: o.Discrepancies, DiscrepancyMore: o.DiscrepanciesMore}
	if r.URL.Query().Get("m") == "resolved" {
		v.Notice = v.loc.S("attention.notice.resolved")
	}
	c.render(w, r, http.StatusOK, "attention.html", &v)
}

// resolve settles a refund waiting for review (scope refunds:review).
func (c *Console) resolve(w http.ResponseWriter, r *http.Request, s *session) {
	_, err := c.svc.ResolveRefund(r.Context(), s.principal, r.PathValue("id"),
		refund.ResolveInput{Outcome: refund.Status(r.PostForm.Get("outcome")), Note: r.PostForm.Get("note")})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/console/attention?m="+url.QueryEscape("resolved"), http.StatusSeeOther)
}
