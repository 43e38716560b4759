package metrics_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/metrics"
)

// TestMiddlewareCountsPanics: a handler that panics answers 500 (the
// outer api.Middleware recovers, as in server.Open) and must be counted
// as a 500 like any other: it went uncounted, its time and status lost
// when the panic unwound the timer, so a 5xx rate read from
// /metrics missed exactly the failures nobody planned for.
func TestMiddlewareCountsPanics(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom/{id}", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	mux.Handle("GET /metrics", m.Handler())
	srv := httptest.NewServer(api.Middleware(m.Middleware(mux), slog.New(slog.DiscardHandler)))
	defer srv.Close()

	for _, tc := range []struct {
		path string
		want int
	}{{"/boom/1", 500}, {"/boom/2", 500}, {"/ok", 200}} {
		res, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Fatalf("GET %s: %d, want %d", tc.path, res.StatusCode, tc.want)
		}
	}
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		`refundd_http_request_duration_seconds_count{code="500",method="GET",route="GET /boom/{id}"} 2`,
		`refundd_http_request_duration_seconds_count{code="200",method="GET",route="GET /ok"} 1`,
	} {
		if !strings.Contains(string(raw), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
