package refund_test

import (
	"context"
	"slices"
	"testing"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

// TestInvoice_ChainSkipsDocumentsZATCANeverTakes: ZATCA refuses every
// document not in SAR (BR-KSA-EN16931-02), so a KWD order's documents
// are never reported, and a document ZATCA never received must not take
// a counter value (ICV, KSA-16) or be the previous hash (PIH, KSA-13) of
// the next one it does receive: it would read a gap in the counter and a
// hash it never saw. With SAR and KWD documents issued one after the
// other (tax invoices, credit notes of refunds and of a chargeback, debit
// notes of reversed refunds), the SAR documents' ICVs are 1, 2, 3, ...
// and each one's PIH is the previous SAR document's hash (the first,
// ZATCA's initial hash); the KWD documents are sealed (their served XML
// hashes to their hash) but take no place in the chain.
func TestInvoice_ChainSkipsDocumentsZATCANeverTakes(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		svc, p := invoicing(t, open)
		order := func(currency string, unit int64) *refund.Order {
			t.Helper()
			o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: currency, Amount: 3 * unit,
				Items: []refund.ItemInput{{ID: "a", Qty: 3, UnitAmount: unit}}})
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		refundOne := func(o *refund.Order) *refund.Refund {
			t.Helper()
			r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}})
			if err != nil || r.Status != refund.StatusSucceeded {
				t.Fatalf("refund %v, %v", r, err)
			}
			return r
		}
		sar, kwd := order("SAR", 1033), order("KWD", 10330)
		refundOne(kwd)
		refundOne(sar)
		kr := refundOne(kwd)
		// A reversal (the test processor answers a status sync so): a
		// debit note in each currency.
		if _, err := svc.SyncRefund(ctx, p, kr.ID); err != nil {
			t.Fatal(err)
		}
		sar2 := order("SAR", 2000)
		if _, _, err := svc.ChargebackOrder(ctx, p, kwd.ID, refund.AdjustmentInput{Amount: 10330, ProcessorReference: "cb-kwd"}); err != nil {
			t.Fatal(err)
		}
		sr := refundOne(sar2)
		if _, err := svc.SyncRefund(ctx, p, sr.ID); err != nil {
			t.Fatal(err)
		}
		order("KWD", 5000)
		refundOne(sar)

		page, err := svc.ListInvoices(ctx, p, refund.InvoiceFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var chained []*refund.InvoiceView
		kinds := map[string]int{}
		for _, d := range page.Data {
			if d.Status != refund.InvoicePaid {
				t.Fatalf("%s %s is %s", d.Type, d.Serial, d.Status)
			}
			x, err := invoice.XML(d.Invoice)
			if err != nil {
				t.Fatal(err)
			}
			if h, err := invoice.HashXML(x); err != nil || h != d.Hash || d.Signature == "" {
				t.Fatalf("%s %s %s: served XML hashes to %s (%v), sealed %s", d.Currency, d.Type, d.Serial, h, err, d.Hash)
			}
			kinds[d.Currency+" "+string(d.Type)]++
			if d.Currency == "KWD" {
				if d.ICV != 0 || d.PreviousHash != "" || d.ZATCAStatus == refund.ZATCAReported {
					t.Fatalf("KWD %s %s: icv %d, PIH %q, zatca %s: it takes a place in the chain ZATCA reads", d.Type, d.Serial, d.ICV, d.PreviousHash, d.ZATCAStatus)
				}
				continue
			}
			chained = append(chained, d)
		}
		for _, k := range []string{"SAR invoice", "SAR refund", "SAR debit", "KWD invoice", "KWD refund", "KWD debit"} {
			if kinds[k] == 0 {
				t.Fatalf("no %s among the documents: %v", k, kinds)
			}
		}
		slices.SortFunc(chained, func(a, b *refund.InvoiceView) int { return int(a.ICV - b.ICV) })
		prev := refund.InitialInvoiceHash
		for i, d := range chained {
			if d.ICV != int64(i+1) || d.PreviousHash != prev || d.ZATCAStatus != refund.ZATCAReported {
				t.Fatalf("SAR document %d (%s %s): icv %d, PIH %q, want icv %d, PIH %q (the previous SAR document's); zatca %s %s",
					i, d.Type, d.Serial, d.ICV, d.PreviousHash, i+1, prev, d.ZATCAStatus, d.InvoiceError)
			}
			prev = d.Hash
		}
	})
}
