package techrar_test

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/postgres/pgtest"
)

const vatNumber = "310122393500003"

// withVAT gives the merchant a VAT number through the invoice config, so
// its invoices are reported.
func withVAT(t *testing.T, s *dialecttest.Server, prefix string) {
	t.Helper()
	r := post(s, base+"config/", `{"vat_number":"`+vatNumber+`","serial_prefix":"`+prefix+`","seller_name":"Souq Al Waha"}`)
	if r.Status != 200 || r.Str("vat_number") != vatNumber || r.Str("serial_prefix") != prefix || r.Str("is_zatca_enabled") != "true" {
		t.Fatalf("config update: %d %s", r.Status, r.Raw)
	}
}

// ublDoc is what a test reads back from the XML, by namespace.
type ublDoc struct {
	XMLName  xml.Name `xml:"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2 Invoice"`
	ID       string   `xml:"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2 ID"`
	TypeCode string   `xml:"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2 InvoiceTypeCode"`
	Note     string   `xml:"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2 Note"`
	Billing  string   `xml:"BillingReference>InvoiceDocumentReference>ID"`
	VAT      string   `xml:"AccountingSupplierParty>Party>PartyTaxScheme>CompanyID"`
	Lines    []struct {
		Category string `xml:"Item>ClassifiedTaxCategory>ID"`
		Percent  string `xml:"Item>ClassifiedTaxCategory>Percent"`
		Net      string `xml:"LineExtensionAmount"`
	} `xml:"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2 InvoiceLine"`
}

