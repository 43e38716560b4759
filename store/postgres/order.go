package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

const orderColumns = `id, merchant_id, reference, currency, amount, captured_amount, refunded_amount,
	pending_refund_amount, voided_amount, charged_back_amount, payment_method, source, customer, description, refund_count,
	created_at, updated_at, processor_account, processor_order_id`

func scanOrder(s scanner) (*refund.Order, error) {
	var o refund.Order
	var source, customer []byte
	if err := s.Scan(&o.ID, &o.MerchantID, &o.Reference, &o.Currency, &o.Amount, &o.CapturedAmount, &o.RefundedAmount,
		&o.PendingRefundAmount, &o.VoidedAmount, &o.ChargedBackAmount, &o.PaymentMethod, &source, &customer, &o.Description, &o.RefundCount,
		&o.CreatedAt, &o.UpdatedAt, &o.ProcessorAccountID, &o.ProcessorOrderID); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(source, &o.Source); err != nil {
		return nil, fmt.Errorf("order %s source: %w", o.ID, err)
	}
	if err := json.Unmarshal(customer, &o.Customer); err != nil {
		return nil, fmt.Errorf("order %s customer: %w", o.ID, err)
	}
	return &o, nil
}

// CreateOrder inserts o with its items, vendors and transactions. A
// transaction without a Seq gets its position (1, 2, ...); o's transactions
// are given o.ID as their OrderID. A duplicate non-empty (merchant,
// reference) returns EOrderReferenceExists.
func (t *tx) CreateOrder(ctx context.Context, o *refund.Order) error {
	source, err := json.Marshal(o.Source)
	if err != nil {
		return fmt.Errorf("postgres: create order: %w", err)
	}
	customer, err := json.Marshal(o.Customer)
	if err != nil {
		return fmt.Errorf("postgres: create order: %w", err)
	}
	// ON CONFLICT DO NOTHING instead of catching the unique violation: a
	// failed statement would abort the whole transaction, and this way the
	// caller's transaction stays usable, as it does on SQLite.
	n, err := t.exec(ctx, "create order", `INSERT INTO orders (`+orderColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
		ON CONFLICT (merchant_id, reference) WHERE reference <> '' DO NOTHING`,
		o.ID, o.MerchantID, o.Reference, o.Currency, o.Amount, o.CapturedAmount, o.RefundedAmount,
		o.PendingRefundAmount, o.VoidedAmount, o.ChargedBackAmount, o.PaymentMethod, string(source), string(customer), o.Description, o.RefundCount,
		o.CreatedAt, o.UpdatedAt, o.ProcessorAccountID, o.ProcessorOrderID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EOrderReferenceExists, "reference", "an order with reference %q already exists", o.Reference)
	}
	// Lines, splits and transactions go in one round trip.
	b := &pgx.Batch{}
	for i, it := range o.Items {
		b.Queue(`INSERT INTO order_items (order_id, item_id, position, sku, name_en, name_ar,
			qty, unit_amount, tax_rate, taxable, exemption_code, amount, refunded_qty, pending_qty, refunded_amount, pending_amount)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			o.ID, it.ID, i, it.SKU, it.NameEN, it.NameAR, it.Qty, it.UnitAmount, it.TaxRate, it.Taxable, it.ExemptionCode, it.Amount,
			it.RefundedQty, it.PendingQty, it.RefundedAmount, it.PendingAmount)
	}
	for i, v := range o.Vendors {
		b.Queue(`INSERT INTO order_vendors (order_id, vendor_id, position, name, iban,
			amount, refunded_amount, pending_amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			o.ID, v.ID, i, v.Name, v.IBAN, v.Amount, v.RefundedAmount, v.PendingAmount)
	}
	for i := range o.Transactions {
		tr := &o.Transactions[i]
		tr.OrderID = o.ID
		if tr.Seq == 0 {
			tr.Seq = i + 1
		}
		b.Queue(insertTransaction, transactionArgs(tr)...)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := t.q.SendBatch(ctx, b).Close(); err != nil {
		return t.fail("create order lines", err)
	}
	return nil
}

// GetOrder returns EOrderNotFound, also for another merchant's order.
func (t *tx) GetOrder(ctx context.Context, merchantID, id string) (*refund.Order, error) {
	query, args := `SELECT `+orderColumns+` FROM orders WHERE id = $1`, []any{id}
	if merchantID != "" {
		query, args = query+` AND merchant_id = $2`, append(args, merchantID)
	}
	return t.getOrder(ctx, query, args, id, false, false, nil)
}

// GetOrderForRefund is GetOrder with only the captures. Inside Update,
// unless the transaction holds a refund's row, it locks the order's row
// until commit, which every change of the order's counters takes anyway:
// what it read then stays true, so a reservation that follows knows its
// sequence number and need not wait for an answer (see holdReserve). It
// also reads ahead what the refund's transaction asks next (see ahead):
// the merchant's refund policy and webhook endpoints, and whether the
// order has a sale invoice to credit (if it has, the invoice, the merchant
// and its invoice configuration travel with the reservation's guarded
// update, see invoiceReads).
func (t *tx) GetOrderForRefund(ctx context.Context, merchantID, id string) (*refund.Order, error) {
	query, args := `SELECT `+orderColumns+` FROM orders WHERE id = $1`, []any{id}
	if merchantID != "" {
		query, args = query+` AND merchant_id = $2`, append(args, merchantID)
	}
	var next func(b *pgx.Batch) func(pgx.BatchResults) error
	if t.write && merchantID != "" {
		sale := refund.InvoiceFilter{MerchantID: merchantID, OrderID: id, Type: refund.InvoiceSale, Limit: 1}
		next = func(b *pgx.Batch) func(pgx.BatchResults) error {
			queueAhead(b, "$1", []any{merchantID}, true, "merchant_id = $1 AND order_id = $2 AND type = $3",
				[]any{merchantID, id, string(sale.Type)})
			return func(br pgx.BatchResults) error { return t.readAhead(br, merchantID, true, sale) }
		}
	}
	// A transaction that holds a refund's row already (a result reads the
	// order only to find its processor) leaves the order unlocked: it
	// takes the order's row, if at all, after the refund's, as every
	// other does.
	lock := t.write && !t.refundLocked
	o, err := t.getOrder(ctx, query, args, id, true, lock, next)
	if err == nil && lock {
		t.lockedOrder, t.lockedCount = o.ID, o.RefundCount
		t.lockOrder(o.ID)
	}
	return o, err
}

// GetOrderByReference returns EOrderNotFound. An empty reference finds
// nothing.
func (t *tx) GetOrderByReference(ctx context.Context, merchantID, reference string) (*refund.Order, error) {
	if reference == "" {
		return nil, refund.Errorf(refund.EOrderNotFound, "", "order not found")
	}
	return t.getOrder(ctx, `SELECT `+orderColumns+` FROM orders WHERE merchant_id = $1 AND reference = $2`,
		[]any{merchantID, reference}, reference, false, false, nil)
}

const transactionColumns = `id, order_id, seq, type, status, amount, refunded_amount, pending_amount, refund_id,
	response_code, message, rrn, stan, auth_code, created_at`

// getOrder reads the order that query selects and, in the same round trip
// (a batch), its items, vendors and transactions, and locks the order
// when lock is set (GetOrderForRefund). Other reads of it only resolve
// defaults, and every write to its counters is a guarded update.
//
// next, when not nil, queues more statements after the order's and
// returns what reads their results (when the order was found).
func (t *tx) getOrder(ctx context.Context, query string, args []any, name string, capturesOnly, lock bool,
	next func(*pgx.Batch) func(pgx.BatchResults) error) (*refund.Order, error) {
	// The children are selected by the same condition as the order, so
	// the batch needs no second round trip for the order's id.
	sub := `SELECT id FROM (` + query + `) o`
	b := &pgx.Batch{}
	if lock {
		// The children are read after the lock is granted, in statements
		// of their own, so they too are as its last holder left them.
		query += ` FOR NO KEY UPDATE`
	}
	b.Queue(query, args...)
	b.Queue(`SELECT item_id, sku, name_en, name_ar, qty, unit_amount, tax_rate, taxable, exemption_code, amount,
		refunded_qty, pending_qty, refunded_amount, pending_amount
		FROM order_items WHERE order_id = (`+sub+`) ORDER BY position`, args...)
	b.Queue(`SELECT vendor_id, name, iban, amount, refunded_amount, pending_amount
		FROM order_vendors WHERE order_id = (`+sub+`) ORDER BY position`, args...)
	txns := `SELECT ` + transactionColumns + ` FROM transactions WHERE order_id = (` + sub + `)`
	if capturesOnly {
		txns += ` AND type = 'capture'`
	}
	b.Queue(txns+` ORDER BY seq`, args...)
	var readNext func(pgx.BatchResults) error
	if next != nil {
		readNext = next(b)
	}
	br := t.q.SendBatch(ctx, b)
	defer br.Close()

	o, err := scanOrder(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.EOrderNotFound, "", "order %q not found", name)
	}
	if err != nil {
		return nil, t.fail("get order", err)
	}
	rows, err := br.Query()
	if err == nil {
		o.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (refund.Item, error) {
			var it refund.Item
			err := r.Scan(&it.ID, &it.SKU, &it.NameEN, &it.NameAR, &it.Qty, &it.UnitAmount, &it.TaxRate, &it.Taxable, &it.ExemptionCode, &it.Amount,
				&it.RefundedQty, &it.PendingQty, &it.RefundedAmount, &it.PendingAmount)
			return it, err
		})
	}
	if err != nil {
		return nil, t.fail("get order items", err)
	}
	rows, err = br.Query()
	if err == nil {
		o.Vendors, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (refund.Vendor, error) {
			var v refund.Vendor
			err := r.Scan(&v.ID, &v.Name, &v.IBAN, &v.Amount, &v.RefundedAmount, &v.PendingAmount)
			return v, err
		})
	}
	if err != nil {
		return nil, t.fail("get order vendors", err)
	}
	rows, err = br.Query()
	if err == nil {
		o.Transactions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (refund.Transaction, error) {
			var tr refund.Transaction
			err := r.Scan(&tr.ID, &tr.OrderID, &tr.Seq, &tr.Type, &tr.Status, &tr.Amount, &tr.RefundedAmount, &tr.PendingAmount,
				&tr.RefundID, &tr.ResponseCode, &tr.Message, &tr.RRN, &tr.STAN, &tr.AuthCode, &tr.CreatedAt)
			return tr, err
		})
	}
	if err != nil {
		return nil, t.fail("get order transactions", err)
	}
	if readNext != nil {
		if err := readNext(br); err != nil {
			return nil, err
		}
	}
	if err := br.Close(); err != nil {
		return nil, t.fail("get order", err)
	}
	// As the SQLite store reads them: none is nil, not empty.
	if len(o.Items) == 0 {
		o.Items = nil
	}
	if len(o.Vendors) == 0 {
		o.Vendors = nil
	}
	if len(o.Transactions) == 0 {
		o.Transactions = nil
	}
	return o, nil
}

// ListOrders returns orders newest first (by id), without items, vendors
// and transactions. An empty f.MerchantID lists every merchant's orders;
// f.Limit <= 0 means 100.
func (t *tx) ListOrders(ctx context.Context, f refund.OrderFilter) ([]*refund.Order, error) {
	var where []string
	var p params
	if f.MerchantID != "" {
		where = append(where, "merchant_id = "+p.add(f.MerchantID))
	}
	if f.ID != "" {
		where = append(where, "id = "+p.add(f.ID))
	}
	if f.Reference != "" {
		where = append(where, "reference = "+p.add(f.Reference))
	}
	if f.Cursor != "" {
		where = append(where, "id < "+p.add(f.Cursor))
	}
	query := `SELECT ` + orderColumns + ` FROM orders` + whereClause(where) + ` ORDER BY id DESC LIMIT ` + p.add(limit(f.Limit))
	return queryAll(ctx, t, "list orders", query, scanOrder, p...)
}

// InsertTransaction adds a transaction to its order. A zero Seq is
// assigned the order's next one: the order's row is locked first, so two
// transactions numbering on one order take turns instead of both reading
// the same MAX(seq).
//
// Inside Update nothing waits for it: the lock and the insert, which
// computes its Seq and hands it back, travel with the next round trip
// (usually the COMMIT). They are two statements on purpose: under READ
// COMMITTED the insert takes its snapshot after the lock is granted, so
// it sees the rows the lock's last holder committed. A transaction that
// wrote or locked the order's row before (a refund's result moves the
// order's counters first) holds the lock already: its insert needs no
// lock statement, and joins the writes around it (see pipe.join). An
// order that does not exist fails the insert on its foreign key.
func (t *tx) InsertTransaction(ctx context.Context, tr *refund.Transaction) error {
	if tr.Seq != 0 {
		return t.join(ctx, "insert transaction", "transactions", insertTransaction, transactionArgs(tr)...)
	}
	args := transactionArgs(tr)
	insert := held{op: "insert transaction", sql: insertNumbered, args: append(args[:2:2], args[3:]...),
		scan: func(row pgx.Row) error { return row.Scan(&tr.Seq) }}
	if t.write && slices.Contains(t.ordersLocked, tr.OrderID) {
		// An earlier statement of this transaction wrote or locked the
		// order's row: the lock is held, and the insert's snapshot is
		// taken after it was granted.
		t.q.join("transactions", insert)
		return nil
	}
	t.q.later("lock order", lockOrder, tr.OrderID)
	t.q.hold(insert)
	if !t.write {
		if _, err := t.q.flush(ctx, ""); err != nil {
			return t.fail("insert transaction", err)
		}
	}
	return nil
}

const lockOrder = `SELECT 1 FROM orders WHERE id = $1 FOR NO KEY UPDATE`

// insertNumbered is insertTransaction that takes the order's next Seq
// (its arguments without Seq).
const insertNumbered = `INSERT INTO transactions (` + transactionColumns + `)
	VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM transactions WHERE order_id = $2), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
	RETURNING seq`

const insertTransaction = `INSERT INTO transactions (` + transactionColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`

func transactionArgs(tr *refund.Transaction) []any {
	return []any{tr.ID, tr.OrderID, tr.Seq, tr.Type, tr.Status, tr.Amount, tr.RefundedAmount, tr.PendingAmount, tr.RefundID,
		tr.ResponseCode, tr.Message, tr.RRN, tr.STAN, tr.AuthCode, tr.CreatedAt}
}
