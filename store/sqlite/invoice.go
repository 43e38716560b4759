package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/refundd/refundd/refund"
)

const invoiceColumns = `merchant_id, order_id, refund_id, parent_id, parent_serial, serial, number, type, status,
	currency, reason, seller_name, seller_vat_number, customer, payment_method, sub_total_amount, shipping_amount,
	discount_amount, net_amount, total_amount_excluding_tax, tax_amount, total_amount, tax_rate, zatca_status,
	invoice_error, issued_at, created_at, updated_at, shipping_excluding_tax, shipping_tax_amount, zatca_attempts, zatca_next_at, icv, previous_hash, hash, signature, public_key, adjustment_id,
	billing_serial, seller_crn, seller_address`

// invoiceSelect is what scanInvoice reads: the id, the columns
// CreateInvoice writes, and what AddCredited keeps.
const invoiceSelect = `id, ` + invoiceColumns + `, credited_shipping, credited_shipping_excluding_tax, credited_shipping_tax`

const lineColumns = `invoice_id, position, item_id, parent_line_id, sku, name_en, name_ar, qty, unit_amount, amount,
	discount_amount, net_amount, total_amount_excluding_tax, tax_amount, tax_rate, taxable, exemption_code`

// nullID stores a zero id as NULL (no parent).
func nullID(id int64) sql.NullInt64 {
	return sql.NullInt64{Int64: id, Valid: id != 0}
}

// CreateInvoice inserts inv and its lines, assigning their integer ids. A
// second tax invoice of an order, a second refund invoice of a refund or a
// serial the merchant already used is EConflict.
func (t *tx) CreateInvoice(ctx context.Context, inv *refund.Invoice) error {
	customer, err := json.Marshal(inv.Customer)
	if err != nil {
		return fmt.Errorf("sqlite: create invoice: %w", err)
	}
	err = t.q.QueryRowContext(ctx, `INSERT INTO invoices (`+invoiceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		inv.MerchantID, inv.OrderID, inv.RefundID, nullID(inv.ParentID), inv.ParentSerial, inv.Serial, inv.Number,
		string(inv.Type), string(inv.Status), inv.Currency, inv.Reason, inv.Seller.Name, inv.Seller.VATNumber,
		string(customer), inv.PaymentMethod, inv.SubTotalAmount, inv.ShippingAmount, inv.DiscountAmount, inv.NetAmount,
		inv.TotalExcludingTax, inv.TaxAmount, inv.TotalAmount, inv.TaxRate, string(inv.ZATCAStatus), inv.InvoiceError,
		nanos(inv.IssuedAt), nanos(inv.CreatedAt), nanos(inv.UpdatedAt), inv.ShippingExcludingTax, inv.ShippingTaxAmount,
		inv.ZATCAAttempts, nullTime(inv.ZATCANextAt), inv.ICV, inv.PreviousHash, inv.Hash, inv.Signature, inv.PublicKey, inv.AdjustmentID, inv.BillingSerial, inv.Seller.CRN, addressText(inv.Seller.Address)).Scan(&inv.ID)
	if isUnique(err) {
		return refund.Errorf(refund.EConflict, "", "order %s already has this invoice, or serial %s is taken", inv.OrderID, inv.Serial)
	}
	if err != nil {
		return wrap("create invoice", err)
	}
	for i := range inv.Lines {
		l := &inv.Lines[i]
		err := t.q.QueryRowContext(ctx, `INSERT INTO invoice_lines (`+lineColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			inv.ID, i, l.ItemID, nullID(l.ParentLineID), l.SKU, l.NameEN, l.NameAR, l.Qty, l.UnitAmount, l.Amount,
			l.Discount, l.NetAmount, l.TotalExcludingTax, l.TaxAmount, l.TaxRate, l.Taxable, l.ExemptionCode).Scan(&l.ID)
		if err != nil {
			return wrap("create invoice line", err)
		}
	}
	return nil
}

