package refund_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// plainCredentials stands in for argon2id and counts its (slow) hashes.
type plainCredentials struct{ hashes atomic.Int64 }

func (c *plainCredentials) HashPassword(_ context.Context, pw string) (string, error) {
	c.hashes.Add(1)
	return "plain:" + pw, nil
}

func (c *plainCredentials) VerifyPassword(_ context.Context, pw, hash string) bool {
	c.hashes.Add(1)
	return hash == "plain:"+pw
}

func (c *plainCredentials) VerifyTOTP(string, string, time.Time) (int64, bool) { return 0, false }
func (c *plainCredentials) NewTOTP(string) (string, string, error)             { return "", "", nil }

// workStore counts read and write transactions.
type workStore struct {
	refund.Store
	views, updates atomic.Int64
}

func (w *workStore) View(ctx context.Context, fn func(tx refund.Tx) error) error {
	w.views.Add(1)
	return w.Store.View(ctx, fn)
}

func (w *workStore) Update(ctx context.Context, fn func(tx refund.Tx) error) error {
	w.updates.Add(1)
	return w.Store.Update(ctx, fn)
}

// A refused sign-in does the same work whether the email belongs to a
// user or not, and whether or not the account is locked: one read, one
// write (the counted attempt), one password hash. A missing write for an
// unknown email would tell, by the time it takes, which emails exist.
func TestSignIn_SameWorkForUnknownEmail(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	creds := &plainCredentials{}
	ws := &workStore{Store: h.st}
	svc := h.node(newLateProcessor(), func(c *refund.Config) { c.Store, c.Credentials = ws, creds })
	const pw = "correct horse battery staple"
	if _, err := svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: "locked@souq.example", Role: refund.RoleViewer, Password: pw}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: "user@souq.example", Role: refund.RoleViewer, Password: pw}); err != nil {
		t.Fatal(err)
	}
	for range refund.MaxFailedSignIns {
		_, _, _, _ = svc.SignIn(h.ctx, "locked@souq.example", "wrong password!", "")
	}
	for _, tc := range []struct{ name, email, password string }{
		{"UnknownEmail", "nobody@souq.example", pw},
		{"WrongPassword", "user@souq.example", "wrong password!"},
		{"LockedAccount", "locked@souq.example", pw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, u, hs := ws.views.Load(), ws.updates.Load(), creds.hashes.Load()
			if _, _, _, err := svc.SignIn(h.ctx, tc.email, tc.password, ""); refund.ErrorCode(err) != refund.EUnauthorized {
				t.Fatalf("sign-in: %v, want unauthorized", err)
			}
			if got := [3]int64{ws.views.Load() - v, ws.updates.Load() - u, creds.hashes.Load() - hs}; got != [3]int64{1, 1, 1} {
				t.Fatalf("reads, writes, hashes = %v, want [1 1 1]", got)
			}
		})
	}
}

// Wrong passwords from one address lock the account from that address
// only: its owner, elsewhere, still signs in; the guesser, even with the
// right password, does not until the lock ends. Attempts during the lock
// do not extend it; a password reset ends it.
func TestSignIn_LockoutPerAddress(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	svc := h.node(newLateProcessor(), func(c *refund.Config) { c.Credentials = &plainCredentials{} })
	const pw = "correct horse battery staple"
	u, err := svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: "owner@souq.example", Role: refund.RoleViewer, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	from := func(ip string) context.Context { return refund.WithRequest(h.ctx, refund.RequestInfo{IP: ip}) }
	guesser, owner, guesserV6, guesserV6Sibling := from("203.0.113.66"), from("198.51.100.7"), from("2001:db8:66::1"), from("2001:db8:66::2")
	for _, ctx := range []context.Context{guesser, guesserV6} {
		for range refund.MaxFailedSignIns + 1 { // the one past the limit locks
			if _, _, _, err := svc.SignIn(ctx, "owner@souq.example", "wrong password!", ""); refund.ErrorCode(err) != refund.EUnauthorized {
				t.Fatalf("wrong password: %v", err)
			}
		}
	}
	h.clk.Advance(refund.LockoutFor - time.Minute)
	for range 3 { // during the lock: refused, not counted
		_, _, _, _ = svc.SignIn(guesser, "owner@souq.example", "wrong password!", "")
	}
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		after time.Duration // clock moved before this step
		ok    bool
	}{
		{"OwnerElsewhere", owner, 0, true},
		{"GuesserRightPassword", guesser, 0, false},
		{"GuesserSameIPv6Net", guesserV6Sibling, 0, false},
		{"GuesserAfterTheLock", guesser, time.Minute, true},
	} {
		h.clk.Advance(tc.after)
		_, _, _, err := svc.SignIn(tc.ctx, "owner@souq.example", pw, "")
		if (err == nil) != tc.ok {
			t.Fatalf("%s: %v, want signed in %v", tc.name, err, tc.ok)
		}
	}
	// A reset unlocks the account from every address.
	for range refund.MaxFailedSignIns + 1 {
		_, _, _, _ = svc.SignIn(guesserV6, "owner@souq.example", "wrong password!", "")
	}
	if _, err := svc.ResetPassword(h.ctx, u.ID, pw+" again"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := svc.SignIn(guesserV6, "owner@souq.example", pw+" again", ""); err != nil {
		t.Fatalf("after a reset: %v", err)
	}
}

