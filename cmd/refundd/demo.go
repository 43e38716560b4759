package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// runDemo starts a server on a fresh demo database filled with merchants,
// a partner and an order for every sandbox behaviour, and prints the keys
// and curl lines that work against it.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlags("demo", stderr)
	f.register(fs, "sqlite:refundd-demo.db")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.check(fs); err != nil {
		return err
	}
	if path, ok := strings.CutPrefix(f.db, "sqlite:"); ok {
		// A fresh demo every time: the printed ids and keys are this run's.
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	cfg := f.config(io.Discard)
	if f.logFormat == "text" {
		cfg = f.config(stderr)
	}
	if err := demoSecretKey(&cfg, f.db); err != nil {
		return err
	}
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	d, err := seedDemo(ctx, srv.Service)
	if err != nil {
		srv.Stop(context.Background())
		return err
	}
	if err := srv.Start(ctx); err != nil {
		srv.Stop(context.Background())
		return err
	}
	if err := d.seedForwarding(ctx, srv.Service, srv.URL()); err != nil {
		srv.Stop(context.Background())
		return err
	}
	d.print(stdout, srv.URL(), f.db)
	return waitAndStop(ctx, srv, cfg.Log)
}

type demoOrder struct {
	label string
	order *refund.Order
}

type demoData struct {
	merchant, other *refund.Merchant
	key, otherKey   string
	approverKey     string // the first merchant's second person: refunds:approve
	partner         *refund.Partner
	partnerKey      string
	// The forwarded order: the second merchant's, refunded through its
	// processor account at the first merchant's order on the SGate surface.
	account                   *refund.ProcessorAccount
	forwarded, processorOrder *refund.Order
	orders                    []demoOrder
	// svc and principal (the first merchant's) let a section look up what
	// the seeding made, such as an order's tax invoice.
	svc       *refund.Service
	principal refund.Principal
}