func scanInvoice(s scanner) (*refund.Invoice, error) {
	var inv refund.Invoice
	var parent sql.NullInt64
	var customer, address string
	var issued, created, updated int64
	var next sql.NullInt64
	if err := s.Scan(&inv.ID, &inv.MerchantID, &inv.OrderID, &inv.RefundID, &parent, &inv.ParentSerial, &inv.Serial,
		&inv.Number, &inv.Type, &inv.Status, &inv.Currency, &inv.Reason, &inv.Seller.Name, &inv.Seller.VATNumber,
		&customer, &inv.PaymentMethod, &inv.SubTotalAmount, &inv.ShippingAmount, &inv.DiscountAmount, &inv.NetAmount,
		&inv.TotalExcludingTax, &inv.TaxAmount, &inv.TotalAmount, &inv.TaxRate, &inv.ZATCAStatus, &inv.InvoiceError,
		&issued, &created, &updated, &inv.ShippingExcludingTax, &inv.ShippingTaxAmount, &inv.ZATCAAttempts, &next,
		&inv.ICV, &inv.PreviousHash, &inv.Hash, &inv.Signature, &inv.PublicKey, &inv.AdjustmentID, &inv.BillingSerial, &inv.Seller.CRN, &address,
		&inv.CreditedShipping, &inv.CreditedShippingExcludingTax, &inv.CreditedShippingTax); err != nil {
		return nil, err
	}
	inv.ParentID = parent.Int64
	if err := json.Unmarshal([]byte(customer), &inv.Customer); err != nil {
		return nil, fmt.Errorf("invoice %d customer: %w", inv.ID, err)
	}
	if err := scanAddress(address, &inv.Seller.Address); err != nil {
		return nil, fmt.Errorf("invoice %d seller address: %w", inv.ID, err)
	}
	inv.IssuedAt, inv.CreatedAt, inv.UpdatedAt = fromNanos(issued), fromNanos(created), fromNanos(updated)
	if next.Valid {
		inv.ZATCANextAt = fromNanos(next.Int64)
	}
	return &inv, nil
}

// GetInvoice returns EInvoiceNotFound, also for another merchant's
// invoice; merchantID "" matches any.
func (t *tx) GetInvoice(ctx context.Context, merchantID string, id int64) (*refund.Invoice, error) {
	query, args := `SELECT `+invoiceSelect+` FROM invoices WHERE id = ?`, []any{id}
	if merchantID != "" {
		query, args = query+` AND merchant_id = ?`, append(args, merchantID)
	}
	inv, err := scanInvoice(t.q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.EInvoiceNotFound, "", "invoice %d not found", id)
	}
	if err != nil {
		return nil, wrap("get invoice", err)
	}
	if err := t.loadLines(ctx, inv); err != nil {
		return nil, err
	}
	return inv, nil
}

func (t *tx) loadLines(ctx context.Context, inv *refund.Invoice) error {
	rows, err := t.q.QueryContext(ctx, `SELECT id, item_id, parent_line_id, sku, name_en, name_ar, qty, unit_amount, amount,
		discount_amount, net_amount, total_amount_excluding_tax, tax_amount, tax_rate, taxable, credited_amount,
		credited_excluding_tax, credited_tax, exemption_code
		FROM invoice_lines WHERE invoice_id = ? ORDER BY position`, inv.ID)
	if err != nil {
		return wrap("get invoice lines", err)
	}
	defer rows.Close()
	inv.Lines = nil
	for rows.Next() {
		var l refund.InvoiceLine
		var parent sql.NullInt64
		if err := rows.Scan(&l.ID, &l.ItemID, &parent, &l.SKU, &l.NameEN, &l.NameAR, &l.Qty, &l.UnitAmount, &l.Amount,
			&l.Discount, &l.NetAmount, &l.TotalExcludingTax, &l.TaxAmount, &l.TaxRate, &l.Taxable, &l.Credited,
			&l.CreditedExcludingTax, &l.CreditedTax, &l.ExemptionCode); err != nil {
			return wrap("get invoice lines", err)
		}
		l.ParentLineID = parent.Int64
		inv.Lines = append(inv.Lines, l)
	}
	return wrapErr("get invoice lines", rows.Err())
}

