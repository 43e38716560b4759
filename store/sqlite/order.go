package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/refundd/refundd/refund"
)

const orderColumns = `id, merchant_id, reference, currency, amount, captured_amount, refunded_amount,
	pending_refund_amount, voided_amount, charged_back_amount, payment_method, source, customer, description, refund_count,
	created_at, updated_at, processor_account, processor_order_id`

func scanOrder(s scanner) (*refund.Order, error) {
	var o refund.Order
	var source, customer string
	var created, updated int64
	if err := s.Scan(&o.ID, &o.MerchantID, &o.Reference, &o.Currency, &o.Amount, &o.CapturedAmount, &o.RefundedAmount,
		&o.PendingRefundAmount, &o.VoidedAmount, &o.ChargedBackAmount, &o.PaymentMethod, &source, &customer, &o.Description, &o.RefundCount,
		&created, &updated, &o.ProcessorAccountID, &o.ProcessorOrderID); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(source), &o.Source); err != nil {
		return nil, fmt.Errorf("order %s source: %w", o.ID, err)
	}
	if err := json.Unmarshal([]byte(customer), &o.Customer); err != nil {
		return nil, fmt.Errorf("order %s customer: %w", o.ID, err)
	}
	o.CreatedAt, o.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &o, nil
}

// CreateOrder inserts o with its items, vendors and transactions. A
// transaction without a Seq gets its position (1, 2, ...); o's transactions
// are given o.ID as their OrderID.
func (t *tx) CreateOrder(ctx context.Context, o *refund.Order) error {
	source, err := json.Marshal(o.Source)
	if err != nil {
		return fmt.Errorf("sqlite: create order: %w", err)
	}
	customer, err := json.Marshal(o.Customer)
	if err != nil {
		return fmt.Errorf("sqlite: create order: %w", err)
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO orders (`+orderColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.MerchantID, o.Reference, o.Currency, o.Amount, o.CapturedAmount, o.RefundedAmount,
		o.PendingRefundAmount, o.VoidedAmount, o.ChargedBackAmount, o.PaymentMethod, string(source), string(customer), o.Description, o.RefundCount,
		nanos(o.CreatedAt), nanos(o.UpdatedAt), o.ProcessorAccountID, o.ProcessorOrderID)
	if isUnique(err) {
		return refund.Errorf(refund.EOrderReferenceExists, "reference", "an order with reference %q already exists", o.Reference)
	}
	if err != nil {
		return wrap("create order", err)
	}
	for i, it := range o.Items {
		if _, err := t.exec(ctx, "create order item", `INSERT INTO order_items (order_id, item_id, position, sku, name_en, name_ar,
			qty, unit_amount, tax_rate, taxable, exemption_code, amount, refunded_qty, pending_qty, refunded_amount, pending_amount)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			o.ID, it.ID, i, it.SKU, it.NameEN, it.NameAR, it.Qty, it.UnitAmount, it.TaxRate, it.Taxable, it.ExemptionCode, it.Amount,
			it.RefundedQty, it.PendingQty, it.RefundedAmount, it.PendingAmount); err != nil {
			return err
		}
	}
	for i, v := range o.Vendors {
		if _, err := t.exec(ctx, "create order vendor", `INSERT INTO order_vendors (order_id, vendor_id, position, name, iban,
			amount, refunded_amount, pending_amount) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			o.ID, v.ID, i, v.Name, v.IBAN, v.Amount, v.RefundedAmount, v.PendingAmount); err != nil {
			return err
		}
	}
	for i := range o.Transactions {
		tr := &o.Transactions[i]
		tr.OrderID = o.ID
		if tr.Seq == 0 {
			tr.Seq = i + 1
		}
		if err := t.insertTransaction(ctx, tr); err != nil {
			return err
		}
	}
	return nil
}

// GetOrder returns EOrderNotFound, also for another merchant's order.
func (t *tx) GetOrder(ctx context.Context, merchantID, id string) (*refund.Order, error) {
	query, args := `SELECT `+orderColumns+` FROM orders WHERE id = ?`, []any{id}
	if merchantID != "" {
		query, args = query+` AND merchant_id = ?`, append(args, merchantID)
	}
	return t.getOrder(ctx, query, args, id, false)
}

func (t *tx) GetOrderForRefund(ctx context.Context, merchantID, id string) (*refund.Order, error) {
	query, args := `SELECT `+orderColumns+` FROM orders WHERE id = ?`, []any{id}
	if merchantID != "" {
		query, args = query+` AND merchant_id = ?`, append(args, merchantID)
	}
	return t.getOrder(ctx, query, args, id, true)
}

// GetOrderByReference returns EOrderNotFound. An empty reference finds
// nothing.
func (t *tx) GetOrderByReference(ctx context.Context, merchantID, reference string) (*refund.Order, error) {
	if reference == "" {
		return nil, refund.Errorf(refund.EOrderNotFound, "", "order not found")
	}
	return t.getOrder(ctx, `SELECT `+orderColumns+` FROM orders WHERE merchant_id = ? AND reference = ?`,
		[]any{merchantID, reference}, reference, false)
}

func (t *tx) getOrder(ctx context.Context, query string, args []any, name string, capturesOnly bool) (*refund.Order, error) {
	o, err := scanOrder(t.q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.EOrderNotFound, "", "order %q not found", name)
	}
	if err != nil {
		return nil, wrap("get order", err)
	}
	if err := t.loadItems(ctx, o); err != nil {
		return nil, err
	}
	if err := t.loadVendors(ctx, o); err != nil {
		return nil, err
	}
	if err := t.loadTransactions(ctx, o, capturesOnly); err != nil {
		return nil, err
	}
	return o, nil
}

func (t *tx) loadItems(ctx context.Context, o *refund.Order) error {
	rows, err := t.q.QueryContext(ctx, `SELECT item_id, sku, name_en, name_ar, qty, unit_amount, tax_rate, taxable, exemption_code, amount,
		refunded_qty, pending_qty, refunded_amount, pending_amount
		FROM order_items WHERE order_id = ? ORDER BY position`, o.ID)
	if err != nil {
		return wrap("get order items", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it refund.Item
		if err := rows.Scan(&it.ID, &it.SKU, &it.NameEN, &it.NameAR, &it.Qty, &it.UnitAmount, &it.TaxRate, &it.Taxable, &it.ExemptionCode, &it.Amount,
			&it.RefundedQty, &it.PendingQty, &it.RefundedAmount, &it.PendingAmount); err != nil {
			return wrap("get order items", err)
		}
		o.Items = append(o.Items, it)
	}
	return wrapErr("get order items", rows.Err())
}

func (t *tx) loadVendors(ctx context.Context, o *refund.Order) error {
	rows, err := t.q.QueryContext(ctx, `SELECT vendor_id, name, iban, amount, refunded_amount, pending_amount
		FROM order_vendors WHERE order_id = ? ORDER BY position`, o.ID)
	if err != nil {
		return wrap("get order vendors", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v refund.Vendor
		if err := rows.Scan(&v.ID, &v.Name, &v.IBAN, &v.Amount, &v.RefundedAmount, &v.PendingAmount); err != nil {
			return wrap("get order vendors", err)
		}
		o.Vendors = append(o.Vendors, v)
	}
	return wrapErr("get order vendors", rows.Err())
}

const transactionColumns = `id, order_id, seq, type, status, amount, refunded_amount, pending_amount, refund_id,
	response_code, message, rrn, stan, auth_code, created_at`

func (t *tx) loadTransactions(ctx context.Context, o *refund.Order, capturesOnly bool) error {
	query := `SELECT ` + transactionColumns + ` FROM transactions WHERE order_id = ? ORDER BY seq`
	if capturesOnly {
		query = `SELECT ` + transactionColumns + ` FROM transactions WHERE order_id = ? AND type = 'capture' ORDER BY seq`
	}
	rows, err := t.q.QueryContext(ctx, query, o.ID)
	if err != nil {
		return wrap("get order transactions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tr refund.Transaction
		var created int64
		if err := rows.Scan(&tr.ID, &tr.OrderID, &tr.Seq, &tr.Type, &tr.Status, &tr.Amount, &tr.RefundedAmount, &tr.PendingAmount,
			&tr.RefundID, &tr.ResponseCode, &tr.Message, &tr.RRN, &tr.STAN, &tr.AuthCode, &created); err != nil {
			return wrap("get order transactions", err)
		}
		tr.CreatedAt = fromNanos(created)
		o.Transactions = append(o.Transactions, tr)
	}
	return wrapErr("get order transactions", rows.Err())
}

// wrapErr is wrap for an error that may be nil.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return wrap(op, err)
}

// ListOrders returns orders newest first (by id), without items, vendors
// and transactions. An empty f.MerchantID lists every merchant's orders;
// f.Limit <= 0 means 100.
func (t *tx) ListOrders(ctx context.Context, f refund.OrderFilter) ([]*refund.Order, error) {
	var where []string
	var args []any
	if f.MerchantID != "" {
		where, args = append(where, "merchant_id = ?"), append(args, f.MerchantID)
	}
	if f.ID != "" {
		where, args = append(where, "id = ?"), append(args, f.ID)
	}
	if f.Reference != "" {
		where, args = append(where, "reference = ?"), append(args, f.Reference)
	}
	if f.Cursor != "" {
		where, args = append(where, "id < ?"), append(args, f.Cursor)
	}
	rows, err := t.q.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders`+whereClause(where)+
		` ORDER BY id DESC`+limitSQL(limit(f.Limit), 0), args...)
	if err != nil {
		return nil, wrap("list orders", err)
	}
	defer rows.Close()
	var os []*refund.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, wrap("list orders", err)
		}
		os = append(os, o)
	}
	return os, wrapErr("list orders", rows.Err())
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// limitSQL is a LIMIT (and OFFSET) clause with its numbers written in.
// Bound, they make SQLite plan the statement again on every run: the
// driver binds every parameter afresh, and the planner uses their values,
// so a cached statement was parsed and planned each time anyway.
func limitSQL(n, offset int) string {
	s := " LIMIT " + strconv.Itoa(n)
	if offset > 0 {
		s += " OFFSET " + strconv.Itoa(offset)
	}
	return s
}

