package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
	"github.com/refundd/refundd/webhook"
)

func newSecret(t *testing.T) string {
	b := make([]byte, 32)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// notify sends a processor notification signed with secret ("" unsigned).
func (s *testServer) notify(secret, id string, body map[string]any) reply {
	s.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		s.t.Fatal(err)
	}
	var hdr []string
	if secret != "" {
		// Signed with the real time: the receiver allows five minutes of
		// skew against its own clock, as Standard Webhooks prescribes.
		h, err := webhook.Sign(secret, id, time.Now(), raw)
		if err != nil {
			s.t.Fatal(err)
		}
		for k := range h {
			hdr = append(hdr, k, h.Get(k))
		}
	}
	return s.do("POST", "/v1/processor/notifications", "", string(raw), hdr...)
}

// A processor webhook secret whose key is empty ("whsec_") or short is
// refused at start: with the empty key anyone could sign a refund.failed
// and release the money of a refund the processor may still execute.
func TestProcessorNotifications_WeakSecretRefusedAtStart(t *testing.T) {
	for _, secret := range []string{"whsec_", "whsec_c2VjcmV0", "whsec_?"} {
		s, err := server.Open(context.Background(), server.Config{Addr: "127.0.0.1:0",
			DB: sqlitetest.URL(t), WorkerInterval: -1, ProcessorWebhookSecret: secret})
		if err == nil {
			s.Stop(context.Background())
			t.Errorf("started with --processor-webhook-secret %q", secret)
		} else if !strings.Contains(err.Error(), "--processor-webhook-secret") {
			t.Errorf("%q: the error does not name the flag: %v", secret, err)
		}
	}
}

