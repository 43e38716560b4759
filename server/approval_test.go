package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// TestApprovals_ThroughTheServer is the maker-checker flow over HTTP: a
// policy set with PUT /v1/refund_policy; a refund at the threshold waits
// with its amount reserved; its creator's approve is 403; an approver's
// approve makes it succeed; a rejected one releases its amount; one left
// alone past the expiry cancels itself; events and audit name each step.
func TestApprovals_ThroughTheServer(t *testing.T) {
	s := mustStart(t)
	_, approver, err := s.Service.CreateKey(context.Background(), s.mer.ID, "", []string{refund.ScopeRefundsApprove, refund.ScopeRefundsRead})
	if err != nil {
		t.Fatal(err)
	}
	pol := s.do("PUT", "/v1/refund_policy", s.key, map[string]any{"approval_threshold": map[string]any{"SAR": 5000}, "approval_expiry_seconds": 3600})
	if pol.status != 200 || pol.num("approval_threshold", "SAR") != 5000 || pol.num("approval_expiry_seconds") != 3600 {
		t.Fatalf("policy: %d %s", pol.status, pol.raw)
	}
	// Out of range, including seconds whose nanoseconds overflow int64
	// (18446744134 s wraps to 60.3 s): refused, the policy unchanged.
	for _, bad := range []any{-1, 0, 59, 2_592_001, uint64(18_446_744_134), int64(1) << 40, int64(math.MaxInt64)} {
		r := s.do("PUT", "/v1/refund_policy", s.key, map[string]any{"approval_expiry_seconds": bad})
		if r.status != http.StatusBadRequest || r.str("error", "param") != "approval_expiry_seconds" {
			t.Errorf("approval_expiry_seconds %v: %d %s, want 400 naming it", bad, r.status, r.raw)
		}
	}
	if pol := s.do("GET", "/v1/refund_policy", s.key, nil); pol.num("approval_expiry_seconds") != 3600 {
		t.Fatalf("after refused policies: %s", pol.raw)
	}
	if r := s.do("PUT", "/v1/refund_policy", approver, map[string]any{"older_than_days": 1}); r.status != http.StatusForbidden {
		t.Fatalf("a key without settings:write changed the policy: %d %s", r.status, r.raw)
	}
	order := s.mustOrder(cardOrder("4444", 20_000))
	wait := func() string {
		t.Helper()
		r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 5_000})
		if r.status != http.StatusCreated || r.str("status") != "requires_approval" {
			t.Fatalf("a refund at the threshold: %d %s", r.status, r.raw)
		}
		// It says until when it can be approved: the policy's hour.
		if at, err := time.Parse(time.RFC3339Nano, r.str("approval_expires_at")); err != nil || !at.Equal(s.clock.Now().Add(time.Hour)) {
			t.Fatalf("approval_expires_at %q, want an hour from now (%v): %s", r.str("approval_expires_at"), s.clock.Now(), r.raw)
		}
		return r.str("id")
	}
	orderNow := func() reply { return s.do("GET", "/v1/orders/"+order, s.key, nil) }

	first := wait()
	if o := orderNow(); o.num("pending_refund_amount") != 5_000 || o.num("refundable_amount") != 15_000 {
		t.Fatalf("waiting, not reserved: %s", o.raw)
	}
	if r := s.do("POST", "/v1/refunds/"+first+"/approve", s.key, nil); r.status != http.StatusForbidden || r.str("error", "code") != "forbidden" {
		t.Fatalf("the creator approved: %d %s", r.status, r.raw)
	}
	if r := s.do("POST", "/v1/refunds/"+first+"/approve", approver, nil); r.status != 200 || r.str("status") != "succeeded" ||
		!strings.Contains(r.raw, `"approval_expires_at":null`) {
		t.Fatalf("approve: %d %s", r.status, r.raw)
	}
	second := wait()
	if r := s.do("POST", "/v1/refunds/"+second+"/reject", approver, map[string]any{"reason": "duplicate request"}); r.status != 200 || r.str("status") != "canceled" ||
		r.str("failure_code") != "rejected" || r.str("failure_message") != "duplicate request" {
		// Why it was canceled is the refund's to say, not only its history's.
		t.Fatalf("reject: %d %s", r.status, r.raw)
	}
	third := wait()
	if o := orderNow(); o.num("refunded_amount") != 5_000 || o.num("pending_refund_amount") != 5_000 {
		t.Fatalf("after approve and reject: %s", o.raw)
	}
	s.clock.Advance(59 * time.Minute)
	s.Worker.RunOnce(context.Background())
	if r := s.do("GET", "/v1/refunds/"+third, s.key, nil); r.str("status") != "requires_approval" {
		t.Fatalf("before the expiry: %s", r.raw)
	}
	s.clock.Advance(2 * time.Minute)
	s.Worker.RunOnce(context.Background())
	if r := s.do("GET", "/v1/refunds/"+third, s.key, nil); r.str("status") != "canceled" || r.str("failure_code") != "approval_expired" {
		t.Fatalf("after the expiry: %s", r.raw)
	}
	if o := orderNow(); o.num("refunded_amount") != 5_000 || o.num("pending_refund_amount") != 0 || o.num("refundable_amount") != 15_000 {
		t.Fatalf("at the end: %s", o.raw)
	}
	expired := s.do("GET", "/v1/audit?object_id="+third, s.key, nil)
	if !strings.Contains(expired.raw, `"action":"refund.approval_expired"`) || !strings.Contains(expired.raw, `"actor":"refundd"`) {
		t.Fatalf("audit of the expiry: %s", expired.raw)
	}
	// The order's earlier refunds count: a small one now waits too, so
	// splitting a refund does not get past the threshold.
	if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100}); r.str("status") != "requires_approval" {
		t.Fatalf("a small refund after a large one: %s", r.raw)
	}
	// A refund below the threshold on a fresh order goes straight through.
	fresh := s.mustOrder(cardOrder("4444", 20_000))
	if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": fresh, "amount": 4_999}); r.str("status") != "succeeded" {
		t.Fatalf("below the threshold: %s", r.raw)
	}
	for _, typ := range []string{"refund.requires_approval", "refund.approved", "refund.rejected"} {
		r := s.do("GET", "/v1/events?type="+typ, s.key, nil)
		if len(r.get("data").([]any)) == 0 {
			t.Fatalf("no %s event", typ)
		}
		// The refund waiting says until when; once decided, no deadline;
		// each as the document's Event schema says.
		for _, ev := range r.get("data").([]any) {
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			validWebhook(t, b)
			data := ev.(map[string]any)["data"].(map[string]any)
			if _, has := data["approval_expires_at"]; has != (typ == "refund.requires_approval") {
				t.Fatalf("%s event with approval_expires_at %v: %s", typ, has, r.raw)
			}
			// Rejected by a person, or by nobody in time: the event says which.
			if code, _ := data["failure_code"].(string); typ == "refund.rejected" && code != "rejected" && code != "approval_expired" {
				t.Fatalf("%s event with failure_code %q: %s", typ, code, r.raw)
			}
		}
	}
	audit := s.do("GET", "/v1/audit?object_id="+first, s.key, nil)
	actions := map[string]bool{}
	for _, e := range audit.get("data").([]any) {
		actions[e.(map[string]any)["action"].(string)] = true
	}
	if !actions["refund.create"] || !actions["refund.approve"] {
		t.Fatalf("audit of the approved refund: %v", actions)
	}
}

