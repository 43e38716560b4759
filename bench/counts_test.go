package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The batches run again are read when the target publishes them and left
// out, not taken as zero, when it does not (a refundd older than the
// counter); the three older counters are required.
func TestStoreCounts(t *testing.T) {
	for _, c := range []struct {
		name, metrics string
		want          [4]float64
		retries, fail bool
	}{
		{"all four", "refundd_store_statements_total 240\nrefundd_store_round_trips_total 45\n" +
			"refundd_store_transactions_total 20\nrefundd_store_batch_retries_total 3\n", [4]float64{240, 45, 20, 3}, true, false},
		{"no retries", "refundd_store_statements_total 240\nrefundd_store_round_trips_total 45\n" +
			"refundd_store_transactions_total 20\n", [4]float64{240, 45, 20, 0}, false, false},
		{"no round trips", "refundd_store_statements_total 240\nrefundd_store_transactions_total 20\n" +
			"refundd_store_batch_retries_total 3\n", [4]float64{}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/metrics" {
					http.NotFound(w, r)
					return
				}
				w.Write([]byte("# HELP x y\n" + c.metrics))
			}))
			defer srv.Close()
			r := &run{cfg: Config{Target: srv.URL}, client: srv.Client()}
			got, retries, err := r.storeCounts(t.Context())
			if c.fail {
				if err == nil {
					t.Fatalf("no error for %q", c.metrics)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want || retries != c.retries {
				t.Fatalf("got %v, retries published %v; want %v, %v", got, retries, c.want, c.retries)
			}
		})
	}
}
