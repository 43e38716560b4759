package refund_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// reversingProcessor approves every refund and, asked later, reports it
// reversed.
type reversingProcessor struct{}

func (reversingProcessor) Refund(context.Context, processor.Request) (processor.Result, error) {
	return processor.Result{Status: processor.Approved, ResponseCode: "00"}, nil
}

func (reversingProcessor) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{Status: processor.Reversed, ResponseCode: "00"}, nil
}

// invoicing starts a service with invoicing on a fresh store, and a
// merchant with a VAT number, so the sandbox reports its invoices.
func invoicing(t *testing.T, open opener) (*refund.Service, refund.Principal) {
	t.Helper()
	return invoicingWith(t, open, nil, nil)
}

// invoicingWith is invoicing with reporter (nil: the sandbox) and a clock
// (nil: the database's).
func invoicingWith(t *testing.T, open opener, reporter invoice.Reporter, now func() time.Time) (*refund.Service, refund.Principal) {
	t.Helper()
	svc, p, _ := invoicingOn(t, open, reporter, now)
	return svc, p
}

// invoicingOn is invoicingWith that also returns the store.
func invoicingOn(t *testing.T, open opener, reporter invoice.Reporter, now func() time.Time) (*refund.Service, refund.Principal, refund.Store) {
	t.Helper()
	ctx := context.Background()
	st := open(t)
	var n atomic.Int64
	svc, err := refund.NewService(refund.Config{Store: st, Processor: reversingProcessor{}, Invoicer: invoice.New(reporter),
		NewID: func(p string) string { return fmt.Sprintf("%s_%012d", p, n.Add(1)) }, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq", VATNumber: "310122393500003"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return svc, p, st
}

func invoiceOfRefund(t *testing.T, svc *refund.Service, p refund.Principal, refundID string) *refund.InvoiceView {
	t.Helper()
	page, err := svc.ListInvoices(context.Background(), p, refund.InvoiceFilter{RefundID: refundID, Type: refund.InvoiceRefund})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 {
		t.Fatalf("refund %s has %d invoices", refundID, len(page.Data))
	}
	return page.Data[0]
}

// TestInvoice_FollowsRefund: a refund invoice is issued with its refund,
// pending, and follows it: void when it is canceled, paid and reported
// when it succeeds, and taken back by a debit note when reversed.
func TestInvoice_FollowsRefund(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		one := refund.RefundItemInput{ItemID: "a", Qty: 1}
		tests := []struct {
			name   string
			in     refund.RefundInput
			then   func(svc *refund.Service, p refund.Principal, id string) error
			status refund.InvoiceStatus
			zatca  refund.ZATCAStatus
		}{
			{"Succeeded", refund.RefundInput{Items: []refund.RefundItemInput{one}}, nil, refund.InvoicePaid, refund.ZATCAReported},
			{"QueuedIsPending", refund.RefundInput{Items: []refund.RefundItemInput{one}, Queue: true}, nil,
				refund.InvoicePending, refund.ZATCANotSubmitted},
			{"CanceledIsVoid", refund.RefundInput{Items: []refund.RefundItemInput{one}, Queue: true},
				func(svc *refund.Service, p refund.Principal, id string) error {
					_, err := svc.CancelRefund(ctx, p, id)
					return err
				}, refund.InvoiceVoid, refund.ZATCANotSubmitted},
			// A reversal leaves the credit note as it was reported and issues a
			// debit note taking it back (checked below).
			{"ReversedGetsADebitNote", refund.RefundInput{Items: []refund.RefundItemInput{one}},
				func(svc *refund.Service, p refund.Principal, id string) error {
					_, err := svc.SyncRefund(ctx, p, id)
					return err
				}, refund.InvoicePaid, refund.ZATCAReported},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				svc, p := invoicing(t, open)
				o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 2066,
					Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 1033}}})
				if err != nil {
					t.Fatal(err)
				}
				tc.in.OrderID = o.ID
				r, err := svc.CreateRefund(ctx, p, tc.in)
				if err != nil {
					t.Fatal(err)
				}
				if tc.then != nil {
					if err := tc.then(svc, p, r.ID); err != nil {
						t.Fatal(err)
					}
				}
				v := invoiceOfRefund(t, svc, p, r.ID)
				if v.Status != tc.status || v.ZATCAStatus != tc.zatca || v.TotalAmount != 1033 || v.TaxAmount != 135 ||
					v.Parent == nil || v.Parent.ZATCAStatus != refund.ZATCAReported || v.Refund.ID != r.ID {
					t.Fatalf("refund invoice %s %s (%s) total %d tax %d", v.Status, v.ZATCAStatus, v.InvoiceError, v.TotalAmount, v.TaxAmount)
				}
				debits, err := svc.ListInvoices(ctx, p, refund.InvoiceFilter{RefundID: r.ID, Type: refund.InvoiceDebit})
				if err != nil {
					t.Fatal(err)
				}
				if reversed := tc.name == "ReversedGetsADebitNote"; len(debits.Data) != map[bool]int{true: 1}[reversed] {
					t.Fatalf("%d debit notes", len(debits.Data))
				} else if reversed {
					d := debits.Data[0]
					if d.ParentID != v.ID || d.ParentSerial != v.Serial || d.TotalAmount != v.TotalAmount || d.TaxAmount != v.TaxAmount ||
						d.Status != refund.InvoicePaid || d.ZATCAStatus != refund.ZATCAReported {
						t.Fatalf("debit note %+v", d.Invoice)
					}
					// Its billing reference (BT-25, BR-KSA-56) is the tax
					// invoice both notes correct, read back from the store;
					// its reason names the credit note; and the served XML
					// is still the one it was sealed with.
					x, err := invoice.XML(d.Invoice)
					if err != nil {
						t.Fatal(err)
					}
					h, err := invoice.HashXML(x)
					if ref := "<cbc:ID>" + v.Parent.Serial + "</cbc:ID>"; d.BillingSerial != v.Parent.Serial ||
						!strings.Contains(string(x), "<cac:InvoiceDocumentReference>\n      "+ref) || !strings.Contains(d.Reason, v.Serial) ||
						err != nil || h != d.Hash {
						t.Fatalf("debit note %s: billing serial %q (want the tax invoice %s), reason %q, hash %q (XML hashes to %q, %v)\n%s",
							d.Serial, d.BillingSerial, v.Parent.Serial, d.Reason, d.Hash, h, err, x)
					}
				}
			})
		}
	})
}

