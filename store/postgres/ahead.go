package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// Reading ahead. A refund's transactions read, besides their order or
// refund, three things about its merchant that only settings change: the
// refund policy (does it wait for approval), the webhook endpoints (who
// gets its events) and whether there is an invoice to credit or settle.
// Asked one at a time, each is a round trip of its own. Inside Update the
// store reads them in the batch that reads the order (GetOrderForRefund)
// or the refund (GetRefund), and answers the later questions from what it
// read. A read ahead is a read made earlier in the same READ COMMITTED
// transaction, which is what the caller would have seen had it asked
// then; any write of the transaction to one of those tables drops what
// was read ahead (forget), so a read never answers past the
// transaction's own change.
type ahead map[string]any

const (
	aheadPolicy    = "policy|"    // + merchant id: policyRead
	aheadEndpoints = "endpoints|" // + merchant id: []*refund.WebhookEndpoint
	aheadNoInvoice = "noinvoice|" // + invoiceKey: the filter selects nothing
)

// policyRead is GetRefundPolicy's answer: a policy or ENotFound.
type policyRead struct {
	p   *refund.RefundPolicy
	err error
}

// keep remembers v as the answer to key.
func (t *tx) keep(key string, v any) {
	if t.ahead == nil {
		t.ahead = ahead{}
	}
	t.ahead[key] = v
}

// recall returns what was read ahead for key.
func (t *tx) recall(key string) (any, bool) {
	v, ok := t.ahead[key]
	return v, ok
}

// forget drops everything read ahead: the transaction wrote a table that
// was read.
func (t *tx) forget() { t.ahead = nil }

// invoiceKey names the question f asks ListInvoices.
func invoiceKey(f refund.InvoiceFilter) string { return fmt.Sprintf("%+v", f) }

const (
	policySelect    = `SELECT approval_threshold, older_than_days, approval_expiry_s, updated_at FROM refund_policies`
	endpointsSelect = `SELECT ` + endpointColumns + ` FROM webhook_endpoints`
)

// scanPolicy reads a refund_policies row (policySelect) of merchantID;
// no row is ENotFound.
func scanPolicy(row pgx.Row, merchantID string) (*refund.RefundPolicy, error) {
	p := refund.RefundPolicy{MerchantID: merchantID}
	var thresholds []byte
	var expiry int64
	err := row.Scan(&thresholds, &p.OlderThanDays, &expiry, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no refund policy")
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(thresholds, &p.ApprovalThreshold); err != nil {
		return nil, fmt.Errorf("postgres: refund policy of %s: %w", merchantID, err)
	}
	p.ApprovalExpiry = time.Duration(expiry) * time.Second
	return &p, nil
}

// readAhead reads the results of the statements queueAhead queued, in
// that order, and keeps them for merchantID. noInvoice is the
// ListInvoices question the third one answers (an EXISTS).
func (t *tx) readAhead(br pgx.BatchResults, merchantID string, noInvoice refund.InvoiceFilter) error {
	p, err := scanPolicy(br.QueryRow(), merchantID)
	if fromDriver(err) {
		return t.fail("read refund policy", err)
	}
	// A policy that does not decode fails only whoever asks for it.
	policy := policyRead{p, err}
	rows, err := br.Query()
	if err != nil {
		return t.fail("list webhook endpoints", err)
	}
	eps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*refund.WebhookEndpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return t.fail("list webhook endpoints", err)
	}
	var exists bool
	if err := br.QueryRow().Scan(&exists); err != nil {
		return t.fail("find invoice", err)
	}
	t.keep(aheadPolicy+merchantID, policy)
	t.keep(aheadEndpoints+merchantID, eps)
	if !exists {
		t.keep(aheadNoInvoice+invoiceKey(noInvoice), true)
	}
	return nil
}

// queueAhead queues the reads ahead: the policy and endpoints of the
// merchant that merchant names (SQL on merchantArgs), and whether an
// invoice matches invoice (SQL conditions on invoiceArgs).
func queueAhead(b *pgx.Batch, merchant string, merchantArgs []any, invoice string, invoiceArgs []any) {
	b.Queue(policySelect+` WHERE merchant_id = `+merchant, merchantArgs...)
	b.Queue(endpointsSelect+` WHERE merchant_id = `+merchant+` ORDER BY id`, merchantArgs...)
	b.Queue(`SELECT EXISTS (SELECT 1 FROM invoices WHERE `+invoice+`)`, invoiceArgs...)
}
