package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/refundd/refundd/idgen"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/webhook"
)

// receiver is a webhook receiver that answers from a script of statuses
// (the last one repeats) and keeps every request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []received
}

type received struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		status := rc.statuses[min(len(rc.got), len(rc.statuses)-1)]
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body, status: status})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func withWebhooks(schedule ...time.Duration) serverOpt {
	return func(c *server.Config) {
		c.WebhookAllowPrivate = true
		c.WebhookSchedule = schedule
	}
}

// deliver runs one dispatcher pass.
func (s *testServer) deliver() int {
	s.t.Helper()
	n, err := s.Webhooks.RunOnce(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// paidRefund makes an order for the merchant of key and refunds 1.00 SAR
// of it at once: refund.created and refund.succeeded, one delivery each
// to each of the merchant's endpoints.
func (s *testServer) paidRefund(key string) {
	s.t.Helper()
	o := s.do("POST", "/v1/orders", key, map[string]any{"currency": "SAR", "amount": 10_000, "payment_method": "card",
		"source": map[string]any{"scheme": "mastercard", "first_digits": "555555", "last_digits": "4444", "month": 12, "year": 2027}})
	if r := s.do("POST", "/v1/refunds", key, map[string]any{"order_id": o.str("id"), "amount": 100}); r.str("status") != "succeeded" {
		s.t.Fatalf("refund: %s", r.raw)
	}
}

// verifySigned checks a delivery's Standard Webhooks signature with secret
// and returns its decoded payload.
func verifySigned(t *testing.T, secret string, r received) map[string]any {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	// The fake clock is in the past, so the receiver-side age check is
	// skipped; the timestamp header is checked against the clock instead.
	if err := wh.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
		t.Fatalf("signature does not verify: %v (headers %v)", err, r.header)
	}
	validWebhook(t, r.body)
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWebhooks_SignedRetriedAndLogged(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(time.Minute, 5*time.Minute, 30*time.Minute))
	rc := newReceiver(t, 500, 503, 200)

	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": rc.URL + "/hooks", "events": []string{"refund.succeeded"}})
	if ep.status != http.StatusCreated || len(ep.str("secret")) < 20 || ep.str("secret")[:6] != "whsec_" {
		t.Fatalf("create endpoint: %d %s", ep.status, ep.raw)
	}
	secret, epID := ep.str("secret"), ep.str("id")
	if got := s.do("GET", "/v1/webhook_endpoints/"+epID, s.key, nil); got.get("secret") != nil {
		t.Fatalf("secret shown again: %s", got.raw)
	}

	order := s.mustOrder(cardOrder("4444", 10_000))
	ref := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 2_500}, "X-Request-Id", "req_trace_me")
	if ref.str("status") != "succeeded" {
		t.Fatalf("refund: %s", ref.raw)
	}

	// Attempt 1 fails (500), attempt 2 a minute later fails (503), attempt
	// 3 after five more minutes is accepted.
	if n := s.deliver(); n != 1 {
		t.Fatalf("first pass sent %d deliveries, want 1 (only refund.succeeded is subscribed)", n)
	}
	if n := s.deliver(); n != 0 {
		t.Fatalf("a failed delivery was retried before its backoff (%d sent)", n)
	}
	s.clock.Advance(2 * time.Minute)
	s.deliver()
	s.clock.Advance(7 * time.Minute)
	s.deliver()
	s.clock.Advance(24 * time.Hour)
	if n := s.deliver(); n != 0 {
		t.Fatalf("a delivered event was sent again (%d)", n)
	}

	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(got))
	}
	var eventID string
	for i, r := range got {
		p := verifySigned(t, secret, r)
		if p["type"] != "refund.succeeded" || p["data"].(map[string]any)["id"] != ref.str("id") {
			t.Fatalf("payload %d: %s", i, r.body)
		}
		// Values nobody set are null, as on the API's refund object.
		for _, k := range []string{"merchant_reference", "failure_code", "failure_message"} {
			if v, ok := p["data"].(map[string]any)[k]; !ok || v != nil || ref.get(k) != nil {
				t.Fatalf("payload %d: data.%s = %v, the refund shows %v", i, k, v, ref.get(k))
			}
		}
		if i == 0 {
			eventID = r.header.Get("webhook-id")
		}
		// The request that caused the event is named on every delivery.
		if got := r.header.Get("X-Request-Id"); got != "req_trace_me" {
			t.Fatalf("delivery %d: X-Request-Id = %q, want the refund request's", i, got)
		}
		// One event, one id across retries: receivers deduplicate on it.
		if r.header.Get("webhook-id") != eventID || eventID != p["id"] {
			t.Fatalf("webhook-id changed across retries: %q vs %q", r.header.Get("webhook-id"), eventID)
		}
		if ts, _ := strconv.ParseInt(r.header.Get("webhook-timestamp"), 10, 64); ts < newClock().Now().Unix() {
			t.Fatalf("webhook-timestamp %d is not the server clock", ts)
		}
	}

	log := s.do("GET", "/v1/webhook_endpoints/"+epID+"/deliveries", s.key, nil)
	data, _ := log.get("data").([]any)
	if log.status != 200 || len(data) != 3 {
		t.Fatalf("delivery log: %d %s", log.status, log.raw)
	}
	for i, want := range []struct {
		attempt, status int
		retry           bool
	}{{3, 200, false}, {2, 503, true}, {1, 500, true}} {
		row := data[i].(map[string]any)
		if row["attempt"] != json.Number(strconv.Itoa(want.attempt)) || row["status_code"] != json.Number(strconv.Itoa(want.status)) ||
			(row["next_retry_at"] != nil) != want.retry || row["event_id"] != eventID || row["latency_ms"] == nil {
			t.Fatalf("delivery log row %d: %v", i, row)
		}
	}

	evs := s.do("GET", "/v1/events?refund_id="+ref.str("id"), s.key, nil)
	types := []string{}
	for _, e := range evs.get("data").([]any) {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	if len(types) != 2 || types[0] != "refund.succeeded" || types[1] != "refund.created" {
		t.Fatalf("events of the refund: %v", types)
	}
	if e := s.do("GET", "/v1/events/"+eventID, s.key, nil); e.status != 200 || e.str("type") != "refund.succeeded" {
		t.Fatalf("get event: %s", e.raw)
	}
}

