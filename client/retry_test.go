package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/client"
)

// step is one scripted answer of the fake server.
type step struct {
	status     int
	retryAfter string
	body       string
	hangup     bool // close the connection without answering
}

const okRefund = `{"id":"re_1","object":"refund","order_id":"ord_1","amount":1000,"currency":"SAR","status":"succeeded"}`

func envelope(code string) string {
	return `{"error":{"code":"` + code + `","message":"scripted","param":null}}`
}

// seen is what the fake server received.
type seen struct {
	method, key, body string
}

// scriptServer answers requests with script in order (the last step
// repeats) and records each request.
func scriptServer(t *testing.T, script []step) (*httptest.Server, func() []seen) {
	t.Helper()
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		s := script[min(len(got), len(script)-1)]
		got = append(got, seen{method: r.Method, key: r.Header.Get("Idempotency-Key"), body: string(b)})
		mu.Unlock()
		if s.hangup {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if s.retryAfter != "" {
			w.Header().Set("Retry-After", s.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		io.WriteString(w, s.body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

// span is an accepted range for one wait (backoff has jitter).
type span struct{ lo, hi time.Duration }

func exactly(d time.Duration) span { return span{d, d} }

func TestRetry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	backoff1 := span{50 * time.Millisecond, 100 * time.Millisecond} // base 100ms with jitter
	backoff2 := span{100 * time.Millisecond, 200 * time.Millisecond}
	tests := []struct {
		name        string
		script      []step
		get         bool   // GET a refund instead of creating one
		callerKey   string // the caller's own idempotency key
		maxAttempts int
		requests    int
		waits       []span
		status      int    // of the *Error returned; 0: success
		code        string // of the *Error returned
		retryAfter  time.Duration
	}{
		{name: "503ThenOK", script: []step{{status: 503, body: envelope("processor_unavailable")}, {status: 201, body: okRefund}},
			requests: 2, waits: []span{backoff1}},
		{name: "429RetryAfterSecondsThenOK", script: []step{{status: 429, retryAfter: "7", body: envelope("rate_limited")}, {status: 201, body: okRefund}},
			requests: 2, waits: []span{exactly(7 * time.Second)}},
		{name: "429RetryAfterDateThenOK", script: []step{{status: 429, retryAfter: now.Add(30 * time.Second).Format(http.TimeFormat), body: envelope("rate_limited")}, {status: 201, body: okRefund}},
			requests: 2, waits: []span{exactly(30 * time.Second)}},
		{name: "RetryAfterDateInThePastRetriesAtOnce", script: []step{{status: 503, retryAfter: now.Add(-time.Minute).Format(http.TimeFormat), body: envelope("processor_unavailable")}, {status: 201, body: okRefund}},
			requests: 2, waits: []span{exactly(0)}},
		{name: "BackoffDoublesThenOK", script: []step{{status: 500, body: envelope("internal")}, {status: 502, body: "<html>bad gateway</html>"}, {status: 201, body: okRefund}},
			requests: 3, waits: []span{backoff1, backoff2}},
		{name: "HangupThenOK", script: []step{{hangup: true}, {status: 201, body: okRefund}},
			requests: 2, waits: []span{backoff1}},
		{name: "IdempotencyKeyInUseThenReplayed", script: []step{{status: 409, body: envelope("idempotency_key_in_use")}, {status: 201, body: okRefund}},
			requests: 2, waits: []span{backoff1}},
		{name: "IdempotencyKeyInUseNotCountedAsAttempts", maxAttempts: 2, script: []step{{status: 409, body: envelope("idempotency_key_in_use")},
			{status: 409, body: envelope("idempotency_key_in_use")}, {status: 409, body: envelope("idempotency_key_in_use")}, {status: 201, body: okRefund}},
			requests: 4, waits: []span{backoff1, backoff2, {200 * time.Millisecond, 400 * time.Millisecond}}},
		{name: "ConcurrentChangeThenOK", script: []step{{status: 409, body: envelope("conflict")}, {status: 201, body: okRefund}},
			requests: 2, waits: []span{backoff1}},
		{name: "ConcurrentChangeAttemptsBounded", maxAttempts: 2, script: []step{{status: 409, body: envelope("conflict")}},
			requests: 2, waits: []span{backoff1}, status: 409, code: "conflict"},
		{name: "CallerKeyReused", callerKey: "rma-42", script: []step{{status: 503, retryAfter: "1", body: envelope("processor_unavailable")}, {status: 201, body: okRefund}},
			requests: 2, waits: []span{exactly(time.Second)}},
		{name: "GETRetriedWithoutKey", get: true, script: []step{{status: 504, body: "timeout"}, {status: 200, body: okRefund}},
			requests: 2, waits: []span{backoff1}},
		{name: "AttemptsBounded", maxAttempts: 3, script: []step{{status: 503, retryAfter: "2", body: envelope("processor_unavailable")}},
			requests: 3, waits: []span{exactly(2 * time.Second), exactly(2 * time.Second)}, status: 503, code: "processor_unavailable", retryAfter: 2 * time.Second},
		{name: "RetryAfterTooLongNotWaited", script: []step{{status: 429, retryAfter: "3600", body: envelope("rate_limited")}},
			requests: 1, status: 429, code: "rate_limited", retryAfter: time.Hour},
		{name: "400NotRetried", script: []step{{status: 400, body: envelope("invalid_amount")}},
			requests: 1, status: 400, code: "invalid_amount"},
		{name: "404NotRetried", get: true, script: []step{{status: 404, body: envelope("refund_not_found")}},
			requests: 1, status: 404, code: "refund_not_found"},
		{name: "422NotRetried", script: []step{{status: 422, retryAfter: "1", body: envelope("amount_exceeds_refundable")}},
			requests: 1, status: 422, code: "amount_exceeds_refundable"},
		{name: "409OtherConflictNotRetried", script: []step{{status: 409, body: envelope("merchant_reference_reused")}},
			requests: 1, status: 409, code: "merchant_reference_reused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, requests := scriptServer(t, tt.script)
			var waits []time.Duration
			opts := []client.Option{
				client.WithBackoff(100*time.Millisecond, time.Second),
				client.WithNow(func() time.Time { return now }),
				client.WithSleep(func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }),
			}
			if tt.maxAttempts > 0 {
				opts = append(opts, client.WithMaxAttempts(tt.maxAttempts))
			}
			c, err := client.New(srv.URL, "rk_test", opts...)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var r *client.Refund
			if tt.get {
				r, err = c.GetRefund(ctx, "re_1")
			} else {
				r, err = c.CreateRefund(ctx, client.CreateRefundParams{OrderID: "ord_1", Amount: client.Int64(1000), IdempotencyKey: tt.callerKey})
			}

			if tt.status == 0 {
				if err != nil || r.ID != "re_1" || r.Amount != 1000 {
					t.Fatalf("want the refund, got %+v, %v", r, err)
				}
			} else {
				e, ok := errors.AsType[*client.Error](err)
				if !ok || e.StatusCode != tt.status || e.Code != tt.code || e.RetryAfter != tt.retryAfter {
					t.Fatalf("want *Error %d %s (retry after %s), got %#v", tt.status, tt.code, tt.retryAfter, err)
				}
			}
			got := requests()
			if len(got) != tt.requests {
				t.Fatalf("want %d requests, server saw %d", tt.requests, len(got))
			}
			if err != nil && client.IdempotencyKeyOf(err) != got[0].key {
				t.Errorf("the final error names key %q; the calls were sent with %q", client.IdempotencyKeyOf(err), got[0].key)
			}
			for i, s := range got {
				switch {
				case tt.get && s.key != "":
					t.Errorf("request %d: a GET sent Idempotency-Key %q", i, s.key)
				case !tt.get && s.key == "":
					t.Errorf("request %d: a create sent no Idempotency-Key", i)
				case tt.callerKey != "" && s.key != tt.callerKey:
					t.Errorf("request %d: key %q, want the caller's %q", i, s.key, tt.callerKey)
				case s.key != got[0].key || s.body != got[0].body || s.method != got[0].method:
					t.Errorf("request %d differs from the first: %+v vs %+v", i, s, got[0])
				}
			}
			if len(waits) != len(tt.waits) {
				t.Fatalf("want %d waits, got %v", len(tt.waits), waits)
			}
			for i, w := range waits {
				if w < tt.waits[i].lo || w > tt.waits[i].hi {
					t.Errorf("wait %d: %s, want %s..%s", i, w, tt.waits[i].lo, tt.waits[i].hi)
				}
			}
		})
	}
}

var hexKey = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestRetry_GeneratedKeysDifferPerCall: each call gets its own key, so
// two deliberate refunds are two refunds.
func TestRetry_GeneratedKeysDifferPerCall(t *testing.T) {
	t.Parallel()
	srv, requests := scriptServer(t, []step{{status: 201, body: okRefund}})
	c, err := client.New(srv.URL, "rk_test")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.CreateRefund(context.Background(), client.CreateRefundParams{OrderID: "ord_1"}); err != nil {
			t.Fatal(err)
		}
	}
	got := requests()
	if len(got) != 2 || !hexKey.MatchString(got[0].key) || !hexKey.MatchString(got[1].key) || got[0].key == got[1].key {
		t.Fatalf("want two distinct generated keys, got %+v", got)
	}
}

// TestRetry_TransportErrorCarriesTheKey: a create whose every attempt went
// unanswered may have been executed; the error names the key it was sent
// with (generated here), so that a later retry under it is answered, not
// done twice.
func TestRetry_TransportErrorCarriesTheKey(t *testing.T) {
	t.Parallel()
	srv, requests := scriptServer(t, []step{{hangup: true}})
	c, err := client.New(srv.URL, "rk_test", client.WithMaxAttempts(2),
		client.WithSleep(func(context.Context, time.Duration) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRefund(context.Background(), client.CreateRefundParams{OrderID: "ord_1", Amount: client.Int64(1000)})
	got := requests()
	if err == nil || len(got) != 2 || !hexKey.MatchString(got[0].key) {
		t.Fatalf("want two unanswered attempts under a generated key, got %v after %+v", err, got)
	}
	if k := client.IdempotencyKeyOf(err); k != got[0].key {
		t.Fatalf("the error names key %q; the attempts were sent with %q", k, got[0].key)
	}
	if _, ok := errors.AsType[*client.Error](err); ok {
		t.Fatalf("a transport error read as an API reply: %v", err)
	}
}

// TestRetry_StopsWhenContextEnds: no retry once the caller's context is
// done, and no wait that would outlive its deadline.
func TestRetry_StopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   []step
		deadline bool // the context has a deadline shorter than Retry-After
		wantErr  func(error) bool
	}{
		{name: "CanceledWhileWaiting", script: []step{{status: 503, body: envelope("processor_unavailable")}},
			wantErr: func(err error) bool { return errors.Is(err, context.Canceled) }},
		{name: "DeadlineBeforeRetryAfter", deadline: true, script: []step{{status: 429, retryAfter: "30", body: envelope("rate_limited")}},
			wantErr: func(err error) bool { return client.ErrorCode(err) == "rate_limited" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, requests := scriptServer(t, tt.script)
			ctx, cancel := context.WithCancel(context.Background())
			if tt.deadline {
				ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
			}
			defer cancel()
			var waits int
			c, err := client.New(srv.URL, "rk_test", client.WithSleep(func(ctx context.Context, d time.Duration) error {
				waits++
				cancel() // the caller gives up while the client waits
				return ctx.Err()
			}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.CreateRefund(ctx, client.CreateRefundParams{OrderID: "ord_1"})
			if !tt.wantErr(err) {
				t.Fatalf("unexpected error %v", err)
			}
			if n := len(requests()); n != 1 {
				t.Fatalf("want 1 request, server saw %d", n)
			}
			if tt.deadline && waits != 0 {
				t.Fatalf("waited %d times past the deadline", waits)
			}
		})
	}
}

func TestNew_Validates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url, key string
		ok             bool
	}{
		{"OK", "https://refunds.example.com", "rk_x", true},
		{"OKWithPrefix", "http://127.0.0.1:8080/refundd/", "rk_x", true},
		{"NoScheme", "refunds.example.com", "rk_x", false},
		{"FTP", "ftp://refunds.example.com", "rk_x", false},
		{"Query", "https://refunds.example.com?a=b", "rk_x", false},
		{"NoKey", "https://refunds.example.com", " ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.New(tc.url, tc.key)
			if (err == nil) != tc.ok {
				t.Fatalf("New(%q, %q): %v", tc.url, tc.key, err)
			}
		})
	}
}