// Notifications from the processor move refunds and orders without any
// sync; unsigned or wrongly signed ones change nothing; repeats and
// notifications out of order change nothing.
func TestProcessorNotifications(t *testing.T) {
	secret := newSecret(t)
	s := mustStart(t, withProcessorTimeout(50*time.Millisecond), func(c *server.Config) { c.ProcessorWebhookSecret = secret })

	// A refund the processor has not answered (card 0099).
	order := s.mustOrder(cardOrder("0099", 10000))
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
	if r.status != http.StatusCreated || r.str("status") != "processing" {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	id := r.str("id")
	succeeded := map[string]any{"type": "refund.succeeded", "data": map[string]any{"idempotency_key": id, "response_code": "00", "rrn": "606000000123"}}

	for _, tc := range []struct {
		name, secret string
	}{{"unsigned", ""}, {"wrong secret", newSecret(t)}} {
		got := s.notify(tc.secret, "msg_bad", succeeded)
		expectError(t, got, http.StatusUnauthorized, "unauthorized")
	}
	if st := s.do("GET", "/v1/refunds/"+id, s.key, nil).str("status"); st != "processing" {
		t.Fatalf("a refused notification changed the refund to %s", st)
	}

	got := s.notify(secret, "msg_1", succeeded)
	if got.status != 200 || got.get("applied") != true || got.str("status") != "succeeded" {
		t.Fatalf("signed notification: %d %s", got.status, got.raw)
	}
	if st := s.do("GET", "/v1/refunds/"+id, s.key, nil).str("status"); st != "succeeded" {
		t.Fatalf("refund is %s after the notification, want succeeded", st)
	}
	// The same again, and a "failed" after it, twice: the refund stays
	// succeeded (its money may have left), and the contradiction is listed
	// once, for a person, with one event.
	failed := map[string]any{"type": "refund.failed", "data": map[string]any{"idempotency_key": id, "response_code": "05", "message": "Do not honor"}}
	for _, body := range []map[string]any{succeeded, failed, failed} {
		got = s.notify(secret, "msg_2", body)
		if got.status != 200 || got.get("applied") != false || got.str("status") != "succeeded" {
			t.Fatalf("repeat or contradicting notification: %d %s", got.status, got.raw)
		}
	}
	ds := s.do("GET", "/v1/discrepancies?kind=status_mismatch", s.key, nil).get("data").([]any)
	if len(ds) != 1 {
		t.Fatalf("a failure notified after success: %d status_mismatch discrepancies, want 1", len(ds))
	}
	if d := ds[0].(map[string]any); d["refund_id"] != id || fmt.Sprint(d["amount"]) != "4000" || !strings.Contains(fmt.Sprint(d["detail"]), "05: Do not honor") {
		t.Fatalf("the discrepancy: %v; want the refund, its amount and the processor's words", d)
	}
	if ev := s.do("GET", "/v1/events?refund_id="+id+"&type=refund.discrepancy", s.key, nil); len(ev.get("data").([]any)) != 1 {
		t.Fatalf("events of the listed failure: %s; want one refund.discrepancy", ev.raw)
	}
	if st := s.do("GET", "/v1/refunds/"+id, s.key, nil).str("status"); st != "succeeded" {
		t.Fatalf("a failure after success moved the refund to %s", st)
	}
	// The processor reverses it later.
	got = s.notify(secret, "msg_3", map[string]any{"type": "refund.reversed", "data": map[string]any{"idempotency_key": id}})
	if got.status != 200 || got.str("status") != "reversed" {
		t.Fatalf("reversal: %d %s", got.status, got.raw)
	}
	o := s.do("GET", "/v1/orders/"+order, s.key, nil)
	if o.num("refunded_amount") != 0 || o.num("pending_refund_amount") != 0 {
		t.Fatalf("order after the reversal: %s", o.raw)
	}

	// A chargeback, twice: recorded once.
	cb := map[string]any{"type": "order.charged_back", "data": map[string]any{"order_id": order, "amount": 5000, "reference": "CB-77", "reason": "fraud"}}
	for range 2 {
		if got = s.notify(secret, "msg_4", cb); got.status != 200 {
			t.Fatalf("chargeback notification: %d %s", got.status, got.raw)
		}
	}
	if o = s.do("GET", "/v1/orders/"+order, s.key, nil); o.num("charged_back_amount") != 5000 || o.num("refundable_amount") != 5000 {
		t.Fatalf("order after the chargeback: %s", o.raw)
	}
	// A void without a reference, redelivered with its webhook-id: kept once.
	void := map[string]any{"type": "order.voided", "data": map[string]any{"order_id": order, "amount": 1000}}
	for range 2 {
		if got = s.notify(secret, "msg_void", void); got.status != 200 {
			t.Fatalf("void notification: %d %s", got.status, got.raw)
		}
	}
	if o = s.do("GET", "/v1/orders/"+order, s.key, nil); o.num("voided_amount") != 1000 || o.num("refundable_amount") != 4000 {
		t.Fatalf("order after a void delivered twice: %s", o.raw)
	}

	// Unknown objects are acknowledged, not applied; malformed ones are 400.
	got = s.notify(secret, "msg_5", map[string]any{"type": "refund.succeeded", "data": map[string]any{"idempotency_key": "re_unknown"}})
	if got.status != 200 || got.get("applied") != false {
		t.Fatalf("unknown refund: %d %s", got.status, got.raw)
	}
	expectError(t, s.notify(secret, "msg_6", map[string]any{"type": "refund.teleported", "data": map[string]any{}}), http.StatusBadRequest, "invalid_request")
}

// TestProcessorNotifications_RevivalKeepsTheReferences: a refund the
// processor declined with its RRN, then reports executed in a notification
// that names no references, keeps the RRN it had: an answer that carries
// none says nothing about them, and a report naming the refund by its RRN
// alone must still find it. The revival blanked them.
func TestProcessorNotifications_RevivalKeepsTheReferences(t *testing.T) {
	secret := newSecret(t)
	s := mustStart(t, func(c *server.Config) { c.ProcessorWebhookSecret = secret })
	order := s.mustOrder(cardOrder("0051", 10_000)) // declined by the sandbox
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
	if r.status != http.StatusCreated || r.str("status") != "failed" || r.str("rrn") == "" {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	id, rrn := r.str("id"), r.str("rrn")
	got := s.notify(secret, "msg_revive", map[string]any{"type": "refund.succeeded", "data": map[string]any{"idempotency_key": id, "response_code": "00"}})
	if got.status != 200 || got.get("applied") != true || got.str("status") != "succeeded" {
		t.Fatalf("notification: %d %s", got.status, got.raw)
	}
	if got := s.do("GET", "/v1/refunds/"+id, s.key, nil); got.str("status") != "succeeded" || got.str("rrn") != rrn || got.str("response_code") != "00" {
		t.Fatalf("refund after the notification: %s; want succeeded, rrn %s, response code 00", got.raw, rrn)
	}
	rec := s.reconcile("rrn,amount,currency,status,date\n" + rrn + ",40.00,SAR,approved,2026-03-01\n")
	if res := rec.get("results").([]any)[0].(map[string]any); rec.status != 200 || res["kind"] != "matched" || res["refund_id"] != id {
		t.Fatalf("a report naming it by its RRN: %d %s", rec.status, rec.raw)
	}
}

// A refund notification that names an amount or currency other than its
// refund's is about another refund under the same key (two installations
// sending to one processor): acknowledged, never applied, so that refund's
// success cannot book this one paid. One naming the refund's own, in any
// case, is applied; a negative amount is malformed.
func TestProcessorNotifications_AnotherAmountIsAnotherRefund(t *testing.T) {
	secret := newSecret(t)
	s := mustStart(t, withProcessorTimeout(50*time.Millisecond), func(c *server.Config) { c.ProcessorWebhookSecret = secret })
	order := s.mustOrder(cardOrder("0099", 10000))
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
	if r.status != http.StatusCreated || r.str("status") != "processing" {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	id := r.str("id")
	for _, data := range []map[string]any{
		{"amount": 3999, "currency": "SAR"},
		{"amount": 4000, "currency": "KWD"},
		{"amount": 40000},
		{"currency": "USD"},
	} {
		data["idempotency_key"], data["response_code"] = id, "00"
		got := s.notify(secret, "msg_other", map[string]any{"type": "refund.succeeded", "data": data})
		if got.status != 200 || got.get("applied") != false || !strings.Contains(got.str("note"), "another amount") {
			t.Fatalf("notification naming %v: %d %s; want acknowledged, not applied", data, got.status, got.raw)
		}
		if st := s.do("GET", "/v1/refunds/"+id, s.key, nil).str("status"); st != "processing" {
			t.Fatalf("a notification naming %v made the refund %s", data, st)
		}
	}
	expectError(t, s.notify(secret, "msg_neg", map[string]any{"type": "refund.succeeded",
		"data": map[string]any{"idempotency_key": id, "amount": -4000}}), http.StatusBadRequest, "invalid_request")
	got := s.notify(secret, "msg_own", map[string]any{"type": "refund.succeeded",
		"data": map[string]any{"idempotency_key": id, "amount": 4000, "currency": "sar", "response_code": "00"}})
	if got.status != 200 || got.get("applied") != true || got.str("status") != "succeeded" {
		t.Fatalf("notification naming the refund's own amount: %d %s", got.status, got.raw)
	}
}

// Without a configured secret the route says so and accepts nothing.
func TestProcessorNotifications_NotConfigured(t *testing.T) {
	s := mustStart(t)
	expectError(t, s.notify(newSecret(t), "msg_1", map[string]any{"type": "refund.succeeded", "data": map[string]any{"idempotency_key": "re_x"}}),
		http.StatusNotFound, "not_found")
}

// A void or chargeback notification that names another currency than its
// order's is not about this order's money: 5000 fils of a KWD chargeback
// are not 50.00 SAR. It is acknowledged and not applied, as a refund
// notification naming another currency is; one naming the order's own
// currency, in any case, is applied.
func TestProcessorNotifications_OrderInAnotherCurrency(t *testing.T) {
	secret := newSecret(t)
	s := mustStart(t, func(c *server.Config) { c.ProcessorWebhookSecret = secret })
	for _, tc := range []struct {
		name, typ, currency string
		applied             bool
		field               string
	}{
		{"ChargebackInKWD", "order.charged_back", "KWD", false, "charged_back_amount"},
		{"VoidInUSD", "order.voided", "USD", false, "voided_amount"},
		{"ChargebackInSAR", "order.charged_back", "sar", true, "charged_back_amount"},
		{"VoidWithoutCurrency", "order.voided", "", true, "voided_amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order := s.mustOrder(cardOrder("4444", 10000))
			data := map[string]any{"order_id": order, "amount": 5000, "reference": "REF-" + tc.name}
			if tc.currency != "" {
				data["currency"] = tc.currency
			}
			got := s.notify(secret, "msg_"+tc.name, map[string]any{"type": tc.typ, "data": data})
			if got.status != 200 || got.get("applied") != tc.applied {
				t.Fatalf("%s in %q: %d %s; want 200, applied %v", tc.typ, tc.currency, got.status, got.raw, tc.applied)
			}
			want := int64(0)
			if tc.applied {
				want = 5000
			}
			if o := s.do("GET", "/v1/orders/"+order, s.key, nil); o.num(tc.field) != want || o.num("refundable_amount") != 10000-want {
				t.Fatalf("order after a %s in %q: %s; want %s %d", tc.typ, tc.currency, o.raw, tc.field, want)
			}
		})
	}
}

// A report row or a notification naming its refund or order by text no
// store can hold (a NUL, bytes that are not UTF-8) names nothing refundd
// has: it is refused (400 invalid_request, naming the field) on both
// stores, where SQLite answered it as unknown, recording a discrepancy
// about it, and PostgreSQL refused it.
func TestProcessorTruth_IDsNoStoreCanHold(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			secret := newSecret(t)
			s := b.start(t, func(c *server.Config) { c.ProcessorWebhookSecret = secret })
			for _, tc := range []struct {
				name, param string
				send        func() reply
			}{
				{"ReportRefundIDWithNUL", "refund_id", func() reply {
					return s.reconcile("refund_id,amount,currency,status,date\nre_\x00x,1.00,SAR,approved,2026-03-01\n")
				}},
				{"ReportARNNotUTF8", "arn", func() reply {
					return s.reconcile("arn,amount,currency,status,date\n7400\xff,1.00,SAR,approved,2026-03-01\n")
				}},
				{"ReportRRNWithNUL", "rrn", func() reply {
					return s.reconcile("rrn,amount,currency,status,date\n6341\x00,1.00,SAR,approved,2026-03-01\n")
				}},
				{"NotificationRefundWithNUL", "idempotency_key", func() reply {
					return s.notify(secret, "msg_nul_refund", map[string]any{"type": "refund.succeeded", "data": map[string]any{"idempotency_key": "re_\x00"}})
				}},
				{"NotificationOrderWithNUL", "order_id", func() reply {
					return s.notify(secret, "msg_nul_order", map[string]any{"type": "order.charged_back",
						"data": map[string]any{"order_id": "ord_\x00", "amount": 100, "reference": "CB-1"}})
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got := tc.send()
					expectError(t, got, http.StatusBadRequest, "invalid_request")
					if p := got.str("error", "param"); p != tc.param {
						t.Fatalf("param %q, want %q: %s", p, tc.param, got.raw)
					}
					if d := s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any); len(d) != 0 {
						t.Fatalf("discrepancies recorded: %v", d)
					}
				})
			}
		})
	}
}

