package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/refundd/refundd/refund"
)

// notificationJSON is a processor notification: Standard Webhooks
// envelope, refundd's field names.
type notificationJSON struct {
	Type string `json:"type"`
	Data struct {
		IdempotencyKey string `json:"idempotency_key"`
		ResponseCode   string `json:"response_code"`
		Message        string `json:"message"`
		RRN            string `json:"rrn"`
		ARN            string `json:"arn"`
		OrderID        string `json:"order_id"`
		Amount         int64  `json:"amount"`
		Currency       string `json:"currency"`
		Reason         string `json:"reason"`
		Reference      string `json:"reference"`
	} `json:"data"`
}

// processorNotification receives what the processor reports on its own:
// refunds succeeded, failed or reversed, orders voided or charged back.
// It is not behind an API key: the processor signs it (Standard Webhooks)
// with the secret refundd was started with, and anything unsigned or
// wrongly signed is refused and logged.
func (a *API) processorNotification(w http.ResponseWriter, r *http.Request) {
	if a.verify == nil {
		a.fail(w, r, refund.Errorf(refund.ENotFound, "", "processor notifications are not configured: start refundd with --processor-webhook-secret"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	var maxErr *http.MaxBytesError
	if len(body) > MaxBodyBytes || errors.As(err, &maxErr) {
		a.fail(w, r, refund.Errorf(ECodeTooLarge, "", "request body is larger than %d bytes", MaxBodyBytes))
		return
	}
	if err != nil {
		a.fail(w, r, refund.Errorf(refund.EInvalidRequest, "", "request body could not be read"))
		return
	}
	if err := a.verify(body, r.Header); err != nil {
		a.log.Warn("refused a processor notification", "webhook_id", r.Header.Get("webhook-id"), "client", refund.RequestFrom(r.Context()).IP, "remote", r.RemoteAddr, "err", err)
		w.Header().Set("WWW-Authenticate", `Signature realm="refundd"`)
		a.fail(w, r, refund.Errorf(refund.EUnauthorized, "", "the notification is not signed with the configured secret"))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req notificationJSON
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	d := req.Data
	out, err := a.svc.ApplyNotification(r.Context(), refund.Notification{ID: r.Header.Get("webhook-id"), Type: req.Type,
		RefundID: d.IdempotencyKey, ResponseCode: d.ResponseCode, Message: d.Message, RRN: d.RRN, ARN: d.ARN,
		OrderID: d.OrderID, Amount: d.Amount, Currency: d.Currency, Reason: d.Reason, ProcessorReference: d.Reference})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "applied": out.Applied,
		"object": nullable(out.Object), "status": nullable(out.Status), "note": nullable(out.Note)})
}
