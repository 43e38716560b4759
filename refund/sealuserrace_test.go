package refund_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/postgres/pgtest"
)

// sealUserRaceStore lets another node change a user between the moment
// an armed SealSecrets has read the user in its write and the moment it
// writes the sealed secrets: the change runs until it commits, or waits
// for the user's row (which the read now holds).
type sealUserRaceStore struct {
	refund.Store
	armed  atomic.Bool
	meddle func() // the other node's change, run until it commits or waits
}

func (s *sealUserRaceStore) Update(ctx context.Context, fn func(refund.Tx) error) error {
	return s.Store.Update(ctx, func(tx refund.Tx) error { return fn(sealUserRaceTx{tx, s}) })
}

type sealUserRaceTx struct {
	refund.Tx
	s *sealUserRaceStore
}

func (tx sealUserRaceTx) GetUser(ctx context.Context, id string) (*refund.User, error) {
	u, err := tx.Tx.GetUser(ctx, id)
	if tx.s.armed.CompareAndSwap(true, false) {
		tx.s.meddle()
	}
	return u, err
}

// A user disabled on another node while a node starting with
// --seal-secrets seals the user's TOTP secret stays disabled: the seal
// writes the TOTP columns alone, not the whole row it read before the
// disable, and holds the row from its read, so the disable waits and
// writes after it. And a TOTP secret given out meanwhile by that node
// (which does not seal) stays waiting, not written over with the one
// read: stored as that node stores it, in the clear, for the next seal.
func TestSealSecrets_ConcurrentUserChangeKept(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(svc *refund.Service, h *harness, id string) error
		check  func(t *testing.T, u *refund.User)
	}{
		{"Disable", func(svc *refund.Service, h *harness, id string) error {
			_, err := svc.SetUserDisabled(h.ctx, id, true)
			return err
		}, func(t *testing.T, u *refund.User) {
			if !u.Disabled {
				t.Fatal("the user disabled meanwhile is enabled again")
			}
		}},
		{"NewSecretWaiting", func(svc *refund.Service, h *harness, id string) error {
			_, err := svc.StartTOTP(h.ctx, id)
			return err
		}, func(t *testing.T, u *refund.User) {
			if u.TOTPPending == "" {
				t.Fatal("the secret given out meanwhile is no longer waiting")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := postgresSchema(t)
			b := make([]byte, 6)
			rand.Read(b)
			app := "refundd_seal_" + hex.EncodeToString(b)
			rs := &sealUserRaceStore{}
			h := newHarnessOn(t, func(t *testing.T) refund.Store { rs.Store = openPostgresURL(t, url); return rs }, &instantProcessor{},
				withCredentials(testKeyring(t, 1)))
			// The other node, not sealing: its own store (its own connections).
			other := h.node(&instantProcessor{}, func(c *refund.Config) {
				c.Store, c.Credentials = openPostgresURL(t, url+"&application_name="+app), credential.Argon2{}
			})
			u, secret := h.totpUser(other, "a@souq.example")
			watch, err := pgx.Connect(h.ctx, pgtest.BaseURL(t))
			if err != nil {
				t.Fatal(err)
			}
			defer watch.Close(h.ctx)
			var otherErr error
			changed := make(chan struct{})
			rs.meddle = func() {
				go func() {
					defer close(changed)
					otherErr = tc.change(other, h, u.ID)
				}()
				waitsForLock(t, watch, app, changed)
			}
			rs.armed.Store(true)
			if n, err := h.svc.SealSecrets(h.ctx); err != nil || n != 1 {
				t.Fatalf("SealSecrets = %d, %v; want 1 user", n, err)
			}
			if <-changed; otherErr != nil {
				t.Fatalf("the other node's change: %v", otherErr)
			}
			got := h.storedUser(u.ID)
			tc.check(t, got)
			sealedHolds(t, "the TOTP secret", got.TOTPSecret, secret)
		})
	}
}