// TestRefundInvoice_Reported: with a VAT number the tax invoice is
// reported, and so is the refund invoice of a partial line refund, whose
// XML and QR carry the references ZATCA needs.
func TestRefundInvoice_Reported(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	withVAT(t, s, "SOUQ-")
	o := s.Order(seedOrder("ORD-411"))
	tax := taxInvoice(t, s, o.ID)
	if tax.Serial != "SOUQ-202600001" || tax.ZATCAStatus != refund.ZATCAReported || tax.Seller.VATNumber != vatNumber {
		t.Fatalf("tax invoice %s zatca %s (%s) seller %+v", tax.Serial, tax.ZATCAStatus, tax.InvoiceError, tax.Seller)
	}
	// 100.00 of the espresso machine line, VAT included.
	body := fmt.Sprintf(`{"comments":"scratched","refunded_items":[{"id":%d,"qty":0,"amount":100.00}]}`, tax.Lines[1].ID)
	r := post(s, refundPath(tax.ID), body)
	if r.Status != 200 {
		t.Fatalf("want 200, got %d %s", r.Status, r.Raw)
	}
	contract(t, r.Body)
	wantFields(t, r, map[string]string{"status": "paid", "zatca_status": "reported", "invoice_error": "", "serial": "SOUQ-202600002",
		"total_amount": "100.00", "total_amount_excluding_tax": "86.96", "tax_amount": "13.04", "refund_reason": "scratched"})
	if !strings.Contains(r.Raw, `"invoice_error":null`) {
		t.Errorf("a reported invoice has no error: %s", r.Raw)
	}
	id := r.Str("id")

	t.Run("XML", func(t *testing.T) {
		x := s.Do("GET", "/v1/invoices/"+id+"/xml", s.Key, "")
		if x.Status != 200 || !strings.HasPrefix(x.Header.Get("Content-Type"), "application/xml") {
			t.Fatalf("%d %s %s", x.Status, x.Header.Get("Content-Type"), x.Raw)
		}
		var doc ublDoc
		if err := xml.NewDecoder(strings.NewReader(x.Raw)).Decode(&doc); err != nil {
			t.Fatalf("XML does not parse: %v\n%s", err, x.Raw)
		}
		if doc.ID != "SOUQ-202600002" || doc.TypeCode != "381" || doc.Billing != "SOUQ-202600001" || doc.Note != "scratched" ||
			doc.VAT != vatNumber || len(doc.Lines) != 1 || doc.Lines[0].Category != "S" || doc.Lines[0].Percent != "15.00" ||
			doc.Lines[0].Net != "86.96" {
			t.Fatalf("XML carries %+v:\n%s", doc, x.Raw)
		}
	})
	t.Run("QR", func(t *testing.T) {
		q := s.Do("GET", "/v1/invoices/"+id+"/qr", s.Key, "")
		if q.Status != 200 {
			t.Fatalf("%d %s", q.Status, q.Raw)
		}
		b, err := base64.StdEncoding.DecodeString(q.Str("qr"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[byte]string{1: "Souq Al Waha", 2: vatNumber, 3: "2026-03-01T12:00:00", 4: "100.00", 5: "13.04"}
		got := map[byte]string{}
		for len(b) >= 2 && len(b) >= 2+int(b[1]) {
			got[b[0]], b = string(b[2:2+int(b[1])]), b[2+int(b[1]):]
		}
		// Tags 1 to 5 are the figures; 6 to 8 the document's seal (hash,
		// signature, public key), checked in package invoice.
		sealed := got[6] != "" && got[7] != "" && got[8] != ""
		delete(got, 6)
		delete(got, 7)
		delete(got, 8)
		if len(b) != 0 || fmt.Sprint(got) != fmt.Sprint(want) || !sealed {
			t.Fatalf("QR TLV = %v (rest %x, sealed %v), want %v", got, b, sealed, want)
		}
	})
}

// TestRefundInvoice_FollowsTheRefund: the refund invoice is pending while
// the refund is, paid once it succeeds, void when it fails.
func TestRefundInvoice_FollowsTheRefund(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	withVAT(t, s, "INV-")
	tests := []struct {
		name                    string
		in                      refund.OrderInput
		status, txn, zatca      string
		later, laterTxn, laterZ string
	}{
		{"WalletPendingThenPaid", refund.OrderInput{Reference: "ORD-STC", PaymentMethod: "stcpay"},
			"pending", "pending", "not_submitted", "paid", "captured", "reported"},
		{"Declined", refund.OrderInput{Reference: "ORD-0051", PaymentMethod: "card", Source: refund.Card{LastDigits: "0051"}},
			"void", "failed", "not_submitted", "void", "failed", "not_submitted"},
	}
	for _, tc := range tests {
		in := tc.in
		in.Currency, in.Amount = "SAR", 2066
		in.Items = []refund.ItemInput{{ID: "a", NameEN: "Coffee", Qty: 2, UnitAmount: 1033, TaxRate: "15"}}
		o := s.Order(in)
		tax := taxInvoice(t, s, o.ID)
		r := post(s, refundPath(tax.ID), fmt.Sprintf(`{"comments":"changed mind","refunded_items":[{"id":%d,"qty":1}]}`, tax.Lines[0].ID))
		txn := dialecttest.Reply{Body: r.Get("transactions").([]any)[0]}
		if r.Status != 200 || r.Str("status") != tc.status || txn.Str("status") != tc.txn || r.Str("zatca_status") != tc.zatca {
			t.Fatalf("%s: want %s/%s/%s, got %d %s", tc.name, tc.status, tc.txn, tc.zatca, r.Status, r.Raw)
		}
		contract(t, r.Body)
		s.RunWorker(time.Minute)
		got := get(s, base+r.Str("id")+"/")
		txn = dialecttest.Reply{Body: got.Get("transactions").([]any)[0]}
		if got.Str("status") != tc.later || txn.Str("status") != tc.laterTxn || got.Str("zatca_status") != tc.laterZ {
			t.Fatalf("%s later: want %s/%s/%s, got %s", tc.name, tc.later, tc.laterTxn, tc.laterZ, got.Raw)
		}
	}
}

// TestErrors sends every documented error through the real server, in
// the dialect's shape, and checks a refused request changes nothing.
func TestErrors(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(seedOrder("ORD-ERR"))
	tax := taxInvoice(t, s, o.ID)
	otherKey := s.NewMerchant("Other Souq")
	other, err := s.Service.Authenticate(context.Background(), otherKey)
	if err != nil {
		t.Fatal(err)
	}
	otherOrder, err := s.Service.CreateOrder(context.Background(), other, seedOrder("ORD-OTHER"))
	if err != nil {
		t.Fatal(err)
	}
	otherTax, _ := s.Service.ListInvoices(context.Background(), other, refund.InvoiceFilter{OrderID: otherOrder.ID})
	readOnly := s.NewKey(refund.ScopeOrdersRead)
	// The reply is the refund invoice with its customer and lines, which
	// only a key that reads orders sees.
	writeOnly := s.NewKey(refund.ScopeRefundsWrite)
	// A first refund of line 1 with an Idempotency-Key, so reusing the
	// key with another body is refused.
	first := post(s, refundPath(tax.ID), `{"refunded_items":[{"id":1,"qty":1}]}`, "Idempotency-Key", "k1")
	if first.Status != 200 {
		t.Fatalf("first refund: %d %s", first.Status, first.Raw)
	}
	// The same key and body replays it: the same refund invoice, no new refund.
	if again := post(s, refundPath(tax.ID), `{"refunded_items":[{"id":1,"qty":1}]}`, "Idempotency-Key", "k1"); again.Status != 200 || again.Raw != first.Raw {
		t.Fatalf("replay: %d %s\nwant %s", again.Status, again.Raw, first.Raw)
	}
	if snap := s.Snap(o.ID); snap.Refunds != 1 {
		t.Fatalf("a replay refunded again: %+v", snap)
	}
	line := func(id, qty int, amount string) string {
		return fmt.Sprintf(`{"comments":"c","refunded_items":[{"id":%d,"qty":%d,"amount":%s}]}`, id, qty, amount)
	}
	app := appID(s)
	tests := []struct {
		name, method, path, key, body string
		headers                       []string
		status                        int
		code, field                   string
	}{
		{"NoKey", "POST", refundPath(tax.ID), "", line(1, 1, "0"), []string{"app-id", app}, 401, "unauthorized", ""},
		{"BadKey", "POST", refundPath(tax.ID), "rk_000000000000_00000000000000000000000000000000", line(1, 1, "0"), []string{"app-id", app}, 401, "unauthorized", ""},
		{"NoAppID", "POST", refundPath(tax.ID), s.Key, line(1, 1, "0"), nil, 400, "invalid_request", "app-id"},
		{"AppIDNotInteger", "GET", base, s.Key, "", []string{"app-id", "four"}, 400, "invalid_request", "app-id"},
		{"OtherMerchantsAppID", "POST", refundPath(tax.ID), s.Key, line(1, 1, "0"), []string{"app-id", app + "0"}, 403, "forbidden", "app-id"},
		{"KeyWithoutRefundsWrite", "POST", refundPath(tax.ID), readOnly, line(1, 1, "0"), []string{"app-id", app}, 403, "forbidden", ""},
		{"KeyWithoutOrdersRead", "POST", refundPath(tax.ID), writeOnly, line(1, 1, "0"), []string{"app-id", app}, 403, "forbidden", ""},
		// Refused before the body is read.
		{"KeyWithoutRefundsWriteBadBody", "POST", refundPath(tax.ID), readOnly, `{"refunded_items":`, []string{"app-id", app}, 403, "forbidden", ""},
		{"KeyWithoutOrdersReadBadBody", "POST", refundPath(tax.ID), writeOnly, `{"refunded_items":`, []string{"app-id", app}, 403, "forbidden", ""},
		{"KeyWithoutOrdersWrite", "POST", base + "config/", readOnly, `{"serial_prefix":"X-"}`, []string{"app-id", app}, 403, "forbidden", ""},
		{"OtherMerchantsInvoice", "POST", refundPath(otherTax.Data[0].ID), s.Key, line(1, 1, "0"), []string{"app-id", app}, 404, "invoice_not_found", ""},
		// An invoice that does not exist is not found whatever the body:
		// it was answered 400 for a body it could not read.
		{"UnknownInvoiceBadBody", "POST", refundPath(999), s.Key, `{"refunded_items":`, []string{"app-id", app}, 404, "invoice_not_found", ""},
		{"UnknownInvoiceBodyNotJSON", "POST", refundPath(999), s.Key, "{}", []string{"app-id", app, "Content-Type", "text/plain"}, 404, "invoice_not_found", ""},
		{"UnknownInvoiceNoItems", "POST", refundPath(999), s.Key, `{"comments":"c"}`, []string{"app-id", app}, 404, "invoice_not_found", ""},
		{"OtherMerchantsInvoiceBadBody", "POST", refundPath(otherTax.Data[0].ID), s.Key, `{"refunded_items":`, []string{"app-id", app}, 404, "invoice_not_found", ""},
		{"UnknownInvoice", "GET", base + "999/", s.Key, "", []string{"app-id", app}, 404, "invoice_not_found", ""},
		{"InvoiceIDNotInteger", "POST", base + "INV-1/refund/", s.Key, line(1, 1, "0"), []string{"app-id", app}, 404, "invoice_not_found", ""},
		// Techrar's path converter takes digits only: a sign names no invoice.
		{"InvoiceIDSigned", "GET", fmt.Sprintf("%s+%d/", base, tax.ID), s.Key, "", []string{"app-id", app}, 404, "invoice_not_found", ""},
		{"InvoiceIDSignedRefund", "POST", fmt.Sprintf("%s+%d/refund/", base, tax.ID), s.Key, line(1, 1, "0"), []string{"app-id", app}, 404, "invoice_not_found", ""},
		{"NotJSON", "POST", refundPath(tax.ID), s.Key, `{"refunded_items":`, []string{"app-id", app}, 400, "invalid_request", ""},
		{"NoItems", "POST", refundPath(tax.ID), s.Key, `{"comments":"c"}`, []string{"app-id", app}, 400, "invalid_request", "refunded_items"},
		{"EmptyItems", "POST", refundPath(tax.ID), s.Key, `{"refunded_items":[]}`, []string{"app-id", app}, 400, "invalid_request", "refunded_items"},
		{"LineNotOnInvoice", "POST", refundPath(tax.ID), s.Key, line(99, 1, "0"), []string{"app-id", app}, 400, "invalid_request", "refunded_items[0].id"},
		{"NothingToRefund", "POST", refundPath(tax.ID), s.Key, line(1, 0, "0"), []string{"app-id", app}, 400, "invalid_request", "refunded_items[0].qty"},
		{"NegativeQty", "POST", refundPath(tax.ID), s.Key, line(1, -1, "0"), []string{"app-id", app}, 400, "invalid_request", "refunded_items[0].qty"},
		{"AmountTooPrecise", "POST", refundPath(tax.ID), s.Key, line(1, 1, "10.333"), []string{"app-id", app}, 400, "invalid_amount", "refunded_items[0].amount"},
		{"AmountExponent", "POST", refundPath(tax.ID), s.Key, line(1, 1, "1e1"), []string{"app-id", app}, 400, "invalid_amount", "refunded_items[0].amount"},
		{"AmountNotNumber", "POST", refundPath(tax.ID), s.Key, line(1, 1, `"ten"`), []string{"app-id", app}, 400, "invalid_amount", "refunded_items[0].amount"},
		{"CommentsTooLong", "POST", refundPath(tax.ID), s.Key, `{"comments":"` + strings.Repeat("x", 501) + `","refunded_items":[{"id":1,"qty":1}]}`, []string{"app-id", app}, 400, "invalid_request", "comments"},
		{"QtyOverSold", "POST", refundPath(tax.ID), s.Key, line(1, 2, "0"), []string{"app-id", app}, 422, "amount_exceeds_refundable", "refunded_items[0]"},
		{"AmountOverLine", "POST", refundPath(tax.ID), s.Key, line(1, 0, "10.34"), []string{"app-id", app}, 422, "amount_exceeds_refundable", "refunded_items[0]"},
		{"LineAlreadyRefunded", "POST", refundPath(tax.ID), s.Key, line(1, 1, "0"), []string{"app-id", app}, 422, "amount_exceeds_refundable", "refunded_items[0]"},
		{"IdempotencyKeyReused", "POST", refundPath(tax.ID), s.Key, line(1, 1, "0"), []string{"app-id", app, "Idempotency-Key", "k1"}, 422, "idempotency_key_reused", "Idempotency-Key"},
		{"TooLarge", "POST", refundPath(tax.ID), s.Key, `{"comments":"` + strings.Repeat("x", 1<<20) + `"}`, []string{"app-id", app}, 413, "request_too_large", ""},
		{"ConfigUnknownField", "POST", base + "config/", s.Key, `{"logo":"x"}`, []string{"app-id", app}, 400, "invalid_request", ""},
		{"ConfigBadPrefix", "POST", base + "config/", s.Key, `{"serial_prefix":"no spaces"}`, []string{"app-id", app}, 400, "invalid_request", "serial_prefix"},
		{"ConfigBadVAT", "POST", base + "config/", s.Key, `{"vat_number":"123"}`, []string{"app-id", app}, 400, "invalid_request", "vat_number"},
		{"ListBadPage", "GET", base + "?page=0", s.Key, "", []string{"app-id", app}, 404, "invalid_page", "page"},
		{"ListBadType", "GET", base + "?type=receipt", s.Key, "", []string{"app-id", app}, 400, "invalid_request", "type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snap(o.ID)
			r := s.Do(tc.method, tc.path, tc.key, tc.body, tc.headers...)
			if r.Status != tc.status || r.Str("code") != tc.code || r.Str("field") != tc.field || r.Str("detail") == "" {
				t.Fatalf("want %d %s field %q, got %d %s", tc.status, tc.code, tc.field, r.Status, r.Raw)
			}
			if after := s.Snap(o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v, was %+v", after, before)
			}
		})
	}
}

// TestErrors_RateLimited: past the key's rate, 429 with Retry-After.
func TestErrors_RateLimited(t *testing.T) {
	t.Parallel()
	// Start spends one of the burst authenticating its merchant.
	s := dialecttest.Start(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 0.001, 2 })
	if r := get(s, base); r.Status != 200 {
		t.Fatalf("first request: %d %s", r.Status, r.Raw)
	}
	r := get(s, base)
	if r.Status != http.StatusTooManyRequests || r.Str("code") != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("want 429 rate_limited with Retry-After, got %d %v %s", r.Status, r.Header, r.Raw)
	}
}