func TestWebhooks_GiveUpAfterSchedule(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(time.Minute))
	rc := newReceiver(t, 500)
	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": rc.URL})
	order := s.mustOrder(cardOrder("0051", 10_000))
	s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100})

	// refund.created and refund.failed, each tried twice (first try and
	// one retry), then given up.
	for range 5 {
		s.deliver()
		s.clock.Advance(2 * time.Minute)
	}
	if n := len(rc.requests()); n != 4 {
		t.Fatalf("receiver got %d requests, want 4", n)
	}
	log := s.do("GET", "/v1/webhook_endpoints/"+ep.str("id")+"/deliveries", s.key, nil)
	for _, row := range log.get("data").([]any) {
		r := row.(map[string]any)
		if r["attempt"] == json.Number("2") && r["next_retry_at"] != nil {
			t.Fatalf("last attempt still promises a retry: %v", r)
		}
	}
}

func TestWebhooks_NotifyURLAndTestEvent(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(time.Minute))
	rc := newReceiver(t, 200)

	rot := s.do("POST", "/v1/notify_secret", s.key, nil)
	if rot.status != 200 || rot.str("secret")[:6] != "whsec_" {
		t.Fatalf("rotate notify secret: %d %s", rot.status, rot.raw)
	}
	order := s.mustOrder(cardOrder("4444", 10_000))
	ref := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 700, "notify_url": rc.URL + "/notify?o=1"})
	s.deliver()
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("notify URL got %d requests, want 1 (final status only)", len(got))
	}
	p := verifySigned(t, rot.str("secret"), got[0])
	if p["type"] != "refund.succeeded" || p["data"].(map[string]any)["id"] != ref.str("id") {
		t.Fatalf("notify payload: %s", got[0].body)
	}

	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": rc.URL + "/hooks", "events": []string{"refund.failed"}})
	test := s.do("POST", "/v1/webhook_endpoints/"+ep.str("id")+"/test", s.key, nil)
	if test.status != http.StatusAccepted || test.str("type") != "webhook.test" {
		t.Fatalf("test event: %d %s", test.status, test.raw)
	}
	s.deliver()
	got = rc.requests()
	if len(got) != 2 || verifySigned(t, ep.str("secret"), got[1])["type"] != "webhook.test" {
		t.Fatalf("test event not delivered to its endpoint: %d requests", len(got))
	}
}

func TestWebhooks_EndpointLifecycleAndIsolation(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks())
	other := s.newMerchant("Other")
	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": "https://hooks.example.com/refundd", "description": "ops"})
	id := ep.str("id")
	if ep.status != 201 || ep.get("events").([]any)[0] != "*" {
		t.Fatalf("create: %s", ep.raw)
	}
	up := s.do("PATCH", "/v1/webhook_endpoints/"+id, s.key, map[string]any{"events": []string{"refund.failed", "refund.succeeded"}, "disabled": true})
	if up.status != 200 || len(up.get("events").([]any)) != 2 || up.get("disabled") != true || up.str("description") != "ops" {
		t.Fatalf("update: %s", up.raw)
	}
	list := s.do("GET", "/v1/webhook_endpoints", s.key, nil)
	if len(list.get("data").([]any)) != 1 {
		t.Fatalf("list: %s", list.raw)
	}
	for _, r := range []reply{
		s.do("GET", "/v1/webhook_endpoints/"+id, other, nil),
		s.do("PATCH", "/v1/webhook_endpoints/"+id, other, map[string]any{"disabled": false}),
		s.do("DELETE", "/v1/webhook_endpoints/"+id, other, nil),
		s.do("GET", "/v1/webhook_endpoints/"+id+"/deliveries", other, nil),
		s.do("POST", "/v1/webhook_endpoints/"+id+"/test", other, nil),
	} {
		expectError(t, r, 404, "webhook_endpoint_not_found")
	}
	if l := s.do("GET", "/v1/webhook_endpoints", other, nil); len(l.get("data").([]any)) != 0 {
		t.Fatalf("other merchant sees endpoints: %s", l.raw)
	}
	if d := s.do("DELETE", "/v1/webhook_endpoints/"+id, s.key, nil); d.status != 200 {
		t.Fatalf("delete: %s", d.raw)
	}
	expectError(t, s.do("GET", "/v1/webhook_endpoints/"+id, s.key, nil), 404, "webhook_endpoint_not_found")
}

