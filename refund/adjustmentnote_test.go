package refund_test

import (
	"slices"
	"testing"
	"time"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// invoicedHarness is newHarnessOn with invoicing, and a VAT number for the
// merchant, so that the sandbox reports its documents.
func invoicedHarness(t *testing.T, open opener, proc processor.Processor) *harness {
	t.Helper()
	h := newHarnessOn(t, open, proc, func(c *refund.Config) { c.Invoicer = invoice.New(nil) })
	vat := "310122393500003"
	if _, err := h.svc.UpdateInvoiceConfig(h.ctx, h.p, refund.InvoiceConfigInput{VATNumber: &vat}); err != nil {
		t.Fatal(err)
	}
	return h
}

// linedOrder is an order of 55.00: 2 x 10.33 at 15 %, 29.34 at 5 %, and
// 5.00 of shipping.
func (h *harness) linedOrder() *refund.Order {
	h.t.Helper()
	o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: 5500, PaymentMethod: "card",
		Source: refund.Card{Scheme: "visa", LastDigits: "4444"},
		Items:  []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 1033}, {ID: "b", Qty: 1, UnitAmount: 2934, TaxRate: "5"}}})
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}

// creditNotes returns the credit notes of an order, oldest first.
func (h *harness) creditNotes(orderID string) []*refund.InvoiceView {
	h.t.Helper()
	page, err := h.svc.ListInvoices(h.ctx, h.p, refund.InvoiceFilter{OrderID: orderID, Type: refund.InvoiceRefund, Limit: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	slices.Reverse(page.Data)
	return page.Data
}

// adjustmentNotes returns the credit notes of adjustment id, oldest first.
func (h *harness) adjustmentNotes(orderID, id string) []*refund.InvoiceView {
	h.t.Helper()
	return slices.DeleteFunc(h.creditNotes(orderID), func(v *refund.InvoiceView) bool { return v.AdjustmentID != id || id == "" })
}

// wantNoteAsSettled fails t unless note is issued as a succeeded refund's
// credit note is: paid, numbered, chained, sealed and reported, on day,
// against the order's tax invoice, for no refund.
func wantNoteAsSettled(t *testing.T, note *refund.InvoiceView, day time.Time) {
	t.Helper()
	b, err := invoice.XML(note.Invoice)
	if err != nil {
		t.Fatal(err)
	}
	h, err := invoice.HashXML(b)
	if note.Status != refund.InvoicePaid || note.ZATCAStatus != refund.ZATCAReported || note.Serial == "" || note.ICV == 0 ||
		note.Hash == "" || err != nil || h != note.Hash || note.Signature == "" || note.RefundID != "" || note.Refund != nil ||
		note.Parent == nil || note.ParentID != note.Parent.ID || note.ParentSerial != note.Parent.Serial || !note.IssuedAt.Equal(day) {
		t.Fatalf("note %s: %s %s (%s) icv %d hash %q (XML %q, %v) refund %q parent %d issued %v",
			note.Serial, note.Status, note.ZATCAStatus, note.InvoiceError, note.ICV, note.Hash, h, err, note.RefundID, note.ParentID, note.IssuedAt)
	}
}

// TestAdjustmentNote_OfTheAppliedAmount: a void or chargeback of an
// invoiced order issues, with it, one credit note of the amount it
// applied, linked to it, with void or chargeback as its reason, spread
// and split as an amount-only refund of that amount is (a twin order's),
// and issued as a succeeded refund's note is. A repeat issues none.
func TestAdjustmentNote_OfTheAppliedAmount(t *testing.T) {
	tests := []struct {
		name   string
		adjust func(h *harness, orderID string, in refund.AdjustmentInput) (*refund.OrderAdjustment, *refund.Order, error)
		reason string
	}{
		{"Void", func(h *harness, id string, in refund.AdjustmentInput) (*refund.OrderAdjustment, *refund.Order, error) {
			return h.svc.VoidOrder(h.ctx, h.p, id, in)
		}, "void: out of stock"},
		{"Chargeback", func(h *harness, id string, in refund.AdjustmentInput) (*refund.OrderAdjustment, *refund.Order, error) {
			return h.svc.ChargebackOrder(h.ctx, h.p, id, in)
		}, "chargeback: out of stock"},
	}
	onEachStore(t, func(t *testing.T, open opener) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h := invoicedHarness(t, open, &instantProcessor{})
				o, twin := h.linedOrder(), h.linedOrder()
				in := refund.AdjustmentInput{Amount: 1000, Reason: "out of stock", ProcessorReference: "ADJ-1"}
				a, _, err := tc.adjust(h, o.ID, in)
				if err != nil || a.Applied != 1000 {
					t.Fatalf("%+v %v", a, err)
				}
				amount := int64(1000)
				r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: twin.ID, Amount: &amount})
				if err != nil || r.Status != refund.StatusSucceeded {
					t.Fatalf("twin refund %+v %v", r, err)
				}
				notes := h.creditNotes(o.ID)
				if len(notes) != 1 || notes[0].AdjustmentID != a.ID || notes[0].Reason != tc.reason || notes[0].TotalAmount != 1000 {
					t.Fatalf("%d credit notes; want one of 1000 for %s, reason %q", len(notes), a.ID, tc.reason)
				}
				note, want := notes[0], h.creditNotes(twin.ID)[0]
				wantNoteAsSettled(t, note, h.clk.Now())
				if note.TotalExcludingTax != want.TotalExcludingTax || note.TaxAmount != want.TaxAmount ||
					note.ShippingAmount != want.ShippingAmount || note.ShippingTaxAmount != want.ShippingTaxAmount || len(note.Lines) != len(want.Lines) {
					t.Fatalf("note %d + %d VAT (shipping %d), an amount-only refund's %d + %d (shipping %d)", note.TotalExcludingTax,
						note.TaxAmount, note.ShippingAmount, want.TotalExcludingTax, want.TaxAmount, want.ShippingAmount)
				}
				for i, l := range note.Lines {
					if w := want.Lines[i]; l.ItemID != w.ItemID || l.NetAmount != w.NetAmount || l.TotalExcludingTax != w.TotalExcludingTax || l.TaxAmount != w.TaxAmount {
						t.Fatalf("line %s %d = %d + %d, an amount-only refund's %s %d = %d + %d", l.ItemID, l.NetAmount,
							l.TotalExcludingTax, l.TaxAmount, w.ItemID, w.NetAmount, w.TotalExcludingTax, w.TaxAmount)
					}
				}
				wantCreditedAsNotes(t, h.st, h.p.MerchantID, o.ID)
				tax := invoiceOfOrder(t, h.svc, h.p, o.ID, refund.InvoiceSale)
				if len(tax.Refunds) != 1 || tax.Refunds[0].ID != note.ID {
					t.Fatalf("the tax invoice lists %d notes", len(tax.Refunds))
				}

				h.clk.Advance(time.Hour)
				again, _, err := tc.adjust(h, o.ID, in)
				if err != nil || again.ID != a.ID {
					t.Fatalf("repeat: %+v %v", again, err)
				}
				if n := len(h.creditNotes(o.ID)); n != 1 {
					t.Fatalf("a repeat issued another note: %d", n)
				}
			})
		}
	})
}

