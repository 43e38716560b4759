package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// TestUnavailableSaysWhen: a page answering 503 because this node cannot
// serve the request now sends Retry-After: 5 (refund.UnavailableRetryAfter),
// the refund form and the sign-in form as much as an error page: a refund
// of an order routed to a processor account, on a node without the secret
// key (processor_unavailable) or with another one (secret_key_unavailable),
// and a sign-in whose second factor a node without the key cannot open.
// Only the error page sent the header, and the core gave it none for
// these.
func TestUnavailableSaysWhen(t *testing.T) {
	t.Parallel()
	db := sqlitetest.URL(t)
	open := func(key string) *server.Server { return sealingNode(t, db, key) }
	keyed, keyless, otherKey := open(strings.Repeat("5f1d3c0a", 8)), open(""), open(strings.Repeat("0b", 32))
	ctx := context.Background()
	m, apiKey, err := keyed.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(sandbox.New(sandbox.Config{}), service.Faults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	acq := httptest.NewServer(svc.Handler())
	t.Cleanup(acq.Close)
	if _, err := keyed.Service.AddProcessorAccount(ctx, m.ID, refund.ProcessorAccountInput{Name: "acq", Kind: "acquirer", URL: acq.URL}); err != nil {
		t.Fatal(err)
	}
	var o struct{ ID string }
	(&env{t: t, srv: keyed}).api("POST", "/v1/orders", apiKey, `{"currency":"SAR","amount":10000,"payment_method":"card","processor":"acq",`+
		`"processor_order_id":"pay_1","source":{"scheme":"mastercard","first_digits":"555555","last_digits":"4444","month":12,"year":2027}}`,
		http.StatusCreated, &o)

	// A user whose second factor is sealed under the keyed node's key.
	const pw = "correct horse battery staple"
	u, err := keyed.Service.CreateUser(ctx, refund.UserInput{MerchantID: m.ID, Email: "ops@souq.example", Role: refund.RoleApprover, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	link, err := keyed.Service.StartTOTP(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	l, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := credential.Code(l.Query().Get("secret"), time.Now())
	if _, err := keyed.Service.ConfirmTOTP(ctx, u.ID, code); err != nil {
		t.Fatal(err)
	}

	refundOn := func(srv *server.Server) page {
		b := (&env{t: t, srv: srv}).browser()
		if p := b.signIn(apiKey); p.status != http.StatusSeeOther {
			t.Fatalf("sign in: %d %s", p.status, p.text())
		}
		_, p := b.refundForm(o.ID, "partial", url.Values{"amount": {"1"}, "reason": {"damaged"}})
		return p
	}
	tests := []struct {
		name string
		send func() page
	}{
		{"RefundOnNodeWithoutTheKey", func() page { return refundOn(keyless) }},
		{"RefundOnNodeWithAnotherKey", func() page { return refundOn(otherKey) }},
		{"SecondFactorOnNodeWithoutTheKey", func() page { return browserOn(t, keyless).userSignIn("ops@souq.example", pw, code) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p := tt.send(); p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") != "5" {
				t.Fatalf("%d (Retry-After %q) %s; want 503, Retry-After 5", p.status, p.header.Get("Retry-After"), p.text())
			}
		})
	}
}
