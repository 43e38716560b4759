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

// A caller that fails leaves nothing of its own in the batch and takes
// nothing of the others' with it, however it fails. Bare (no savepoint
// per caller), a failure that changed no row costs the others nothing; one
// that did loses the batch, which runs again without it and makes the
// next batches careful. Careful, each caller's savepoint absorbs it.
func TestBatch_FailedCallerLeavesNothing(t *testing.T) {
	ctx := context.Background()
	create := func(rt refund.Tx, id string) error {
		return rt.CreateMerchant(ctx, &refund.Merchant{ID: id, Name: id, CreatedAt: time.Unix(0, 0)})
	}
	for _, tc := range []struct {
		name  string
		fn    func(rt refund.Tx) error
		wrote bool // changed rows before failing: loses a bare batch
		ended bool // ended the transaction: loses even a careful batch
	}{
		{"fails after reading", func(rt refund.Tx) error {
			_, err := rt.GetMerchant(ctx, "mer_nobody")
			if err == nil {
				return errors.New("found a merchant nobody made")
			}
			return err
		}, false, false},
		{"its statement is refused", func(rt refund.Tx) error { return create(rt, "mer_existing") }, false, false},
		{"its statement is refused at its second row", func(rt refund.Tx) error {
			// The first row (mer_culprit) goes in before the second
			// breaks app_id's uniqueness: SQLite takes it out again.
			_, err := rt.(*tx).q.ExecContext(ctx, `INSERT INTO merchants (id, app_id, name, created_at)
				VALUES ('mer_culprit', 900001, 'x', 0), ('mer_culprit_2', 900001, 'x', 0)`)
			if c, _ := code(err); c != codeUnique {
				t.Errorf("want the second row refused as a duplicate: %v", err)
			}
			return err
		}, false, false},
		{"fails after writing", func(rt refund.Tx) error {
			if err := create(rt, "mer_culprit"); err != nil {
				return err
			}
			return errors.New("refused after writing")
		}, true, false},
		{"panics after writing", func(rt refund.Tx) error {
			if err := create(rt, "mer_culprit"); err != nil {
				return err
			}
			panic("boom")
		}, true, false},
		{"ends the transaction and says nothing", func(rt refund.Tx) error {
			_, err := rt.(*tx).q.ExecContext(ctx, `ROLLBACK`)
			return err
		}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t)
			if err := s.Update(ctx, func(rt refund.Tx) error { return create(rt, "mer_existing") }); err != nil {
				t.Fatal(err)
			}
			_, _, bare := writerState(s.wstmts.conn)
			for round, careful := range []bool{!bare, true} {
				req := func(fn func(refund.Tx) error) *commitReq {
					return &commitReq{ctx: ctx, done: make(chan struct{}), fn: fn}
				}
				first, last := fmt.Sprintf("mer_first_%d", round), fmt.Sprintf("mer_last_%d", round)
				culprit := req(tc.fn)
				batch := []*commitReq{req(func(rt refund.Tx) error { return create(rt, first) }), culprit,
					req(func(rt refund.Tx) error { return create(rt, last) })}
				s.careful = 0
				if round == 1 {
					s.careful = 2 // this batch and the next
				}
				txs := s.txs.Load()
				s.commitBatch(batch)
				txs = s.txs.Load() - txs
				if culprit.err == nil || batch[0].err != nil || batch[2].err != nil {
					t.Fatalf("round %d: errors: first %v, culprit %v, last %v", round, batch[0].err, culprit.err, batch[2].err)
				}
				err := s.View(ctx, func(rt refund.Tx) error {
					for _, id := range []string{first, last, "mer_existing"} {
						if _, err := rt.GetMerchant(ctx, id); err != nil {
							return fmt.Errorf("%s: %w", id, err)
						}
					}
					if _, err := rt.GetMerchant(ctx, "mer_culprit"); refund.ErrorCode(err) != refund.EMerchantNotFound {
						return fmt.Errorf("the culprit's merchant: %v", err)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				lost := tc.ended || (tc.wrote && !careful)
				if txs != map[bool]uint64{false: 1, true: 2}[lost] {
					t.Errorf("round %d (careful %v): %d transactions, lost %v", round, careful, txs, lost)
				}
				if lost && s.careful != carefulBatches {
					t.Errorf("round %d: a lost batch left %d careful batches to come", round, s.careful)
				}
				if want := map[bool]int{false: 0, true: 1}[round == 1]; !lost && s.careful != want {
					t.Errorf("round %d: %d careful batches to come, want %d", round, s.careful, want)
				}
			}
		})
	}
}
