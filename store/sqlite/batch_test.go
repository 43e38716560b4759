package sqlite

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// One caller of a group-commit batch canceled while its write is running
// must not take the other callers' work down with it. SQLite answers an
// interrupted write inside a transaction by rolling back the whole
// transaction, so the batch's statements must not be interruptible by any
// one caller.
func TestBatch_CanceledCallerDoesNotFailTheOthers(t *testing.T) {
	s := mustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	slow := &commitReq{ctx: ctx, done: make(chan struct{}), fn: func(rt refund.Tx) error {
		close(started)
		// A long write on the caller's context, canceled while it runs.
		_, err := rt.(*tx).q.ExecContext(ctx, `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000)
			INSERT INTO schema_migrations (version, applied_at) SELECT 1000000 + x, 0 FROM n`)
		return err
	}}
	var others []*commitReq
	for i := range 3 {
		m := &refund.Merchant{ID: fmt.Sprintf("mer_batch_%d", i), Name: "Batch", CreatedAt: time.Unix(0, 0)}
		others = append(others, &commitReq{ctx: context.Background(), done: make(chan struct{}),
			fn: func(rt refund.Tx) error { return rt.CreateMerchant(context.Background(), m) }})
	}
	go func() {
		<-started
		// The statement has begun by the time it is canceled, give or take
		// the few instructions between; both orders must keep the others.
		time.AfterFunc(20*time.Millisecond, cancel)
	}()
	// The batch as the committer would run it: the canceled caller first.
	s.commitBatch(append([]*commitReq{slow}, others...))
	for i, r := range others {
		if r.err != nil {
			t.Fatalf("caller %d of the batch failed because another was canceled: %v", i, r.err)
		}
		err := s.View(context.Background(), func(rt refund.Tx) error {
			_, err := rt.GetMerchant(context.Background(), fmt.Sprintf("mer_batch_%d", i))
			return err
		})
		if err != nil {
			t.Fatalf("caller %d's merchant was not committed: %v", i, err)
		}
	}
	if slow.err != nil && !errors.Is(slow.err, context.Canceled) {
		t.Fatalf("the canceled caller: %v", slow.err)
	}
}

// A caller whose error aborted the whole transaction (the savepoint is
// gone) is answered with its error and the others run again without it.
func TestBatch_LostTransactionRunsTheOthersAgain(t *testing.T) {
	s := mustOpen(t)
	culprit := &commitReq{ctx: context.Background(), done: make(chan struct{}), fn: func(rt refund.Tx) error {
		// ROLLBACK ends the transaction, as SQLite's own abort on a full
		// disk or an I/O error does.
		if _, err := rt.(*tx).q.ExecContext(context.Background(), `ROLLBACK`); err != nil {
			return err
		}
		return errors.New("disk full")
	}}
	m := &refund.Merchant{ID: "mer_survivor", Name: "Survivor", CreatedAt: time.Unix(0, 0)}
	survivor := &commitReq{ctx: context.Background(), done: make(chan struct{}),
		fn: func(rt refund.Tx) error { return rt.CreateMerchant(context.Background(), m) }}
	first := &commitReq{ctx: context.Background(), done: make(chan struct{}),
		fn: func(rt refund.Tx) error {
			return rt.CreateMerchant(context.Background(), &refund.Merchant{ID: "mer_first", Name: "First", CreatedAt: time.Unix(0, 0)})
		}}
	s.commitBatch([]*commitReq{first, culprit, survivor})
	if culprit.err == nil || first.err != nil || survivor.err != nil {
		t.Fatalf("errors: culprit %v, first %v, survivor %v", culprit.err, first.err, survivor.err)
	}
	for _, id := range []string{"mer_first", "mer_survivor"} {
		if err := s.View(context.Background(), func(rt refund.Tx) error {
			_, err := rt.GetMerchant(context.Background(), id)
			return err
		}); err != nil {
			t.Fatalf("%s not committed: %v", id, err)
		}
	}
}