// TestAdjustmentNote_RepeatsIssueNone: a void or chargeback applied once
// however it is repeated (the processor's reference, a notification's
// redelivery, an Idempotency-Key retried after its first run died before
// answering) has one credit note.
func TestAdjustmentNote_RepeatsIssueNone(t *testing.T) {
	tests := []struct {
		name  string
		apply func(h *harness, orderID string) string // the adjustment's id
	}{
		{"ProcessorReference", func(h *harness, id string) string {
			a, _, err := h.svc.ChargebackOrder(h.ctx, h.p, id, refund.AdjustmentInput{Amount: 700, ProcessorReference: "CB-7"})
			if err != nil {
				h.t.Fatal(err)
			}
			return a.ID
		}},
		{"NotificationRedelivered", func(h *harness, id string) string {
			out, err := h.svc.ApplyNotification(h.ctx, refund.Notification{ID: "msg_1", Type: refund.NotifyOrderVoided, OrderID: id, Amount: 700})
			if err != nil {
				h.t.Fatal(err)
			}
			return out.Object
		}},
		{"IdempotencyKeyAfterADeadRequest", func(h *harness, id string) string {
			c, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "void-1", "hash-void")
			if err != nil {
				h.t.Fatal(err)
			}
			a, _, err := h.svc.VoidOrder(refund.WithClaim(h.ctx, c), h.p, id, refund.AdjustmentInput{Amount: 700})
			if err != nil {
				h.t.Fatal(err)
			}
			h.clk.Advance(time.Hour) // no answer stored: after its lease, a retry takes over
			return a.ID
		}},
	}
	onEachStore(t, func(t *testing.T, open opener) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h := invoicedHarness(t, open, &instantProcessor{})
				o := h.linedOrder()
				first, second := tc.apply(h, o.ID), tc.apply(h, o.ID)
				got := h.getOrder(o.ID)
				notes := h.creditNotes(o.ID)
				if first != second || got.VoidedAmount+got.ChargedBackAmount != 700 || len(notes) != 1 ||
					notes[0].AdjustmentID != first || notes[0].TotalAmount != 700 {
					t.Fatalf("applied as %s then %s, order took %d, %d credit notes; want one of 700", first, second,
						got.VoidedAmount+got.ChargedBackAmount, len(notes))
				}
			})
		}
	})
}