// TestInvoice_CreditedFollowsNotes: what a tax invoice's lines have
// credited, which the next credit note starts from, is what its notes add
// up to as they are issued (pending and paid count), voided (a canceled
// refund's) and taken back (a reversed refund's debit note).
func TestInvoice_CreditedFollowsNotes(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		svc, p, st := invoicingOn(t, open, nil, nil)
		o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 5500, // 500 of shipping
			Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 1033}, {ID: "b", Qty: 1, UnitAmount: 2934, TaxRate: "5"}}})
		if err != nil {
			t.Fatal(err)
		}
		amount := func(v int64) *int64 { return &v }
		steps := []struct {
			name string
			in   refund.RefundInput
			then func(id string) error
		}{
			{"Amount", refund.RefundInput{Amount: amount(699)}, nil},
			{"Line", refund.RefundInput{Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}}, nil},
			{"Queued", refund.RefundInput{Amount: amount(333), Queue: true}, nil},
			{"Canceled", refund.RefundInput{Amount: amount(250), Queue: true},
				func(id string) error { _, err := svc.CancelRefund(ctx, p, id); return err }},
			{"Reversed", refund.RefundInput{Items: []refund.RefundItemInput{{ItemID: "b", Qty: 1}}},
				func(id string) error { _, err := svc.SyncRefund(ctx, p, id); return err }},
			{"AfterAll", refund.RefundInput{Amount: amount(1)}, nil},
		}
		for _, step := range steps {
			step.in.OrderID = o.ID
			r, err := svc.CreateRefund(ctx, p, step.in)
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if step.then != nil {
				if err := step.then(r.ID); err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
			}
			notes, voids, debits := wantCreditedAsNotes(t, st, p.MerchantID, o.ID)
			t.Logf("%s: %d live credit notes, %d void, %d debit notes", step.name, notes, voids, debits)
		}
	})
}

// wantCreditedAsNotes fails t unless the tax invoice of orderID has
// credited, per line and for shipping, what the order's notes add up to:
// credit notes that are not void, less debit notes. It returns how many
// notes of each kind there are.
func wantCreditedAsNotes(t *testing.T, st refund.Store, merchantID, orderID string) (live, void, debits int) {
	t.Helper()
	ctx := context.Background()
	err := st.View(ctx, func(tx refund.Tx) error {
		invs, err := tx.ListInvoices(ctx, refund.InvoiceFilter{MerchantID: merchantID, OrderID: orderID, Limit: 1000})
		if err != nil {
			return err
		}
		var sale *refund.Invoice
		want := map[int64]refund.Credit{}
		var ship refund.Credit
		for _, inv := range invs {
			sign := int64(0)
			switch {
			case inv.Type == refund.InvoiceSale:
				sale = inv
			case inv.Status == refund.InvoiceVoid:
				void++
			case inv.Type == refund.InvoiceRefund:
				sign, live = 1, live+1
			case inv.Type == refund.InvoiceDebit:
				sign, debits = -1, debits+1
			}
			for _, l := range inv.Lines {
				c := want[l.ParentLineID]
				c.Amount += sign * l.NetAmount
				c.ExcludingTax += sign * l.TotalExcludingTax
				c.Tax += sign * l.TaxAmount
				want[l.ParentLineID] = c
			}
			ship.Amount += sign * inv.ShippingAmount
			ship.ExcludingTax += sign * inv.ShippingExcludingTax
			ship.Tax += sign * inv.ShippingTaxAmount
		}
		if sale == nil {
			return fmt.Errorf("order %s has no tax invoice", orderID)
		}
		// The tax invoice keeps what its notes credit and the net and VAT
		// they state of it (refund.Tx.AddCredited): both as the notes say.
		for _, l := range sale.Lines {
			got := refund.Credit{Amount: l.Credited, ExcludingTax: l.CreditedExcludingTax, Tax: l.CreditedTax}
			if got != want[l.ID] || l.Credited < 0 || l.Credited > l.NetAmount {
				return fmt.Errorf("line %s credited %+v, its notes add up to %+v (of %d)", l.ItemID, got, want[l.ID], l.NetAmount)
			}
		}
		got := refund.Credit{Amount: sale.CreditedShipping, ExcludingTax: sale.CreditedShippingExcludingTax, Tax: sale.CreditedShippingTax}
		if got != ship || sale.CreditedShipping < 0 || sale.CreditedShipping > sale.ShippingAmount {
			return fmt.Errorf("shipping credited %+v, its notes add up to %+v (of %d)", got, ship, sale.ShippingAmount)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return live, void, debits
}

// TestInvoice_NotIssued: an order without lines gets no tax invoice, and a
// refund that names no lines gets no refund invoice.
func TestInvoice_OnlyForInvoicedOrders(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		svc, p := invoicing(t, open)
		plain, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 1000})
		if err != nil {
			t.Fatal(err)
		}
		lined, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 1033,
			Items: []refund.ItemInput{{ID: "a", Qty: 1, UnitAmount: 1033}}})
		if err != nil {
			t.Fatal(err)
		}
		amount := int64(500)
		for _, orderID := range []string{plain.ID, lined.ID} {
			if _, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: orderID, Amount: &amount}); err != nil {
				t.Fatal(err)
			}
		}
		page, err := svc.ListInvoices(ctx, p, refund.InvoiceFilter{})
		if err != nil {
			t.Fatal(err)
		}
		// The order without lines has no invoice, so its refund has no credit
		// note; the invoiced order's amount-only refund has one (newest first).
		if len(page.Data) != 2 || page.Data[0].OrderID != lined.ID || page.Data[0].Type != refund.InvoiceRefund ||
			page.Data[1].OrderID != lined.ID || page.Data[1].Type != refund.InvoiceSale || page.Data[0].TotalAmount != amount {
			t.Fatalf("invoices: %d", len(page.Data))
		}
		// A refund invoice cannot itself be refunded.
		lines := []refund.InvoiceLineRefund{{LineID: page.Data[1].Lines[0].ID, Qty: 1}}
		if _, _, err := svc.RefundInvoice(ctx, p, 999, lines, refund.RefundInput{}); refund.ErrorCode(err) != refund.EInvoiceNotFound {
			t.Fatalf("unknown invoice: %v", err)
		}
	})
}

