package server

import (
	"context"
	"testing"
	"time"

	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// TestTimeoutsOutlastTheLongestRequest: a refund request may wait for the
// order's refund in flight (InFlightWait) and then for the processor
// (ProcessorTimeout). The write deadline of its reply and the drain on
// shutdown must outlast both: cut short, the caller gets no answer for a
// refund the processor may have executed, and a caller who retries on a
// surface without deduplication refunds twice. Both were fixed (60s and
// 30s) whatever the processor timeout.
func TestTimeoutsOutlastTheLongestRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		processor, await time.Duration
		longest          time.Duration
	}{
		{"Defaults", 0, 0, 20 * time.Second},
		{"SlowProcessor", 90 * time.Second, 0, 180 * time.Second},
		{"LongInFlightWait", 20 * time.Second, 50 * time.Second, 70 * time.Second},
		{"ShortProcessor", time.Second, 0, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(context.Background(), Config{DB: sqlitetest.URL(t),
				WorkerInterval: -1, ProcessorTimeout: tc.processor, InFlightWait: tc.await})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop(context.Background())
			if got := s.Service.LongestRequest(); got != tc.longest {
				t.Fatalf("LongestRequest = %s, want %s", got, tc.longest)
			}
			if s.http.WriteTimeout <= tc.longest {
				t.Errorf("write timeout %s, not past the longest request (%s)", s.http.WriteTimeout, tc.longest)
			}
			if s.http.WriteTimeout < 60*time.Second {
				t.Errorf("write timeout %s, below the 60s a large report upload has", s.http.WriteTimeout)
			}
			if d := s.DrainTimeout(); d <= tc.longest || d > s.http.WriteTimeout {
				t.Errorf("drain %s: want past the longest request (%s), within the write timeout (%s)", d, tc.longest, s.http.WriteTimeout)
			}
		})
	}
}