func TestWebhooks_BadInput(t *testing.T) {
	t.Parallel()
	s := mustStart(t) // private targets refused, as in production
	order := s.mustOrder(cardOrder("4444", 10_000))
	private := map[string]bool{"Loopback": true, "Localhost": true, "PrivateRange": true, "LinkLocal": true,
		"IPv6Loopback": true, "PrivateNotifyURL": true}
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code, param        string
	}{
		{"NoURL", "POST", "/v1/webhook_endpoints", map[string]any{}, 400, "invalid_request", "url"},
		{"NotHTTP", "POST", "/v1/webhook_endpoints", map[string]any{"url": "ftp://example.com/x"}, 400, "invalid_request", "url"},
		{"Credentials", "POST", "/v1/webhook_endpoints", map[string]any{"url": "https://u:p@example.com/x"}, 400, "invalid_request", "url"},
		{"Loopback", "POST", "/v1/webhook_endpoints", map[string]any{"url": "http://127.0.0.1:8080/x"}, 400, "invalid_request", "url"},
		{"Localhost", "POST", "/v1/webhook_endpoints", map[string]any{"url": "http://localhost/x"}, 400, "invalid_request", "url"},
		{"PrivateRange", "POST", "/v1/webhook_endpoints", map[string]any{"url": "https://10.1.2.3/x"}, 400, "invalid_request", "url"},
		{"LinkLocal", "POST", "/v1/webhook_endpoints", map[string]any{"url": "http://169.254.169.254/latest"}, 400, "invalid_request", "url"},
		{"IPv6Loopback", "POST", "/v1/webhook_endpoints", map[string]any{"url": "http://[::1]/x"}, 400, "invalid_request", "url"},
		{"UnknownEvent", "POST", "/v1/webhook_endpoints", map[string]any{"url": "https://example.com/x", "events": []string{"refund.exploded"}}, 400, "invalid_request", "events[0]"},
		{"EventsNotArray", "POST", "/v1/webhook_endpoints", `{"url":"https://example.com/x","events":"refund.failed"}`, 400, "invalid_request", "events"},
		{"EventsNull", "POST", "/v1/webhook_endpoints", `{"url":"https://example.com/x","events":null}`, 400, "invalid_request", "events"},
		{"DisabledNull", "POST", "/v1/webhook_endpoints", `{"url":"https://example.com/x","disabled":null}`, 400, "invalid_request", "disabled"},
		{"UnknownField", "POST", "/v1/webhook_endpoints", map[string]any{"url": "https://example.com/x", "secret": "mine"}, 400, "invalid_request", "secret"},
		{"PrivateNotifyURL", "POST", "/v1/refunds", map[string]any{"order_id": order, "amount": 1, "notify_url": "http://192.168.1.1/n"}, 400, "invalid_request", "notify_url"},
		{"UnknownEventType", "GET", "/v1/events?type=nope", nil, 400, "invalid_request", "type"},
		{"EventLimit", "GET", "/v1/events?limit=1000", nil, 400, "invalid_request", "limit"},
		{"MissingEvent", "GET", "/v1/events/evt_nope", nil, 404, "event_not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, s.key, tc.body)
			expectError(t, r, tc.status, tc.code)
			if r.str("error", "param") != tc.param {
				t.Fatalf("param: want %q, got %s", tc.param, r.raw)
			}
			// A private target's refusal says what would be accepted: a
			// developer pointing a hook at a local receiver was told only
			// "target address is not public".
			if private[tc.name] && !strings.Contains(r.str("error", "message"), "--webhook-allow-private") {
				t.Fatalf("a private target's refusal does not say what to do: %s", r.raw)
			}
		})
	}
	if l := s.do("GET", "/v1/webhook_endpoints", s.key, nil); len(l.get("data").([]any)) != 0 {
		t.Fatalf("rejected requests created endpoints: %s", l.raw)
	}
	if l := s.do("GET", "/v1/refunds?order_id="+order, s.key, nil); len(l.get("data").([]any)) != 0 {
		t.Fatalf("rejected refund was created: %s", l.raw)
	}
}

// TestWebhooks_ReceiverDownThenFailingThenBack: the receiver's port is
// closed for the first attempt, answers 500 to the second and recovers for
// the third. Every event of every kind arrives, signed, and none arrives
// before its transaction committed: the receiver looks each one up through
// the API at the moment it arrives.
func TestWebhooks_ReceiverDownThenFailingThenBack(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(time.Minute, 5*time.Minute, 30*time.Minute))

	// A port nobody listens on yet: the receiver is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": "http://" + addr + "/hooks"})
	if ep.status != http.StatusCreated {
		t.Fatalf("create endpoint: %d %s", ep.status, ep.raw)
	}
	secret, epID := ep.str("secret"), ep.str("id")

	// One refund of each outcome: succeeded, failed, canceled.
	ok := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("4444", 10_000)), "amount": 1_000})
	declined := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("0051", 10_000)), "amount": 1_000})
	queued := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("4444", 10_000)), "amount": 1_000, "queue": true})
	canceled := s.do("POST", "/v1/refunds/"+queued.str("id")+"/cancel", s.key, nil)
	if ok.str("status") != "succeeded" || declined.str("status") != "failed" || canceled.str("status") != "canceled" {
		t.Fatalf("refunds: %s / %s / %s", ok.raw, declined.raw, canceled.raw)
	}
	wantTypes := map[string]int{"refund.created": 3, "refund.succeeded": 1, "refund.failed": 1, "refund.canceled": 1}

	// Attempt 1: connection refused.
	if n := s.deliver(); n != 6 {
		t.Fatalf("first pass tried %d deliveries, want 6", n)
	}

	// The receiver comes up on the same address, failing at first.
	var (
		mu        sync.Mutex
		status    = 500
		got       []received
		committed = map[string]bool{} // event id -> listed by the API on arrival
	)
	rl, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the receiver's port was taken meanwhile: %v", err)
	}
	lookup := func(id string) bool {
		req, _ := http.NewRequest("GET", s.URL()+"/v1/events/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+s.key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}
	rs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get("webhook-id")
		seen := lookup(id)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, received{header: r.Header.Clone(), body: body, status: status})
		committed[id] = committed[id] || seen
		if !seen {
			committed[id+"/early"] = true
		}
		w.WriteHeader(status)
	})}
	go rs.Serve(rl)
	t.Cleanup(func() { rs.Close() })

	s.clock.Advance(2 * time.Minute) // attempt 2: 500
	if n := s.deliver(); n != 6 {
		t.Fatalf("second pass tried %d deliveries, want 6", n)
	}
	mu.Lock()
	status = 200
	mu.Unlock()
	s.clock.Advance(7 * time.Minute) // attempt 3: accepted
	if n := s.deliver(); n != 6 {
		t.Fatalf("third pass tried %d deliveries, want 6", n)
	}
	s.clock.Advance(24 * time.Hour)
	if n := s.deliver(); n != 0 {
		t.Fatalf("%d delivered events were sent again", n)
	}

	mu.Lock()
	defer mu.Unlock()
	delivered := map[string]string{} // event id -> type, from 200 answers
	for _, r := range got {
		p := verifySigned(t, secret, r)
		id := r.header.Get("webhook-id")
		if committed[id+"/early"] {
			t.Errorf("event %s arrived before the API could see it", id)
		}
		if r.status == 200 {
			delivered[id] = p["type"].(string)
		}
	}
	if len(got) != 12 {
		t.Errorf("receiver got %d requests, want 12 (6 events, failing once, then accepted)", len(got))
	}
	for _, e := range s.do("GET", "/v1/events?limit=100", s.key, nil).get("data").([]any) {
		ev := e.(map[string]any)
		id, typ := ev["id"].(string), ev["type"].(string)
		if delivered[id] != typ {
			t.Errorf("event %s (%s) never delivered", id, typ)
		}
		wantTypes[typ]--
	}
	for typ, n := range wantTypes {
		if n != 0 {
			t.Errorf("events of type %s: %d more or fewer than expected", typ, n)
		}
	}

	// The delivery log shows each failure with its error: refused (no
	// status), 500, then 200 without one.
	log := s.do("GET", "/v1/webhook_endpoints/"+epID+"/deliveries?limit=100", s.key, nil)
	perAttempt := map[string]int{}
	for _, d := range log.get("data").([]any) {
		row := d.(map[string]any)
		key := fmt.Sprint(row["attempt"], "/", row["status_code"], "/", row["error"] != nil)
		perAttempt[key]++
	}
	want := map[string]int{"1/<nil>/true": 6, "2/500/true": 6, "3/200/false": 6}
	for k, n := range want {
		if perAttempt[k] != n {
			t.Errorf("delivery log: %d rows %s, want %d (all: %v)", perAttempt[k], k, n, perAttempt)
		}
	}
}