// TestInvoice_NotSARRefusedByZATCA: ZATCA takes documents whose VAT
// accounting currency (BT-6) is SAR (BR-KSA-EN16931-02) and whose amounts
// have at most 2 decimals (BR-DEC). refundd issues an order's documents in
// the order's currency, so a KWD or JPY order's tax invoice is refused
// with the rule in its invoice_error, not reported, and its credit notes
// are aborted (ZATCA refuses a note of an invoice it does not have). The
// documents themselves are issued as before, in the order's currency and
// decimals; a SAR order of the same merchant is still reported.
func TestInvoice_NotSARRefusedByZATCA(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		tests := []struct {
			name, currency string
			unit           int64
			excl, tax      int64 // the credit note of one unit
			zatca          refund.ZATCAStatus
			rules          []string
		}{
			{"SAR", "SAR", 1033, 898, 135, refund.ZATCAReported, nil},
			{"KWDThreeDecimals", "KWD", 10330, 8983, 1347, refund.ZATCAFailed, []string{"BR-KSA-EN16931-02", "BR-DEC"}},
			{"JPY", "JPY", 1033, 898, 135, refund.ZATCAFailed, []string{"BR-KSA-EN16931-02"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				svc, p := invoicing(t, open)
				o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: tc.currency, Amount: 2 * tc.unit,
					Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: tc.unit}}})
				if err != nil {
					t.Fatal(err)
				}
				r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}})
				if err != nil || r.Status != refund.StatusSucceeded {
					t.Fatalf("refund %v, %v", r, err)
				}
				v := invoiceOfRefund(t, svc, p, r.ID)
				tax := v.Parent
				if tax.Currency != tc.currency || v.Currency != tc.currency || v.TotalAmount != tc.unit ||
					v.TotalAmount-v.TaxAmount != tc.excl || v.TaxAmount != tc.tax {
					t.Fatalf("credit note %s %d (%d VAT), want %d (%d VAT)", v.Currency, v.TotalAmount, v.TaxAmount, tc.unit, tc.tax)
				}
				if tax.ZATCAStatus != tc.zatca {
					t.Fatalf("tax invoice in %s: zatca_status %s (%q), want %s", tc.currency, tax.ZATCAStatus, tax.InvoiceError, tc.zatca)
				}
				for _, rule := range tc.rules {
					if !strings.Contains(tax.InvoiceError, rule) {
						t.Fatalf("tax invoice in %s: invoice_error %q does not name %s", tc.currency, tax.InvoiceError, rule)
					}
				}
				if want := map[bool]refund.ZATCAStatus{true: refund.ZATCAReported, false: refund.ZATCAAborted}[tc.currency == "SAR"]; v.ZATCAStatus != want {
					t.Fatalf("credit note in %s: zatca_status %s (%q), want %s", tc.currency, v.ZATCAStatus, v.InvoiceError, want)
				}
			})
		}
	})
}