// TestAdjustmentNote_OwedChargebackPartGetsItsOwnNote: a chargeback that
// did not fit (a refund sent before it held the room) is credited for
// what it applied; when that refund fails or is reversed and the owed
// part is applied, the part gets its own note, after the refund's note is
// voided or taken back by its debit note, so the notes credit exactly the
// invoice, never more.
func TestAdjustmentNote_OwedChargebackPartGetsItsOwnNote(t *testing.T) {
	tests := []struct {
		name string
		end  processor.Status
	}{
		{"Declined", processor.Declined},
		{"Reversed", processor.Reversed},
	}
	onEachStore(t, func(t *testing.T, open opener) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				proc := newLateProcessor()
				h := invoicedHarness(t, open, proc)
				o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: 10000, PaymentMethod: "card",
					Items: []refund.ItemInput{{ID: "a", Qty: 1, UnitAmount: 10000}}})
				if err != nil {
					t.Fatal(err)
				}
				amount := int64(8000)
				r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
				if err != nil || r.Status != refund.StatusProcessing {
					t.Fatalf("%+v %v, want a refund sent without an answer", r, err)
				}
				if tc.end == processor.Reversed {
					proc.execute(r.ID)
					if r, err := h.svc.SyncRefund(h.ctx, h.p, r.ID); err != nil || r.Status != refund.StatusSucceeded {
						t.Fatalf("%+v %v, want succeeded", r, err)
					}
				}
				cb, _, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 10000, Reason: "fraud", ProcessorReference: "CB-1"})
				if err != nil || cb.Applied != 2000 {
					t.Fatalf("chargeback %+v %v, want 2000 applied", cb, err)
				}
				if notes := h.adjustmentNotes(o.ID, cb.ID); len(notes) != 1 || notes[0].TotalAmount != 2000 {
					t.Fatalf("%d notes of the chargeback; want one of what it applied, 2000", len(notes))
				}
				h.clk.Advance(time.Hour)
				proc.mu.Lock()
				proc.results[r.ID] = processor.Result{Status: tc.end, ResponseCode: "05"}
				proc.mu.Unlock()
				if r, err := h.svc.SyncRefund(h.ctx, h.p, r.ID); err != nil || r.Status == refund.StatusSucceeded || r.Status == refund.StatusProcessing {
					t.Fatalf("%+v %v, want the refund ended", r, err)
				}
				if got := h.getOrder(o.ID); got.ChargedBackAmount != 10000 {
					t.Fatalf("charged back %d, want all 10000 once the refund gave its room back", got.ChargedBackAmount)
				}
				notes := h.adjustmentNotes(o.ID, cb.ID)
				if len(notes) != 2 || notes[0].TotalAmount != 2000 || notes[1].TotalAmount != 8000 || notes[1].Reason != "chargeback: fraud" {
					t.Fatalf("%d notes of the chargeback; want 2000, then 8000 for the part applied later", len(notes))
				}
				wantNoteAsSettled(t, notes[1], h.clk.Now())
				wantCreditedAsNotes(t, h.st, h.p.MerchantID, o.ID)
				tax := invoiceOfOrder(t, h.svc, h.p, o.ID, refund.InvoiceSale)
				if tax.Lines[0].Credited != tax.TotalAmount {
					t.Fatalf("the notes credit %d of the invoice's %d", tax.Lines[0].Credited, tax.TotalAmount)
				}
				if notes[1].ICV <= invoiceOfRefund(t, h.svc, h.p, r.ID).ICV {
					t.Fatalf("the owed part's note (icv %d) was chained before the refund's", notes[1].ICV)
				}
			})
		}
	})
}

