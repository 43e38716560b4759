package sim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// recorder is a testing.TB that keeps what the checker reports instead
// of failing the test, so a test can assert that a check fails.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Failed() bool { return len(r.errs) > 0 }

// TestCheck_Fails breaks each invariant on purpose, in a history scripted
// on the real service and store, and expects the checker to name it: a
// check that cannot fail proves nothing.
func TestCheck_Fails(t *testing.T) {
	for _, tc := range []struct {
		name string
		// history scripts the run on w through node n; the checker runs
		// on what it leaves.
		history func(t *testing.T, w *world, n *node)
		want    string
	}{
		{"RefundLeftInReviewAfterTheProcessorExecutedIt", func(t *testing.T, w *world, n *node) {
			// Every submission times out unexecuted: after the last one
			// the refund waits for review, its money held; then the
			// processor executes it late. Nobody polls it again here.
			id := w.reviewed(t, n)
			w.proc.execute(id, w.proc.keys[id])
		}, "still waits for review, though the processor executed it"},
		{"RefundLeftInReviewThatTheProcessorCouldVoid", func(t *testing.T, w *world, n *node) {
			w.reviewed(t, n)
			w.proc.voids = true
		}, "still waits for review, though the processor never executed it and can void it"},
		{"KeyExecutedTwice", func(t *testing.T, w *world, n *node) {
			id := w.reviewed(t, n)
			k := w.proc.keys[id]
			w.proc.execute(id, k)
			w.proc.execute(id, k)
		}, "executed re_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := sqlite.Open(context.Background(), sqlitetest.Path(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rec := &recorder{TB: t}
			w := newWorld(rec, 1, st)
			w.calm = true
			w.proc.voids, w.proc.caps = false, profiles[0] // idempotent, status by key
			tc.history(t, w, w.startNode())
			w.check()
			if !strings.Contains(strings.Join(rec.errs, "\n"), tc.want) {
				t.Fatalf("the checker reported %q, want an error with %q", rec.errs, tc.want)
			}
		})
	}
}

// reviewed makes a refund whose every submission times out unexecuted,
// and runs n's worker until it waits for review; it returns its id.
func (w *world) reviewed(t *testing.T, n *node) string {
	t.Helper()
	w.proc.timeouts = 3 // the nodes' MaxAttempts
	amount := int64(100)
	r, err := n.svc.CreateRefund(w.on(n), w.p, refund.RefundInput{OrderID: w.orders[0].id, Amount: &amount, Surface: "native", Reason: "key scripted"})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if rs := w.refunds(); len(rs) == 1 && rs[0].Status == refund.StatusRequiresReview {
			return r.ID
		}
		w.advance(time.Minute)
		w.work(n)
	}
	t.Fatalf("refund %s never went to review: %+v", r.ID, w.refunds()[0])
	return ""
}