// TestErrors_IdempotencyKeyInUse: the same key while the first request is
// still at the processor is 409. Card 0099's processor never answers
// within the timeout, so the first request holds its key for that long.
func TestErrors_IdempotencyKeyInUse(t *testing.T) {
	t.Parallel()
	// The processor never answers card 0099: the first request holds the
	// key for the processor timeout, long enough for the second to arrive
	// on a loaded machine.
	s := dialecttest.Start(t, func(c *server.Config) { c.ProcessorTimeout = 8 * time.Second })
	in := seedOrder("ORD-0099")
	in.Source.LastDigits = "0099"
	o := s.Order(in)
	tax := taxInvoice(t, s, o.ID)
	body := fmt.Sprintf(`{"refunded_items":[{"id":%d,"qty":1}]}`, tax.Lines[0].ID)
	first := make(chan dialecttest.Reply, 1)
	go func() { first <- post(s, refundPath(tax.ID), body, "Idempotency-Key", "slow") }()
	// The first request reserves the amount before it calls the processor.
	deadline := time.Now().Add(30 * time.Second)
	for s.Snap(o.ID).Pending == 0 {
		select {
		case got := <-first:
			t.Fatalf("the first request was answered before it reached the processor: %d %s", got.Status, got.Raw)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the first refund never reached the processor")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := post(s, refundPath(tax.ID), body, "Idempotency-Key", "slow")
	if r.Status != http.StatusConflict || r.Str("code") != "idempotency_key_in_use" || r.Str("detail") != "Initial request is still processing." {
		t.Fatalf("want 409 idempotency_key_in_use, got %d %s", r.Status, r.Raw)
	}
	if got := <-first; got.Status != 200 || got.Str("status") != "pending" {
		t.Fatalf("first request: %d %s", got.Status, got.Raw)
	}
	if snap := s.Snap(o.ID); snap.Refunds != 1 {
		t.Fatalf("the key in use made another refund: %+v", snap)
	}
}

// TestRefund_LineNeverOverRefunded: concurrent refunds of one line, by
// units and by value, never take more than was sold.
func TestRefund_LineNeverOverRefunded(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(refund.OrderInput{Reference: "ORD-CC", Currency: "SAR", Amount: 4000, PaymentMethod: "mada",
		Items: []refund.ItemInput{
			{ID: "units", NameEN: "Cup", Qty: 3, UnitAmount: 1000, TaxRate: "15"},
			{ID: "value", NameEN: "Pot", Qty: 1, UnitAmount: 1000, TaxRate: "15"},
		}})
	tax := taxInvoice(t, s, o.ID)
	tests := []struct {
		name    string
		body    string
		n, want int
	}{
		{"Units", fmt.Sprintf(`{"refunded_items":[{"id":%d,"qty":1}]}`, tax.Lines[0].ID), 12, 3},
		{"Value", fmt.Sprintf(`{"refunded_items":[{"id":%d,"qty":0,"amount":4.00}]}`, tax.Lines[1].ID), 12, 2},
	}
	for _, tc := range tests {
		var wg sync.WaitGroup
		statuses := make([]int, tc.n)
		for i := range tc.n {
			wg.Go(func() { statuses[i] = post(s, refundPath(tax.ID), tc.body).Status })
		}
		wg.Wait()
		ok := 0
		for _, st := range statuses {
			switch st {
			case 200:
				ok++
			case 422:
			default:
				t.Fatalf("%s: unexpected status %d", tc.name, st)
			}
		}
		if ok != tc.want {
			t.Fatalf("%s: %d refunds went through, want %d", tc.name, ok, tc.want)
		}
	}
	got, err := s.Service.GetOrder(context.Background(), s.Principal, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if it := got.Items[0]; it.RefundedQty != 3 || it.RefundedAmount != 3000 {
		t.Fatalf("units line refunded %d units, %d", it.RefundedQty, it.RefundedAmount)
	}
	if it := got.Items[1]; it.RefundedQty != 0 || it.RefundedAmount != 800 {
		t.Fatalf("value line refunded %d units, %d", it.RefundedQty, it.RefundedAmount)
	}
	view := get(s, fmt.Sprintf("%s%d/", base, tax.ID))
	if refunds := view.Get("refunds").([]any); len(refunds) != 5 {
		t.Fatalf("the tax invoice lists %d refund invoices, want 5", len(refunds))
	}
}

// TestSerials_GaplessUnderConcurrentRefunds: refunds on many orders at
// once each issue a refund invoice; the merchant's serials run 1..n with
// no hole, in issue order, on SQLite and on PostgreSQL.
func TestSerials_GaplessUnderConcurrentRefunds(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var opts []func(*server.Config)
			if backend == "postgres" {
				url := pgtest.URL(t, 0)
				opts = append(opts, func(c *server.Config) { c.DB = url })
			}
			s := dialecttest.Start(t, opts...)
			const orders = 8
			var taxes []*refund.InvoiceView
			for i := range orders {
				in := seedOrder(fmt.Sprintf("ORD-S%d", i))
				if i%4 == 3 {
					in.Source.LastDigits = "0051" // declined: its refund invoice is void but keeps its serial
				}
				taxes = append(taxes, taxInvoice(t, s, s.Order(in).ID))
			}
			var wg sync.WaitGroup
			for _, tax := range taxes {
				for _, l := range tax.Lines {
					wg.Go(func() {
						r := post(s, refundPath(tax.ID), fmt.Sprintf(`{"refunded_items":[{"id":%d,"qty":1}]}`, l.ID))
						if r.Status != 200 {
							t.Errorf("refund of line %d: %d %s", l.ID, r.Status, r.Raw)
						}
					})
				}
			}
			// And a refused one in the middle, which must not burn a serial.
			wg.Go(func() {
				if r := post(s, refundPath(taxes[0].ID), `{"refunded_items":[{"id":1,"qty":5}]}`); r.Status != 422 {
					t.Errorf("over-refund: %d %s", r.Status, r.Raw)
				}
			})
			wg.Wait()
			page, err := s.Service.ListInvoices(context.Background(), s.Principal, refund.InvoiceFilter{Limit: refund.MaxPageSize})
			if err != nil {
				t.Fatal(err)
			}
			invs := page.Data
			if len(invs) != orders*3 {
				t.Fatalf("%d invoices, want %d", len(invs), orders*3)
			}
			for i, v := range invs {
				n := len(invs) - i // newest first
				if want := fmt.Sprintf("INV-2026%05d", n); v.Serial != want || v.Number != int64(n) {
					t.Fatalf("invoice %d (id %d) is %s, want %s", i, v.ID, v.Serial, want)
				}
			}
		})
	}
}