// TestRefund_WhitespaceReasonIsNoReason: a reason of only whitespace is no
// reason: the refund keeps none and its credit note falls back to what a
// refund without a reason gets ("Refund" as the note, KSA-10, and the
// instruction note), on every surface, since all create refunds through
// the core. A reason with text is kept as given.
func TestRefund_WhitespaceReasonIsNoReason(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		tests := []struct {
			name, reason, want, note string
		}{
			{"Empty", "", "", "Refund"},
			{"Spaces", "   ", "", "Refund"},
			{"WhitespaceOfAllKinds", " \t\r\n\u00a0\u3000 ", "", "Refund"},
			{"Given", "damaged box", "damaged box", "damaged box"},
			{"GivenWithSpacesKeptAsGiven", " damaged box ", " damaged box ", " damaged box "},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				svc, p := invoicing(t, open)
				o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 1033,
					Items: []refund.ItemInput{{ID: "a", Qty: 1, UnitAmount: 1033}}})
				if err != nil {
					t.Fatal(err)
				}
				r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Reason: tc.reason})
				if err != nil {
					t.Fatal(err)
				}
				if got, err := svc.GetRefund(ctx, p, r.ID); err != nil || r.Reason != tc.want || got.Reason != tc.want {
					t.Errorf("refund reason %q (stored %q, %v), want %q", r.Reason, got.Reason, err, tc.want)
				}
				v := invoiceOfRefund(t, svc, p, r.ID)
				x, err := invoice.XML(v.Invoice)
				if err != nil {
					t.Fatal(err)
				}
				if v.Reason != tc.want || !strings.Contains(string(x), "<cbc:Note>"+tc.note+"</cbc:Note>") ||
					!strings.Contains(string(x), "<cbc:InstructionNote>"+tc.note+"</cbc:InstructionNote>") {
					t.Fatalf("credit note reason %q, want %q and the note %q in its XML:\n%s", v.Reason, tc.want, tc.note, notes(x))
				}
			})
		}
	})
}

// notes returns the lines of a document's XML that hold its notes.
func notes(x []byte) string {
	var out []string
	for _, l := range strings.Split(string(x), "\n") {
		if strings.Contains(l, "Note>") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, "\n")
}

// TestInvoice_ReportingOff: with ZATCA reporting turned off, invoices are
// issued but not submitted, under the configured serial prefix.
func TestInvoice_ReportingOff(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		svc, p := invoicing(t, open)
		off, prefix := false, "WAHA-"
		if _, err := svc.UpdateInvoiceConfig(ctx, p, refund.InvoiceConfigInput{ZATCAEnabled: &off, SerialPrefix: &prefix}); err != nil {
			t.Fatal(err)
		}
		o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 1033,
			Items: []refund.ItemInput{{ID: "a", Qty: 1, UnitAmount: 1033}}})
		if err != nil {
			t.Fatal(err)
		}
		page, err := svc.ListInvoices(ctx, p, refund.InvoiceFilter{OrderID: o.ID})
		if err != nil {
			t.Fatal(err)
		}
		tax := page.Data[0]
		if tax.ZATCAStatus != refund.ZATCANotSubmitted || !strings.HasPrefix(tax.Serial, "WAHA-") || len(tax.Serial) != len("WAHA-202600001") {
			t.Fatalf("tax invoice %s %s", tax.Serial, tax.ZATCAStatus)
		}
		r, v, err := svc.RefundInvoice(ctx, p, tax.ID, []refund.InvoiceLineRefund{{LineID: tax.Lines[0].ID, Qty: 1}}, refund.RefundInput{Reason: "r"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != refund.StatusSucceeded || v.Status != refund.InvoicePaid || v.ZATCAStatus != refund.ZATCANotSubmitted || v.InvoiceError != "" {
			t.Fatalf("refund invoice %s %s %q", v.Status, v.ZATCAStatus, v.InvoiceError)
		}
		if _, _, err := svc.RefundInvoice(ctx, p, v.ID, []refund.InvoiceLineRefund{{LineID: v.Lines[0].ID, Qty: 1}}, refund.RefundInput{}); refund.ErrorCode(err) != refund.EInvalidRequest {
			t.Fatalf("refunding a refund invoice: %v", err)
		}
	})
}

// flakyReporter fails the first fails calls, then answers answer; it
// records the UUIDs it was asked to report.
type flakyReporter struct {
	mu     sync.Mutex
	fails  int
	answer refund.ZATCAStatus
	uuids  []string
}

func (r *flakyReporter) Report(_ context.Context, doc invoice.Document) (invoice.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.uuids = append(r.uuids, doc.UUID)
	if len(r.uuids) <= r.fails {
		return invoice.Result{}, fmt.Errorf("connection reset (attempt %d)", len(r.uuids))
	}
	return invoice.Result{Status: r.answer, Message: map[refund.ZATCAStatus]string{refund.ZATCAFailed: "BR-KSA-XX: refused"}[r.answer]}, nil
}

func (r *flakyReporter) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.uuids...)
}