// A refund notification's ARN or RRN of a few kB cannot be kept
// (PostgreSQL's index on each refused the row: the notification failed 500
// and the refund never moved): the refund moves as the processor says,
// without it, and a response code that long is cut.
func TestProcessorNotifications_ReferencesTooLong(t *testing.T) {
	// Hex of a hash chain: compressed, a repeated string would fit the index.
	var b strings.Builder
	sum := sha256.Sum256(nil)
	for b.Len() < 3_000 {
		sum = sha256.Sum256(sum[:])
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	long := b.String()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			secret := newSecret(t)
			s := be.start(t, withProcessorTimeout(50*time.Millisecond), func(c *server.Config) { c.ProcessorWebhookSecret = secret })
			for i, tc := range []struct {
				typ, field, status string
			}{
				{"refund.succeeded", "arn", "succeeded"},
				{"refund.succeeded", "rrn", "succeeded"},
				{"refund.failed", "response_code", "failed"},
			} {
				order := s.mustOrder(cardOrder("0099", 10000)) // the processor does not answer
				r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
				if r.status != http.StatusCreated || r.str("status") != "processing" {
					t.Fatalf("refund: %d %s", r.status, r.raw)
				}
				id := r.str("id")
				got := s.notify(secret, fmt.Sprintf("msg_long_%d", i), map[string]any{"type": tc.typ,
					"data": map[string]any{"idempotency_key": id, tc.field: long}})
				if got.status != 200 || got.get("applied") != true || got.str("status") != tc.status {
					t.Fatalf("%s with a %s of %d characters: %d %s; want 200, applied, %s", tc.typ, tc.field, len(long), got.status, got.raw, tc.status)
				}
				after := s.do("GET", "/v1/refunds/"+id, s.key, nil)
				if after.str("status") != tc.status || after.get("arn") != nil || after.get("rrn") != nil {
					t.Fatalf("refund after it: %s; want %s, no ARN or RRN", after.raw, tc.status)
				}
				if code, _ := after.get("failure_code").(string); tc.field == "response_code" && code != long[:refund.MaxReportReference] {
					t.Fatalf("failure code %q; want the first %d characters of the one sent", code, refund.MaxReportReference)
				}
			}
		})
	}
}