// A console session id nobody holds costs one read, never a write (on
// SQLite a write transaction holds up every refund's); a real session is
// served from a read too while it was used within SessionTouchEvery (it
// was touched by every request), and read, touched and served after.
func TestConsoleSessionOf_UnknownIDIsOneRead(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	ws := &workStore{Store: h.st}
	svc := h.node(newLateProcessor(), func(c *refund.Config) { c.Store, c.Credentials = ws, &plainCredentials{} })
	const pw = "correct horse battery staple"
	if _, err := svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: "user@souq.example", Role: refund.RoleViewer, Password: pw}); err != nil {
		t.Fatal(err)
	}
	id, _, _, err := svc.SignIn(h.ctx, "user@souq.example", pw, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		id      string
		later   time.Duration
		code    string
		updates int64
	}{
		{"Unknown", "uMadeUp1", 0, refund.ENotFound, 0},
		{"RealSessionJustUsed", id, refund.SessionTouchEvery - time.Second, "", 0},
		{"RealSessionUsedAMinuteAgo", id, time.Second, "", 1},
		{"RealSessionJustTouched", id, 0, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.clk.Advance(tc.later)
			u := ws.updates.Load()
			if _, _, err := svc.ConsoleSessionOf(h.ctx, tc.id); refund.ErrorCode(err) != tc.code {
				t.Fatalf("ConsoleSessionOf: %v, want %q", err, tc.code)
			}
			if got := ws.updates.Load() - u; got != tc.updates {
				t.Fatalf("%d write transactions, want %d", got, tc.updates)
			}
		})
	}
}

// Failed sign-ins spend the address's failed-authentication budget, across
// accounts: one address spraying a password over many emails is refused
// past it, before any read, write or hash; another address is not.
func TestSignIn_FailuresLimitedPerSource(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	creds := &plainCredentials{}
	ws := &workStore{Store: h.st}
	svc := h.node(newLateProcessor(), func(c *refund.Config) {
		c.Store, c.Credentials, c.AuthFailureRate, c.AuthFailureBurst = ws, creds, 1, 2
	})
	from := func(ip string) context.Context { return refund.WithRequest(h.ctx, refund.RequestInfo{IP: ip}) }
	for _, tc := range []struct {
		name, ip, email string
		code            string
		work            int64 // reads + writes + hashes
	}{
		{"First", "203.0.113.9", "a@souq.example", refund.EUnauthorized, 3},
		{"Second", "203.0.113.9", "b@souq.example", refund.EUnauthorized, 3},
		{"PastTheBudget", "203.0.113.9", "c@souq.example", refund.ERateLimited, 0},
		{"AnotherAddress", "203.0.113.10", "c@souq.example", refund.EUnauthorized, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ws.views.Load() + ws.updates.Load() + creds.hashes.Load()
			if _, _, _, err := svc.SignIn(from(tc.ip), tc.email, "Summer2026!!!", ""); refund.ErrorCode(err) != tc.code {
				t.Fatalf("sign-in: %v, want %s", err, tc.code)
			}
			if got := ws.views.Load() + ws.updates.Load() + creds.hashes.Load() - before; got != tc.work {
				t.Fatalf("work %d, want %d", got, tc.work)
			}
		})
	}
}

// MaxFailedSignIns wrong passwords lock the account, not one fewer: each
// attempt is counted before its password is checked, and the attempt that
// reached the limit was refused unchecked, so a user who mistyped four
// times was refused their right password, and locked out, on the fifth.
func TestSignIn_RightPasswordWithinTheLimit(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	svc := h.node(newLateProcessor(), func(c *refund.Config) { c.Credentials = &plainCredentials{} })
	const pw = "correct horse battery staple"
	if _, err := svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: "owner@souq.example", Role: refund.RoleViewer, Password: pw}); err != nil {
		t.Fatal(err)
	}
	wrong := func(n int) {
		t.Helper()
		for range n {
			if _, _, _, err := svc.SignIn(h.ctx, "owner@souq.example", "wrong password!", ""); refund.ErrorCode(err) != refund.EUnauthorized {
				t.Fatalf("wrong password: %v", err)
			}
		}
	}
	wrong(refund.MaxFailedSignIns - 1)
	if _, _, _, err := svc.SignIn(h.ctx, "owner@souq.example", pw, ""); err != nil {
		t.Fatalf("the right password after %d wrong ones: %v", refund.MaxFailedSignIns-1, err)
	}
	wrong(refund.MaxFailedSignIns) // the success cleared the count: five more
	if _, _, _, err := svc.SignIn(h.ctx, "owner@souq.example", pw, ""); refund.ErrorCode(err) != refund.EUnauthorized {
		t.Fatalf("the right password after %d wrong ones: %v, want refused", refund.MaxFailedSignIns, err)
	}
	h.clk.Advance(refund.LockoutFor)
	if _, _, _, err := svc.SignIn(h.ctx, "owner@souq.example", pw, ""); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
}