// TestZATCAQueue: with a reporter that calls out, documents wait as
// pending and the queue reports them with backoff, a credit note only
// after its tax invoice, the same UUID on every attempt; a refusal fails
// the document and aborts its credit notes; attempts run out into failed.
func TestZATCAQueue(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		state := func(t *testing.T, svc *refund.Service, p refund.Principal, id int64) *refund.InvoiceView {
			t.Helper()
			v, err := svc.GetInvoice(ctx, p, id)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		setup := func(t *testing.T, rep *flakyReporter) (*refund.Service, refund.Principal, *atomic.Int64, int64, int64) {
			var clock atomic.Int64
			clock.Store(t0.UnixNano())
			svc, p := invoicingWith(t, open, rep, func() time.Time { return time.Unix(0, clock.Load()).UTC() })
			o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 2066,
				Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 1033}}})
			if err != nil {
				t.Fatal(err)
			}
			r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}})
			if err != nil || r.Status != refund.StatusSucceeded {
				t.Fatalf("refund %v %v", r, err)
			}
			tax := invoiceOfOrder(t, svc, p, o.ID, refund.InvoiceSale)
			credit := invoiceOfRefund(t, svc, p, r.ID)
			if tax.ZATCAStatus != refund.ZATCAPending || credit.ZATCAStatus != refund.ZATCAPending || len(rep.seen()) != 0 {
				t.Fatalf("before the queue runs: %s, %s, %d calls", tax.ZATCAStatus, credit.ZATCAStatus, len(rep.seen()))
			}
			return svc, p, &clock, tax.ID, credit.ID
		}
		pass := func(t *testing.T, svc *refund.Service, clock *atomic.Int64, after time.Duration) int {
			t.Helper()
			clock.Add(int64(after))
			n, err := svc.ReportInvoices(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		t.Run("RetriedThenReported", func(t *testing.T) {
			rep := &flakyReporter{fails: 2, answer: refund.ZATCAReported}
			svc, p, clock, taxID, creditID := setup(t, rep)
			if n := pass(t, svc, clock, 0); n != 2 {
				t.Fatalf("first pass claimed %d", n)
			}
			tax, credit := state(t, svc, p, taxID), state(t, svc, p, creditID)
			if tax.ZATCAStatus != refund.ZATCAPending || tax.ZATCAAttempts != 1 || !strings.Contains(tax.InvoiceError, "connection reset") ||
				!tax.ZATCANextAt.Equal(t0.Add(time.Minute)) || credit.ZATCAAttempts != 0 {
				t.Fatalf("after a failed attempt: %s %d %q %v; credit %d attempts", tax.ZATCAStatus, tax.ZATCAAttempts, tax.InvoiceError, tax.ZATCANextAt, credit.ZATCAAttempts)
			}
			if n := pass(t, svc, clock, 30*time.Second); n != 0 {
				t.Fatalf("a pass before the backoff claimed %d", n)
			}
			pass(t, svc, clock, 30*time.Second) // attempt 2 fails: next in 5 minutes
			pass(t, svc, clock, 5*time.Minute)  // attempt 3 succeeds, then the credit note goes
			tax, credit = state(t, svc, p, taxID), state(t, svc, p, creditID)
			if tax.ZATCAStatus != refund.ZATCAReported || tax.ZATCAAttempts != 3 || tax.InvoiceError != "" ||
				credit.ZATCAStatus != refund.ZATCAReported || credit.ZATCAAttempts != 1 {
				t.Fatalf("reported: tax %s (%d), credit %s (%d)", tax.ZATCAStatus, tax.ZATCAAttempts, credit.ZATCAStatus, credit.ZATCAAttempts)
			}
			uuids := rep.seen()
			if len(uuids) != 4 || uuids[0] != uuids[1] || uuids[1] != uuids[2] || uuids[3] == uuids[0] {
				t.Fatalf("UUIDs reported: %v", uuids)
			}
			if n := pass(t, svc, clock, 24*time.Hour); n != 0 || len(rep.seen()) != 4 {
				t.Fatalf("a reported document was reported again")
			}
		})
		t.Run("RefusedFailsAndAbortsItsCreditNote", func(t *testing.T) {
			rep := &flakyReporter{answer: refund.ZATCAFailed}
			svc, p, clock, taxID, creditID := setup(t, rep)
			pass(t, svc, clock, 0)
			tax, credit := state(t, svc, p, taxID), state(t, svc, p, creditID)
			if tax.ZATCAStatus != refund.ZATCAFailed || !strings.Contains(tax.InvoiceError, "BR-KSA-XX") ||
				credit.ZATCAStatus != refund.ZATCAAborted || credit.InvoiceError != refund.ErrParentNotReported {
				t.Fatalf("tax %s %q, credit %s %q", tax.ZATCAStatus, tax.InvoiceError, credit.ZATCAStatus, credit.InvoiceError)
			}
			if len(rep.seen()) != 1 {
				t.Fatalf("the credit note was sent: %v", rep.seen())
			}
		})
		t.Run("AttemptsRunOut", func(t *testing.T) {
			rep := &flakyReporter{fails: 1 << 30}
			svc, p, clock, taxID, _ := setup(t, rep)
			for range 40 {
				pass(t, svc, clock, 6*time.Hour)
			}
			tax := state(t, svc, p, taxID)
			if tax.ZATCAStatus != refund.ZATCAFailed || tax.ZATCAAttempts != 12 || !strings.Contains(tax.InvoiceError, "gave up after 12 attempts") {
				t.Fatalf("tax %s %d %q", tax.ZATCAStatus, tax.ZATCAAttempts, tax.InvoiceError)
			}
		})
	})
}

func invoiceOfOrder(t *testing.T, svc *refund.Service, p refund.Principal, orderID string, typ refund.InvoiceType) *refund.InvoiceView {
	t.Helper()
	page, err := svc.ListInvoices(context.Background(), p, refund.InvoiceFilter{OrderID: orderID, Type: typ})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("order %s: %v invoices of type %s (%v)", orderID, len(page.Data), typ, err)
	}
	return page.Data[0]
}