// blockingReceiver answers 200, but holds each request until release is
// closed; arrived gets the webhook-id of each request as it comes in.
type blockingReceiver struct {
	*httptest.Server
	arrived chan string
	release chan struct{}
}

func newBlockingReceiver(t *testing.T) *blockingReceiver {
	rc := &blockingReceiver{arrived: make(chan string, 100), release: make(chan struct{})}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		rc.arrived <- r.Header.Get("webhook-id")
		<-rc.release
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	t.Cleanup(func() {
		select {
		case <-rc.release:
		default:
			close(rc.release)
		}
	})
	return rc
}

// wait returns what ch carries next, failing the test if nothing comes.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestWebhooks_ShutdownRecordsTheAttemptInFlight: the dispatcher stops
// (its context ends) while one delivery is at the receiver and another,
// claimed in the same pass, waits for a free slot. The receiver accepts
// the first: that is recorded, and it is not sent again. The second was
// never sent: it is handed back, due at once, with no attempt counted.
// Before, the request was cut off, its outcome written on the ended
// context (which failed), and both sat out the lease, the first to be
// sent a second time.
func TestWebhooks_ShutdownRecordsTheAttemptInFlight(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(time.Minute))
	rc := newBlockingReceiver(t)
	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": rc.URL + "/hooks"})
	if ep.status != http.StatusCreated {
		t.Fatalf("create endpoint: %d %s", ep.status, ep.raw)
	}
	if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("4444", 10_000)), "amount": 100}); r.str("status") != "succeeded" {
		t.Fatalf("refund: %s", r.raw)
	}
	// One slot: refund.created goes out, refund.succeeded waits.
	d := webhook.New(s.Service, webhook.Config{AllowPrivate: true, Parallel: 1, Schedule: []time.Duration{time.Minute}, Now: s.clock.Now})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := d.RunOnce(ctx); err != nil {
			t.Error(err)
		}
	}()
	first := wait(t, rc.arrived, "the first delivery")
	stop() // shutdown begins while the receiver holds the request
	close(rc.release)
	wait(t, done, "the pass to end")

	if n := s.deliver(); n != 1 {
		t.Fatalf("after the stop %d deliveries were due, want 1 (the one never sent)", n)
	}
	second := wait(t, rc.arrived, "the second delivery")
	s.clock.Advance(24 * time.Hour)
	if n := s.deliver(); n != 0 {
		t.Fatalf("%d accepted deliveries were sent again", n)
	}
	if first == second || len(rc.arrived) != 0 {
		t.Fatalf("receiver got %s, %s and %d more; want each event once", first, second, len(rc.arrived))
	}
	log := s.do("GET", "/v1/webhook_endpoints/"+ep.str("id")+"/deliveries", s.key, nil).get("data").([]any)
	if len(log) != 2 {
		t.Fatalf("delivery log has %d rows, want 2: %v", len(log), log)
	}
	for _, row := range log {
		r := row.(map[string]any)
		if fmt.Sprint(r["status_code"]) != "200" || fmt.Sprint(r["attempt"]) != "1" {
			t.Errorf("delivery log row: %v, want attempt 1 answered 200", r)
		}
	}
}

// TestWebhooks_SlowEndpointDelaysOnlyItself: one merchant's endpoint
// holds every request, and that merchant has more deliveries due, and
// due earlier, than a pass claims. Another merchant's events are still
// delivered while the slow endpoint hangs: it gets no more attempts in
// flight than its cap, and the rest of the slots keep sending. Before,
// the dispatcher claimed the 20 earliest deliveries (all to the slow
// endpoint), sent 8 at once and waited for the whole batch, so nothing
// else went out until the slow receiver answered or timed out.
func TestWebhooks_SlowEndpointDelaysOnlyItself(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(time.Minute))
	slow, fast := newBlockingReceiver(t), newBlockingReceiver(t)
	close(fast.release)
	keyB := s.newMerchant("Other Merchant")
	for _, ep := range []struct{ key, url string }{{s.key, slow.URL}, {keyB, fast.URL}} {
		if r := s.do("POST", "/v1/webhook_endpoints", ep.key, map[string]any{"url": ep.url + "/hooks"}); r.status != http.StatusCreated {
			t.Fatalf("create endpoint: %d %s", r.status, r.raw)
		}
	}
	for range 11 { // 22 deliveries to the slow endpoint, more than a pass claims
		s.paidRefund(s.key)
	}
	s.clock.Advance(time.Second)
	s.paidRefund(keyB) // 2 deliveries, due after all of those

	d := webhook.New(s.Service, webhook.Config{AllowPrivate: true, Parallel: 4, Schedule: []time.Duration{time.Minute}, Now: s.clock.Now})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	got := map[string]int{}
	got[wait(t, slow.arrived, "the slow endpoint's first delivery")]++
	got[wait(t, fast.arrived, "the other merchant's first delivery")]++
	got[wait(t, fast.arrived, "the other merchant's second delivery")]++
	if n := len(slow.arrived); n != 0 {
		t.Errorf("the slow endpoint holds %d more requests at once, want none past its cap", n)
	}

	// The slow receiver recovers: every event arrives once.
	close(slow.release)
	d.Stop()
	for s.deliver() > 0 {
	}
	for len(slow.arrived) > 0 {
		got[<-slow.arrived]++
	}
	if len(got) != 24 || len(fast.arrived) != 0 {
		t.Errorf("%d distinct events delivered (and %d more to the fast endpoint), want 22 + 2", len(got), len(fast.arrived))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
}

