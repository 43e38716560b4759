package postgres

import (
	"context"

	"github.com/refundd/refundd/refund"
)

const auditColumns = `id, merchant_id, action, object_type, object_id, actor, key_prefix, surface, request_id, ip, before, after, at`

// InsertAudit appends an entry to the audit trail.
func (t *tx) InsertAudit(ctx context.Context, e *refund.AuditEntry) error {
	return t.join(ctx, "insert audit entry", "audit_log", `INSERT INTO audit_log (`+auditColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		e.ID, e.MerchantID, e.Action, e.ObjectType, e.ObjectID, e.Actor, e.KeyPrefix, e.Surface, e.RequestID, e.IP,
		e.Before, e.After, e.At)
}

// ListAudit returns one merchant's entries newest first (by id).
func (t *tx) ListAudit(ctx context.Context, f refund.AuditFilter) ([]*refund.AuditEntry, error) {
	var p params
	where := []string{"merchant_id = " + p.add(f.MerchantID)}
	if f.ObjectID != "" {
		where = append(where, "object_id = "+p.add(f.ObjectID))
	}
	if f.Action != "" {
		where = append(where, "action = "+p.add(f.Action))
	}
	if f.Cursor != "" {
		where = append(where, "id < "+p.add(f.Cursor))
	}
	query := `SELECT ` + auditColumns + ` FROM audit_log` + whereClause(where) + ` ORDER BY id DESC LIMIT ` + p.add(limit(f.Limit))
	return queryAll(ctx, t, "list audit entries", query, func(s scanner) (*refund.AuditEntry, error) {
		var e refund.AuditEntry
		err := s.Scan(&e.ID, &e.MerchantID, &e.Action, &e.ObjectType, &e.ObjectID, &e.Actor, &e.KeyPrefix,
			&e.Surface, &e.RequestID, &e.IP, &e.Before, &e.After, &e.At)
		return &e, err
	}, p...)
}