// TestInvoice_Chained: every document a merchant issues (tax invoices,
// credit notes, a debit note) takes the next counter value and the
// previous document's hash, and its served XML hashes to what was sealed.
func TestInvoice_Chained(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		svc, p := invoicing(t, open)
		for i := range 3 {
			o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 2066,
				Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 1033}}})
			if err != nil {
				t.Fatal(err)
			}
			amount := int64(700 + i)
			r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
			if err != nil {
				t.Fatal(err)
			}
			if i == 2 { // reversed: a debit note
				if _, err := svc.SyncRefund(ctx, p, r.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A credit note whose refund is canceled never joins the chain.
		o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 2066, Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 1033}}})
		if err != nil {
			t.Fatal(err)
		}
		small := int64(100)
		q, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &small, Queue: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CancelRefund(ctx, p, q.ID); err != nil {
			t.Fatal(err)
		}
		if v := invoiceOfRefund(t, svc, p, q.ID); v.Status != refund.InvoiceVoid || v.ICV != 0 || v.Hash != "" {
			t.Fatalf("void credit note: %s icv %d hash %q", v.Status, v.ICV, v.Hash)
		}
		page, err := svc.ListInvoices(ctx, p, refund.InvoiceFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		docs := slices.DeleteFunc(page.Data, func(v *refund.InvoiceView) bool { return v.Status == refund.InvoiceVoid })
		slices.SortFunc(docs, func(a, b *refund.InvoiceView) int { return int(a.ICV - b.ICV) })
		if len(docs) != 8 {
			t.Fatalf("%d documents, want 4 tax invoices, 3 credit notes and a debit note", len(docs))
		}
		prev := refund.InitialInvoiceHash
		for i, d := range docs {
			b, err := invoice.XML(d.Invoice)
			if err != nil {
				t.Fatal(err)
			}
			h, err := invoice.HashXML(b)
			if d.ICV != int64(i+1) || d.PreviousHash != prev || err != nil || h != d.Hash || d.Signature == "" || d.PublicKey == "" {
				t.Fatalf("document %d (%s %s): icv %d prev %q hash %q (XML hashes to %q, %v)", i, d.Type, d.Serial, d.ICV, d.PreviousHash, d.Hash, h, err)
			}
			prev = d.Hash
		}
	})
}

// TestInvoice_IssuedWhenItsRefundSucceeds: a credit note is issued when
// its refund succeeds, not when the refund was made: a queued refund made
// on day 0 that runs on day 3, after another made on day 1, has its note
// dated (and sealed, and its QR stamped) on day 3, and the chain's dates
// follow its order.
func TestInvoice_IssuedWhenItsRefundSucceeds(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		day0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		var clock atomic.Int64
		clock.Store(day0.UnixNano())
		svc, p := invoicingWith(t, open, nil, func() time.Time { return time.Unix(0, clock.Load()).UTC() })
		refundOf := func(queue bool) *refund.Refund {
			t.Helper()
			o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 2066,
				Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 1033}}})
			if err != nil {
				t.Fatal(err)
			}
			r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}, Queue: queue})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		late := refundOf(true)
		clock.Add(int64(24 * time.Hour))
		early := refundOf(false)
		clock.Add(int64(48 * time.Hour))
		day3 := time.Unix(0, clock.Load()).UTC()
		if _, err := svc.ProcessDue(ctx, 10, 1); err != nil {
			t.Fatal(err)
		}
		a, b := invoiceOfRefund(t, svc, p, early.ID), invoiceOfRefund(t, svc, p, late.ID)
		if a.Status != refund.InvoicePaid || b.Status != refund.InvoicePaid || b.ICV <= a.ICV {
			t.Fatalf("notes %s icv %d, %s icv %d", a.Status, a.ICV, b.Status, b.ICV)
		}
		page, err := svc.ListInvoices(ctx, p, refund.InvoiceFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(page.Data, func(a, b *refund.InvoiceView) int { return int(a.ICV - b.ICV) })
		for i := 1; i < len(page.Data); i++ {
			if prev, d := page.Data[i-1], page.Data[i]; d.IssuedAt.Before(prev.IssuedAt) {
				t.Fatalf("%s %s (icv %d) issued %v, before %s %s (icv %d) issued %v", d.Type, d.Serial, d.ICV, d.IssuedAt, prev.Type, prev.Serial, prev.ICV, prev.IssuedAt)
			}
		}
		if !b.IssuedAt.Equal(day3) || !a.IssuedAt.Equal(day0.Add(24*time.Hour)) || !b.CreatedAt.Equal(day0) {
			t.Fatalf("late note issued %v (made %v), early note issued %v; want day 3 and day 1", b.IssuedAt, b.CreatedAt, a.IssuedAt)
		}
		x, err := invoice.XML(b.Invoice)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := invoice.HashXML(x); err != nil || h != b.Hash || !strings.Contains(string(x), "<cbc:IssueDate>2026-03-04</cbc:IssueDate>") {
			t.Fatalf("sealed hash %q, XML hashes to %q (%v); XML dated day 3: %v", b.Hash, h, err, strings.Contains(string(x), "2026-03-04"))
		}
	})
}