// invoiceWhere is the condition f selects, without cursor and paging.
func invoiceWhere(f refund.InvoiceFilter) ([]string, []any) {
	var where []string
	var args []any
	add := func(cond string, arg any) { where, args = append(where, cond), append(args, arg) }
	if f.MerchantID != "" {
		if f.RefundID != "" {
			// A refund has two invoices at most: the unary plus keeps SQLite
			// from choosing invoices_merchant (no sort, every invoice the
			// merchant has) over invoices_refund.
			add("+merchant_id = ?", f.MerchantID)
		} else {
			add("merchant_id = ?", f.MerchantID)
		}
	}
	if f.OrderID != "" {
		add("order_id = ?", f.OrderID)
	}
	if f.RefundID != "" {
		// The literal lets SQLite use the partial invoices_refund index.
		add("refund_id = ? AND refund_id <> ''", f.RefundID)
	}
	if f.AdjustmentID != "" {
		// Nothing indexes adjustment_id (migration 0029): the notes are
		// found among their order's (invoices_order), the adjustment's.
		add("adjustment_id = ?", f.AdjustmentID)
		add("order_id = (SELECT order_id FROM order_adjustments WHERE id = ?)", f.AdjustmentID)
	}
	if f.ParentID != 0 {
		add("parent_id = ?", f.ParentID)
	}
	// A known value of an enumerated column is written into the query, not
	// bound: compared with a bound value, a column that a partial index
	// filters on (type, zatca_status) makes SQLite plan the statement again
	// on every run. The query still comes in a few shapes, each prepared once.
	enum := func(column, v string, values ...string) {
		if slices.Contains(values, v) {
			where = append(where, column+" = '"+v+"'")
		} else {
			add(column+" = ?", v)
		}
	}
	if f.Type != "" {
		enum("type", string(f.Type), string(refund.InvoiceSale), string(refund.InvoiceRefund), string(refund.InvoiceDebit))
	}
	if f.Status != "" {
		enum("status", string(f.Status), string(refund.InvoicePending), string(refund.InvoicePaid), string(refund.InvoiceVoid))
	}
	if f.ZATCAStatus != "" {
		enum("zatca_status", string(f.ZATCAStatus), string(refund.ZATCANotSubmitted), string(refund.ZATCAPending),
			string(refund.ZATCAReported), string(refund.ZATCAFailed), string(refund.ZATCAAborted))
	}
	if f.Serial != "" {
		add("serial = ?", f.Serial)
	}
	return where, args
}

// listInvoicesQuery is the statement ListInvoices runs for f.
func listInvoicesQuery(f refund.InvoiceFilter) (string, []any) {
	where, args := invoiceWhere(f)
	if f.Cursor != 0 {
		where, args = append(where, "id < ?"), append(args, f.Cursor)
	}
	order := "id"
	if (f.OrderID != "" || f.AdjustmentID != "") && f.Type == "" {
		// An order's invoices of every type come out of invoices_order
		// unsorted; the unary plus keeps SQLite from walking the merchant's
		// invoices (invoices_merchant, sorted) to spare that small sort.
		order = "+id"
	}
	return `SELECT ` + invoiceSelect + ` FROM invoices` + whereClause(where) +
		` ORDER BY ` + order + ` DESC` + limitSQL(limit(f.Limit), f.Offset), args
}

// ListInvoices returns invoices with their lines, newest first (by id).
// f.Limit <= 0 means 100.
func (t *tx) ListInvoices(ctx context.Context, f refund.InvoiceFilter) ([]*refund.Invoice, error) {
	query, args := listInvoicesQuery(f)
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap("list invoices", err)
	}
	var out []*refund.Invoice
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			rows.Close()
			return nil, wrap("list invoices", err)
		}
		out = append(out, inv)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, wrap("list invoices", err)
	}
	// Lines are read once the invoice rows are closed, so that one
	// statement at a time runs on the transaction's connection.
	for _, inv := range out {
		if err := t.loadLines(ctx, inv); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CountInvoices counts what f selects, ignoring its cursor and paging.
func (t *tx) CountInvoices(ctx context.Context, f refund.InvoiceFilter) (int, error) {
	where, args := invoiceWhere(f)
	var n int
	if err := t.q.QueryRowContext(ctx, `SELECT count(*) FROM invoices`+whereClause(where), args...).Scan(&n); err != nil {
		return 0, wrap("count invoices", err)
	}
	return n, nil
}

// UpdateInvoice writes the status, the ZATCA outcome, the chain, the issue
// time and the update time.
func (t *tx) UpdateInvoice(ctx context.Context, inv *refund.Invoice) error {
	n, err := t.exec(ctx, "update invoice", `UPDATE invoices SET status = ?, zatca_status = ?, invoice_error = ?, updated_at = ?,
		zatca_attempts = ?, zatca_next_at = ?, icv = ?, previous_hash = ?, hash = ?, signature = ?, public_key = ?, issued_at = ? WHERE id = ?`,
		string(inv.Status), string(inv.ZATCAStatus), inv.InvoiceError, nanos(inv.UpdatedAt), inv.ZATCAAttempts, nullTime(inv.ZATCANextAt),
		inv.ICV, inv.PreviousHash, inv.Hash, inv.Signature, inv.PublicKey, nanos(inv.IssuedAt), inv.ID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EInvoiceNotFound, "", "invoice %d not found", inv.ID)
	}
	return nil
}

