package server_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// TestWebhooks_EndpointChangedWhileRetrying: an event whose first attempt
// failed is still pending when the merchant changes the endpoint. A
// disabled endpoint receives nothing more, and a moved one receives its
// retries at its new URL, never at the URL the merchant took away.
func TestWebhooks_EndpointChangedWhileRetrying(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		change           func(newURL string) map[string]any
		then             map[string]any // a second change, during the wait
		wantOld, wantNew int            // requests after the change
		wantError        string         // the log's last entry, for an event not sent
	}{
		{"Disabled", func(string) map[string]any { return map[string]any{"disabled": true} }, nil, 0, 0, "not sent: the endpoint is disabled"},
		// Turned back on during the retry wait: what the disable stopped
		// stays stopped (the merchant was told it failed).
		{"DisabledThenEnabled", func(string) map[string]any { return map[string]any{"disabled": true} }, map[string]any{"disabled": false}, 0, 0,
			"not sent: the endpoint is disabled"},
		// The merchant no longer wants refund.succeeded there: its
		// queued retries are not sent either.
		{"EventTypeDropped", func(string) map[string]any { return map[string]any{"events": []string{"refund.failed"}} }, nil, 0, 0,
			"not sent: the endpoint no longer subscribes to refund.succeeded"},
		{"URLChanged", func(u string) map[string]any { return map[string]any{"url": u + "/hooks"} }, nil, 0, 1, ""},
	} {
		for _, db := range []string{"sqlite", "postgres"} {
			t.Run(tc.name+"/"+db, func(t *testing.T) {
				t.Parallel()
				opts := []serverOpt{withWebhooks(time.Minute, time.Minute, time.Minute)}
				if db == "postgres" {
					opts = append(opts, onDB(pgSchema(t, 4)))
				}
				s := mustStart(t, opts...)
				old := newReceiver(t, 500)
				moved := newReceiver(t, 200)
				ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": old.URL + "/hooks", "events": []string{"refund.succeeded"}})
				if ep.status != http.StatusCreated {
					t.Fatalf("create endpoint: %d %s", ep.status, ep.raw)
				}
				if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("4444", 10_000)), "amount": 100}); r.str("status") != "succeeded" {
					t.Fatalf("refund: %s", r.raw)
				}
				s.deliver() // attempt 1: 500
				if n := len(old.requests()); n != 1 {
					t.Fatalf("old URL got %d requests before the change, want 1", n)
				}
				if up := s.do("PATCH", "/v1/webhook_endpoints/"+ep.str("id"), s.key, tc.change(moved.URL)); up.status != 200 {
					t.Fatalf("update endpoint: %d %s", up.status, up.raw)
				}
				if tc.then != nil {
					if up := s.do("PATCH", "/v1/webhook_endpoints/"+ep.str("id"), s.key, tc.then); up.status != 200 {
						t.Fatalf("update endpoint again: %d %s", up.status, up.raw)
					}
				}
				for range 4 {
					s.clock.Advance(2 * time.Minute)
					s.deliver()
				}
				if got := len(old.requests()) - 1; got != tc.wantOld {
					t.Errorf("after the change the old URL got %d more requests, want %d", got, tc.wantOld)
				}
				if got := len(moved.requests()); got != tc.wantNew {
					t.Errorf("after the change the new URL got %d requests, want %d", got, tc.wantNew)
				}
				// The log says why the event stopped, or where it went.
				log := s.do("GET", "/v1/webhook_endpoints/"+ep.str("id")+"/deliveries", s.key, nil).get("data").([]any)
				last := log[0].(map[string]any)
				switch {
				case tc.wantError != "":
					if last["error"] != tc.wantError || last["status_code"] != nil || last["next_retry_at"] != nil || len(log) != 2 {
						t.Errorf("delivery log after the change: %v", log)
					}
				default:
					if last["url"] != moved.URL+"/hooks" || fmt.Sprint(last["status_code"]) != "200" {
						t.Errorf("delivery log after moving: %v", log)
					}
				}
			})
		}
	}
}

// TestWebhooks_URLWithoutHostRefused: "http://:8080/x" has a port but no
// host name; Go dials it as the node itself. It is no receiver's address,
// and is refused with a 400 naming the field, creating nothing.
func TestWebhooks_URLWithoutHostRefused(t *testing.T) {
	t.Parallel()
	s := mustStart(t) // private targets refused, as in production
	order := s.mustOrder(cardOrder("4444", 10_000))
	for _, tc := range []struct {
		name, path string
		body       map[string]any
		param      string
	}{
		{"Endpoint", "/v1/webhook_endpoints", map[string]any{"url": "http://:8080/hooks"}, "url"},
		{"EndpointHTTPS", "/v1/webhook_endpoints", map[string]any{"url": "https://:443/hooks"}, "url"},
		{"NotifyURL", "/v1/refunds", map[string]any{"order_id": order, "amount": 1, "notify_url": "http://:8080/n"}, "notify_url"},
		{"PortTooLarge", "/v1/webhook_endpoints", map[string]any{"url": "https://hooks.example.com:99999/x"}, "url"},
		{"PortZero", "/v1/webhook_endpoints", map[string]any{"url": "https://hooks.example.com:0/x"}, "url"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantTargetRefused(t, s, tc.path, tc.body, tc.param) })
	}
	wantNothingCreated(t, s, order)
}