func seedDemo(ctx context.Context, svc *refund.Service) (*demoData, error) {
	d := &demoData{svc: svc}
	var err error
	d.merchant, d.key, err = svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq Al Waha Trading", CR: "1010101010",
		Email: "refunds@alwaha.example", Mobile: "+966500000001", AccountNo: "SA-ACC-1001", VATNumber: "310122393500003"})
	if err != nil {
		return nil, err
	}
	d.other, d.otherKey, err = svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Gulf Gadgets WLL", CR: "2020202020",
		Email: "ops@gulfgadgets.example", Mobile: "+96550000002"})
	if err != nil {
		return nil, err
	}
	d.partner, d.partnerKey, err = svc.CreatePartner(ctx, "Partner Platform", []string{d.merchant.ID})
	if err != nil {
		return nil, err
	}
	if _, d.approverKey, err = svc.CreateKey(ctx, d.merchant.ID, "", []string{refund.ScopeRefundsApprove, refund.ScopeRefundsRead}); err != nil {
		return nil, err
	}
	p, err := svc.Authenticate(ctx, d.key)
	if err != nil {
		return nil, err
	}
	d.principal = p
	card := func(last4 string) refund.Card {
		return refund.Card{Scheme: "mastercard", FirstDigits: "555555", LastDigits: last4, Month: 12, Year: 2027}
	}
	cust := refund.Customer{Name: "Noura Al-Harbi", Email: "noura@example.com", Mobile: "+966512345678"}
	specs := []struct {
		label string
		in    refund.OrderInput
	}{
		{"card, approved (00)", refund.OrderInput{Reference: "ORD-1001", Currency: "SAR", Amount: 262346, PaymentMethod: "card", Source: card("4444"), Customer: cust, Description: "Espresso machine"}},
		{"card 0051, declined: insufficient funds", refund.OrderInput{Reference: "ORD-1051", Currency: "SAR", Amount: 15000, PaymentMethod: "card", Source: card("0051"), Customer: cust}},
		{"card 0005, declined: do not honor", refund.OrderInput{Reference: "ORD-1005", Currency: "SAR", Amount: 15000, PaymentMethod: "card", Source: card("0005"), Customer: cust}},
		{"card 0091, issuer unavailable twice, then approved", refund.OrderInput{Reference: "ORD-1091", Currency: "SAR", Amount: 20000, PaymentMethod: "mada", Source: card("0091"), Customer: cust}},
		{"card 0099, no answer until asked for status", refund.OrderInput{Reference: "ORD-1099", Currency: "AED", Amount: 30000, PaymentMethod: "card", Source: card("0099"), Customer: cust}},
		{"stcpay wallet, pending then settled", refund.OrderInput{Reference: "ORD-2001", Currency: "SAR", Amount: 9900, PaymentMethod: "stcpay", Customer: cust}},
		{"KWD (3 decimals), card", refund.OrderInput{Reference: "ORD-KW-3002", Currency: "KWD", Amount: 12345, PaymentMethod: "card", Source: card("4444"), Customer: cust}},
		{"KWD (3 decimals), multi-vendor", refund.OrderInput{Reference: "ORD-KW-3001", Currency: "KWD", Amount: 75500, PaymentMethod: "knet", Customer: cust,
			Vendors: []refund.VendorInput{
				{ID: "vendor-a", Name: "Al Shaya Perfumes", IBAN: "KW81CBKU0000000000001234560101", Amount: 50000},
				{ID: "vendor-b", Name: "Kuwait Dates Co", IBAN: "KW81CBKU0000000000001234560101", Amount: 25500}}}},
		{"invoiced, line items with 15% VAT", refund.OrderInput{Reference: "ORD-INV-4001", Currency: "SAR", Amount: 3099, PaymentMethod: "applePay", Source: card("1111"), Customer: cust,
			Items: []refund.ItemInput{
				{ID: "line-1", SKU: "COF-250", NameEN: "Arabic coffee 250g", NameAR: "قهوة عربية ٢٥٠ غ", Qty: 2, UnitAmount: 1033, TaxRate: "15"},
				{ID: "line-2", SKU: "DAT-500", NameEN: "Sukkari dates 500g", NameAR: "تمر سكري ٥٠٠ غ", Qty: 1, UnitAmount: 1033, TaxRate: "15"}}}},
		{"Paylink: refunded by the partner", refund.OrderInput{Reference: "ORD-PL-5001", Currency: "SAR", Amount: 45000, PaymentMethod: "mada", Source: card("4444"), Customer: cust}},
		{"UPayments: KWD, single merchant", refund.OrderInput{Reference: "ORD-UP-6001", Currency: "KWD", Amount: 12750, PaymentMethod: "knet", Customer: cust}},
	}
	for _, s := range specs {
		o, err := svc.CreateOrder(ctx, p, s.in)
		if err != nil {
			return nil, fmt.Errorf("demo order %s: %w", s.in.Reference, err)
		}
		d.orders = append(d.orders, demoOrder{s.label, o})
	}
	return d, nil
}

