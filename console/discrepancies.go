package console

import (
	"net/http"

	"github.com/refundd/refundd/refund"
)

type discrepanciesView struct {
	base
	Discrepancies []*refund.Discrepancy
	NextCursor    string
	CanResolve    bool   // the session carries refunds:review
	Status        string // open or resolved ones only; "" all
}

// discrepancies lists what the processor did that the books could not
// absorb, newest first: open ones need a person, resolved ones stay
// listed with who resolved them, when and their note.
func (c *Console) discrepancies(w http.ResponseWriter, r *http.Request, s *session) {
	// The overview's count is of open ones, and its link shows those:
	// resolved ones pile up and would push them to later pages.
	status := r.URL.Query().Get("status")
	page, err := c.svc.ListDiscrepancies(r.Context(), s.principal, refund.DiscrepancyFilter{
		Status: status, Cursor: r.URL.Query().Get("cursor"), Limit: refund.MaxPageSize})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := discrepanciesView{base: c.base(r, s, "discrepancies", "discrepancies.title"),
		Discrepancies: page.Data, NextCursor: page.NextCursor, CanResolve: s.principal.Has(refund.ScopeRefundsReview), Status: status}
	if r.URL.Query().Get("m") == "resolved" {
		v.Notice = v.loc.S("discrepancies.notice.resolved")
	}
	c.render(w, r, http.StatusOK, "discrepancies.html", &v)
}

// resolveDiscrepancy closes a discrepancy a person has settled, with
// their note (scope refunds:review).
func (c *Console) resolveDiscrepancy(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := c.svc.ResolveDiscrepancy(r.Context(), s.principal, r.PathValue("id"), r.PostForm.Get("note")); err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/console/discrepancies?m=resolved", http.StatusSeeOther)
}