// TestWebhooks_LocalhostNamesRefusedInAnySpelling: a name under
// localhost is loopback (RFC 6761) whatever this node's resolver says,
// and DNS names are case-insensitive with an optional final dot.
// "http://api.localhost/x" was refused but "http://Api.LocalHost/x",
// "http://localhost./x" and "http://api.localhost./x" were registered
// (on a node whose resolver did not answer for them), though each names
// the receiver's own machine.
func TestWebhooks_LocalhostNamesRefusedInAnySpelling(t *testing.T) {
	t.Parallel()
	s := mustStart(t) // private targets refused, as in production
	order := s.mustOrder(cardOrder("4444", 10_000))
	for _, tc := range []struct {
		name, path string
		body       map[string]any
		param      string
	}{
		{"MixedCase", "/v1/webhook_endpoints", map[string]any{"url": "http://Api.LocalHost/x"}, "url"},
		{"UpperCase", "/v1/webhook_endpoints", map[string]any{"url": "http://HOOKS.LOCALHOST:8080/x"}, "url"},
		{"FinalDot", "/v1/webhook_endpoints", map[string]any{"url": "http://localhost./x"}, "url"},
		{"SubdomainFinalDot", "/v1/webhook_endpoints", map[string]any{"url": "http://api.localhost./x"}, "url"},
		{"NotifyURL", "/v1/refunds", map[string]any{"order_id": order, "amount": 1, "notify_url": "http://Api.LocalHost/n"}, "notify_url"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantTargetRefused(t, s, tc.path, tc.body, tc.param) })
	}
	wantNothingCreated(t, s, order)
}

// TestWebhooks_EndpointCapUnderConcurrentCreates: a merchant has at most
// refund.MaxWebhookEndpoints endpoints (each event fans out to all of them
// in the refund's transaction). Created at once on PostgreSQL, each
// request counted the endpoints before the others inserted theirs, and
// the merchant ended with more; the ones past the cap must be refused
// with a 400, as one at a time.
func TestWebhooks_EndpointCapUnderConcurrentCreates(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(), onDB(pgSchema(t, 16)))
	// The race needs two creates in two transactions around the 16th
	// endpoint; a few rounds make it near certain without the lock.
	for round := range 5 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for range 40 {
			wg.Go(func() {
				r := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": "https://hooks.example.com/x"})
				mu.Lock()
				defer mu.Unlock()
				if r.status == http.StatusCreated {
					created++
				} else if r.status != http.StatusBadRequest {
					t.Errorf("create: %d %s", r.status, r.raw)
				}
			})
		}
		wg.Wait()
		eps := s.do("GET", "/v1/webhook_endpoints", s.key, nil).get("data").([]any)
		if len(eps) != refund.MaxWebhookEndpoints || created != refund.MaxWebhookEndpoints {
			t.Fatalf("round %d: %d endpoints (%d answered 201) after 40 concurrent creates; the cap is %d", round, len(eps), created, refund.MaxWebhookEndpoints)
		}
		for _, e := range eps {
			id := e.(map[string]any)["id"].(string)
			if r := s.do("DELETE", "/v1/webhook_endpoints/"+id, s.key, nil); r.status >= 300 {
				t.Fatalf("delete %s: %d %s", id, r.status, r.raw)
			}
		}
	}
}

// wantTargetRefused posts body to path and fails t unless the receiver
// address in it is refused: 400 invalid_request naming param.
func wantTargetRefused(t *testing.T, s *testServer, path string, body map[string]any, param string) {
	t.Helper()
	r := s.do("POST", path, s.key, body)
	expectError(t, r, 400, "invalid_request")
	if r.str("error", "param") != param {
		t.Fatalf("param: want %q, got %s", param, r.raw)
	}
}

// wantNothingCreated fails t if refused requests left a webhook endpoint,
// or a refund of order.
func wantNothingCreated(t *testing.T, s *testServer, order string) {
	t.Helper()
	if l := s.do("GET", "/v1/webhook_endpoints", s.key, nil); len(l.get("data").([]any)) != 0 {
		t.Fatalf("refused requests created endpoints: %s", l.raw)
	}
	if l := s.do("GET", "/v1/refunds?order_id="+order, s.key, nil); len(l.get("data").([]any)) != 0 {
		t.Fatalf("a refused refund was created: %s", l.raw)
	}
}