// TestList pages and filters the merchant's invoices as Django REST
// framework does.
func TestList(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	for i := range 3 {
		o := s.Order(seedOrder(fmt.Sprintf("ORD-L%d", i)))
		if i == 0 {
			tax := taxInvoice(t, s, o.ID)
			if r := post(s, refundPath(tax.ID), `{"refunded_items":[{"id":1,"qty":1}]}`); r.Status != 200 {
				t.Fatalf("refund: %d %s", r.Status, r.Raw)
			}
		}
	}
	s.Order(refund.OrderInput{Reference: "ORD-NO-ITEMS", Currency: "SAR", Amount: 500}) // no lines: no invoice
	otherKey := s.NewMerchant("Other")
	other, _ := s.Service.Authenticate(context.Background(), otherKey)
	if _, err := s.Service.CreateOrder(context.Background(), other, seedOrder("ORD-OTHER")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query    string
		count          int
		serials        []string
		next, previous bool
	}{
		{"All", "", 4, []string{"INV-202600004", "INV-202600003", "INV-202600002", "INV-202600001"}, false, false},
		{"FirstPage", "?page_size=3", 4, []string{"INV-202600004", "INV-202600003", "INV-202600002"}, true, false},
		{"SecondPage", "?page_size=3&page=2", 4, []string{"INV-202600001"}, false, true},
		{"Refunds", "?type=refund", 1, []string{"INV-202600002"}, false, false},
		{"Serial", "?serial=INV-202600003", 1, []string{"INV-202600003"}, false, false},
		{"Order", "?order_id=1", 2, []string{"INV-202600002", "INV-202600001"}, false, false},
		{"UnknownOrder", "?order_id=77", 0, nil, false, false},
		{"ZATCA", "?zatca_status=aborted", 1, []string{"INV-202600002"}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(s, base+tc.query)
			if r.Status != 200 || r.Str("count") != fmt.Sprint(tc.count) {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			var serials []string
			for _, x := range r.Get("results").([]any) {
				contract(t, x)
				serials = append(serials, dialecttest.Reply{Body: x}.Str("serial"))
			}
			if fmt.Sprint(serials) != fmt.Sprint(tc.serials) {
				t.Fatalf("serials %v, want %v", serials, tc.serials)
			}
			if (r.Get("next") != nil) != tc.next || (r.Get("previous") != nil) != tc.previous {
				t.Fatalf("next %v previous %v", r.Get("next"), r.Get("previous"))
			}
			// Links are on the node's own URL, not the request's Host.
			if tc.next && (!strings.Contains(r.Str("next"), "page=2") || !strings.HasPrefix(r.Str("next"), s.URL()+base)) {
				t.Fatalf("next = %s", r.Str("next"))
			}
		})
	}
}

