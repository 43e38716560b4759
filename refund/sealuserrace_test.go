package refund_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
)

// sealUserRaceStore lets another node change a user, and commit, between
// the moment an armed SealSecrets has read the user in its write and the
// moment it writes the sealed secrets (READ COMMITTED: nothing stops it).
type sealUserRaceStore struct {
	refund.Store
	armed  atomic.Bool
	meddle func() // the other node's change, run to its commit
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
// disable. And a TOTP secret replaced meanwhile is sealed as it now is,
// not written over with the one read.
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
			rs := &sealUserRaceStore{}
			h := newHarnessOn(t, func(t *testing.T) refund.Store { rs.Store = openPostgresURL(t, url); return rs }, &instantProcessor{},
				withCredentials(testKeyring(t, 1)))
			// The other node, not sealing: its own store (its own connections).
			other := h.node(&instantProcessor{}, func(c *refund.Config) {
				c.Store, c.Credentials = openPostgresURL(t, url), credential.Argon2{}
			})
			u, secret := h.totpUser(other, "a@souq.example")
			rs.meddle = func() {
				if err := tc.change(other, h, u.ID); err != nil {
					t.Errorf("the other node's change: %v", err)
				}
			}
			rs.armed.Store(true)
			if n, err := h.svc.SealSecrets(h.ctx); err != nil || n != 1 {
				t.Fatalf("SealSecrets = %d, %v; want 1 user", n, err)
			}
			got := h.storedUser(u.ID)
			tc.check(t, got)
			sealedHolds(t, "the TOTP secret", got.TOTPSecret, secret)
			if got.TOTPPending != "" && !strings.HasPrefix(got.TOTPPending, "sealed:") {
				t.Fatalf("the waiting TOTP secret is stored as %q: want it sealed", got.TOTPPending)
			}
		})
	}
}