// TestWebhooks_DeadEndpointsDelayOnlyTheirMerchant: one merchant has 8
// endpoints that hold every request, with 4 deliveries due to each, all
// due before another merchant's. That merchant's deliveries are still
// sent while the 8 hang: the first merchant holds no more than its share
// of the node's slots. Before, each endpoint's cap (4) was the only
// bound, so 8 dead endpoints held all 32 slots and every other
// merchant's deliveries waited for their timeouts.
func TestWebhooks_DeadEndpointsDelayOnlyTheirMerchant(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(time.Minute))
	dead, other := newBlockingReceiver(t), newBlockingReceiver(t)
	close(other.release)
	keyB := s.newMerchant("Other Merchant")
	for i := range 8 {
		if r := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": fmt.Sprintf("%s/hooks/%d", dead.URL, i)}); r.status != http.StatusCreated {
			t.Fatalf("create endpoint: %d %s", r.status, r.raw)
		}
	}
	if r := s.do("POST", "/v1/webhook_endpoints", keyB, map[string]any{"url": other.URL + "/hooks"}); r.status != http.StatusCreated {
		t.Fatalf("create endpoint: %d %s", r.status, r.raw)
	}
	for range 2 { // 4 events, each to the 8 endpoints: 32 deliveries
		s.paidRefund(s.key)
	}
	s.clock.Advance(time.Second)
	s.paidRefund(keyB) // 2 deliveries, due after all of those

	// The default slots (32) and caps; no attempt times out while the test runs.
	d := webhook.New(s.Service, webhook.Config{AllowPrivate: true, Timeout: time.Hour, Schedule: []time.Duration{time.Minute}, Now: s.clock.Now})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	defer func() { // after a failure, so that Stop does not wait an hour
		select {
		case <-dead.release:
		default:
			close(dead.release)
		}
	}()
	got := map[string]int{}
	got[wait(t, other.arrived, "the other merchant's first delivery")]++
	got[wait(t, other.arrived, "the other merchant's second delivery")]++
	for range 32 / refund.MerchantShare {
		got[wait(t, dead.arrived, "the dead endpoints' deliveries up to their merchant's cap")]++
	}
	if n := len(dead.arrived); n != 0 {
		t.Errorf("the dead endpoints hold %d more requests at once, want none past their merchant's cap", n)
	}

	// The receiver recovers: every event arrives once at each endpoint.
	close(dead.release)
	d.Stop()
	for s.deliver() > 0 {
	}
	for len(dead.arrived) > 0 {
		got[<-dead.arrived]++
	}
	if len(got) != 6 || len(other.arrived) != 0 {
		t.Fatalf("%d distinct events delivered (and %d more to the other merchant), want 4 + 2", len(got), len(other.arrived))
	}
	perEvent := map[int]int{}
	for _, n := range got {
		perEvent[n]++
	}
	if perEvent[8] != 4 || perEvent[1] != 2 {
		t.Errorf("events delivered %v times each, want 4 to the 8 endpoints and 2 once", perEvent)
	}
}

// lastVerifiedBy reports which secrets verify the last request rc got.
func (rc *receiver) lastVerifiedBy(t *testing.T, secrets ...string) []bool {
	t.Helper()
	got := rc.requests()
	if len(got) == 0 {
		t.Fatal("the receiver got nothing")
	}
	last := got[len(got)-1]
	ok := make([]bool, len(secrets))
	for i, secret := range secrets {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		ok[i] = wh.VerifyIgnoringTimestamp(last.body, last.header) == nil
	}
	return ok
}

