package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// adjustColumn is the order counter each adjustment kind adds to.
var adjustColumn = map[string]string{refund.AdjustmentVoid: "voided_amount", refund.AdjustmentChargeback: "charged_back_amount"}

// AdjustOrder adds amount to the order's voided or charged back amount,
// guarded in the statement as a refund's reservation is.
func (t *tx) AdjustOrder(ctx context.Context, orderID, kind string, amount int64, at time.Time) error {
	col, ok := adjustColumn[kind]
	if !ok || amount <= 0 {
		return fmt.Errorf("postgres: adjust order: kind %q, amount %d", kind, amount)
	}
	n, err := t.exec(ctx, "adjust order", `UPDATE orders SET `+col+` = `+col+` + $1, updated_at = GREATEST(updated_at, $3) WHERE id = $2
		AND captured_amount - voided_amount - charged_back_amount - refunded_amount - pending_refund_amount >= $1`, amount, orderID, at)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EAmountExceedsRefundable, "amount", "the order has less than %d left", amount)
	}
	return nil
}

const adjustmentColumns = `id, merchant_id, order_id, kind, amount, applied_amount, currency, reason, processor_reference, created_at`

// InsertOrderAdjustment records a void or chargeback. ON CONFLICT keeps the
// transaction usable, as on SQLite.
func (t *tx) InsertOrderAdjustment(ctx context.Context, a *refund.OrderAdjustment) error {
	n, err := t.exec(ctx, "insert order adjustment", `INSERT INTO order_adjustments (`+adjustmentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (order_id, kind, processor_reference) WHERE processor_reference <> '' DO NOTHING`,
		a.ID, a.MerchantID, a.OrderID, a.Kind, a.Amount, a.Applied, a.Currency, a.Reason, a.ProcessorReference, a.CreatedAt)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EConflict, "processor_reference", "this %s was recorded already", a.Kind)
	}
	return nil
}

// GetOrderAdjustment finds an adjustment by its processor reference.
func (t *tx) GetOrderAdjustment(ctx context.Context, orderID, kind, ref string) (*refund.OrderAdjustment, error) {
	return t.getAdjustment(ctx, "processor_reference", "no such "+kind,
		`order_id = $1 AND kind = $2 AND processor_reference = $3 AND processor_reference <> ''`, orderID, kind, ref)
}

// GetOrderAdjustmentByID finds a merchant's adjustment by its id.
func (t *tx) GetOrderAdjustmentByID(ctx context.Context, merchantID, id string) (*refund.OrderAdjustment, error) {
	return t.getAdjustment(ctx, "", "no such adjustment", `id = $1 AND merchant_id = $2`, id, merchantID)
}

// ListOrderAdjustments returns a merchant's order's adjustments, newest
// first.
func (t *tx) ListOrderAdjustments(ctx context.Context, merchantID, orderID string, limit int) ([]*refund.OrderAdjustment, error) {
	return queryAll(ctx, t, "list order adjustments", `SELECT `+adjustmentColumns+` FROM order_adjustments
		WHERE order_id = $1 AND merchant_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3`, scanAdjustment, orderID, merchantID, limit)
}

// ListOwedAdjustments returns the order's voids and chargebacks applied
// in part, oldest first.
func (t *tx) ListOwedAdjustments(ctx context.Context, orderID string) ([]*refund.OrderAdjustment, error) {
	return queryAll(ctx, t, "list owed adjustments", `SELECT `+adjustmentColumns+` FROM order_adjustments
		WHERE order_id = $1 AND applied_amount < amount ORDER BY created_at, id`, scanAdjustment, orderID)
}

// ApplyOwedAdjustment adds amount to a void's or chargeback's applied
// amount.
func (t *tx) ApplyOwedAdjustment(ctx context.Context, id string, amount int64) error {
	n, err := t.exec(ctx, "apply owed adjustment", `UPDATE order_adjustments SET applied_amount = applied_amount + $1
		WHERE id = $2 AND $1 > 0 AND applied_amount + $1 <= amount`, amount, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.ENotFound, "", "adjustment %s does not owe %d", id, amount)
	}
	return nil
}

// getAdjustment reads the adjustment where selects; none is ENotFound
// (with param and message).
func (t *tx) getAdjustment(ctx context.Context, param, message, where string, args ...any) (*refund.OrderAdjustment, error) {
	a, err := scanAdjustment(t.q.QueryRow(ctx, `SELECT `+adjustmentColumns+` FROM order_adjustments WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, param, "%s", message)
	}
	if err != nil {
		return nil, t.fail("get order adjustment", err)
	}
	return a, nil
}

func scanAdjustment(row scanner) (*refund.OrderAdjustment, error) {
	var a refund.OrderAdjustment
	if err := row.Scan(&a.ID, &a.MerchantID, &a.OrderID, &a.Kind, &a.Amount, &a.Applied, &a.Currency, &a.Reason,
		&a.ProcessorReference, &a.CreatedAt); err != nil {
		return nil, err
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return &a, nil
}
