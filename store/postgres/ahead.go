package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// Reading ahead. A refund's transactions read, besides their order or
// refund, three things about its merchant that only settings change: the
// refund policy (does it wait for approval), the webhook endpoints (who
// gets its events) and whether there is an invoice to credit or settle
// (if there is, see invoiceReads). Asked one at a time, each is a round
// trip of its own. Inside Update the store reads them in the batch that
// reads the order (GetOrderForRefund) or the refund (GetRefund; the policy
// only with the order, as only a new refund asks for it), and answers the
// later questions from what it read. A read ahead is a read made earlier
// in the same READ COMMITTED transaction, which is what the caller would
// have seen had it asked then; any write of the transaction to one of
// those tables drops what was read ahead (forget), so a read never
// answers past the transaction's own change.
type ahead map[string]any

const (
	aheadPolicy        = "policy|"        // + merchant id: policyRead
	aheadEndpoints     = "endpoints|"     // + merchant id: []*refund.WebhookEndpoint
	aheadNoInvoice     = "noinvoice|"     // + invoiceKey: the filter selects nothing
	aheadMerchant      = "merchant|"      // + merchant id: *refund.Merchant
	aheadInvoiceConfig = "invoiceconfig|" // + merchant id: configRead
	aheadInvoices      = "invoices|"      // + invoiceKey: what ListInvoices answers
	aheadInvoice       = "invoice|"       // + merchant id|invoice id: what GetInvoice answers
)

// policyRead is GetRefundPolicy's answer: a policy or ENotFound.
type policyRead struct {
	p   *refund.RefundPolicy
	err error
}

// configRead is GetInvoiceConfig's answer: a configuration or ENotFound.
type configRead struct {
	c   *refund.InvoiceConfig
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

// forget drops what was read ahead under the given kinds (key prefixes):
// the transaction wrote a table they were read from.
func (t *tx) forget(kinds ...string) {
	for key := range t.ahead {
		for _, kind := range kinds {
			if strings.HasPrefix(key, kind) {
				delete(t.ahead, key)
			}
		}
	}
}

// forgetInvoices drops what a write to invoices or their lines makes
// stale: the invoice reads ahead, and those still to come with the next
// guarded update.
func (t *tx) forgetInvoices() {
	t.forget(aheadNoInvoice, aheadInvoices, aheadInvoice)
	t.invoiceReads = nil
}

// invoiceKey names the question f asks ListInvoices.
func invoiceKey(f refund.InvoiceFilter) string { return fmt.Sprintf("%+v", f) }

// invoiceIDKey names the question GetInvoice(merchantID, id) asks.
func invoiceIDKey(merchantID string, id int64) string {
	return fmt.Sprintf("%s%s|%d", aheadInvoice, merchantID, id)
}

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
func (t *tx) readAhead(br pgx.BatchResults, merchantID string, withPolicy bool, noInvoice refund.InvoiceFilter) error {
	if withPolicy {
		p, err := scanPolicy(br.QueryRow(), merchantID)
		if fromDriver(err) {
			return t.fail("read refund policy", err)
		}
		// A policy that does not decode fails only whoever asks for it.
		t.keep(aheadPolicy+merchantID, policyRead{p, err})
	}
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
	t.keep(aheadEndpoints+merchantID, eps)
	if !exists {
		t.keep(aheadNoInvoice+invoiceKey(noInvoice), true)
		return nil
	}
	t.invoiceReads = &invoiceReads{f: noInvoice, parent: noInvoice.Type == refund.InvoiceRefund}
	t.invoices(merchantID)
	return nil
}

// queueAhead queues the reads ahead: the policy (withPolicy) and endpoints
// of the merchant that merchant names (SQL on merchantArgs), and whether
// an invoice matches invoice (SQL conditions on invoiceArgs).
func queueAhead(b *pgx.Batch, merchant string, merchantArgs []any, withPolicy bool, invoice string, invoiceArgs []any) {
	if withPolicy {
		b.Queue(policySelect+` WHERE merchant_id = `+merchant, merchantArgs...)
	}
	b.Queue(endpointsSelect+` WHERE merchant_id = `+merchant+` ORDER BY id`, merchantArgs...)
	b.Queue(`SELECT EXISTS (SELECT 1 FROM invoices WHERE `+invoice+`)`, invoiceArgs...)
}

// invoiceReads are the invoice reads a refund's transaction makes after
// its guarded update, when the read ahead found the order invoiced: the
// order's tax invoice when a refund is reserved (the credit note is worked
// out from what its lines have credited), and the refund's credit note and
// that note's tax invoice when it is settled; with them the merchant (the
// seller) and its invoice configuration. The invoices are not read with
// the rest ahead because they must be read after the order's row lock:
// what a tax invoice's lines have credited changes with every note of the
// order, and only the lock orders those notes. So the guarded update's
// batch (adjust) carries them: read after the lock, in a round trip the
// transaction makes anyway. The merchant and its configuration go with
// them so that a refund of an order without invoices reads nothing more
// (read with the EXISTS ahead, in one statement, they made every refund's
// statement dearer to plan and run: 65 us against 19).
type invoiceReads struct {
	f      refund.InvoiceFilter // ListInvoices' question
	parent bool                 // also the tax invoice of what f selects
}

// queue queues the reads on b, and returns what reads their results and
// keeps them.
func (r *invoiceReads) queue(t *tx, b *pgx.Batch) func(pgx.BatchResults) error {
	query, p := listInvoicesQuery(r.f)
	readList := queueInvoices(b, query, p)
	var readParent func(pgx.BatchResults) ([]*refund.Invoice, error)
	if r.parent {
		parent := `SELECT ` + invoiceSelect + ` FROM invoices WHERE id IN (SELECT parent_id FROM (` + query + `) n)`
		readParent = queueInvoices(b, parent, p)
	}
	merchantID := r.f.MerchantID
	b.Queue(merchantByID, merchantID)
	b.Queue(configByMerchant, merchantID)
	return func(br pgx.BatchResults) error {
		invs, err := readList(br)
		if err != nil {
			return t.fail("list invoices", err)
		}
		var parents []*refund.Invoice
		if readParent != nil {
			if parents, err = readParent(br); err != nil {
				return t.fail("get invoice", err)
			}
		}
		m, err := scanMerchant(br.QueryRow())
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return t.fail("get merchant", err)
		}
		c, cerr := scanConfig(br.QueryRow(), merchantID)
		if cerr != nil && refund.ErrorCode(cerr) != refund.ENotFound {
			return t.fail("get invoice config", cerr)
		}
		t.keep(aheadInvoices+invoiceKey(r.f), invs)
		for _, inv := range parents {
			t.keep(invoiceIDKey(inv.MerchantID, inv.ID), inv)
		}
		if m != nil {
			t.keep(aheadMerchant+merchantID, m)
		}
		t.keep(aheadInvoiceConfig+merchantID, configRead{c, cerr})
		return nil
	}
}

// cloneInvoices copies invoices read ahead, lines included, so that a
// caller changing what it was given does not change what is kept.
func cloneInvoices(invs []*refund.Invoice) []*refund.Invoice {
	var out []*refund.Invoice
	for _, inv := range invs {
		c := *inv
		c.Lines = slices.Clone(inv.Lines)
		out = append(out, &c)
	}
	return out
}