// TestList_PageSizeAsDRF: a page_size that is no positive integer is
// Django REST framework's default page size, and one above the most is
// the most, as DRF's PageNumberPagination reads it; neither is refused.
func TestList_PageSizeAsDRF(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	for i := range 21 {
		s.Order(seedOrder(fmt.Sprintf("ORD-S%d", i)))
	}
	for _, tc := range []struct {
		name, query string
		results     int
	}{
		{"Three", "?page_size=3", 3},
		{"Zero", "?page_size=0", 20},
		{"Negative", "?page_size=-1", 20},
		{"NotANumber", "?page_size=abc", 20},
		{"Fraction", "?page_size=1.5", 20},
		{"Empty", "?page_size=", 20},
		{"AboveTheMost", "?page_size=500", 21},
		{"BeyondInt64", "?page_size=99999999999999999999", 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(s, base+tc.query)
			results, _ := r.Get("results").([]any)
			if r.Status != 200 || r.Str("count") != "21" || len(results) != tc.results {
				t.Fatalf("want 200 with %d of 21, got %d %.300s", tc.results, r.Status, r.Raw)
			}
		})
	}
}

// TestList_PageBeyondTheLast: a page past the last one is Django REST
// framework's 404 "Invalid page.", not an empty page whose previous link
// points at another page past the end; the first page of an empty list is
// still 200.
func TestList_PageBeyondTheLast(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	for i := range 4 {
		s.Order(seedOrder(fmt.Sprintf("ORD-P%d", i)))
	}
	for _, tc := range []struct {
		name, query string
		status      int
	}{
		{"LastPage", "?page_size=3&page=2", 200},
		{"PastTheLast", "?page_size=3&page=3", 404},
		{"FarPastTheLast", "?page=99", 404},
		{"EmptyListFirstPage", "?type=refund", 200},
		{"EmptyListSecondPage", "?type=refund&page=2", 404},
		{"UnknownOrderFirstPage", "?order_id=77", 200},
		{"UnknownOrderSecondPage", "?order_id=77&page=2", 404},
		{"Zero", "?page=0", 404},
		{"Negative", "?page=-1", 404},
		{"NotANumber", "?page=abc", 404},
		{"PastTheBound", "?page=10001", 404},
		{"Last", "?page_size=3&page=last", 200},
		{"LastOfAnEmptyList", "?type=refund&page=last", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(s, base+tc.query)
			if r.Status != tc.status {
				t.Fatalf("want %d, got %d %s", tc.status, r.Status, r.Raw)
			}
			if tc.status == 404 && (r.Str("detail") != "Invalid page." || r.Str("code") != "invalid_page" || r.Str("field") != "page") {
				t.Fatalf("body %s", r.Raw)
			}
			if results, _ := r.Get("results").([]any); tc.name == "Last" &&
				(r.Str("count") != "4" || len(results) != 1 || !strings.Contains(r.Str("previous"), "page=1") || r.Get("next") != nil) {
				t.Fatalf("the last page of 4 by 3: %s", r.Raw)
			}
		})
	}
}

