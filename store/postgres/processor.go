package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

const accountColumns = `id, merchant_id, name, kind, url, credential, options, is_default, created_at, updated_at`

func scanAccount(s scanner) (*refund.ProcessorAccount, error) {
	var a refund.ProcessorAccount
	var options []byte
	if err := s.Scan(&a.ID, &a.MerchantID, &a.Name, &a.Kind, &a.URL, &a.Credential, &options, &a.Default, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(options, &a.Options); err != nil {
		return nil, fmt.Errorf("processor account %s options: %w", a.ID, err)
	}
	return &a, nil
}

// CreateProcessorAccount returns EConflict when the name is taken.
func (t *tx) CreateProcessorAccount(ctx context.Context, a *refund.ProcessorAccount) error {
	options, err := json.Marshal(a.Options)
	if err != nil {
		return fmt.Errorf("postgres: create processor account: %w", err)
	}
	if a.Default {
		if _, err := t.exec(ctx, "create processor account", `UPDATE processor_accounts SET is_default = false
			WHERE merchant_id = $1 AND is_default`, a.MerchantID); err != nil {
			return err
		}
	}
	// ON CONFLICT DO NOTHING: a failed statement would abort the caller's
	// transaction.
	n, err := t.exec(ctx, "create processor account", `INSERT INTO processor_accounts (`+accountColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (merchant_id, name) DO NOTHING`,
		a.ID, a.MerchantID, a.Name, a.Kind, a.URL, a.Credential, string(options), a.Default, a.CreatedAt, a.UpdatedAt)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EConflict, "name", "the merchant already has a processor account named %q", a.Name)
	}
	return nil
}

// getAccount reads one account. In a write it holds the account's row
// (FOR KEY SHARE, as a foreign key would) until commit: what the write
// does with the account (a refund reserved for one of its orders, an
// order routed to it) commits before a removal can look for open refunds,
// or the read waits for the removal and finds the account gone. Read
// unlocked, a removal running meanwhile found no open refund and deleted
// the account under a refund that then committed and could never be
// followed up (DeleteProcessorAccount).
func (t *tx) getAccount(ctx context.Context, where string, args ...any) (*refund.ProcessorAccount, error) {
	lock := ""
	if t.write {
		lock = " FOR KEY SHARE"
	}
	a, err := scanAccount(t.q.QueryRow(ctx, `SELECT `+accountColumns+` FROM processor_accounts WHERE `+where+lock, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.EProcessorAccountNotFound, "", "no such processor account")
	}
	if err != nil {
		return nil, t.fail("get processor account", err)
	}
	return a, nil
}

// GetProcessorAccount finds an account by id, then by name.
func (t *tx) GetProcessorAccount(ctx context.Context, merchantID, idOrName string) (*refund.ProcessorAccount, error) {
	return t.getAccount(ctx, `merchant_id = $1 AND (id = $2 OR name = $2) ORDER BY id = $2 DESC LIMIT 1`, merchantID, idOrName)
}

// DefaultProcessorAccount returns EProcessorAccountNotFound without one.
func (t *tx) DefaultProcessorAccount(ctx context.Context, merchantID string) (*refund.ProcessorAccount, error) {
	return t.getAccount(ctx, `merchant_id = $1 AND is_default`, merchantID)
}

// ListProcessorAccounts lists by merchant and name.
func (t *tx) ListProcessorAccounts(ctx context.Context, merchantID string) ([]*refund.ProcessorAccount, error) {
	if merchantID == "" {
		return queryAll(ctx, t, "list processor accounts", `SELECT `+accountColumns+` FROM processor_accounts ORDER BY merchant_id, name`, scanAccount)
	}
	return queryAll(ctx, t, "list processor accounts", `SELECT `+accountColumns+` FROM processor_accounts WHERE merchant_id = $1 ORDER BY name`,
		scanAccount, merchantID)
}

// UpdateProcessorAccountCredential replaces the sealed credential.
func (t *tx) UpdateProcessorAccountCredential(ctx context.Context, a *refund.ProcessorAccount) error {
	n, err := t.exec(ctx, "update processor account", `UPDATE processor_accounts SET credential = $1, updated_at = $2 WHERE id = $3`,
		a.Credential, a.UpdatedAt, a.ID)
	if err == nil && n == 0 {
		return refund.Errorf(refund.EProcessorAccountNotFound, "", "no such processor account")
	}
	return err
}

// DeleteProcessorAccount refuses while a refund routed to it is open,
// and while another transaction holds the account (getAccount: a refund
// of one of its orders being reserved, whose refund the check below could
// not see yet). The account's row is taken first and without waiting
// (SKIP LOCKED): queued behind a reservation, the removal would hold up
// every later refund of the account's orders behind it.
func (t *tx) DeleteProcessorAccount(ctx context.Context, merchantID, id string) error {
	mine, err := t.exists(ctx, "delete processor account", `SELECT 1 FROM processor_accounts WHERE merchant_id = $1 AND id = $2
		FOR UPDATE SKIP LOCKED`, merchantID, id)
	if err != nil {
		return err
	}
	if !mine {
		held, err := t.exists(ctx, "delete processor account", `SELECT 1 FROM processor_accounts WHERE merchant_id = $1 AND id = $2`, merchantID, id)
		if err != nil {
			return err
		}
		if held {
			return refund.Errorf(refund.EConflict, "", "a refund of this processor account's orders is being made; try again")
		}
		return refund.Errorf(refund.EProcessorAccountNotFound, "", "no such processor account")
	}
	open, err := t.exists(ctx, "delete processor account", `SELECT 1 FROM refunds r JOIN orders o ON o.id = r.order_id
		WHERE o.processor_account = $1 AND r.status IN ('requires_approval', 'pending', 'processing', 'requires_review') LIMIT 1`, id)
	if err != nil {
		return err
	}
	if open {
		return refund.Errorf(refund.EConflict, "", "refunds routed to this processor account are still open; settle them first")
	}
	n, err := t.exec(ctx, "delete processor account", `DELETE FROM processor_accounts WHERE merchant_id = $1 AND id = $2`, merchantID, id)
	if err == nil && n == 0 {
		return refund.Errorf(refund.EProcessorAccountNotFound, "", "no such processor account")
	}
	return err
}