// TestApprovals_EverySurface: a refund over the threshold made through any
// surface waits for approval and each surface answers with its closest
// pending shape (docs/native-api.md lists them).
func TestApprovals_EverySurface(t *testing.T) {
	s := mustStart(t)
	m := newMatrix(t, s)
	app := fmt.Sprint(s.mer.AppID)
	if r := s.do("PUT", "/v1/refund_policy", s.key, map[string]any{"approval_threshold": map[string]any{"SAR": 100}}); r.status != 200 {
		t.Fatalf("policy: %d %s", r.status, r.raw)
	}
	for _, tc := range []struct {
		surface, path string
		body          any
		auth          string
		headers       []string
		check         func(r reply) bool
	}{
		{"native", "/v1/refunds", map[string]any{"amount": 500}, s.key, nil, func(r reply) bool { return r.str("status") == "requires_approval" }},
		{"gateway", "/v1/orders/ORDER/refund", map[string]any{"amount": 500}, s.key, nil, func(r reply) bool { return r.num("refunded_amount") == 0 }},
		{"sgate", "/orders/ORDER/refunds", map[string]any{"amount": "5.00", "reason": "x"}, s.key, nil, func(r reply) bool { return r.str("status") == "pending" }},
		{"upayments", "/api/v1/create-refund", map[string]any{"orderId": "ORDER", "totalPrice": "5.00"}, s.key, nil,
			func(r reply) bool { return r.get("status") == true && strings.Contains(r.str("message"), "approval") }},
		{"paylink", "/rest/partner/v2/merchant/cr/" + s.mer.CR + "/refund", map[string]any{"orderNumber": "ORDER", "refundReason": "x"}, "",
			[]string{"Authorization", m.partnerToken.header}, func(r reply) bool { return r.str("orderNumber") != "" }},
		{"techrar", "TECHRAR", `{"comments":"x","refunded_items":[{"id":LINE,"qty":1}]}`, s.key, []string{"app-id", app},
			func(r reply) bool { return r.get("transactions").([]any)[0].(map[string]any)["status"] == "pending" }},
	} {
		t.Run(tc.surface, func(t *testing.T) {
			id := s.mustOrder(invoicedOrder("ORD-AP-" + tc.surface))
			path := strings.ReplaceAll(tc.path, "ORDER", id)
			body := tc.body
			if m, ok := body.(map[string]any); ok {
				for k, v := range m {
					if v == "ORDER" {
						m[k] = id
					}
				}
				if tc.surface == "native" {
					m["order_id"] = id
				}
			}
			if tc.surface == "techrar" {
				tax := s.invoiceOf("type=invoice&order_id=" + id)
				path = fmt.Sprintf("/order/v1/merchant/invoices/%s/refund/", tax.str("id"))
				line := toNum(tax.get("lines").([]any)[0].(map[string]any)["id"])
				body = strings.Replace(tc.body.(string), "LINE", fmt.Sprint(line), 1)
			}
			r := s.do("POST", path, tc.auth, body, tc.headers...)
			if r.status >= 300 || !tc.check(r) {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			list := s.do("GET", "/v1/refunds?order_id="+id, s.key, nil)
			data := list.get("data").([]any)
			if len(data) != 1 || data[0].(map[string]any)["status"] != "requires_approval" {
				t.Fatalf("the refund: %s", list.raw)
			}
		})
	}
}

// TestApprovals_NoDecisionAfterTheDeadline: once a refund's
// approval_expires_at has passed, nobody decides on it any more, whether
// they approve or reject: both answer 409 and the worker cancels it as
// expired, with failure code approval_expired, one refund.rejected event
// and the expiry, not a person, in the audit trail.
func TestApprovals_NoDecisionAfterTheDeadline(t *testing.T) {
	for _, tc := range []struct {
		name, action string
		body         any
	}{
		{"Approve", "approve", nil},
		{"Reject", "reject", map[string]any{"reason": "too late"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStart(t)
			_, approver, err := s.Service.CreateKey(context.Background(), s.mer.ID, "", []string{refund.ScopeRefundsApprove, refund.ScopeRefundsRead})
			if err != nil {
				t.Fatal(err)
			}
			if r := s.do("PUT", "/v1/refund_policy", s.key, map[string]any{"approval_threshold": map[string]any{"SAR": 5000}, "approval_expiry_seconds": 3600}); r.status != 200 {
				t.Fatalf("policy: %d %s", r.status, r.raw)
			}
			order := s.mustOrder(cardOrder("4444", 20_000))
			r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 6_000})
			if r.str("status") != "requires_approval" {
				t.Fatalf("refund: %d %s", r.status, r.raw)
			}
			id := r.str("id")
			s.clock.Advance(time.Hour) // exactly at approval_expires_at
			late := s.do("POST", "/v1/refunds/"+id+"/"+tc.action, approver, tc.body)
			expectError(t, late, http.StatusConflict, "refund_not_awaiting_approval")
			s.runWorker(time.Second)
			got := s.do("GET", "/v1/refunds/"+id, s.key, nil)
			if got.str("status") != "canceled" || got.str("failure_code") != "approval_expired" {
				t.Fatalf("after the deadline: %s", got.raw)
			}
			if o := s.do("GET", "/v1/orders/"+order, s.key, nil); o.num("pending_refund_amount") != 0 || o.num("refundable_amount") != 20_000 {
				t.Fatalf("the reservation: %s", o.raw)
			}
			for typ, want := range map[string]int{"refund.rejected": 1, "refund.canceled": 1, "refund.approved": 0} {
				if ev := s.do("GET", "/v1/events?refund_id="+id+"&type="+typ, s.key, nil); len(ev.get("data").([]any)) != want {
					t.Errorf("%s events: %s, want %d", typ, ev.raw, want)
				}
			}
			audit := s.do("GET", "/v1/audit?object_id="+id, s.key, nil)
			if !strings.Contains(audit.raw, `"action":"refund.approval_expired"`) || strings.Contains(audit.raw, `"action":"refund.reject"`) ||
				strings.Contains(audit.raw, `"action":"refund.approve"`) {
				t.Fatalf("audit: %s", audit.raw)
			}
		})
	}
}