// TestWebhooks_RotateSecretWithOverlap: an endpoint's secret is rotated
// through the API. During the overlap each delivery carries a signature
// with each secret, so a receiver holding either verifies it; after the
// overlap only the new secret signs, and a rotation with no overlap drops
// the old secret at once (a leaked one).
func TestWebhooks_RotateSecretWithOverlap(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(time.Minute))
	rc := newReceiver(t, 200)
	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": rc.URL + "/hooks"})
	if ep.status != http.StatusCreated || ep.get("previous_secret_expires_at") != nil {
		t.Fatalf("create endpoint: %d %s", ep.status, ep.raw)
	}
	path := "/v1/webhook_endpoints/" + ep.str("id")
	first := ep.str("secret")

	// verifies sends a test event and reports which secrets verify it.
	verifies := func(secrets ...string) []bool {
		t.Helper()
		if r := s.do("POST", path+"/test", s.key, nil); r.status != http.StatusAccepted {
			t.Fatalf("test event: %d %s", r.status, r.raw)
		}
		if n := s.deliver(); n != 1 {
			t.Fatalf("sent %d deliveries, want 1", n)
		}
		return rc.lastVerifiedBy(t, secrets...)
	}

	rot := s.do("POST", path+"/rotate_secret", s.key, map[string]any{"expire_previous_in": 3600}, "Idempotency-Key", "rotate-1")
	second := rot.str("secret")
	if rot.status != http.StatusOK || second == first || len(second) < 20 ||
		rot.str("previous_secret_expires_at") != s.clock.Now().Add(time.Hour).Format(time.RFC3339Nano) {
		t.Fatalf("rotate: %d %s", rot.status, rot.raw)
	}
	// A retried rotation replays its answer: it does not rotate again.
	if again := s.do("POST", path+"/rotate_secret", s.key, map[string]any{"expire_previous_in": 3600}, "Idempotency-Key", "rotate-1"); again.str("secret") != second {
		t.Fatalf("retried rotation rotated again: %s", again.raw)
	}
	if got := s.do("GET", path, s.key, nil); got.get("secret") != nil || got.get("previous_secret_expires_at") == nil {
		t.Fatalf("endpoint after rotation: %s", got.raw)
	}
	if ok := verifies(first, second); !ok[0] || !ok[1] {
		t.Fatalf("during the overlap: old verifies %v, new %v; want both", ok[0], ok[1])
	}
	s.clock.Advance(time.Hour)
	if ok := verifies(first, second); ok[0] || !ok[1] {
		t.Fatalf("after the overlap: old verifies %v, new %v; want only new", ok[0], ok[1])
	}
	// The old secret signs nothing any more: the endpoint says so.
	if got := s.do("GET", path, s.key, nil); got.status != http.StatusOK || got.get("previous_secret_expires_at") != nil {
		t.Fatalf("endpoint after the overlap: %s, want previous_secret_expires_at null", got.raw)
	}
	if l := s.do("GET", "/v1/webhook_endpoints", s.key, nil).get("data").([]any); l[0].(map[string]any)["previous_secret_expires_at"] != nil {
		t.Fatalf("listed after the overlap: %v, want previous_secret_expires_at null", l[0])
	}

	rot = s.do("POST", path+"/rotate_secret", s.key, map[string]any{"expire_previous_in": 0})
	third := rot.str("secret")
	if rot.status != http.StatusOK || rot.get("previous_secret_expires_at") != nil {
		t.Fatalf("rotate without overlap: %d %s", rot.status, rot.raw)
	}
	if ok := verifies(second, third); ok[0] || !ok[1] {
		t.Fatalf("after a rotation without overlap: old verifies %v, new %v; want only new", ok[0], ok[1])
	}
	// No body: the default overlap of a day.
	rot = s.do("POST", path+"/rotate_secret", s.key, nil)
	if rot.status != http.StatusOK || rot.str("previous_secret_expires_at") != s.clock.Now().Add(24*time.Hour).Format(time.RFC3339Nano) {
		t.Fatalf("rotate with the default overlap: %d %s", rot.status, rot.raw)
	}

	for _, tc := range []struct {
		name, key, path string
		body            any
		status          int
		code            string
	}{
		{"Negative", s.key, path, map[string]any{"expire_previous_in": -1}, 400, "invalid_request"},
		{"TooLong", s.key, path, map[string]any{"expire_previous_in": 7*24*3600 + 1}, 400, "invalid_request"},
		{"Null", s.key, path, map[string]any{"expire_previous_in": nil}, 400, "invalid_request"},
		{"Unknown", s.key, "/v1/webhook_endpoints/we_missing", nil, 404, "webhook_endpoint_not_found"},
		{"OtherMerchant", s.newMerchant("Other"), path, nil, 404, "webhook_endpoint_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, s.do("POST", tc.path+"/rotate_secret", tc.key, tc.body), tc.status, tc.code)
		})
	}
}

// TestWebhooks_RotateNotifySecretWithOverlap: the secret that signs
// deliveries to refunds' notify_url rotates as an endpoint's does. During
// the overlap each delivery carries a signature with each secret, so a
// receiver holding either verifies it; after the overlap, or after a
// rotation with none, only the new secret signs.
func TestWebhooks_RotateNotifySecretWithOverlap(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"SQLite", "PostgreSQL"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			opts := []serverOpt{withWebhooks(time.Minute)}
			if db == "PostgreSQL" {
				opts = append(opts, onDB(pgSchema(t, 4)))
			}
			s := mustStart(t, opts...)
			rc := newReceiver(t, 200)
			// verifies refunds an order with a notify_url and reports
			// which secrets verify the delivery to it.
			verifies := func(secrets ...string) []bool {
				t.Helper()
				order := s.mustOrder(cardOrder("4444", 10_000))
				if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100, "notify_url": rc.URL + "/notify"}); r.status != http.StatusCreated {
					t.Fatalf("refund: %d %s", r.status, r.raw)
				}
				if n := s.deliver(); n != 1 {
					t.Fatalf("sent %d deliveries, want 1", n)
				}
				return rc.lastVerifiedBy(t, secrets...)
			}
			rotate := func(body any) reply {
				t.Helper()
				r := s.do("POST", "/v1/notify_secret", s.key, body)
				if r.status != http.StatusOK || r.str("object") != "notify_secret" || len(r.str("secret")) < 20 {
					t.Fatalf("rotate %v: %d %s", body, r.status, r.raw)
				}
				return r
			}

			// The merchant's first secret replaces none it was shown.
			rot := rotate(nil)
			first := rot.str("secret")
			if rot.get("previous_secret_expires_at") != nil {
				t.Fatalf("first rotation: %s, want previous_secret_expires_at null", rot.raw)
			}
			rot = s.do("POST", "/v1/notify_secret", s.key, map[string]any{"expire_previous_in": 3600}, "Idempotency-Key", "rotate-1")
			second := rot.str("secret")
			if rot.status != http.StatusOK || second == first || len(second) < 20 ||
				rot.str("previous_secret_expires_at") != s.clock.Now().Add(time.Hour).Format(time.RFC3339Nano) {
				t.Fatalf("rotate with an hour's overlap: %d %s", rot.status, rot.raw)
			}
			// A retried rotation replays its answer: it does not rotate again.
			if again := s.do("POST", "/v1/notify_secret", s.key, map[string]any{"expire_previous_in": 3600}, "Idempotency-Key", "rotate-1"); again.raw != rot.raw || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("retried rotation: %s, want the first answer replayed: %s", again.raw, rot.raw)
			}
			if ok := verifies(first, second); !ok[0] || !ok[1] {
				t.Fatalf("during the overlap: old verifies %v, new %v; want both", ok[0], ok[1])
			}
			s.clock.Advance(time.Hour)
			if ok := verifies(first, second); ok[0] || !ok[1] {
				t.Fatalf("after the overlap: old verifies %v, new %v; want only new", ok[0], ok[1])
			}
			rot = rotate(map[string]any{"expire_previous_in": 0})
			third := rot.str("secret")
			if rot.get("previous_secret_expires_at") != nil {
				t.Fatalf("rotate without overlap: %s, want previous_secret_expires_at null", rot.raw)
			}
			if ok := verifies(second, third); ok[0] || !ok[1] {
				t.Fatalf("after a rotation without overlap: old verifies %v, new %v; want only new", ok[0], ok[1])
			}
			// No body: the default overlap of a day.
			if rot = rotate(nil); rot.str("previous_secret_expires_at") != s.clock.Now().Add(24*time.Hour).Format(time.RFC3339Nano) {
				t.Fatalf("rotate with the default overlap: %s", rot.raw)
			}

			for _, tc := range []struct {
				name string
				body any
			}{
				{"Negative", map[string]any{"expire_previous_in": -1}},
				{"TooLong", map[string]any{"expire_previous_in": 7*24*3600 + 1}},
				{"Null", map[string]any{"expire_previous_in": nil}},
				{"NotANumber", map[string]any{"expire_previous_in": "3600"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := s.do("POST", "/v1/notify_secret", s.key, tc.body)
					expectError(t, r, 400, "invalid_request")
					if r.str("error", "param") != "expire_previous_in" {
						t.Fatalf("param: %s, want expire_previous_in", r.raw)
					}
				})
			}
			// A refused rotation rotated nothing.
			if ok := verifies(third, rot.str("secret")); !ok[0] || !ok[1] {
				t.Fatalf("after refused rotations: previous verifies %v, current %v; want both", ok[0], ok[1])
			}
		})
	}
}