// A void notified larger than what the order has left (refunds returned
// the rest) was answered 422, which the sender retries until it gives up:
// the processor's void was then nowhere in refundd. It is answered 200,
// not applied, and kept: listed as a void_not_applied discrepancy with
// the order's amounts unchanged; its redelivery answers the same and
// records nothing more.
func TestProcessorNotifications_VoidThatDoesNotFit(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			secret := newSecret(t)
			s := b.start(t, func(c *server.Config) { c.ProcessorWebhookSecret = secret })
			order := s.mustOrder(cardOrder("4444", 10000))
			if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 8000}); r.status != http.StatusCreated || r.str("status") != "succeeded" {
				t.Fatalf("refund: %d %s", r.status, r.raw)
			}
			void := map[string]any{"type": "order.voided", "data": map[string]any{"order_id": order, "amount": 5000, "reference": "VD-1"}}
			for range 2 {
				got := s.notify(secret, "msg_void", void)
				if got.status != 200 || got.get("applied") != true || !strings.Contains(got.str("note"), "void_not_applied") {
					t.Fatalf("void that does not fit: %d %s; want 200, applied up to what was free, the rest a discrepancy", got.status, got.raw)
				}
			}
			if o := s.do("GET", "/v1/orders/"+order, s.key, nil); o.num("voided_amount") != 2000 || o.num("refundable_amount") != 0 {
				t.Fatalf("order after the void: %s; want the 2000 free voided, nothing refundable", o.raw)
			}
			d := s.do("GET", "/v1/discrepancies?kind=void_not_applied", s.key, nil)
			data, _ := d.get("data").([]any)
			if d.status != 200 || len(data) != 1 {
				t.Fatalf("discrepancies: %d %s; want one void_not_applied", d.status, d.raw)
			}
			if dd := data[0].(map[string]any); dd["order_id"] != order || fmt.Sprint(dd["amount"]) != "3000" {
				t.Fatalf("discrepancy %v; want the 3000 of the order's void that did not fit", dd)
			}
		})
	}
}

