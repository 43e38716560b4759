package refund_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/refundd/refundd/refund"
)

// notifyRaceStore lets another node rotate the merchant's notify secret,
// and commit, between the moment an armed rotation has read the secret
// and the moment it writes it back (READ COMMITTED: nothing stops it).
type notifyRaceStore struct {
	refund.Store
	armed  atomic.Bool
	meddle func() // the other node's rotation, run to its commit
}

func (s *notifyRaceStore) Update(ctx context.Context, fn func(refund.Tx) error) error {
	return s.Store.Update(ctx, func(tx refund.Tx) error { return fn(notifyRaceTx{tx, s}) })
}

type notifyRaceTx struct {
	refund.Tx
	s *notifyRaceStore
}

func (tx notifyRaceTx) GetNotifySecret(ctx context.Context, merchantID string) (*refund.NotifySecret, error) {
	n, err := tx.Tx.GetNotifySecret(ctx, merchantID)
	if tx.s.armed.CompareAndSwap(true, false) {
		tx.s.meddle()
	}
	return n, err
}

// Two rotations of one merchant's notify secret on two nodes at once (the
// first making it, or one during another's overlap): the one that
// commits second must rotate what the first left, not write over it.
// Written over, the secret the first rotation answered signs nothing, and
// the receiver that took it refuses every delivery.
func TestRotateNotifySecret_ConcurrentRotationsKeepBoth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before bool // the merchant has a secret before both rotations
	}{{"FirstSecret", false}, {"DuringAnOverlap", true}} {
		t.Run(tc.name, func(t *testing.T) {
			url := postgresSchema(t)
			rs := &notifyRaceStore{}
			h := newHarnessOn(t, func(t *testing.T) refund.Store { rs.Store = openPostgresURL(t, url); return rs }, &instantProcessor{}, nil)
			// The other node: its own store (its own connections).
			other := h.node(&instantProcessor{}, func(c *refund.Config) { c.Store = openPostgresURL(t, url) })
			var before string
			if tc.before {
				n, err := h.svc.RotateNotifySecret(h.ctx, h.p, nil)
				if err != nil {
					t.Fatal(err)
				}
				before = n.Secret
			}
			var theirs string
			rs.meddle = func() {
				n, err := other.RotateNotifySecret(h.ctx, h.p, nil)
				if err != nil {
					t.Errorf("the other node's rotation: %v", err)
					return
				}
				theirs = n.Secret
			}
			rs.armed.Store(true)
			ours, err := h.svc.RotateNotifySecret(h.ctx, h.p, nil)
			if err != nil {
				t.Fatal(err)
			}
			var n *refund.NotifySecret
			if err := h.st.View(h.ctx, func(tx refund.Tx) (err error) {
				n, err = tx.GetNotifySecret(h.ctx, h.p.MerchantID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			got := n.Secrets(h.clk.Now())
			if theirs == "" || len(got) != 2 || got[0] != ours.Secret || got[1] != theirs {
				t.Fatalf("signing secrets %v; want ours %s and then the other node's %s (before both: %s)", got, ours.Secret, theirs, before)
			}
			if ours.PreviousSecret != theirs {
				t.Fatalf("our rotation answered previous %q, want the other node's %q", ours.PreviousSecret, theirs)
			}
		})
	}
}
