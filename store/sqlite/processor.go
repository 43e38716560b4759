package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/refundd/refundd/refund"
)

const accountColumns = `id, merchant_id, name, kind, url, credential, options, is_default, created_at, updated_at`

func scanAccount(s scanner) (*refund.ProcessorAccount, error) {
	var a refund.ProcessorAccount
	var options string
	var created, updated int64
	if err := s.Scan(&a.ID, &a.MerchantID, &a.Name, &a.Kind, &a.URL, &a.Credential, &options, &a.Default, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(options), &a.Options); err != nil {
		return nil, fmt.Errorf("processor account %s options: %w", a.ID, err)
	}
	a.CreatedAt, a.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &a, nil
}

// CreateProcessorAccount returns EConflict when the name is taken.
func (t *tx) CreateProcessorAccount(ctx context.Context, a *refund.ProcessorAccount) error {
	options, err := json.Marshal(a.Options)
	if err != nil {
		return fmt.Errorf("sqlite: create processor account: %w", err)
	}
	if a.Default {
		if _, err := t.exec(ctx, "create processor account", `UPDATE processor_accounts SET is_default = 0
			WHERE merchant_id = ? AND is_default = 1`, a.MerchantID); err != nil {
			return err
		}
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO processor_accounts (`+accountColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.MerchantID, a.Name, a.Kind, a.URL, a.Credential, string(options), a.Default, nanos(a.CreatedAt), nanos(a.UpdatedAt))
	if isUnique(err) {
		return refund.Errorf(refund.EConflict, "name", "the merchant already has a processor account named %q", a.Name)
	}
	return wrapErr("create processor account", err)
}

func (t *tx) getAccount(ctx context.Context, where string, args ...any) (*refund.ProcessorAccount, error) {
	a, err := scanAccount(t.q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM processor_accounts WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.EProcessorAccountNotFound, "", "no such processor account")
	}
	return a, wrapErr("get processor account", err)
}

// GetProcessorAccount finds an account by id, then by name.
func (t *tx) GetProcessorAccount(ctx context.Context, merchantID, idOrName string) (*refund.ProcessorAccount, error) {
	return t.getAccount(ctx, `merchant_id = ? AND (id = ? OR name = ?) ORDER BY id = ? DESC LIMIT 1`,
		merchantID, idOrName, idOrName, idOrName)
}

// DefaultProcessorAccount returns EProcessorAccountNotFound without one.
func (t *tx) DefaultProcessorAccount(ctx context.Context, merchantID string) (*refund.ProcessorAccount, error) {
	return t.getAccount(ctx, `merchant_id = ? AND is_default = 1`, merchantID)
}

// ListProcessorAccounts lists by merchant and name.
func (t *tx) ListProcessorAccounts(ctx context.Context, merchantID string) ([]*refund.ProcessorAccount, error) {
	query, args := `SELECT `+accountColumns+` FROM processor_accounts ORDER BY merchant_id, name`, []any{}
	if merchantID != "" {
		query, args = `SELECT `+accountColumns+` FROM processor_accounts WHERE merchant_id = ? ORDER BY name`, []any{merchantID}
	}
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap("list processor accounts", err)
	}
	defer rows.Close()
	var as []*refund.ProcessorAccount
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, wrap("list processor accounts", err)
		}
		as = append(as, a)
	}
	return as, wrapErr("list processor accounts", rows.Err())
}

// UpdateProcessorAccountCredential replaces the sealed credential.
func (t *tx) UpdateProcessorAccountCredential(ctx context.Context, a *refund.ProcessorAccount) error {
	n, err := t.exec(ctx, "update processor account", `UPDATE processor_accounts SET credential = ?, updated_at = ? WHERE id = ?`,
		a.Credential, nanos(a.UpdatedAt), a.ID)
	if err == nil && n == 0 {
		return refund.Errorf(refund.EProcessorAccountNotFound, "", "no such processor account")
	}
	return err
}

// DeleteProcessorAccount refuses while a refund routed to it is open.
func (t *tx) DeleteProcessorAccount(ctx context.Context, merchantID, id string) error {
	open, err := t.exists(ctx, "delete processor account", `SELECT 1 FROM refunds r JOIN orders o ON o.id = r.order_id
		WHERE o.processor_account = ? AND r.status IN ('requires_approval', 'pending', 'processing', 'requires_review') LIMIT 1`, id)
	if err != nil {
		return err
	}
	if open {
		return refund.Errorf(refund.EConflict, "", "refunds routed to this processor account are still open; settle them first")
	}
	n, err := t.exec(ctx, "delete processor account", `DELETE FROM processor_accounts WHERE merchant_id = ? AND id = ?`, merchantID, id)
	if err == nil && n == 0 {
		return refund.Errorf(refund.EProcessorAccountNotFound, "", "no such processor account")
	}
	return err
}
