package sqlite

import (
	"context"

	"github.com/refundd/refundd/refund"
)

func (t *tx) InsertAudit(ctx context.Context, e *refund.AuditEntry) error {
	_, err := t.q.ExecContext(ctx, `INSERT INTO audit_log (id, merchant_id, action, object_type, object_id, actor,
		key_prefix, surface, request_id, ip, before, after, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.MerchantID, e.Action, e.ObjectType, e.ObjectID, e.Actor, e.KeyPrefix, e.Surface, e.RequestID, e.IP,
		e.Before, e.After, nanos(e.At))
	return wrapErr("insert audit entry", err)
}

func (t *tx) ListAudit(ctx context.Context, f refund.AuditFilter) ([]*refund.AuditEntry, error) {
	where := []string{"merchant_id = ?"}
	args := []any{f.MerchantID}
	add := func(cond string, arg any) { where, args = append(where, cond), append(args, arg) }
	if f.ObjectID != "" {
		add("object_id = ?", f.ObjectID)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Cursor != "" {
		add("id < ?", f.Cursor)
	}
	rows, err := t.q.QueryContext(ctx, `SELECT id, merchant_id, action, object_type, object_id, actor, key_prefix,
		surface, request_id, ip, before, after, at FROM audit_log`+whereClause(where)+` ORDER BY id DESC`+limitSQL(limit(f.Limit), 0),
		args...)
	if err != nil {
		return nil, wrap("list audit entries", err)
	}
	defer rows.Close()
	var out []*refund.AuditEntry
	for rows.Next() {
		var e refund.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.MerchantID, &e.Action, &e.ObjectType, &e.ObjectID, &e.Actor, &e.KeyPrefix,
			&e.Surface, &e.RequestID, &e.IP, &e.Before, &e.After, &at); err != nil {
			return nil, wrap("list audit entries", err)
		}
		e.At = fromNanos(at)
		out = append(out, &e)
	}
	return out, wrapErr("list audit entries", rows.Err())
}