// ResplitInvoice writes a void, unchained note's VAT split.
func (t *tx) ResplitInvoice(ctx context.Context, inv *refund.Invoice) error {
	n, err := t.exec(ctx, "resplit invoice", `UPDATE invoices SET total_amount_excluding_tax = ?, tax_amount = ?,
		shipping_excluding_tax = ?, shipping_tax_amount = ? WHERE id = ? AND status = 'void' AND icv = 0 AND hash = ''`,
		inv.TotalExcludingTax, inv.TaxAmount, inv.ShippingExcludingTax, inv.ShippingTaxAmount, inv.ID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EConflict, "", "invoice %d is not a void note outside the chain", inv.ID)
	}
	for _, l := range inv.Lines {
		n, err := t.exec(ctx, "resplit invoice line", `UPDATE invoice_lines SET total_amount_excluding_tax = ?, tax_amount = ?
			WHERE id = ? AND invoice_id = ?`, l.TotalExcludingTax, l.TaxAmount, l.ID, inv.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			return refund.Errorf(refund.EInvoiceNotFound, "", "invoice %d has no line %d", inv.ID, l.ID)
		}
	}
	return nil
}

// AddCredited adds to what a tax invoice's lines and shipping credited.
func (t *tx) AddCredited(ctx context.Context, invoiceID int64, lines map[int64]refund.Credit, shipping refund.Credit) error {
	n, err := t.exec(ctx, "add credited", `UPDATE invoices SET credited_shipping = credited_shipping + ?,
		credited_shipping_excluding_tax = credited_shipping_excluding_tax + ?, credited_shipping_tax = credited_shipping_tax + ?
		WHERE id = ? AND type = 'invoice'`, shipping.Amount, shipping.ExcludingTax, shipping.Tax, invoiceID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EInvoiceNotFound, "", "tax invoice %d not found", invoiceID)
	}
	for _, id := range slices.Sorted(maps.Keys(lines)) {
		c := lines[id]
		n, err := t.exec(ctx, "add credited", `UPDATE invoice_lines SET credited_amount = credited_amount + ?,
			credited_excluding_tax = credited_excluding_tax + ?, credited_tax = credited_tax + ?
			WHERE id = ? AND invoice_id = ?`, c.Amount, c.ExcludingTax, c.Tax, id, invoiceID)
		if err != nil {
			return err
		}
		if n == 0 {
			return refund.Errorf(refund.EInvoiceNotFound, "", "tax invoice %d has no line %d", invoiceID, id)
		}
	}
	return nil
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: nanos(t), Valid: !t.IsZero()}
}