// TestList_StrictQuery: a typo or a repeated filter is refused, not
// answered with every invoice.
func TestList_StrictQuery(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	s.Order(seedOrder("ORD-Q1"))
	for _, q := range []string{"?tpye=refund", "?type=refund&type=invoice", "?page=1&page=2", "?serial=INV-1&SERIAL=INV-2"} {
		r := get(s, base+q)
		if r.Status != 400 {
			t.Errorf("%s: %d %s", q, r.Status, r.Raw)
		}
	}
	if r := get(s, base+"?type=invoice&page_size=5"); r.Status != 200 || r.Str("count") != "1" {
		t.Fatalf("known parameters: %d %s", r.Status, r.Raw)
	}
}

// TestConfig reads the defaults, changes the prefix, and the next
// invoice uses it while numbering goes on.
func TestConfig(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	s.Order(seedOrder("ORD-C1"))
	r := get(s, base+"config/")
	if r.Status != 200 || r.Str("serial_prefix") != "INV-" || r.Str("seller_name") != s.Merchant.Name ||
		r.Str("is_zatca_enabled") != "true" || r.Get("updated_at") != nil || r.Str("app_id") != appID(s) {
		t.Fatalf("defaults: %d %s", r.Status, r.Raw)
	}
	r = post(s, base+"config/", `{"serial_prefix":"WAHA-","is_zatca_enabled":false}`)
	if r.Status != 200 || r.Str("serial_prefix") != "WAHA-" || r.Str("is_zatca_enabled") != "false" || r.Get("updated_at") == nil {
		t.Fatalf("update: %d %s", r.Status, r.Raw)
	}
	tax := taxInvoice(t, s, s.Order(seedOrder("ORD-C2")).ID)
	if tax.Serial != "WAHA-202600002" || tax.ZATCAStatus != refund.ZATCANotSubmitted {
		t.Fatalf("after the update: %s %s", tax.Serial, tax.ZATCAStatus)
	}
	if got := get(s, base+"config/"); got.Raw != r.Raw {
		t.Fatalf("read back %s, want %s", got.Raw, r.Raw)
	}
}

