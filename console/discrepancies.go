package console

import (
	"net/http"

	"github.com/refundd/refundd/refund"
)

type discrepanciesView struct {
	base
	Discrepancies []*refund.Discrepancy
	NextCursor    string
}

// discrepancies lists what the processor did that the books could not
// absorb, newest first: each needs a person.
func (c *Console) discrepancies(w http.ResponseWriter, r *http.Request, s *session) {
	page, err := c.svc.ListDiscrepancies(r.Context(), s.principal, refund.DiscrepancyFilter{
		Cursor: r.URL.Query().Get("cursor"), Limit: refund.MaxPageSize})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "discrepancies.html", &discrepanciesView{base: c.base(r, s, "discrepancies", "discrepancies.title"),
		Discrepancies: page.Data, NextCursor: page.NextCursor})
}
