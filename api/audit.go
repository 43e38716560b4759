package api

import (
	"net/http"
	"time"

	"github.com/refundd/refundd/refund"
)

type auditJSON struct {
	ID         string    `json:"id"`
	Object     string    `json:"object"`
	Action     string    `json:"action"`
	ObjectType string    `json:"object_type"`
	ObjectID   string    `json:"object_id"`
	Actor      string    `json:"actor"`
	KeyPrefix  string    `json:"key_prefix"`
	Surface    string    `json:"surface"`
	RequestID  string    `json:"request_id"`
	IP         string    `json:"ip"`
	Before     string    `json:"before"`
	After      string    `json:"after"`
	At         time.Time `json:"at"`
}

func auditOut(e *refund.AuditEntry) auditJSON {
	return auditJSON{ID: e.ID, Object: "audit_entry", Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID,
		Actor: e.Actor, KeyPrefix: e.KeyPrefix, Surface: e.Surface, RequestID: e.RequestID, IP: e.IP,
		Before: e.Before, After: e.After, At: e.At}
}

// listAudit serves the caller's own audit trail (?object_id, ?action).
func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := refund.AuditFilter{ObjectID: q.Get("object_id"), Action: q.Get("action")}
	var err error
	if f.Limit, f.Cursor, err = queryPage(r, "aud"); err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.svc.ListAudit(r.Context(), PrincipalFrom(r.Context()), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOut(page, auditOut))
}