// TestDebitNote_NamesItsOrder: a refund the processor reversed gets a
// debit note taking back its refund invoice. Every document of the order
// (tax invoice, refund invoice, debit note) answers the order's Techrar id
// (its tax invoice's id) as order_id, the id its list filter takes, and
// only the tax invoice lists refunds.
func TestDebitNote_NamesItsOrder(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(seedOrder("ORD-DEBIT"))
	tax := taxInvoice(t, s, o.ID)
	r := post(s, refundPath(tax.ID), fmt.Sprintf(`{"comments":"first refund","refunded_items":[{"id":%d,"qty":1}]}`, tax.Lines[0].ID))
	if r.Status != 200 || r.Str("status") != "paid" {
		t.Fatalf("refund: %d %s", r.Status, r.Raw)
	}
	refundID := dialecttest.Reply{Body: r.Get("transactions").([]any)[0]}.Str("provider_details", "RefundReference")
	if _, err := s.Sandbox.Reverse(t.Context(), refundID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Service.SyncRefund(t.Context(), s.Principal, refundID); err != nil || got.Status != refund.StatusReversed {
		t.Fatalf("sync after the reversal: %+v %v", got, err)
	}
	debits, err := s.Service.ListInvoices(t.Context(), s.Principal, refund.InvoiceFilter{OrderID: o.ID, Type: refund.InvoiceDebit})
	if err != nil || len(debits.Data) != 1 {
		t.Fatalf("debit notes: %+v %v", debits, err)
	}
	want := fmt.Sprint(tax.ID)
	tests := []struct {
		name, id, typ string
		refunds       bool // a list (the tax invoice) or null
	}{
		{"TaxInvoice", fmt.Sprint(tax.ID), "invoice", true},
		{"RefundInvoice", r.Str("id"), "refund", false},
		{"DebitNote", fmt.Sprint(debits.Data[0].ID), "debit", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(s, base+tt.id+"/")
			if got.Status != 200 || got.Str("type") != tt.typ || got.Str("order_id") != want {
				t.Fatalf("want %s with order_id %s, got %d %.300s", tt.typ, want, got.Status, got.Raw)
			}
			if _, isList := got.Get("refunds").([]any); isList != tt.refunds {
				t.Fatalf("refunds: want a list %v, got %v", tt.refunds, got.Get("refunds"))
			}
			contract(t, got.Body)
		})
	}
	l := get(s, base+"?order_id="+want)
	results, _ := l.Get("results").([]any)
	if l.Status != 200 || len(results) != 3 {
		t.Fatalf("the order's documents: want 3, got %d %.300s", l.Status, l.Raw)
	}
	for _, res := range results {
		if got := (dialecttest.Reply{Body: res}).Str("order_id"); got != want {
			t.Fatalf("listed by order_id %s, a document answers order_id %s", want, got)
		}
	}
}