// TestWebhooks_GoneDisablesTheEndpoint: a receiver answering 410 Gone says
// the endpoint is no more (Standard Webhooks asks senders to disable it,
// as common senders do). The endpoint is disabled at once, that delivery
// is not retried and its other pending deliveries fail, so nothing more
// goes to it, re-enabled or not, for what it refused; a notify URL
// answering 410 is not retried.
func TestWebhooks_GoneDisablesTheEndpoint(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			opts := []serverOpt{withWebhooks(time.Minute, time.Minute, time.Minute)}
			if db == "postgres" {
				opts = append(opts, onDB(pgSchema(t, 4)))
			}
			s := mustStart(t, opts...)
			rc := newReceiver(t, 500, 410)
			ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": rc.URL + "/hooks", "events": []string{"refund.succeeded"}})
			if ep.status != http.StatusCreated {
				t.Fatalf("create endpoint: %d %s", ep.status, ep.raw)
			}
			id := ep.str("id")
			s.paidRefund(s.key)
			s.deliver() // the first refund.succeeded: 500, retried in a minute
			s.paidRefund(s.key)
			s.deliver() // the second: 410 Gone
			if n := len(rc.requests()); n != 2 {
				t.Fatalf("the receiver got %d requests, want 2", n)
			}
			if got := s.do("GET", "/v1/webhook_endpoints/"+id, s.key, nil); got.get("disabled") != true {
				t.Fatalf("after 410 Gone the endpoint is %s, want disabled", got.raw)
			}
			// Turned back on, it gets new events, never what it refused.
			if up := s.do("PATCH", "/v1/webhook_endpoints/"+id, s.key, map[string]any{"disabled": false}); up.status != 200 {
				t.Fatalf("enable: %s", up.raw)
			}
			for range 4 {
				s.clock.Advance(2 * time.Minute)
				s.deliver()
			}
			if n := len(rc.requests()); n != 2 {
				t.Fatalf("after 410 Gone the receiver got %d more requests, want none", n-2)
			}
			log := s.do("GET", "/v1/webhook_endpoints/"+id+"/deliveries", s.key, nil).get("data").([]any)
			if len(log) != 3 {
				t.Fatalf("delivery log: %v, want 3 entries", log)
			}
			first, gone := log[0].(map[string]any), log[1].(map[string]any)
			if fmt.Sprint(gone["status_code"]) != "410" || gone["next_retry_at"] != nil {
				t.Errorf("the 410 attempt promises a retry: %v", gone)
			}
			if first["error"] != "not sent: the endpoint is disabled" || first["status_code"] != nil {
				t.Errorf("the first event's pending delivery: %v, want failed as disabled", first)
			}

			// A notify URL that is gone is not retried.
			notify := newReceiver(t, 410)
			o := s.mustOrder(cardOrder("4444", 10_000))
			if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": o, "amount": 100, "notify_url": notify.URL}); r.str("status") != "succeeded" {
				t.Fatalf("refund: %s", r.raw)
			}
			for range 3 {
				s.deliver()
				s.clock.Advance(2 * time.Minute)
			}
			if n := len(notify.requests()); n != 1 {
				t.Fatalf("the gone notify URL got %d requests, want 1", n)
			}
		})
	}
}

// TestWebhooks_EventsEmptyRefused: "events": [] read as every event (as a
// left-out events is on create), so a merchant emptying the list to stop
// deliveries got every event instead. An empty list is refused; ["*"]
// says every event, disabled stops them.
func TestWebhooks_EventsEmptyRefused(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(time.Minute))
	rc := newReceiver(t, 200)
	created := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": rc.URL, "events": []string{}})
	expectError(t, created, 400, "invalid_request")
	if created.str("error", "param") != "events" {
		t.Fatalf("param: %s", created.raw)
	}
	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": rc.URL, "events": []string{"refund.failed"}})
	if ep.status != http.StatusCreated {
		t.Fatalf("create: %s", ep.raw)
	}
	up := s.do("PATCH", "/v1/webhook_endpoints/"+ep.str("id"), s.key, map[string]any{"events": []string{}})
	expectError(t, up, 400, "invalid_request")
	if got := s.do("GET", "/v1/webhook_endpoints/"+ep.str("id"), s.key, nil); fmt.Sprint(got.get("events")) != "[refund.failed]" {
		t.Fatalf("after the refused update: %s", got.raw)
	}
	for _, body := range []map[string]any{{"url": rc.URL}, {"url": rc.URL, "events": []string{"*"}}} {
		if all := s.do("POST", "/v1/webhook_endpoints", s.key, body); all.status != 201 || fmt.Sprint(all.get("events")) != "[*]" {
			t.Fatalf("%v: %s, want every event", body, all.raw)
		}
	}
}
