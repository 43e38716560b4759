package api

import (
	"net/http"
	"time"

	"github.com/refundd/refundd/refund"
)

type endpointRequest struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	Events      *[]string `json:"events"`
	Disabled    *bool     `json:"disabled"`
}

func (endpointRequest) nonNull() []string {
	return []string{"url", "description", "events", "disabled"}
}

type endpointJSON struct {
	ID          string   `json:"id"`
	Object      string   `json:"object"`
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"`
	Disabled    bool     `json:"disabled"`
	Secret      *string  `json:"secret,omitempty"` // only in the create and rotate replies
	// PreviousSecretExpiresAt is when the secret before the last
	// rotation stops signing deliveries; null when none does.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// endpointOut is e as the API shows it at now: previous_secret_expires_at
// only while the old secret still signs (refund.WebhookEndpoint.Secrets).
func endpointOut(e *refund.WebhookEndpoint, now time.Time) endpointJSON {
	j := endpointJSON{ID: e.ID, Object: "webhook_endpoint", URL: e.URL, Description: e.Description, Events: e.Events,
		Disabled: e.Disabled, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
	if len(j.Events) == 0 {
		j.Events = []string{"*"}
	}
	j.PreviousSecretExpiresAt = previousSecretExpiresAt(e.SigningSecrets, now)
	return j
}

// previousSecretExpiresAt is when the secret before the last rotation
// stops signing deliveries, nil once it signs none
// (refund.SigningSecrets.Secrets) or there is none.
func previousSecretExpiresAt(k refund.SigningSecrets, now time.Time) *time.Time {
	if len(k.Secrets(now)) < 2 {
		return nil
	}
	return &k.PreviousSecretUntil
}

type rotateSecretRequest struct {
	ExpirePreviousIn *int64 `json:"expire_previous_in"` // seconds
}

func (rotateSecretRequest) nonNull() []string { return []string{"expire_previous_in"} }

// rotateEndpointSecret gives an endpoint a new secret, shown in this reply
// only; the old one goes on signing for expire_previous_in seconds.
func (a *API) rotateEndpointSecret(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req rotateSecretRequest
	if err := decodeOptional(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.svc.RotateWebhookEndpointSecret(r.Context(), PrincipalFrom(r.Context()), id, req.ExpirePreviousIn)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	j := endpointOut(e, a.svc.Now())
	j.Secret = &e.Secret
	writeJSON(w, http.StatusOK, j)
}

func (a *API) createEndpoint(w http.ResponseWriter, r *http.Request) {
	var req endpointRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.svc.CreateWebhookEndpoint(r.Context(), PrincipalFrom(r.Context()), refund.WebhookEndpointInput(req))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	j := endpointOut(e, a.svc.Now())
	j.Secret = &e.Secret
	writeJSON(w, http.StatusCreated, j)
}

func (a *API) listEndpoints(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := queryPage(r, "we")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	eps, err := a.svc.ListWebhookEndpoints(r.Context(), PrincipalFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := a.svc.Now()
	writeJSON(w, http.StatusOK, listOut(pageByID(eps, func(e *refund.WebhookEndpoint) string { return e.ID }, limit, cursor),
		func(e *refund.WebhookEndpoint) endpointJSON { return endpointOut(e, now) }))
}

func (a *API) getEndpoint(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.svc.GetWebhookEndpoint(r.Context(), PrincipalFrom(r.Context()), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointOut(e, a.svc.Now()))
}

func (a *API) updateEndpoint(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req endpointRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.svc.UpdateWebhookEndpoint(r.Context(), PrincipalFrom(r.Context()), id, refund.WebhookEndpointInput(req))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointOut(e, a.svc.Now()))
}

func (a *API) deleteEndpoint(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.svc.DeleteWebhookEndpoint(r.Context(), PrincipalFrom(r.Context()), id); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "webhook_endpoint", "deleted": true})
}

func (a *API) testEndpoint(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ev, err := a.svc.TestWebhookEndpoint(r.Context(), PrincipalFrom(r.Context()), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, eventOut(ev))
}

type attemptJSON struct {
	ID          string     `json:"id"`
	Object      string     `json:"object"`
	DeliveryID  string     `json:"delivery_id"`
	EventID     string     `json:"event_id"`
	EventType   string     `json:"event_type"`
	URL         string     `json:"url"`
	Attempt     int        `json:"attempt"`
	StatusCode  *int       `json:"status_code"`
	LatencyMS   int64      `json:"latency_ms"`
	Error       *string    `json:"error"`
	At          time.Time  `json:"at"`
	NextRetryAt *time.Time `json:"next_retry_at"`
}

func attemptOut(at *refund.DeliveryAttempt) attemptJSON {
	j := attemptJSON{ID: at.ID, Object: "webhook_delivery", DeliveryID: at.DeliveryID, EventID: at.EventID,
		EventType: at.EventType, URL: at.URL, Attempt: at.Attempt, LatencyMS: at.LatencyMS, Error: nullable(at.Error),
		At: at.At, NextRetryAt: at.NextRetryAt}
	if at.StatusCode != 0 {
		j.StatusCode = &at.StatusCode
	}
	return j
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var f refund.AttemptFilter
	if f.Limit, f.Cursor, err = queryPage(r, "wa"); err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.svc.ListDeliveryAttempts(r.Context(), PrincipalFrom(r.Context()), id, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOut(page, attemptOut))
}

func eventOut(e *refund.Event) refund.EventBody { return e.Body() }

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := refund.EventFilter{Type: q.Get("type"), RefundID: q.Get("refund_id")}
	var err error
	if f.Limit, f.Cursor, err = queryPage(r, "evt"); err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.svc.ListEvents(r.Context(), PrincipalFrom(r.Context()), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOut(page, eventOut))
}

func (a *API) getEvent(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.svc.GetEvent(r.Context(), PrincipalFrom(r.Context()), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, eventOut(e))
}

type notifySecretJSON struct {
	Object string `json:"object"`
	Secret string `json:"secret"` // only in this reply: there is no other
	// PreviousSecretExpiresAt is when the secret before this rotation
	// stops signing deliveries; null when none does.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// rotateNotifySecret gives refunds' notify-URL deliveries a new secret,
// shown in this reply only; the old one goes on signing for
// expire_previous_in seconds.
func (a *API) rotateNotifySecret(w http.ResponseWriter, r *http.Request) {
	var req rotateSecretRequest
	if err := decodeOptional(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.svc.RotateNotifySecret(r.Context(), PrincipalFrom(r.Context()), req.ExpirePreviousIn)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, notifySecretJSON{Object: "notify_secret", Secret: n.Secret,
		PreviousSecretExpiresAt: previousSecretExpiresAt(n.SigningSecrets, a.svc.Now())})
}