// A rotation whose request died after it committed, before its answer was
// kept, is answered by its retry as it left the secrets: rotated once.
// Rotated again, the secret the receiver holds would leave the overlap
// for one the merchant never saw, and deliveries would fail to verify.
// So for an endpoint's secret and for the notify-URL secret.
func TestWebhooks_RotationRetriedAfterItDied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// target makes what rotates and returns its rotation's path and
		// the secret it has before.
		target func(t *testing.T, s *testServer) (path, secret string)
		// signing reads the secrets that sign its deliveries now.
		signing func(s *testServer, tx refund.Tx) (*refund.SigningSecrets, error)
	}{
		{"Endpoint", func(t *testing.T, s *testServer) (string, string) {
			ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": "https://hooks.example.com/h"})
			if ep.status != http.StatusCreated {
				t.Fatalf("create endpoint: %d %s", ep.status, ep.raw)
			}
			return "/v1/webhook_endpoints/" + ep.str("id") + "/rotate_secret", ep.str("secret")
		}, func(s *testServer, tx refund.Tx) (*refund.SigningSecrets, error) {
			eps, err := tx.ListWebhookEndpoints(ctx, s.mer.ID)
			if err != nil || len(eps) != 1 {
				return nil, fmt.Errorf("%d endpoints (%v), want 1", len(eps), err)
			}
			return &eps[0].SigningSecrets, nil
		}},
		{"NotifySecret", func(t *testing.T, s *testServer) (string, string) {
			rot := s.do("POST", "/v1/notify_secret", s.key, nil)
			if rot.status != http.StatusOK {
				t.Fatalf("first notify secret: %d %s", rot.status, rot.raw)
			}
			return "/v1/notify_secret", rot.str("secret")
		}, func(s *testServer, tx refund.Tx) (*refund.SigningSecrets, error) {
			n, err := tx.GetNotifySecret(ctx, s.mer.ID)
			if err != nil {
				return nil, err
			}
			return &n.SigningSecrets, nil
		}},
	} {
		for _, db := range []string{"SQLite", "PostgreSQL"} {
			t.Run(tc.name+"/"+db, func(t *testing.T) {
				t.Parallel()
				opts := []serverOpt{withWebhooks(time.Minute)}
				if db == "PostgreSQL" {
					opts = append(opts, onDB(pgSchema(t, 4)))
				}
				s := mustStart(t, opts...)
				path, before := tc.target(t, s)
				first := s.do("POST", path, s.key, nil, "Idempotency-Key", "rotate-dead")
				if first.status != http.StatusOK {
					t.Fatalf("rotate: %d %s", first.status, first.raw)
				}
				s.diedBeforeItsAnswer("rotate-dead")
				s.clock.Advance(2 * time.Minute)
				again := s.do("POST", path, s.key, nil, "Idempotency-Key", "rotate-dead")
				if again.status != http.StatusOK || again.str("secret") != first.str("secret") {
					t.Fatalf("retry after the lease: %d %s; want the first rotation's secret %s", again.status, again.raw, first.str("secret"))
				}
				var k *refund.SigningSecrets
				if err := s.Store.View(ctx, func(tx refund.Tx) (err error) {
					k, err = tc.signing(s, tx)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if got := k.Secrets(s.clock.Now()); len(got) != 2 || got[0] != first.str("secret") || got[1] != before {
					t.Fatalf("signing secrets %v, want the first rotation's and the one before, %s", got, before)
				}
			})
		}
	}
}

// rollbackStore rolls back every Update once armed, after its work ran:
// a commit that failed (a dropped connection, a full disk).
type rollbackStore struct {
	refund.Store
	armed atomic.Bool
}

func (s *rollbackStore) Update(ctx context.Context, fn func(tx refund.Tx) error) error {
	return s.Store.Update(ctx, func(tx refund.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.armed.Load() {
			return errors.New("commit failed")
		}
		return nil
	})
}

// TestWebhooks_FailedClaimSendsNothing: a claim whose transaction did not
// commit leased nothing, so the deliveries it read are still due and any
// dispatcher takes them again. Sending them anyway sent each one twice:
// once on the failed claim, once on the next.
func TestWebhooks_FailedClaimSendsNothing(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"SQLite", "PostgreSQL"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			opts := []serverOpt{withWebhooks(time.Minute)}
			if db == "PostgreSQL" {
				opts = append(opts, onDB(pgSchema(t, 4)))
			}
			s := mustStart(t, opts...)
			rc := newReceiver(t, 200)
			ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": rc.URL + "/hooks"})
			if ep.status != http.StatusCreated {
				t.Fatalf("create endpoint: %d %s", ep.status, ep.raw)
			}
			if r := s.do("POST", "/v1/webhook_endpoints/"+ep.str("id")+"/test", s.key, nil); r.status != http.StatusAccepted {
				t.Fatalf("test event: %d %s", r.status, r.raw)
			}
			failing := &rollbackStore{Store: s.Store}
			failing.armed.Store(true)
			svc, err := refund.NewService(refund.Config{Store: failing, Processor: s.Sandbox, NewID: idgen.New, Now: s.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			d := webhook.New(svc, webhook.Config{AllowPrivate: true, Schedule: []time.Duration{time.Minute}, Now: s.clock.Now})
			if _, err := d.RunOnce(context.Background()); err == nil {
				t.Fatal("a pass whose claim did not commit reported no error")
			}
			if n := len(rc.requests()); n != 0 {
				t.Fatalf("the failed claim sent %d deliveries, want none", n)
			}
			if n := s.deliver(); n != 1 {
				t.Fatalf("after the failed claim %d deliveries were due, want 1", n)
			}
			if n := len(rc.requests()); n != 1 {
				t.Fatalf("the receiver got the event %d times, want once", n)
			}
		})
	}
}