// TestInvoice_NotesOfOneOrderFromTwoNodes: two nodes refund the same
// invoiced orders at once, one naming a line, the other an amount spread
// over the lines. A credit note starts each line where the order's
// earlier notes left it, read under the order's lock, so however the two
// interleave no line is credited beyond its amount and the tax invoice's
// lines record what the notes add up to.
func TestInvoice_NotesOfOneOrderFromTwoNodes(t *testing.T) {
	ctx := context.Background()
	for _, k := range twoNodes {
		t.Run(k.name, func(t *testing.T) {
			stores := k.open(t)
			var n atomic.Int64
			var svcs [2]*refund.Service
			for i, st := range stores {
				svc, err := refund.NewService(refund.Config{Store: st, Processor: reversingProcessor{}, Invoicer: invoice.New(nil),
					NewID: func(p string) string { return fmt.Sprintf("%s_%012d", p, n.Add(1)) }})
				if err != nil {
					t.Fatal(err)
				}
				svcs[i] = svc
			}
			_, key, err := svcs[0].CreateMerchant(ctx, refund.MerchantInput{Name: "Souq", VATNumber: "310122393500003"})
			if err != nil {
				t.Fatal(err)
			}
			var ps [2]refund.Principal
			for i, svc := range svcs {
				if ps[i], err = svc.Authenticate(ctx, key); err != nil {
					t.Fatal(err)
				}
			}
			var orders []*refund.Order
			for range 20 {
				o, err := svcs[0].CreateOrder(ctx, ps[0], refund.OrderInput{Currency: "SAR", Amount: 10000,
					Items: []refund.ItemInput{{ID: "a", Qty: 1, UnitAmount: 6000}, {ID: "b", Qty: 1, UnitAmount: 4000}}})
				if err != nil {
					t.Fatal(err)
				}
				orders = append(orders, o)
			}
			spread := int64(4000)
			ins := [2]func(orderID string) refund.RefundInput{
				func(id string) refund.RefundInput {
					return refund.RefundInput{OrderID: id, Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}}
				},
				func(id string) refund.RefundInput { return refund.RefundInput{OrderID: id, Amount: &spread} },
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, 2*len(orders))
			for _, o := range orders {
				for i := range svcs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						r, err := svcs[i].CreateRefund(ctx, ps[i], ins[i](o.ID))
						if err == nil && r.Status != refund.StatusSucceeded {
							err = fmt.Errorf("refund %s on %s: %s", r.ID, o.ID, r.Status)
						}
						errs <- err
					}()
				}
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, o := range orders {
				if live, void, _ := wantCreditedAsNotes(t, stores[0], ps[0].MerchantID, o.ID); live != 2 || void != 0 {
					t.Fatalf("order %s: %d live credit notes, %d void; want 2 live", o.ID, live, void)
				}
			}
		})
	}
}