// ClaimInvoiceReports takes the due pending documents, oldest first, and
// moves their next attempt to until.
func (t *tx) ClaimInvoiceReports(ctx context.Context, now, until time.Time, limit int) ([]*refund.Invoice, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := t.q.QueryContext(ctx, `SELECT `+invoiceSelect+` FROM invoices
		WHERE zatca_status = 'pending' AND zatca_next_at <= ? ORDER BY id`+limitSQL(limit, 0), nanos(now))
	if err != nil {
		return nil, wrap("claim invoice reports", err)
	}
	var out []*refund.Invoice
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			rows.Close()
			return nil, wrap("claim invoice reports", err)
		}
		out = append(out, inv)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, wrap("claim invoice reports", err)
	}
	for _, inv := range out {
		if _, err := t.exec(ctx, "claim invoice report", `UPDATE invoices SET zatca_next_at = ? WHERE id = ?`, nanos(until), inv.ID); err != nil {
			return nil, err
		}
		inv.ZATCANextAt = fromNanos(nanos(until))
		if err := t.loadLines(ctx, inv); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// NextInvoiceChain advances the merchant's chain; the single writer
// makes it one at a time.
func (t *tx) NextInvoiceChain(ctx context.Context, merchantID string) (int64, string, error) {
	var n int64
	var prev string
	err := t.q.QueryRowContext(ctx, `INSERT INTO invoice_chains (merchant_id, counter, last_hash) VALUES (?, 1, ?)
		ON CONFLICT (merchant_id) DO UPDATE SET counter = counter + 1 RETURNING counter, last_hash`,
		merchantID, refund.InitialInvoiceHash).Scan(&n, &prev)
	if err != nil {
		return 0, "", wrap("next invoice chain", err)
	}
	return n, prev, nil
}

// SetInvoiceChainHead records the merchant's latest document hash.
func (t *tx) SetInvoiceChainHead(ctx context.Context, merchantID, hash string) error {
	_, err := t.exec(ctx, "set invoice chain head", `UPDATE invoice_chains SET last_hash = ? WHERE merchant_id = ?`, hash, merchantID)
	return err
}

// NextInvoiceNumber increments the merchant's counter for year in the
// transaction; the single writer hands numbers out one at a time.
func (t *tx) NextInvoiceNumber(ctx context.Context, merchantID string, year int) (int64, error) {
	var n int64
	err := t.q.QueryRowContext(ctx, `INSERT INTO invoice_counters (merchant_id, year, last_number) VALUES (?, ?, 1)
		ON CONFLICT (merchant_id, year) DO UPDATE SET last_number = last_number + 1 RETURNING last_number`, merchantID, year).Scan(&n)
	if err != nil {
		return 0, wrap("next invoice number", err)
	}
	return n, nil
}

// GetInvoiceConfig returns ENotFound when the merchant never set one.
func (t *tx) GetInvoiceConfig(ctx context.Context, merchantID string) (*refund.InvoiceConfig, error) {
	c := refund.InvoiceConfig{MerchantID: merchantID}
	var updated int64
	var address string
	err := t.q.QueryRowContext(ctx, `SELECT serial_prefix, seller_name, vat_number, zatca_enabled, updated_at, seller_crn, seller_address
		FROM invoice_configs WHERE merchant_id = ?`, merchantID).Scan(&c.SerialPrefix, &c.SellerName, &c.VATNumber, &c.ZATCAEnabled, &updated,
		&c.CRN, &address)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "merchant %q has no invoice configuration", merchantID)
	}
	if err != nil {
		return nil, wrap("get invoice config", err)
	}
	c.UpdatedAt = fromNanos(updated)
	if err := scanAddress(address, &c.Address); err != nil {
		return nil, fmt.Errorf("sqlite: invoice config of %s: seller address: %w", merchantID, err)
	}
	return &c, nil
}

// PutInvoiceConfig inserts or replaces the merchant's configuration.
func (t *tx) PutInvoiceConfig(ctx context.Context, c *refund.InvoiceConfig) error {
	_, err := t.exec(ctx, "put invoice config", `INSERT INTO invoice_configs (merchant_id, serial_prefix, seller_name,
		vat_number, zatca_enabled, updated_at, seller_crn, seller_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (merchant_id) DO UPDATE SET serial_prefix = excluded.serial_prefix, seller_name = excluded.seller_name,
		vat_number = excluded.vat_number, zatca_enabled = excluded.zatca_enabled, updated_at = excluded.updated_at,
		seller_crn = excluded.seller_crn, seller_address = excluded.seller_address`,
		c.MerchantID, c.SerialPrefix, c.SellerName, c.VATNumber, c.ZATCAEnabled, nanos(c.UpdatedAt), c.CRN, addressText(c.Address))
	return err
}

// addressText stores a seller's address as JSON, the empty string for none (what the
// documents issued before addresses were kept hold).
func addressText(a refund.Address) string {
	if a.IsZero() {
		return ""
	}
	b, _ := json.Marshal(a) // strings only: cannot fail
	return string(b)
}

// scanAddress reads what addressText stored into a.
func scanAddress(s string, a *refund.Address) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), a)
}
