package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/refundd/refundd/server"
)

// TestServerTiming: with ServerTiming on, a refund's answer splits its
// time into the core's phases, in the order they happened, and they fit
// inside the request's total; an idempotent replay and every other answer
// keep their status and body. Off (the default) no header is sent.
func TestServerTiming(t *testing.T) {
	t.Parallel()
	s := mustStart(t, func(c *server.Config) { c.ServerTiming = true })
	order := s.mustOrder(cardOrder("4444", 10_000))
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100}, "Idempotency-Key", "timed-1")
	if r.status != http.StatusCreated || r.str("status") != "succeeded" {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	phases, total := serverTiming(t, r.header.Get("Server-Timing"))
	// The key is claimed in the reservation without a lookup, the order
	// read there serves the call, and the answer is stored with the
	// result: no idem_lookup, no idem_begin, no route, no idem_complete.
	want := []string{"auth",
		"reserve_queue", "reserve_exec", "reserve_commit",
		"processor_queue", "processor",
		"result_queue", "result_exec", "result_commit"}
	var names []string
	var sum float64
	for _, p := range phases {
		names = append(names, p.name)
		sum += p.ms
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("phases %v, want %v", names, want)
	}
	if sum > total+0.001 || total <= 0 {
		t.Errorf("phases add up to %.3f ms, more than the total %.3f ms", sum, total)
	}

	again := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100}, "Idempotency-Key", "timed-1")
	if again.status != http.StatusCreated || again.str("id") != r.str("id") || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s %v", again.status, again.raw, again.header)
	}
	if string(again.raw) != string(r.raw) {
		t.Fatalf("the replay differs from the first answer:\n%s\n%s", again.raw, r.raw)
	}
	if bad := s.do("GET", "/v1/refunds/re_missing", s.key, nil); bad.status != http.StatusNotFound || !strings.Contains(bad.header.Get("Server-Timing"), "total;dur=") {
		t.Errorf("not found: %d %s %v", bad.status, bad.raw, bad.header)
	}

	plain := mustStart(t)
	o2 := plain.mustOrder(cardOrder("4444", 10_000))
	if r := plain.do("POST", "/v1/refunds", plain.key, map[string]any{"order_id": o2, "amount": 100}); r.status != http.StatusCreated || r.header.Get("Server-Timing") != "" {
		t.Errorf("without ServerTiming: %d, Server-Timing %q", r.status, r.header.Get("Server-Timing"))
	}
}

type timedPhase struct {
	name string
	ms   float64
}

// serverTiming parses name;dur=ms entries, the last of which is the total.
func serverTiming(t *testing.T, h string) ([]timedPhase, float64) {
	t.Helper()
	var out []timedPhase
	total := -1.0
	for _, e := range strings.Split(h, ", ") {
		name, dur, ok := strings.Cut(e, ";dur=")
		ms, err := strconv.ParseFloat(dur, 64)
		if !ok || err != nil || ms < 0 {
			t.Fatalf("Server-Timing %q: bad entry %q", h, e)
		}
		if name == "total" {
			total = ms
			continue
		}
		out = append(out, timedPhase{name, ms})
	}
	if total < 0 {
		t.Fatalf("Server-Timing %q has no total", h)
	}
	return out, total
}