// TestAdjustmentNote_OnlyForAnInvoicedOrder: an order without a tax
// invoice (no lines, or recorded before invoicing) gets no note for a void
// or chargeback; an invoiced one does.
func TestAdjustmentNote_OnlyForAnInvoicedOrder(t *testing.T) {
	tests := []struct {
		name  string
		order func(h *harness) *refund.Order
		notes int
	}{
		{"NoLines", func(h *harness) *refund.Order { return sarOrder(h.t, h, 5500) }, 0},
		{"BeforeInvoicing", func(h *harness) *refund.Order {
			o, err := h.node(&instantProcessor{}, nil).CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: 5500,
				Items: []refund.ItemInput{{ID: "a", Qty: 1, UnitAmount: 5500}}})
			if err != nil {
				h.t.Fatal(err)
			}
			return o
		}, 0},
		{"Invoiced", func(h *harness) *refund.Order { return h.linedOrder() }, 2},
	}
	onEachStore(t, func(t *testing.T, open opener) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h := invoicedHarness(t, open, &instantProcessor{})
				o := tc.order(h)
				if _, _, err := h.svc.VoidOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 500}); err != nil {
					t.Fatal(err)
				}
				if _, _, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 500, ProcessorReference: "CB-1"}); err != nil {
					t.Fatal(err)
				}
				if got := h.creditNotes(o.ID); len(got) != tc.notes {
					t.Fatalf("%d credit notes, want %d", len(got), tc.notes)
				}
			})
		}
	})
}

// TestAdjustmentNote_RefundsAfterAVoid: refunds after a void (one naming a
// line, then the whole rest) get their notes from where the void's left
// the invoice; together the notes credit all of it and no more. Once
// nothing is left, a void is refused and a chargeback applies nothing,
// and neither gets a note.
func TestAdjustmentNote_RefundsAfterAVoid(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := invoicedHarness(t, open, &instantProcessor{})
		o := h.linedOrder()
		v, _, err := h.svc.VoidOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []refund.RefundInput{
			{OrderID: o.ID, Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}},
			{OrderID: o.ID}, // the whole rest
		} {
			r, err := h.svc.CreateRefund(h.ctx, h.p, in)
			if err != nil || r.Status != refund.StatusSucceeded {
				t.Fatalf("%+v %v", r, err)
			}
			if note := invoiceOfRefund(t, h.svc, h.p, r.ID); note.TotalAmount != r.Amount || note.Status != refund.InvoicePaid {
				t.Fatalf("refund of %d: note of %d, %s", r.Amount, note.TotalAmount, note.Status)
			}
		}
		if _, _, err := h.svc.VoidOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 1}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
			t.Fatalf("a void with nothing left: %v", err)
		}
		cb, _, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 500, ProcessorReference: "CB-1"})
		if err != nil || cb.Applied != 0 {
			t.Fatalf("a chargeback with nothing left: %+v %v, want none of it applied", cb, err)
		}
		notes := h.creditNotes(o.ID)
		var total int64
		for _, n := range notes {
			total += n.TotalAmount
		}
		if len(notes) != 3 || notes[0].AdjustmentID != v.ID || total != 5500 || len(h.adjustmentNotes(o.ID, cb.ID)) != 0 {
			t.Fatalf("%d credit notes crediting %d; want the void's and two refunds', 5500 in all", len(notes), total)
		}
		wantCreditedAsNotes(t, h.st, h.p.MerchantID, o.ID)
		tax := invoiceOfOrder(t, h.svc, h.p, o.ID, refund.InvoiceSale)
		for _, l := range tax.Lines {
			if l.Credited != l.NetAmount {
				t.Fatalf("line %s credited %d of %d", l.ItemID, l.Credited, l.NetAmount)
			}
		}
		if tax.CreditedShipping != tax.ShippingAmount {
			t.Fatalf("shipping credited %d of %d", tax.CreditedShipping, tax.ShippingAmount)
		}
	})
}

