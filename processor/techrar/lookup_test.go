package techrar_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/techrar"
)

// TestStatusOf_OnlyTheTaxInvoiceProvesNotFound: a lookup by key answers
// ErrNotFound, "never executed", when the tax invoice's refund invoices
// do not hold the refund's marker. Only the tax invoice asked for, with
// its list of refunds, can show that; a 200 that is no such invoice ({},
// null, another invoice, one without its refunds) says nothing.
func TestStatusOf_OnlyTheTaxInvoiceProvesNotFound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		body     string
		notFound bool
	}{
		{"NoRefunds", `{"id":603,"type":"invoice","refunds":[]}`, true},
		{"EmptyObject", `{}`, false},
		{"Null", `null`, false},
		{"AnotherInvoice", `{"id":604,"type":"invoice","refunds":[]}`, false},
		{"RefundsNull", `{"id":603,"type":"invoice","refunds":null}`, false},
		{"RefundsAbsent", `{"id":603,"type":"invoice"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != "GET" || r.URL.Path != "/order/v1/merchant/invoices/603/" {
					w.WriteHeader(http.StatusTeapot)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			wantLookup(t, srv.URL, tc.body, tc.notFound)
		})
	}
}

// TestStatusOf_OnlyTheRefundInvoicesProveNotFound: the lookup by key reads
// each refund invoice the tax invoice lists for the refund's marker. An
// answer that is not that refund invoice ({}, null, another invoice) does
// not show its refund_reason, so the refund may be that one: unknown,
// never "not found".
func TestStatusOf_OnlyTheRefundInvoicesProveNotFound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		body     string
		notFound bool
	}{
		{"AnotherRefund", `{"id":700,"type":"refund","refund_reason":"first refund [refundd re_9]"}`, true},
		{"NoReason", `{"id":700,"type":"refund","refund_reason":null}`, true},
		{"EmptyObject", `{}`, false},
		{"Null", `null`, false},
		{"AnotherInvoice", `{"id":701,"type":"refund","refund_reason":"first refund [refundd re_9]"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/order/v1/merchant/invoices/603/":
					_, _ = w.Write([]byte(`{"id":603,"type":"invoice","refunds":[{"id":700}]}`))
				case "/order/v1/merchant/invoices/700/":
					_, _ = w.Write([]byte(tc.body))
				default:
					w.WriteHeader(http.StatusTeapot)
				}
			}))
			t.Cleanup(srv.Close)
			wantLookup(t, srv.URL, tc.body, tc.notFound)
		})
	}
}

// wantLookup looks refund re_1 of tax invoice 603 up by key at url, and
// fails t unless the answer is ErrNotFound (notFound) or an unknown
// outcome; body is the answer under test, for the message.
func wantLookup(t *testing.T, url, body string, notFound bool) {
	t.Helper()
	c, err := techrar.New(processor.Account{URL: url, Credential: "tok-1", Options: map[string]string{techrar.OptAppID: "86"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StatusOf(context.Background(), processor.Request{IdempotencyKey: "re_1", ProcessorOrderID: "603",
		Amount: 1033, Currency: "SAR"})
	if got := errors.Is(err, processor.ErrNotFound); got != notFound {
		t.Fatalf("%s: want ErrNotFound %v, got %v", body, notFound, err)
	}
	var te *processor.TransientError
	if !notFound && (!errors.As(err, &te) || te.NotExecuted) {
		t.Fatalf("%s: want an unknown outcome, got %v", body, err)
	}
}