// TestSync_RevivedNoteThatStillFitsComesBack: a failed refund the
// processor later reports executed, whose money still fits the tax
// invoice's line (another refund credited only the rest of the line), gets
// a live credit note for its money. Its void note was worked out from the
// line's first position, and today's from the position the other refund
// left: the same amount, VAT split a unit apart. The refund must not end
// succeeded with no live credit note for money the invoice has room for.
func TestSync_RevivedNoteThatStillFitsComesBack(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		proc := newLateProcessor()
		h := newHarnessOn(t, open, proc, func(c *refund.Config) { c.Invoicer = invoice.New(nil) })
		o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: 10000, PaymentMethod: "card",
			Items: []refund.ItemInput{{ID: "a", Qty: 1, UnitAmount: 10000}}})
		if err != nil {
			t.Fatal(err)
		}
		first, rest := int64(1000), int64(9000)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &first})
		if err != nil {
			t.Fatal(err)
		}
		proc.declineAt[r.ID] = true
		h.drive(5)
		wantStatus(t, h.refund(r.ID), refund.StatusFailed)
		r2, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &rest})
		if err != nil {
			t.Fatal(err)
		}
		proc.execute(r2.ID)
		h.drive(5)
		wantStatus(t, h.refund(r2.ID), refund.StatusSucceeded)

		proc.mu.Lock()
		proc.results[r.ID] = processor.Result{Status: processor.Approved, ResponseCode: "00"}
		proc.mu.Unlock()
		got, err := h.svc.SyncRefund(h.ctx, h.p, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, got, refund.StatusSucceeded)
		if o := h.getOrder(o.ID); o.RefundedAmount != first+rest {
			t.Fatalf("order refunded %d, want %d", o.RefundedAmount, first+rest)
		}
		live, void, _ := wantCreditedAsNotes(t, h.st, h.p.MerchantID, o.ID)
		if live != 2 || void != 0 {
			t.Fatalf("%d live credit notes, %d void, for two succeeded refunds that together refund the line exactly; want 2 live", live, void)
		}
		// The revived note took today's VAT split: the two notes state
		// the line's VAT exactly as its invoice did.
		err = h.st.View(h.ctx, func(tx refund.Tx) error {
			invs, err := tx.ListInvoices(h.ctx, refund.InvoiceFilter{MerchantID: h.p.MerchantID, OrderID: o.ID, Limit: 10})
			if err != nil {
				return err
			}
			var sale refund.InvoiceLine
			var excl, tax int64
			for _, inv := range invs {
				for _, l := range inv.Lines {
					switch inv.Type {
					case refund.InvoiceSale:
						sale = l
					case refund.InvoiceRefund:
						excl, tax = excl+l.TotalExcludingTax, tax+l.TaxAmount
					}
				}
			}
			if excl != sale.TotalExcludingTax || tax != sale.TaxAmount {
				t.Errorf("credit notes state %d + %d VAT, the invoice's line %d + %d", excl, tax, sale.TotalExcludingTax, sale.TaxAmount)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestInvoice_ViewReadsTheOrdersRowOnly: an invoice's view read its whole
// order, every transaction included, which grow with the order's refunds:
// a list of a busy order's notes, or each Techrar refund's reply, read
// them all once per invoice (a hot Techrar order fell from 66 refunds/s).
// The view needs the order's row: its items, vendors and transactions are
// left out, and the row is the order's.
func TestInvoice_ViewReadsTheOrdersRowOnly(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		svc, p := invoicing(t, open)
		o, tax := invoicedOrder(t, svc, p)
		var ids []string
		for range 2 {
			r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		whole, err := svc.GetInvoice(ctx, p, tax.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []*refund.InvoiceView{whole, invoiceOfRefund(t, svc, p, ids[0]), invoiceOfRefund(t, svc, p, ids[1])} {
			if v.Order == nil || v.Order.ID != o.ID || !v.Order.CreatedAt.Equal(o.CreatedAt) || v.Order.Currency != "SAR" {
				t.Fatalf("invoice %d's view: order %+v; want %s's row", v.ID, v.Order, o.ID)
			}
			if n := len(v.Order.Transactions) + len(v.Order.Items); n != 0 {
				t.Fatalf("invoice %d's view read %d of the order's transactions and items", v.ID, n)
			}
		}
	})
}

// TestInvoice_RefundAnswersOnlyAKeyThatReadsOrders: RefundInvoice answers
// with the refund invoice, its customer and lines; a key without
// orders:read is refused before anything is made, whichever surface calls
// it (Techrar's route asked the scope only by reading the invoice first).
func TestInvoice_RefundAnswersOnlyAKeyThatReadsOrders(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		svc, p := invoicing(t, open)
		o, tax := invoicedOrder(t, svc, p)
		_, key, err := svc.CreateKey(ctx, p.MerchantID, "", []string{refund.ScopeRefundsWrite})
		if err != nil {
			t.Fatal(err)
		}
		writeOnly, err := svc.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		lines := []refund.InvoiceLineRefund{{LineID: tax.Lines[0].ID, Qty: 1}}
		if _, _, err := svc.RefundInvoice(ctx, writeOnly, tax.ID, lines, refund.RefundInput{}); refund.ErrorCode(err) != refund.EForbidden {
			t.Fatalf("a refunds:write-only key: %v, want %s", err, refund.EForbidden)
		}
		if got, err := svc.GetOrder(ctx, p, o.ID); err != nil || got.RefundCount != 0 || got.PendingRefundAmount != 0 {
			t.Fatalf("after the refusal: %+v, %v; want the order untouched", got, err)
		}
	})
}

// invoicedOrder records an order of two units of line "a" (10.33 SAR
// each) and returns it with its tax invoice.
func invoicedOrder(t *testing.T, svc *refund.Service, p refund.Principal) (*refund.Order, *refund.InvoiceView) {
	t.Helper()
	ctx := context.Background()
	o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 2066,
		Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 1033}}})
	if err != nil {
		t.Fatal(err)
	}
	tax, err := svc.ListInvoices(ctx, p, refund.InvoiceFilter{OrderID: o.ID, Type: refund.InvoiceSale})
	if err != nil || len(tax.Data) != 1 {
		t.Fatalf("tax invoice: %v %v", tax.Data, err)
	}
	return o, tax.Data[0]
}

// TestInvoice_RefundAmountInTheInvoicesCurrency: a line's amount written
// as a decimal is read in its invoice's currency (3 decimals in KWD, 2 in
// SAR) by the core, which has the invoice at hand; zero is no amount.
func TestInvoice_RefundAmountInTheInvoicesCurrency(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		svc, p := invoicing(t, open)
		for _, tc := range []struct {
			currency, amount string
			qty, want        int64
			code, param      string
		}{
			{"KWD", "1.005", 0, 1005, "", ""},
			{"SAR", "1.05", 0, 105, "", ""},
			{"SAR", "1.005", 0, 0, refund.EInvalidAmount, "items[0].amount"},
			{"SAR", "-1", 0, 0, refund.EInvalidAmount, "items[0].amount"},
			{"SAR", "0.00", 1, 10_000, "", ""},
			{"SAR", "0", 0, 0, refund.EInvalidRequest, "items[0].qty"},
		} {
			t.Run(tc.currency+"_"+tc.amount, func(t *testing.T) {
				o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: tc.currency, Amount: 20_000,
					Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 10_000}}})
				if err != nil {
					t.Fatal(err)
				}
				page, err := svc.ListInvoices(ctx, p, refund.InvoiceFilter{OrderID: o.ID})
				if err != nil || len(page.Data) != 1 {
					t.Fatalf("tax invoice: %v", err)
				}
				tax := page.Data[0]
				r, _, err := svc.RefundInvoice(ctx, p, tax.ID, []refund.InvoiceLineRefund{{LineID: tax.Lines[0].ID, Qty: tc.qty, AmountDecimal: tc.amount}}, refund.RefundInput{Reason: "r"})
				if tc.code != "" {
					if refund.ErrorCode(err) != tc.code || refund.ErrorParam(err) != tc.param {
						t.Fatalf("got %v (%s), want %s on %s", err, refund.ErrorParam(err), tc.code, tc.param)
					}
					if o, err := svc.GetOrder(ctx, p, o.ID); err != nil || o.RefundCount != 0 {
						t.Fatalf("refused refund changed the order: %+v %v", o, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if r.Amount != tc.want {
					t.Fatalf("refunded %d, want %d", r.Amount, tc.want)
				}
			})
		}
	})
}