// TestAdjustmentNote_OwedVoidPartGetsItsOwnNote: a void the processor
// notified while a refund held the room is credited for what it applied;
// when that refund fails or is reversed and the rest of the void is
// applied, the rest gets its own note, after the refund's note is voided
// or taken back, so the notes credit exactly the invoice, never more.
func TestAdjustmentNote_OwedVoidPartGetsItsOwnNote(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		for _, end := range []processor.Status{processor.Declined, processor.Reversed} {
			t.Run(string(end), func(t *testing.T) {
				proc := newLateProcessor()
				h := invoicedHarness(t, open, proc)
				o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: 10000, PaymentMethod: "card",
					Items: []refund.ItemInput{{ID: "a", Qty: 1, UnitAmount: 10000}}})
				if err != nil {
					t.Fatal(err)
				}
				r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](8000)})
				if err != nil {
					t.Fatal(err)
				}
				if end == processor.Reversed {
					proc.execute(r.ID)
					if r, err := h.svc.SyncRefund(h.ctx, h.p, r.ID); err != nil || r.Status != refund.StatusSucceeded {
						t.Fatalf("%v %v, want succeeded", r.Status, err)
					}
				}
				out, err := h.svc.ApplyNotification(h.ctx, refund.Notification{ID: "msg_1", Type: refund.NotifyOrderVoided,
					OrderID: o.ID, Amount: 10000, ProcessorReference: "VD-1"})
				if err != nil || !out.Applied {
					t.Fatalf("the void: %+v %v", out, err)
				}
				if notes := h.adjustmentNotes(o.ID, out.Object); len(notes) != 1 || notes[0].TotalAmount != 2000 {
					t.Fatalf("%d notes of the void; want one of what it applied, 2000", len(notes))
				}
				h.clk.Advance(time.Hour)
				proc.mu.Lock()
				proc.results[r.ID] = processor.Result{Status: end, ResponseCode: "05"}
				proc.mu.Unlock()
				if r, err := h.svc.SyncRefund(h.ctx, h.p, r.ID); err != nil || r.Status == refund.StatusSucceeded || r.Status == refund.StatusProcessing {
					t.Fatalf("%v %v, want the refund ended", r.Status, err)
				}
				if got := h.getOrder(o.ID); got.VoidedAmount != 10000 {
					t.Fatalf("voided %d, want all 10000 once the refund gave its room back", got.VoidedAmount)
				}
				notes := h.adjustmentNotes(o.ID, out.Object)
				if len(notes) != 2 || notes[0].TotalAmount != 2000 || notes[1].TotalAmount != 8000 {
					t.Fatalf("%d notes of the void; want 2000, then 8000 for the part applied later", len(notes))
				}
				wantNoteAsSettled(t, notes[1], h.clk.Now())
				wantCreditedAsNotes(t, h.st, h.p.MerchantID, o.ID)
				tax := invoiceOfOrder(t, h.svc, h.p, o.ID, refund.InvoiceSale)
				if tax.Lines[0].Credited != tax.TotalAmount {
					t.Fatalf("the notes credit %d of the invoice's %d", tax.Lines[0].Credited, tax.TotalAmount)
				}
			})
		}
	})
}
