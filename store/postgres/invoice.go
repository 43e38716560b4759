package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

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
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// CreateInvoice inserts inv and its lines, assigning their integer ids, in
// one statement (one round trip): the lines go in as arrays, inserted with
// the invoice's new id. A second tax invoice of an order, a second refund
// invoice of a refund or a serial the merchant already used is EConflict;
// ON CONFLICT DO NOTHING keeps the caller's transaction usable, as on
// SQLite.
func (t *tx) CreateInvoice(ctx context.Context, inv *refund.Invoice) error {
	customer, err := json.Marshal(inv.Customer)
	if err != nil {
		return fmt.Errorf("postgres: create invoice: %w", err)
	}
	t.forgetInvoices()
	n := len(inv.Lines)
	var (
		items, skus, namesEN, namesAR, rates                    = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		parents                                                 = make([]*int64, n)
		qtys, units, amounts, discounts, nets, exclTaxes, taxes = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		taxable                                                 = make([]bool, n)
		exemptions                                              = make([]string, n)
	)
	for i, l := range inv.Lines {
		items[i], parents[i], skus[i], namesEN[i], namesAR[i] = l.ItemID, nullID(l.ParentLineID), l.SKU, l.NameEN, l.NameAR
		qtys[i], units[i], amounts[i], discounts[i], nets[i] = l.Qty, l.UnitAmount, l.Amount, l.Discount, l.NetAmount
		exclTaxes[i], taxes[i], rates[i], taxable[i], exemptions[i] = l.TotalExcludingTax, l.TaxAmount, l.TaxRate, l.Taxable, l.ExemptionCode
	}
	var lineIDs []int64
	err = t.q.QueryRow(ctx, `WITH i AS (INSERT INTO invoices (`+invoiceColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41)
			ON CONFLICT DO NOTHING RETURNING id),
		l AS (INSERT INTO invoice_lines (`+lineColumns+`)
			SELECT i.id, d.n - 1, d.item_id, d.parent_line_id, d.sku, d.name_en, d.name_ar, d.qty, d.unit_amount, d.amount,
				d.discount_amount, d.net_amount, d.total_amount_excluding_tax, d.tax_amount, d.tax_rate, d.taxable, d.exemption_code
			FROM i, unnest($42::text[], $43::bigint[], $44::text[], $45::text[], $46::text[], $47::bigint[], $48::bigint[],
				$49::bigint[], $50::bigint[], $51::bigint[], $52::bigint[], $53::bigint[], $54::text[], $55::boolean[], $56::text[]) WITH ORDINALITY
				AS d (item_id, parent_line_id, sku, name_en, name_ar, qty, unit_amount, amount, discount_amount, net_amount,
					total_amount_excluding_tax, tax_amount, tax_rate, taxable, exemption_code, n)
			RETURNING id, position)
		SELECT i.id, ARRAY(SELECT id FROM l ORDER BY position) FROM i`,
		inv.MerchantID, inv.OrderID, inv.RefundID, nullID(inv.ParentID), inv.ParentSerial, inv.Serial, inv.Number,
		string(inv.Type), string(inv.Status), inv.Currency, inv.Reason, inv.Seller.Name, inv.Seller.VATNumber,
		string(customer), inv.PaymentMethod, inv.SubTotalAmount, inv.ShippingAmount, inv.DiscountAmount, inv.NetAmount,
		inv.TotalExcludingTax, inv.TaxAmount, inv.TotalAmount, inv.TaxRate, string(inv.ZATCAStatus), inv.InvoiceError,
		inv.IssuedAt, inv.CreatedAt, inv.UpdatedAt, inv.ShippingExcludingTax, inv.ShippingTaxAmount,
		inv.ZATCAAttempts, nullTime(inv.ZATCANextAt), inv.ICV, inv.PreviousHash, inv.Hash, inv.Signature, inv.PublicKey, inv.AdjustmentID, inv.BillingSerial, inv.Seller.CRN, addressText(inv.Seller.Address),
		items, parents, skus, namesEN, namesAR, qtys, units, amounts, discounts, nets, exclTaxes, taxes, rates, taxable, exemptions,
	).Scan(&inv.ID, &lineIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return refund.Errorf(refund.EConflict, "", "order %s already has this invoice, or serial %s is taken", inv.OrderID, inv.Serial)
	}
	if err != nil {
		return t.fail("create invoice", err)
	}
	if len(lineIDs) != n {
		return fmt.Errorf("postgres: create invoice: inserted %d lines of %d", len(lineIDs), n)
	}
	for i := range inv.Lines {
		inv.Lines[i].ID = lineIDs[i]
	}
	return nil
}

func scanInvoice(s scanner) (*refund.Invoice, error) {
	var inv refund.Invoice
	var parent *int64
	var customer []byte
	var address string
	var next *time.Time
	if err := s.Scan(&inv.ID, &inv.MerchantID, &inv.OrderID, &inv.RefundID, &parent, &inv.ParentSerial, &inv.Serial,
		&inv.Number, &inv.Type, &inv.Status, &inv.Currency, &inv.Reason, &inv.Seller.Name, &inv.Seller.VATNumber,
		&customer, &inv.PaymentMethod, &inv.SubTotalAmount, &inv.ShippingAmount, &inv.DiscountAmount, &inv.NetAmount,
		&inv.TotalExcludingTax, &inv.TaxAmount, &inv.TotalAmount, &inv.TaxRate, &inv.ZATCAStatus, &inv.InvoiceError,
		&inv.IssuedAt, &inv.CreatedAt, &inv.UpdatedAt, &inv.ShippingExcludingTax, &inv.ShippingTaxAmount, &inv.ZATCAAttempts, &next,
		&inv.ICV, &inv.PreviousHash, &inv.Hash, &inv.Signature, &inv.PublicKey, &inv.AdjustmentID, &inv.BillingSerial, &inv.Seller.CRN, &address,
		&inv.CreditedShipping, &inv.CreditedShippingExcludingTax, &inv.CreditedShippingTax); err != nil {
		return nil, err
	}
	if parent != nil {
		inv.ParentID = *parent
	}
	if next != nil {
		inv.ZATCANextAt = *next
	}
	if err := json.Unmarshal(customer, &inv.Customer); err != nil {
		return nil, fmt.Errorf("invoice %d customer: %w", inv.ID, err)
	}
	if err := scanAddress(address, &inv.Seller.Address); err != nil {
		return nil, fmt.Errorf("invoice %d seller address: %w", inv.ID, err)
	}
	return &inv, nil
}

// GetInvoice returns EInvoiceNotFound, also for another merchant's
// invoice; merchantID "" matches any.
func (t *tx) GetInvoice(ctx context.Context, merchantID string, id int64) (*refund.Invoice, error) {
	if v, ok := t.recall(invoiceIDKey(merchantID, id)); ok {
		return cloneInvoices([]*refund.Invoice{v.(*refund.Invoice)})[0], nil
	}
	query, args := `SELECT `+invoiceSelect+` FROM invoices WHERE id = $1`, []any{id}
	if merchantID != "" {
		query, args = query+` AND merchant_id = $2`, append(args, merchantID)
	}
	invs, err := t.invoicesWithLines(ctx, "get invoice", query, args)
	if err != nil {
		return nil, err
	}
	if len(invs) == 0 {
		return nil, refund.Errorf(refund.EInvoiceNotFound, "", "invoice %d not found", id)
	}
	return invs[0], nil
}

// lineSelect reads invoice lines for scanLine.
const lineSelect = `SELECT invoice_id, id, item_id, parent_line_id, sku, name_en, name_ar,
	qty, unit_amount, amount, discount_amount, net_amount, total_amount_excluding_tax, tax_amount, tax_rate, taxable, credited_amount,
	credited_excluding_tax, credited_tax, exemption_code
	FROM invoice_lines`

func scanLine(s scanner) (line, error) {
	var l line
	var parent *int64
	err := s.Scan(&l.invoiceID, &l.ID, &l.ItemID, &parent, &l.SKU, &l.NameEN, &l.NameAR, &l.Qty, &l.UnitAmount, &l.Amount,
		&l.Discount, &l.NetAmount, &l.TotalExcludingTax, &l.TaxAmount, &l.TaxRate, &l.Taxable, &l.Credited,
		&l.CreditedExcludingTax, &l.CreditedTax, &l.ExemptionCode)
	if parent != nil {
		l.ParentLineID = *parent
	}
	return l, err
}

// invoicesWithLines runs query, a SELECT of invoiceSelect, and in the same
// round trip reads the lines of the invoices it selects (see ListInvoices
// for when that is safe).
func (t *tx) invoicesWithLines(ctx context.Context, op, query string, args []any) ([]*refund.Invoice, error) {
	b := &pgx.Batch{}
	read := queueInvoices(b, query, args)
	br := t.q.SendBatch(ctx, b)
	defer br.Close()
	invs, err := read(br)
	if err != nil {
		return nil, t.fail(op, err)
	}
	if err := br.Close(); err != nil {
		return nil, t.fail(op, err)
	}
	return invs, nil
}

// queueInvoices queues query, a SELECT of invoiceSelect, and the lines of
// the invoices it selects (their statement selects them by the same
// query), and returns what reads both.
func queueInvoices(b *pgx.Batch, query string, args []any) func(pgx.BatchResults) ([]*refund.Invoice, error) {
	b.Queue(query, args...)
	b.Queue(lineSelect+` WHERE invoice_id IN (SELECT id FROM (`+query+`) i) ORDER BY invoice_id, position`, args...)
	return func(br pgx.BatchResults) ([]*refund.Invoice, error) {
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		invs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*refund.Invoice, error) { return scanInvoice(r) })
		if err != nil {
			return nil, err
		}
		rows, err = br.Query()
		if err != nil {
			return nil, fmt.Errorf("lines: %w", err)
		}
		lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (line, error) { return scanLine(r) })
		if err != nil {
			return nil, fmt.Errorf("lines: %w", err)
		}
		attachLines(invs, lines)
		if len(invs) == 0 {
			return nil, nil // as the SQLite store answers an empty list
		}
		return invs, nil
	}
}

// attachLines gives each invoice of invs its lines, in order. Under READ
// COMMITTED a second statement may see an invoice the first did not; its
// lines are left out.
func attachLines(invs []*refund.Invoice, lines []line) {
	byID := make(map[int64]*refund.Invoice, len(invs))
	for _, inv := range invs {
		inv.Lines = nil
		byID[inv.ID] = inv
	}
	for _, l := range lines {
		if inv := byID[l.invoiceID]; inv != nil {
			inv.Lines = append(inv.Lines, l.InvoiceLine)
		}
	}
}

// loadLines reads the lines of every invoice in invs in one query.
func (t *tx) loadLines(ctx context.Context, invs []*refund.Invoice) error {
	if len(invs) == 0 {
		return nil
	}
	ids := make([]int64, len(invs))
	for i, inv := range invs {
		ids[i] = inv.ID
	}
	lines, err := queryAll(ctx, t, "get invoice lines", lineSelect+` WHERE invoice_id = ANY($1) ORDER BY invoice_id, position`, scanLine, ids)
	if err != nil {
		return err
	}
	attachLines(invs, lines)
	return nil
}

// line is an invoice line with the invoice it belongs to.
type line struct {
	invoiceID int64
	refund.InvoiceLine
}

// invoiceWhere is the condition f selects, without cursor and paging.
func invoiceWhere(f refund.InvoiceFilter, p *params) []string {
	var where []string
	if f.MerchantID != "" {
		where = append(where, "merchant_id = "+p.add(f.MerchantID))
	}
	if f.OrderID != "" {
		where = append(where, "order_id = "+p.add(f.OrderID))
	}
	if f.RefundID != "" {
		// The literal lets a generic plan use the partial invoices_refund.
		where = append(where, "refund_id = "+p.add(f.RefundID)+" AND refund_id <> ''")
	}
	if f.AdjustmentID != "" {
		// Nothing indexes adjustment_id (migration 0029): the notes are
		// found among their order's (invoices_order), the adjustment's.
		id := p.add(f.AdjustmentID)
		where = append(where, "adjustment_id = "+id, "order_id = (SELECT order_id FROM order_adjustments WHERE id = "+id+")")
	}
	if f.ParentID != 0 {
		where = append(where, "parent_id = "+p.add(f.ParentID))
	}
	if f.Type != "" {
		where = append(where, "type = "+p.add(string(f.Type)))
	}
	if f.Status != "" {
		where = append(where, "status = "+p.add(string(f.Status)))
	}
	if f.ZATCAStatus != "" {
		where = append(where, "zatca_status = "+p.add(string(f.ZATCAStatus)))
	}
	if f.Serial != "" {
		where = append(where, "serial = "+p.add(f.Serial))
	}
	return where
}

// listInvoicesQuery is the statement ListInvoices runs for f.
func listInvoicesQuery(f refund.InvoiceFilter) (string, params) {
	var p params
	where := invoiceWhere(f, &p)
	if f.Cursor != 0 {
		where = append(where, "id < "+p.add(f.Cursor))
	}
	return `SELECT ` + invoiceSelect + ` FROM invoices` + whereClause(where) +
		` ORDER BY id DESC LIMIT ` + p.add(limit(f.Limit)) + ` OFFSET ` + p.add(max(f.Offset, 0)), p
}

// ListInvoices returns invoices with their lines, newest first (by id).
// f.Limit <= 0 means 100.
func (t *tx) ListInvoices(ctx context.Context, f refund.InvoiceFilter) ([]*refund.Invoice, error) {
	if _, none := t.recall(aheadNoInvoice + invoiceKey(f)); none {
		return nil, nil
	}
	if v, ok := t.recall(aheadInvoices + invoiceKey(f)); ok {
		return cloneInvoices(v.([]*refund.Invoice)), nil
	}
	query, p := listInvoicesQuery(f)
	if f.Offset <= 0 && (!t.write || oneDocument(f)) {
		return t.invoicesWithLines(ctx, "list invoices", query, p)
	}
	// Two round trips. The lines' statement would walk skipped invoices
	// again; and inside Update (READ COMMITTED, each statement its own
	// snapshot) an invoice committed between the two statements could push
	// one the first returned out of the second's window, leaving it without
	// its lines. A View reads one snapshot, and a filter that can select
	// one document only has no window to shift.
	out, err := queryAll(ctx, t, "list invoices", query, scanInvoice, p...)
	if err != nil {
		return nil, err
	}
	if err := t.loadLines(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// oneDocument says whether f can select one invoice at most: an order has
// one tax invoice, a refund one credit note (unique indexes).
func oneDocument(f refund.InvoiceFilter) bool {
	return (f.RefundID != "" && f.Type == refund.InvoiceRefund) || (f.OrderID != "" && f.Type == refund.InvoiceSale)
}

// CountInvoices counts what f selects, ignoring its cursor and paging.
func (t *tx) CountInvoices(ctx context.Context, f refund.InvoiceFilter) (int, error) {
	var p params
	where := invoiceWhere(f, &p)
	var n int
	if err := t.q.QueryRow(ctx, `SELECT count(*) FROM invoices`+whereClause(where), p...).Scan(&n); err != nil {
		return 0, t.fail("count invoices", err)
	}
	return n, nil
}

// UpdateInvoice writes the status, the ZATCA outcome, the chain, the issue
// time and the update time.
// Nothing waits for it: inside Update it travels with the next round trip,
// and a missing invoice refuses in the server (see refusing).
func (t *tx) UpdateInvoice(ctx context.Context, inv *refund.Invoice) error {
	t.forgetInvoices()
	id := inv.ID
	return t.refusing(ctx, "update invoice", func(string) error {
		return refund.Errorf(refund.EInvoiceNotFound, "", "invoice %d not found", id)
	}, `WITH u AS (UPDATE invoices SET status = $1, zatca_status = $2, invoice_error = $3, updated_at = $4,
			zatca_attempts = $5, zatca_next_at = $6, icv = $7, previous_hash = $8, hash = $9, signature = $10, public_key = $11,
			issued_at = $13
			WHERE id = $12 RETURNING 1)
		SELECT CASE WHEN EXISTS (SELECT 1 FROM u) THEN true ELSE refundd_refuse('not found') END`,
		string(inv.Status), string(inv.ZATCAStatus), inv.InvoiceError, inv.UpdatedAt, inv.ZATCAAttempts, nullTime(inv.ZATCANextAt),
		inv.ICV, inv.PreviousHash, inv.Hash, inv.Signature, inv.PublicKey, inv.ID, inv.IssuedAt)
}

// ResplitInvoice writes a void, unchained note's VAT split. Rare (a
// revived refund's note), so each statement waits for its answer.
func (t *tx) ResplitInvoice(ctx context.Context, inv *refund.Invoice) error {
	t.forgetInvoices()
	n, err := t.exec(ctx, "resplit invoice", `UPDATE invoices SET total_amount_excluding_tax = $1, tax_amount = $2,
		shipping_excluding_tax = $3, shipping_tax_amount = $4 WHERE id = $5 AND status = 'void' AND icv = 0 AND hash = ''`,
		inv.TotalExcludingTax, inv.TaxAmount, inv.ShippingExcludingTax, inv.ShippingTaxAmount, inv.ID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EConflict, "", "invoice %d is not a void note outside the chain", inv.ID)
	}
	for _, l := range inv.Lines {
		n, err := t.exec(ctx, "resplit invoice line", `UPDATE invoice_lines SET total_amount_excluding_tax = $1, tax_amount = $2
			WHERE id = $3 AND invoice_id = $4`, l.TotalExcludingTax, l.TaxAmount, l.ID, inv.ID)
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
// Nothing waits for it: inside Update it travels with the next round trip,
// and a missing invoice or line refuses in the server (see refusing).
func (t *tx) AddCredited(ctx context.Context, invoiceID int64, lines map[int64]refund.Credit, shipping refund.Credit) error {
	// Not nil: a nil slice travels as NULL, and cardinality(NULL) is NULL
	// (a note of shipping only would be refused).
	t.forgetInvoices()
	ids := append(make([]int64, 0, len(lines)), slices.Sorted(maps.Keys(lines))...)
	amounts, excl, tax := make([]int64, len(ids)), make([]int64, len(ids)), make([]int64, len(ids))
	for i, id := range ids {
		amounts[i], excl[i], tax[i] = lines[id].Amount, lines[id].ExcludingTax, lines[id].Tax
	}
	return t.refusing(ctx, "add credited", func(string) error {
		return refund.Errorf(refund.EInvoiceNotFound, "", "tax invoice %d or one of its lines %v not found", invoiceID, ids)
	}, `WITH l AS (UPDATE invoice_lines SET credited_amount = credited_amount + d.amount,
				credited_excluding_tax = credited_excluding_tax + d.excl, credited_tax = credited_tax + d.tax
			FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS d (id, amount, excl, tax)
			WHERE invoice_lines.id = d.id AND invoice_lines.invoice_id = $1 RETURNING 1),
		i AS (UPDATE invoices SET credited_shipping = credited_shipping + $6,
				credited_shipping_excluding_tax = credited_shipping_excluding_tax + $7, credited_shipping_tax = credited_shipping_tax + $8
			WHERE id = $1 AND type = 'invoice' RETURNING 1)
		SELECT CASE WHEN EXISTS (SELECT 1 FROM i) AND (SELECT count(*) FROM l) = cardinality($2::bigint[]) THEN true
			ELSE refundd_refuse('not found') END`, invoiceID, ids, amounts, excl, tax, shipping.Amount, shipping.ExcludingTax, shipping.Tax)
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ClaimInvoiceReports takes the due pending documents, oldest first, and
// moves their next attempt to until; SKIP LOCKED lets nodes claim side by
// side.
func (t *tx) ClaimInvoiceReports(ctx context.Context, now, until time.Time, limit int) ([]*refund.Invoice, error) {
	if limit <= 0 {
		return nil, nil
	}
	t.forgetInvoices()
	out, err := queryAll(ctx, t, "claim invoice reports", `UPDATE invoices SET zatca_next_at = $1 WHERE id IN (
		SELECT id FROM invoices WHERE zatca_status = 'pending' AND zatca_next_at <= $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+invoiceSelect, scanInvoice, until, now, limit)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *refund.Invoice) int { return cmp.Compare(a.ID, b.ID) })
	if err := t.loadLines(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// NextInvoiceChain advances the merchant's chain; the row lock it takes
// holds other transactions of the merchant until this one ends, so
// documents are chained one after the other.
func (t *tx) NextInvoiceChain(ctx context.Context, merchantID string) (int64, string, error) {
	t.invoices(merchantID)
	var n int64
	var prev string
	err := t.q.QueryRow(ctx, `INSERT INTO invoice_chains (merchant_id, counter, last_hash) VALUES ($1, 1, $2)
		ON CONFLICT (merchant_id) DO UPDATE SET counter = invoice_chains.counter + 1 RETURNING counter, last_hash`,
		merchantID, refund.InitialInvoiceHash).Scan(&n, &prev)
	if err != nil {
		return 0, "", t.fail("next invoice chain", err)
	}
	return n, prev, nil
}

// SetInvoiceChainHead records the merchant's latest document hash. Nothing
// waits for it: NextInvoiceChain made the row, so the update always finds
// it, and inside Update it travels with the next round trip.
func (t *tx) SetInvoiceChainHead(ctx context.Context, merchantID, hash string) error {
	return t.later(ctx, "set invoice chain head", `UPDATE invoice_chains SET last_hash = $1 WHERE merchant_id = $2`, hash, merchantID)
}

// NextInvoiceNumber increments the merchant's counter for year in one
// upsert. Its row lock lasts until commit: a concurrent issuer waits and
// then increments the committed value, and a rollback gives the number
// back, so serials stay gapless across nodes.
//
// It first locks the merchant's chain row, made here if it is missing
// (counter 0, so NextInvoiceChain still starts at 1). A credit note is
// numbered when its refund is reserved and chained when the refund
// succeeds, in another transaction; a group commit can hold both kinds.
// Were the counter taken first, a batch numbering a note (counter held,
// chain wanted) and a batch chaining one (chain held, counter wanted)
// would deadlock on every busy merchant, each waiting a second for the
// server to break it (`refundd bench --invoiced`: 47 refunds/s). With the
// chain row always first, one merchant's invoicing serialises on that one
// row. Both statements travel with the upsert: no round trip more.
//
// That removes the cycle within one merchant's two rows only; the one
// between batches holding orders' rows and chain rows is batchMerchants'.
func (t *tx) NextInvoiceNumber(ctx context.Context, merchantID string, year int) (int64, error) {
	t.invoices(merchantID)
	if t.write {
		t.q.later("make invoice chain", `INSERT INTO invoice_chains (merchant_id, counter, last_hash) VALUES ($1, 0, $2)
			ON CONFLICT (merchant_id) DO NOTHING`, merchantID, refund.InitialInvoiceHash)
		t.q.later("lock invoice chain", `SELECT 1 FROM invoice_chains WHERE merchant_id = $1 FOR NO KEY UPDATE`, merchantID)
	}
	var n int64
	err := t.q.QueryRow(ctx, `INSERT INTO invoice_counters (merchant_id, year, last_number) VALUES ($1, $2, 1)
		ON CONFLICT (merchant_id, year) DO UPDATE SET last_number = invoice_counters.last_number + 1
		RETURNING last_number`, merchantID, year).Scan(&n)
	if err != nil {
		return 0, t.fail("next invoice number", err)
	}
	return n, nil
}

// configByMerchant reads a merchant's invoice configuration for scanConfig.
const configByMerchant = `SELECT serial_prefix, seller_name, vat_number, zatca_enabled, updated_at, seller_crn, seller_address
	FROM invoice_configs WHERE merchant_id = $1`

// scanConfig reads merchantID's configuration (configByMerchant); no row
// is ENotFound.
func scanConfig(row pgx.Row, merchantID string) (*refund.InvoiceConfig, error) {
	c := refund.InvoiceConfig{MerchantID: merchantID}
	var address string
	err := row.Scan(&c.SerialPrefix, &c.SellerName, &c.VATNumber, &c.ZATCAEnabled, &c.UpdatedAt, &c.CRN, &address)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "merchant %q has no invoice configuration", merchantID)
	}
	if err != nil {
		return nil, err
	}
	if err := scanAddress(address, &c.Address); err != nil {
		return nil, fmt.Errorf("seller address: %w", err)
	}
	return &c, nil
}

