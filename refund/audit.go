package refund

import (
	"context"
	"time"
)

// AuditEntry records one state-changing call: who (actor and key prefix),
// through which surface and request, from where, and what it changed.
type AuditEntry struct {
	ID         string
	MerchantID string // whose record it is; "" for calls outside any merchant
	Action     string // order.create, refund.create, refund.cancel, ...
	ObjectType string // order, refund, webhook_endpoint, notify_secret, api_key
	ObjectID   string
	Actor      string // merchant, partner:<id>, or admin (the CLI)
	KeyPrefix  string // the visible prefix of the key used, never the key
	Surface    string // native, gateway, sgate, upayments, paylink, techrar, cli
	RequestID  string
	IP         string
	Before     string // the object's status before the call ("" on creation)
	After      string // its status after
	At         time.Time
}

// AuditFilter selects one merchant's audit entries, newest first.
type AuditFilter struct {
	MerchantID string
	ObjectID   string
	Action     string
	Cursor     string // ids strictly below this one
	Limit      int
}

// AuditTx is the audit part of a transaction.
type AuditTx interface {
	InsertAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns entries newest first (by id).
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}

// RequestInfo is what a surface knows about the call that the core
// records but does not interpret.
type RequestInfo struct {
	ID      string // the request id (X-Request-Id)
	IP      string // the caller's address as the listener saw it
	Surface string // set by a surface that is not the native API
}

type requestKey struct{}

// WithRequest returns ctx carrying info; fields already set in ctx are
// kept unless info sets them.
func WithRequest(ctx context.Context, info RequestInfo) context.Context {
	prev := RequestFrom(ctx)
	if info.ID == "" {
		info.ID = prev.ID
	}
	if info.IP == "" {
		info.IP = prev.IP
	}
	if info.Surface == "" {
		info.Surface = prev.Surface
	}
	return context.WithValue(ctx, requestKey{}, info)
}

// RequestFrom returns the request info carried by ctx.
func RequestFrom(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestKey{}).(RequestInfo)
	return info
}

// audit writes one entry in tx, the transaction that made the change, so
// the trail holds exactly the changes that committed. surface "" takes the
// request's, or native.
func (s *Service) audit(ctx context.Context, tx Tx, p Principal, action, objType, objID, before, after, surface string, now time.Time) error {
	req := RequestFrom(ctx)
	if surface == "" {
		surface = req.Surface
	}
	if surface == "" {
		surface = "native"
	}
	actor := "merchant"
	switch {
	case p.Processor:
		actor, surface = "processor", "processor"
	case p.Worker:
		actor, surface = "refundd", "worker"
	case p.PartnerID != "":
		actor = "partner:" + p.PartnerID
	case p.UserID != "":
		actor, surface = "user:"+p.UserEmail, "console"
	case p.KeyPrefix == "":
		actor, surface = "admin", "cli"
	}
	return tx.InsertAudit(ctx, &AuditEntry{ID: s.cfg.NewID("aud"), MerchantID: p.MerchantID, Action: action,
		ObjectType: objType, ObjectID: objID, Actor: actor, KeyPrefix: p.KeyPrefix, Surface: surface,
		RequestID: req.ID, IP: req.IP, Before: before, After: after, At: now})
}

// ListAudit returns the caller's audit trail, newest first.
func (s *Service) ListAudit(ctx context.Context, p Principal, f AuditFilter) (Page[*AuditEntry], error) {
	if err := require(p, ScopeRefundsRead); err != nil {
		return Page[*AuditEntry]{}, err
	}
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return Page[*AuditEntry]{}, err
	}
	f.MerchantID, f.Limit = p.MerchantID, limit+1
	var rows []*AuditEntry
	err = s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		rows, err = tx.ListAudit(ctx, f)
		return err
	})
	if err != nil {
		return Page[*AuditEntry]{}, err
	}
	return paginate(rows, limit, func(e *AuditEntry) string { return e.ID }), nil
}