// A delivery claimed and handed back unsent (the dispatcher stopped
// between its claim and its attempt) is due again at once, for any
// dispatcher, with no attempt counted; until then its claim keeps others
// off it.
func TestWebhooks_HandedBackDeliveryIsDueAtOnce(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks(time.Minute))
	rc := newReceiver(t, 200)
	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": rc.URL + "/hooks"})
	if ep.status != http.StatusCreated {
		t.Fatalf("create endpoint: %d %s", ep.status, ep.raw)
	}
	if r := s.do("POST", "/v1/webhook_endpoints/"+ep.str("id")+"/test", s.key, nil); r.status != http.StatusAccepted {
		t.Fatalf("test event: %d %s", r.status, r.raw)
	}
	ctx := context.Background()
	jobs, err := s.Service.ClaimDeliveries(ctx, time.Minute, 10, refund.TargetCap{})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d jobs, %v; want 1", len(jobs), err)
	}
	if n := s.deliver(); n != 0 {
		t.Fatalf("another dispatcher sent %d claimed deliveries", n)
	}
	if err := s.Service.ReleaseDelivery(ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	if n := s.deliver(); n != 1 || len(rc.requests()) != 1 {
		t.Fatalf("after the hand-back: sent %d, received %d; want the delivery at once, once", n, len(rc.requests()))
	}
	log := s.do("GET", "/v1/webhook_endpoints/"+ep.str("id")+"/deliveries", s.key, nil)
	data, _ := log.get("data").([]any)
	if log.status != 200 || len(data) != 1 || !strings.Contains(log.raw, `"attempt":1,`) {
		t.Fatalf("delivery log after the hand-back and one attempt: %d %s; want one row, attempt 1", log.status, log.raw)
	}
}

// TestWebhooks_EndpointListPages: GET /v1/webhook_endpoints takes limit
// and cursor like every list (DESIGN.md 7). It answered all of a
// merchant's endpoints whatever the limit, has_more false, and dropped
// a malformed limit or cursor without a word.
func TestWebhooks_EndpointListPages(t *testing.T) {
	t.Parallel()
	s := mustStart(t, withWebhooks())
	var ids []string
	for i := range 3 {
		ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": fmt.Sprintf("https://hooks.example.com/%d", i)})
		if ep.status != 201 {
			t.Fatalf("create: %s", ep.raw)
		}
		ids = append(ids, ep.str("id"))
	}
	checkListPages(t, s, "/v1/webhook_endpoints", ids)
}

// checkListPages pages the list at path, whose objects are ids (three,
// oldest first), as every list pages (DESIGN.md section 7): limit and
// cursor, next_cursor the page's last id, a bad limit or cursor 400.
func checkListPages(t *testing.T, s *testServer, path string, ids []string) {
	t.Helper()
	for _, tc := range []struct {
		name, query string
		status      int
		want        []string
		more        bool
	}{
		{"All", "", 200, ids, false},
		{"First", "?limit=1", 200, ids[:1], true},
		{"AfterFirst", "?limit=1&cursor=" + ids[0], 200, ids[1:2], true},
		{"Rest", "?limit=2&cursor=" + ids[0], 200, ids[1:], false},
		{"AfterLast", "?cursor=" + ids[2], 200, nil, false},
		{"ZeroLimit", "?limit=0", 400, nil, false},
		{"BadCursor", "?cursor=zzz", 400, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("GET", path+tc.query, s.key, nil)
			if tc.status != 200 {
				expectError(t, r, tc.status, "invalid_request")
				return
			}
			var got []string
			for _, e := range r.get("data").([]any) {
				got = append(got, e.(map[string]any)["id"].(string))
			}
			if r.status != 200 || !slices.Equal(got, tc.want) || r.get("has_more") != tc.more {
				t.Fatalf("%s: %d %v has_more %v; want %v has_more %v\n%s", tc.query, r.status, got, r.get("has_more"), tc.want, tc.more, r.raw)
			}
			if tc.more && r.str("next_cursor") != got[len(got)-1] {
				t.Fatalf("next_cursor %q, want the page's last id %s", r.str("next_cursor"), got[len(got)-1])
			}
		})
	}
}