// TestProcessorNotifications_AdjustmentAgainWithAnotherAmount: a chargeback
// notified again under its reference with another amount was answered 409,
// retried by the sender until it gave up; it is answered 200, not applied,
// and the new amount is listed as a discrepancy.
func TestProcessorNotifications_AdjustmentAgainWithAnotherAmount(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			secret := newSecret(t)
			s := b.start(t, func(c *server.Config) { c.ProcessorWebhookSecret = secret })
			order := s.mustOrder(cardOrder("4444", 10000))
			cb := func(amount int) map[string]any {
				return map[string]any{"type": "order.charged_back", "data": map[string]any{"order_id": order, "amount": amount, "reference": "CB-1"}}
			}
			if got := s.notify(secret, "msg_cb1", cb(3000)); got.status != 200 || got.get("applied") != true {
				t.Fatalf("chargeback: %d %s", got.status, got.raw)
			}
			got := s.notify(secret, "msg_cb2", cb(2000))
			if got.status != 200 || got.get("applied") != false || !strings.Contains(got.str("note"), "adjustment_amount_changed") {
				t.Fatalf("the chargeback again with another amount: %d %s; want 200, not applied, kept as a discrepancy", got.status, got.raw)
			}
			if o := s.do("GET", "/v1/orders/"+order, s.key, nil); o.num("charged_back_amount") != 3000 {
				t.Fatalf("order after it: %s; want 3000 charged back, as first heard", o.raw)
			}
			d := s.do("GET", "/v1/discrepancies?kind=adjustment_amount_changed", s.key, nil)
			if data, _ := d.get("data").([]any); d.status != 200 || len(data) != 1 {
				t.Fatalf("discrepancies: %d %s; want one adjustment_amount_changed", d.status, d.raw)
			}
		})
	}
}