// TestErrors_OrderHasLessLeft: a refund the order as a whole has no room
// for names the request's refunded_items as the field at fault, not the
// core's "amount", which a Techrar request does not have; nothing changes.
func TestErrors_OrderHasLessLeft(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(refund.OrderInput{Reference: "ORD-LEFT", Currency: "SAR", Amount: 2066, PaymentMethod: "card",
		Items: []refund.ItemInput{{ID: "a", NameEN: "Coffee", Qty: 2, UnitAmount: 1033, TaxRate: "15"}}})
	tax := taxInvoice(t, s, o.ID)
	line := tax.Lines[0].ID
	if r := post(s, refundPath(tax.ID), fmt.Sprintf(`{"refunded_items":[{"id":%d,"qty":1}]}`, line)); r.Status != 200 {
		t.Fatalf("first unit: %d %.300s", r.Status, r.Raw)
	}
	tests := []struct {
		name, items string
		field       string
	}{
		// 20.00 is within what the line sold (20.66), beyond the 10.33
		// the order has left.
		{"UnitAndAmount", fmt.Sprintf(`[{"id":%d,"qty":1,"amount":20}]`, line), "refunded_items"},
		{"AmountOnly", fmt.Sprintf(`[{"id":%d,"qty":0,"amount":20.66}]`, line), "refunded_items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Snap(o.ID)
			r := post(s, refundPath(tax.ID), `{"refunded_items":`+tt.items+`}`)
			if r.Status != 422 || r.Str("code") != "amount_exceeds_refundable" || r.Str("field") != tt.field || r.Str("detail") == "" {
				t.Fatalf("want 422 amount_exceeds_refundable naming %s, got %d %s", tt.field, r.Status, r.Raw)
			}
			if after := s.Snap(o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v, was %+v", after, before)
			}
		})
	}
}

// TestRefund_CostIndependentOfTheOrdersRefunds: a refund through Techrar
// costs the same statements on a tax invoice with many refund invoices as
// on one with a few. The route read the whole tax invoice (every note,
// up to 1,000, with their lines) to learn its currency: on one busy order
// a refund cost 113 statements and, 600 refunds on, 205.
func TestRefund_CostIndependentOfTheOrdersRefunds(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(refund.OrderInput{Reference: "ORD-MANY", Currency: "SAR", Amount: 100_000, PaymentMethod: "card",
		Source: refund.Card{Scheme: "visa", LastDigits: "4242"},
		Items:  []refund.ItemInput{{ID: "line", NameEN: "Bulk", Qty: 1, UnitAmount: 100_000, TaxRate: "15"}}})
	tax := taxInvoice(t, s, o.ID)
	body := fmt.Sprintf(`{"comments":"part","refunded_items":[{"id":%d,"qty":0,"amount":0.01}]}`, tax.Lines[0].ID)
	cs := s.Store.(refund.CountingStore)
	cost := func() uint64 {
		t.Helper()
		before := cs.Counts().Statements
		if r := post(s, refundPath(tax.ID), body); r.Status != 200 {
			t.Fatalf("refund: %d %s", r.Status, r.Raw)
		}
		return cs.Counts().Statements - before
	}
	cost() // the first note's one-time costs (the merchant's chain, caches)
	early := cost()
	for range 40 {
		cost()
	}
	late := cost()
	t.Logf("statements a refund: %d with 2 notes, %d with 42", early, late)
	if late > early {
		t.Fatalf("a refund cost %d statements with 2 notes on the invoice and %d with 42", early, late)
	}
	// The transactions: the caller's merchant, the tax invoice (read once:
	// its lines name the order's items and its currency reads the
	// amounts), the reservation, the processor's answer and the refund
	// invoice answered.
	before := cs.Counts().Transactions
	if r := post(s, refundPath(tax.ID), body); r.Status != 200 {
		t.Fatalf("refund: %d %s", r.Status, r.Raw)
	}
	if n := cs.Counts().Transactions - before; n > 5 {
		t.Fatalf("a refund took %d transactions, want at most 5", n)
	}
}