// limit is a list's page size: 100 unless the filter says.
func limit(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}

// ReserveRefund reserves b (AdjustBalances) and increments and returns
// the order's refund counter, in the order's guarded update
// (guard.Counted), so a refusal leaves both as they were.
func (t *tx) ReserveRefund(ctx context.Context, b refund.Balances) (int, error) {
	return t.adjust(ctx, b, refund.Reserve, true)
}

// InsertTransaction adds a transaction to its order. A zero Seq is
// assigned the order's next one.
func (t *tx) InsertTransaction(ctx context.Context, tr *refund.Transaction) error {
	if tr.Seq != 0 {
		return t.insertTransaction(ctx, tr)
	}
	// The next seq is found by the insert itself, one statement instead of
	// a read and a write (every refund's result inserts one); the single
	// writer means no other insert comes between. An aggregate without
	// GROUP BY yields one row even for an order without transactions.
	var seq int
	err := t.q.QueryRowContext(ctx, `INSERT INTO transactions (`+transactionColumns+`)
		SELECT ?1, ?2, COALESCE(MAX(seq), 0) + 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
		FROM transactions WHERE order_id = ?2 RETURNING seq`,
		tr.ID, tr.OrderID, tr.Type, tr.Status, tr.Amount, tr.RefundedAmount, tr.PendingAmount, tr.RefundID,
		tr.ResponseCode, tr.Message, tr.RRN, tr.STAN, tr.AuthCode, nanos(tr.CreatedAt)).Scan(&seq)
	if err != nil {
		return wrap("insert transaction", err)
	}
	tr.Seq = seq
	return nil
}

func (t *tx) insertTransaction(ctx context.Context, tr *refund.Transaction) error {
	_, err := t.exec(ctx, "insert transaction", `INSERT INTO transactions (`+transactionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tr.ID, tr.OrderID, tr.Seq, tr.Type, tr.Status, tr.Amount, tr.RefundedAmount, tr.PendingAmount, tr.RefundID,
		tr.ResponseCode, tr.Message, tr.RRN, tr.STAN, tr.AuthCode, nanos(tr.CreatedAt))
	return err
}