// GetInvoiceConfig returns ENotFound when the merchant never set one.
func (t *tx) GetInvoiceConfig(ctx context.Context, merchantID string) (*refund.InvoiceConfig, error) {
	if v, ok := t.recall(aheadInvoiceConfig + merchantID); ok {
		read := v.(configRead)
		if read.err != nil {
			return nil, read.err
		}
		c := *read.c
		return &c, nil
	}
	c, err := scanConfig(t.q.QueryRow(ctx, configByMerchant, merchantID), merchantID)
	if err != nil && refund.ErrorCode(err) != refund.ENotFound {
		return nil, t.fail("get invoice config", err)
	}
	return c, err
}

// PutInvoiceConfig inserts or replaces the merchant's configuration.
func (t *tx) PutInvoiceConfig(ctx context.Context, c *refund.InvoiceConfig) error {
	t.forget(aheadInvoiceConfig)
	_, err := t.exec(ctx, "put invoice config", `INSERT INTO invoice_configs (merchant_id, serial_prefix, seller_name,
		vat_number, zatca_enabled, updated_at, seller_crn, seller_address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (merchant_id) DO UPDATE SET serial_prefix = excluded.serial_prefix, seller_name = excluded.seller_name,
		vat_number = excluded.vat_number, zatca_enabled = excluded.zatca_enabled, updated_at = excluded.updated_at,
		seller_crn = excluded.seller_crn, seller_address = excluded.seller_address`,
		c.MerchantID, c.SerialPrefix, c.SellerName, c.VATNumber, c.ZATCAEnabled, c.UpdatedAt, c.CRN, addressText(c.Address))
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