// TestProcessorNotifications_VoidTakesTheRoomACanceledRefundGivesBack: the
// processor notifies a void of the whole order while a queued refund of
// 60.00 holds its room: 40.00 is applied and 60.00 listed as
// void_not_applied. The merchant then cancels the refund. Its room was
// free to refund again, though the processor says it voided that money;
// the void now takes it (order.void_applied), the discrepancy goes to
// zero, and a new refund is refused.
func TestProcessorNotifications_VoidTakesTheRoomACanceledRefundGivesBack(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			secret := newSecret(t)
			s := b.start(t, func(c *server.Config) { c.ProcessorWebhookSecret = secret })
			order := s.mustOrder(cardOrder("4444", 10000))
			r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 6000, "queue": true})
			if r.status != http.StatusCreated || r.str("status") != "pending" {
				t.Fatalf("queued refund: %d %s", r.status, r.raw)
			}
			void := map[string]any{"type": "order.voided", "data": map[string]any{"order_id": order, "amount": 10000, "reference": "VD-1"}}
			if got := s.notify(secret, "msg_void", void); got.status != 200 || got.get("applied") != true {
				t.Fatalf("the void: %d %s", got.status, got.raw)
			}
			if c := s.do("POST", "/v1/refunds/"+r.str("id")+"/cancel", s.key, nil); c.status != 200 || c.str("status") != "canceled" {
				t.Fatalf("cancel: %d %s", c.status, c.raw)
			}
			if o := s.do("GET", "/v1/orders/"+order, s.key, nil); o.num("voided_amount") != 10000 || o.num("refundable_amount") != 0 {
				t.Fatalf("order after the cancel: %s; want all 10000 voided, nothing refundable", o.raw)
			}
			expectError(t, s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 1}),
				http.StatusUnprocessableEntity, "amount_exceeds_refundable")
			d := s.do("GET", "/v1/discrepancies?kind=void_not_applied", s.key, nil)
			if data, _ := d.get("data").([]any); d.status != 200 || len(data) != 1 || fmt.Sprint(data[0].(map[string]any)["amount"]) != "0" {
				t.Fatalf("discrepancies: %d %s; want the void's, down to 0", d.status, d.raw)
			}
			if e := s.do("GET", "/v1/events?type=order.void_applied", s.key, nil); len(e.get("data").([]any)) != 1 {
				t.Fatalf("order.void_applied events: %s; want one", e.raw)
			}
		})
	}
}
