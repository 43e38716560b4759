package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/vault"
)

// demoSecretKey gives the demo a secret key for processor credentials when
// none is configured: a key file beside its database, made on first run.
func demoSecretKey(cfg *server.Config, db string) error {
	if cfg.SecretKey != "" || cfg.SecretKeyFile != "" {
		return nil
	}
	path := "refundd-demo.secret-key"
	if p, ok := strings.CutPrefix(db, "sqlite:"); ok {
		path = p + ".secret-key"
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		k, err := vault.NewKey()
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(k), 0o600); err != nil {
			return err
		}
	}
	cfg.SecretKeyFile = path
	return nil
}

// seedForwarding makes the second merchant's refunds of one order go to
// another processor: a Paylink account whose API is this very node's
// Paylink surface, where the first merchant holds the payment
// (ORD-FWD-7001) and the demo partner acts for it. A refund asked of the
// second merchant is forwarded there as a client.
func (d *demoData) seedForwarding(ctx context.Context, svc *refund.Service, url string) error {
	p, err := svc.Authenticate(ctx, d.key)
	if err != nil {
		return err
	}
	cust := refund.Customer{Name: "Fahad Al-Sabah", Email: "fahad@example.com", Mobile: "+96555512345"}
	at, err := svc.CreateOrder(ctx, p, refund.OrderInput{Reference: "ORD-FWD-7001", Currency: "SAR", Amount: 18500,
		PaymentMethod: "mada", Source: refund.Card{Scheme: "mada", FirstDigits: "440647", LastDigits: "4444", Month: 12, Year: 2027}, Customer: cust})
	if err != nil {
		return err
	}
	d.processorOrder = at
	d.account, err = svc.AddProcessorAccount(ctx, d.other.ID, refund.ProcessorAccountInput{Name: "paylink-demo", Kind: "paylink",
		URL: url, Credential: d.partner.ID + ":" + d.partnerKey,
		Options: map[string]string{"merchant_key": "email", "merchant_value": d.merchant.Email, "max_in_flight": "8"}})
	if err != nil {
		return err
	}
	op, err := svc.Authenticate(ctx, d.otherKey)
	if err != nil {
		return err
	}
	d.forwarded, err = svc.CreateOrder(ctx, op, refund.OrderInput{Reference: "GG-7001", Currency: "SAR", Amount: 18500,
		PaymentMethod: "mada", Customer: cust, Processor: "paylink-demo", ProcessorOrderID: "ORD-FWD-7001"})
	return err
}

func init() {
	demoSections = append(demoSections, func(w io.Writer, url string, d *demoData) {
		fmt.Fprintf(w, `
Forward a refund to another processor (a connector): %[4]s's order %[5]s was paid through Paylink,
where it is transactionNo %[6]s of %[7]s; its refunds go to the processor account "paylink-demo"
(this node's own Paylink surface stands in for Paylink, and the demo partner for the credential):

  # the merchant's processor accounts (never their credentials)
  curl -s %[1]s/v1/processors -H 'Authorization: Bearer %[2]s'

  # refund it (Paylink refunds whole orders): refundd signs in to Paylink and calls its refund API; succeeded
  curl -s -X POST %[1]s/v1/refunds -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"order_id":"%[8]s","reason":"forwarded refund"}'

  # at the processor (as the merchant who holds the payment there): the refund, once, under that refund's id
  curl -s '%[1]s/v1/refunds?order_id=%[9]s' -H 'Authorization: Bearer %[3]s'

  # a partial refund cannot be expressed to Paylink: refused before anything is reserved (processor_unsupported)
  curl -s -X POST %[1]s/v1/refunds -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"order_id":"%[8]s","amount":100}'
`, url, d.otherKey, d.key, d.other.Name, d.forwarded.Reference, d.processorOrder.Reference, d.merchant.Name, d.forwarded.ID, d.processorOrder.ID)
	})
}
