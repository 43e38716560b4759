package console

import (
	"net/http"

	"github.com/refundd/refundd/refund"
)

// latestAttempts is how many delivery attempts the webhooks page shows per
// endpoint; the endpoint's own page pages through all of them.
const latestAttempts = 5

type endpointRow struct {
	Endpoint *refund.WebhookEndpoint
	Attempts []*refund.DeliveryAttempt
	More     bool
}

type webhooksView struct {
	base
	Endpoints []endpointRow
}

// webhooks lists the merchant's endpoints, each with its latest delivery
// attempts. An endpoint's secret is never shown: it was shown once, when
// the endpoint was created through the API.
func (c *Console) webhooks(w http.ResponseWriter, r *http.Request, s *session) {
	eps, err := c.svc.ListWebhookEndpoints(r.Context(), s.principal)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := webhooksView{base: c.base(r, s, "webhooks", "webhooks.title")}
	for _, e := range eps {
		page, err := c.svc.ListDeliveryAttempts(r.Context(), s.principal, e.ID, refund.AttemptFilter{Limit: latestAttempts})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		v.Endpoints = append(v.Endpoints, endpointRow{Endpoint: e, Attempts: page.Data, More: page.HasMore})
	}
	c.render(w, r, http.StatusOK, "webhooks.html", &v)
}

type deliveriesView struct {
	base
	Endpoint   *refund.WebhookEndpoint
	Attempts   []*refund.DeliveryAttempt
	NextCursor string
	Paged      bool
}

// deliveries is one endpoint's delivery log, newest first.
func (c *Console) deliveries(w http.ResponseWriter, r *http.Request, s *session) {
	e, err := c.svc.GetWebhookEndpoint(r.Context(), s.principal, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	cursor := r.URL.Query().Get("cursor")
	if len(cursor) > 128 {
		c.fail(w, r, s, errorf(refund.EInvalidRequest, "cursor", "error.cursor"))
		return
	}
	page, err := c.svc.ListDeliveryAttempts(r.Context(), s.principal, e.ID, refund.AttemptFilter{Cursor: cursor, Limit: 50})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := deliveriesView{base: c.base(r, s, "webhooks", "deliveries.title", e.URL), Endpoint: e, Attempts: page.Data,
		NextCursor: page.NextCursor, Paged: cursor != ""}
	c.render(w, r, http.StatusOK, "deliveries.html", &v)
}