func (d *demoData) print(w io.Writer, url, db string) {
	fmt.Fprintf(w, "refundd demo: serving on %s (database %s)\n\n", url, db)
	fmt.Fprintf(w, "Merchant  %s  %s (app-id %d)\n  API key: %s\n", d.merchant.ID, d.merchant.Name, d.merchant.AppID, d.key)
	fmt.Fprintf(w, "  Approver key (refunds:approve, for refunds waiting for approval): %s\n", d.approverKey)
	fmt.Fprintf(w, "Merchant  %s  %s (app-id %d)\n  API key: %s\n", d.other.ID, d.other.Name, d.other.AppID, d.otherKey)
	fmt.Fprintf(w, "Partner   %s  %s, linked to %s\n  API key: %s\n\n", d.partner.ID, d.partner.Name, d.merchant.ID, d.partnerKey)
	fmt.Fprintln(w, "Orders (merchant "+d.merchant.Name+"):")
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	for _, o := range d.orders {
		fmt.Fprintf(tw, "  %s\t%s\t%s %d\t%s\n", o.order.ID, o.order.Reference, o.order.Currency, o.order.Amount, o.label)
	}
	tw.Flush()
	// The examples in README.md and docs/ use these names; docs_test.go
	// reads this line to run them.
	invoiced := d.orders[8].order
	fmt.Fprintf(w, "\nThe examples in README.md and docs/ use these shell variables:\n\n  export KEY=%s OTHER_KEY=%s APPROVER_KEY=%s PARTNER_ID=%s PARTNER_KEY=%s ORDER_ID=%s CAPTURE_ID=%s INVOICED_ORDER_ID=%s FORWARDED_ORDER_ID=%s\n",
		d.key, d.otherKey, d.approverKey, d.partner.ID, d.partnerKey, d.orders[0].order.ID, d.orders[0].order.Transactions[0].ID, invoiced.ID, d.forwarded.ID)
	auth := fmt.Sprintf("-H 'Authorization: Bearer %s'", d.key)
	first, declined, wallet := d.orders[0].order, d.orders[1].order, d.orders[5].order
	fmt.Fprintf(w, `
Try the native API (amounts are integer minor units):

  # the order
  curl -s %[1]s/v1/orders/%[3]s %[2]s

  # a partial refund of 10.00 SAR, safe to retry with the same Idempotency-Key
  curl -s -X POST %[1]s/v1/refunds %[2]s -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-refund-1' \
    -d '{"order_id":"%[3]s","amount":1000,"reason":"damaged item"}'

  # more than is left: amount_exceeds_refundable
  curl -s -X POST %[1]s/v1/refunds %[2]s -H 'Content-Type: application/json' \
    -d '{"order_id":"%[3]s","amount":99999999}'

  # a declined refund (card 0051): status failed, failure_code 51, reservation released
  curl -s -X POST %[1]s/v1/refunds %[2]s -H 'Content-Type: application/json' -d '{"order_id":"%[4]s","amount":5000}'

  # a wallet refund: processing now, succeeded after the settle delay (the worker asks again)
  curl -s -X POST %[1]s/v1/refunds %[2]s -H 'Content-Type: application/json' -d '{"order_id":"%[5]s"}'

  # a queued refund, then cancel it before the worker submits it (REFUND_ID: the id the first line answers)
  curl -s -X POST %[1]s/v1/refunds %[2]s -H 'Content-Type: application/json' -d '{"order_id":"%[3]s","amount":500,"queue":true}'
  curl -s -X POST %[1]s/v1/refunds/REFUND_ID/cancel %[2]s

  # list, filter and page
  curl -s '%[1]s/v1/refunds?order_id=%[3]s&limit=2' %[2]s
  curl -s '%[1]s/v1/orders?reference=ORD-1001' %[2]s

  # the refund's history, and a forced status check (REFUND_ID as above)
  curl -s %[1]s/v1/refunds/REFUND_ID/transitions %[2]s
  curl -s -X POST %[1]s/v1/refunds/REFUND_ID/sync %[2]s

  # another merchant's key sees nothing of this merchant: 404
  curl -s %[1]s/v1/orders/%[3]s -H 'Authorization: Bearer %[6]s'
`, url, auth, first.ID, declined.ID, wallet.ID, d.otherKey)
	for _, section := range demoSections {
		section(w, url, d)
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
}

// demoSections print the curl lines of each further surface (one per
// dialect, registered from that surface's own file) after the native ones.
// Every printed curl line must work: TestDemo_CurlLinesWork runs them all.
var demoSections []func(w io.Writer, url string, d *demoData)

// order returns the demo order with the given reference.
func (d *demoData) order(reference string) *refund.Order {
	for _, o := range d.orders {
		if o.order.Reference == reference {
			return o.order
		}
	}
	panic("demo: no order " + reference)
}
