package storetest

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

var merchantTests = []test{
	{"OK", func(t *testing.T, f *fixture) {
		m1 := f.mustCreateMerchant(func(m *refund.Merchant) {
			m.Name, m.CR, m.Freelancer, m.Email = "Alpha Trading", "1010101010", "FL-0001", "billing@alpha.example"
			m.Mobile, m.AccountNo, m.VATNumber = "+966500000001", "ACC-0001", "300000000000003"
		})
		m2 := f.mustCreateMerchant()
		if m1.AppID <= 0 || m2.AppID <= m1.AppID {
			t.Fatalf("AppIDs = %d, %d; want positive and increasing", m1.AppID, m2.AppID)
		}
		for _, want := range []*refund.Merchant{m1, m2} {
			var got *refund.Merchant
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.GetMerchant(f.ctx, want.ID)
				return err
			})
			wantSame(t, "GetMerchant", got, want)
		}
	}},
	{"TimeZone", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant(func(m *refund.Merchant) { m.TimeZone = "Asia/Riyadh" })
		other := f.mustCreateMerchant(func(m *refund.Merchant) { m.TimeZone = "Asia/Riyadh" })
		f.mustUpdate(func(tx refund.Tx) error { return tx.SetMerchantTimeZone(f.ctx, m.ID, "Asia/Kuwait") })
		for id, want := range map[string]string{m.ID: "Asia/Kuwait", other.ID: "Asia/Riyadh"} {
			var got *refund.Merchant
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.GetMerchant(f.ctx, id)
				return err
			})
			if got.TimeZone != want {
				t.Errorf("merchant %s: time zone %q, want %q", id, got.TimeZone, want)
			}
		}
		err := f.update(func(tx refund.Tx) error { return tx.SetMerchantTimeZone(f.ctx, "mer_missing", "Asia/Dubai") })
		wantCode(t, err, refund.EMerchantNotFound)
	}},
	{"LockMerchantOrdersCounts", func(t *testing.T, f *fixture) {
		// Twelve transactions each count the merchant's endpoints under
		// its lock and add one while there are fewer than three: exactly
		// three are added, whatever runs at once (three rounds: unlocked,
		// PostgreSQL passed the count in about one round of two).
		for range 3 {
			m := f.mustCreateMerchant()
			var wg sync.WaitGroup
			for range 12 {
				wg.Go(func() {
					err := f.update(func(tx refund.Tx) error {
						if err := tx.LockMerchant(f.ctx, m.ID); err != nil {
							return err
						}
						eps, err := tx.ListWebhookEndpoints(f.ctx, m.ID)
						if err != nil || len(eps) >= 3 {
							return err
						}
						return tx.CreateWebhookEndpoint(f.ctx, &refund.WebhookEndpoint{ID: f.id("we"), MerchantID: m.ID,
							URL: "https://merchant.example/hooks", SigningSecrets: refund.SigningSecrets{Secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"},
							CreatedAt: t0, UpdatedAt: t0})
					})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			var eps []*refund.WebhookEndpoint
			f.mustView(func(tx refund.Tx) (err error) {
				eps, err = tx.ListWebhookEndpoints(f.ctx, m.ID)
				return err
			})
			if len(eps) != 3 {
				t.Fatalf("%d endpoints, want 3", len(eps))
			}
		}
		wantCode(t, f.update(func(tx refund.Tx) error { return tx.LockMerchant(f.ctx, "mer_missing") }), refund.EMerchantNotFound)
	}},
	{"ErrMerchantNotFound", func(t *testing.T, f *fixture) {
		f.mustCreateMerchant()
		err := f.view(func(tx refund.Tx) error {
			_, err := tx.GetMerchant(f.ctx, "mer_missing")
			return err
		})
		wantCode(t, err, refund.EMerchantNotFound)
	}},
	{"Find", func(t *testing.T, f *fixture) {
		m1 := f.mustCreateMerchant(func(m *refund.Merchant) {
			m.CR, m.Freelancer, m.Email, m.Mobile, m.AccountNo = "1010000001", "FL-1", "one@example.com", "+966500000001", "ACC-1"
		})
		m2 := f.mustCreateMerchant(func(m *refund.Merchant) {
			m.CR, m.Freelancer, m.Email, m.Mobile, m.AccountNo = "1010000002", "FL-2", "two@example.com", "+966500000002", "ACC-2"
		})
		m3 := f.mustCreateMerchant(func(m *refund.Merchant) { m.Email = "Ärzte@example.com" })
		f.mustCreateMerchant() // every lookup field empty
		for _, tc := range []struct {
			field, value string
			want         *refund.Merchant // nil: not found
		}{
			{"cr", "1010000002", m2},
			{"freelancer", "FL-1", m1},
			{"mobile", "+966500000002", m2},
			{"email", "one@example.com", m1},
			{"email", "One@Example.COM", m1}, // emails compare without case
			// ... of ASCII letters only, on every store: SQLite's lower()
			// folds no other letter, PostgreSQL's (in a UTF-8 locale) did.
			{"email", "ÄRZTE@EXAMPLE.COM", m3},
			{"email", "ärzte@example.com", nil},
			{"accountNo", "ACC-2", m2},
			{"app_id", strconv.FormatInt(m1.AppID, 10), m1},
			{"app_id", strconv.FormatInt(m2.AppID, 10), m2},
			{"cr", "9999999999", nil},
			{"email", "", nil}, // an empty value matches nobody, not the merchant without an email
			{"app_id", "not-a-number", nil},
			{"app_id", strconv.FormatInt(m2.AppID+100, 10), nil},
		} {
			var got []*refund.Merchant
			err := f.view(func(tx refund.Tx) (err error) {
				got, err = tx.FindMerchants(f.ctx, tc.field, tc.value, "", 2)
				return err
			})
			if err != nil {
				t.Fatalf("FindMerchants(%s, %q): %v", tc.field, tc.value, err)
			}
			var want []*refund.Merchant
			if tc.want != nil {
				want = []*refund.Merchant{tc.want}
			}
			wantSame(t, "FindMerchants("+tc.field+", "+tc.value+")", got, want)
		}
	}},
	{"FindAmongPartner", func(t *testing.T, f *fixture) {
		// An unlinked merchant created first shares every lookup value with
		// the partner's merchant: the partner must still find its own, and
		// only it; a second partner linked to both finds both, by app_id,
		// and no more than asked for.
		same := func(m *refund.Merchant) {
			m.CR, m.Email, m.Mobile = "1010000009", "shop@example.com", "+966500000009"
		}
		other := f.mustCreateMerchant(same)
		mine := f.mustCreateMerchant(same)
		p := &refund.Partner{ID: f.id("ptn"), Name: "Partner", MerchantIDs: []string{mine.ID}, CreatedAt: t0}
		both := &refund.Partner{ID: f.id("ptn"), Name: "Both", MerchantIDs: []string{mine.ID, other.ID}, CreatedAt: t0}
		f.mustUpdate(func(tx refund.Tx) error {
			if err := tx.CreatePartner(f.ctx, p); err != nil {
				return err
			}
			return tx.CreatePartner(f.ctx, both)
		})
		for _, tc := range []struct {
			field, value, partner string
			limit                 int
			want                  []*refund.Merchant
		}{
			{"cr", "1010000009", p.ID, 2, []*refund.Merchant{mine}},
			{"email", "SHOP@example.com", p.ID, 2, []*refund.Merchant{mine}},
			{"mobile", "+966500000009", p.ID, 2, []*refund.Merchant{mine}},
			{"cr", "1010000009", "", 2, []*refund.Merchant{other, mine}},
			{"cr", "1010000009", "", 1, []*refund.Merchant{other}},
			{"email", "shop@example.com", both.ID, 2, []*refund.Merchant{other, mine}},
			{"cr", "1010000009", "ptn_other", 2, nil},
			{"app_id", strconv.FormatInt(other.AppID, 10), p.ID, 2, nil},
			{"app_id", strconv.FormatInt(other.AppID, 10), both.ID, 2, []*refund.Merchant{other}},
		} {
			var got []*refund.Merchant
			err := f.view(func(tx refund.Tx) (err error) {
				got, err = tx.FindMerchants(f.ctx, tc.field, tc.value, tc.partner, tc.limit)
				return err
			})
			if err != nil {
				t.Fatalf("FindMerchants(%s, %q, %q): %v", tc.field, tc.value, tc.partner, err)
			}
			wantSame(t, "FindMerchants("+tc.field+", "+tc.partner+")", got, tc.want)
		}
	}},
	{"FindErrInvalidField", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		err := f.view(func(tx refund.Tx) error {
			_, err := tx.FindMerchants(f.ctx, "name", m.Name, "", 2)
			return err
		})
		wantCode(t, err, refund.EInvalidRequest)
	}},
}

var partnerTests = []test{
	{"OK", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		f.mustCreateMerchant() // not linked
		p := &refund.Partner{ID: f.id("ptn"), Name: "Partner", MerchantIDs: []string{m2.ID, m1.ID}, CreatedAt: t0}
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreatePartner(f.ctx, p) })
		var got *refund.Partner
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.GetPartner(f.ctx, p.ID)
			return err
		})
		// The links are a set: their order is not part of the contract.
		slices.Sort(got.MerchantIDs)
		want := *p
		want.MerchantIDs = slices.Sorted(slices.Values(p.MerchantIDs))
		wantSame(t, "GetPartner", got, &want)
	}},
	{"ErrPartnerNotFound", func(t *testing.T, f *fixture) {
		err := f.view(func(tx refund.Tx) error {
			_, err := tx.GetPartner(f.ctx, "ptn_missing")
			return err
		})
		wantCode(t, err, refund.EPartnerNotFound)
	}},
}

func (f *fixture) mustCreateKey(merchantID, partnerID string, scopes []string, created time.Time) *refund.APIKey {
	f.t.Helper()
	id := f.id("key")
	k := &refund.APIKey{ID: id, Prefix: "rk_" + id, Hash: []byte("sha256-of-" + id),
		MerchantID: merchantID, PartnerID: partnerID, Scopes: scopes, CreatedAt: created}
	f.mustUpdate(func(tx refund.Tx) error { return tx.CreateAPIKey(f.ctx, k) })
	return k
}

var apiKeyTests = []test{
	{"OK", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		p := &refund.Partner{ID: f.id("ptn"), Name: "Partner", MerchantIDs: []string{m.ID}, CreatedAt: t0}
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreatePartner(f.ctx, p) })
		mk := f.mustCreateKey(m.ID, "", refund.MerchantScopes, t0)
		pk := f.mustCreateKey("", p.ID, []string{refund.ScopePartner}, t0.Add(time.Second))
		for _, want := range []*refund.APIKey{mk, pk} {
			var got *refund.APIKey
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.GetAPIKeyByPrefix(f.ctx, want.Prefix)
				return err
			})
			wantSame(t, "GetAPIKeyByPrefix", got, want)
		}
		var list []*refund.APIKey
		f.mustView(func(tx refund.Tx) (err error) {
			list, err = tx.ListAPIKeys(f.ctx)
			return err
		})
		wantSame(t, "ListAPIKeys", list, []*refund.APIKey{mk, pk})
	}},
	{"Revoke", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		k1 := f.mustCreateKey(m.ID, "", refund.MerchantScopes, t0)
		k2 := f.mustCreateKey(m.ID, "", []string{refund.ScopeRefundsRead}, t0)
		at := t0.Add(time.Hour)
		f.mustUpdate(func(tx refund.Tx) error { return tx.RevokeAPIKey(f.ctx, k1.ID, at) })
		var got1, got2 *refund.APIKey
		f.mustView(func(tx refund.Tx) (err error) {
			if got1, err = tx.GetAPIKeyByPrefix(f.ctx, k1.Prefix); err != nil {
				return err
			}
			got2, err = tx.GetAPIKeyByPrefix(f.ctx, k2.Prefix)
			return err
		})
		if got1.RevokedAt == nil {
			t.Fatal("revoked key has no RevokedAt")
		}
		wantTime(t, "RevokedAt", *got1.RevokedAt, at)
		if got2.RevokedAt != nil {
			t.Fatalf("other key revoked at %v", got2.RevokedAt)
		}
	}},
	{"ErrKeyNotFound", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		f.mustCreateKey(m.ID, "", refund.MerchantScopes, t0)
		err := f.view(func(tx refund.Tx) error {
			_, err := tx.GetAPIKeyByPrefix(f.ctx, "rk_missing0000")
			return err
		})
		wantCode(t, err, refund.EKeyNotFound)
		err = f.update(func(tx refund.Tx) error { return tx.RevokeAPIKey(f.ctx, "key_missing", t0) })
		wantCode(t, err, refund.EKeyNotFound)
	}},
}

var userTests = []test{
	{"SessionLanguage", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		u := &refund.User{ID: f.id("usr"), MerchantID: m.ID, Email: f.id("u") + "@souq.example", Role: refund.RoleViewer,
			PasswordHash: "x", CreatedAt: t0, UpdatedAt: t0}
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateUser(f.ctx, u) })
		a := &refund.ConsoleSession{IDHash: f.id("sa"), UserID: u.ID, MerchantID: m.ID, CSRF: "c1", CreatedAt: t0, SeenAt: t0}
		b := &refund.ConsoleSession{IDHash: f.id("sb"), UserID: u.ID, MerchantID: m.ID, CSRF: "c2", Language: "en", CreatedAt: t0, SeenAt: t0}
		f.mustUpdate(func(tx refund.Tx) error {
			if err := tx.CreateConsoleSession(f.ctx, a); err != nil {
				return err
			}
			return tx.CreateConsoleSession(f.ctx, b)
		})
		f.mustUpdate(func(tx refund.Tx) error { return tx.SetConsoleSessionLanguage(f.ctx, a.IDHash, "ar") })
		for _, want := range []struct{ idHash, lang string }{{a.IDHash, "ar"}, {b.IDHash, "en"}} {
			var got *refund.ConsoleSession
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.GetConsoleSession(f.ctx, want.idHash)
				return err
			})
			if got.Language != want.lang || got.CSRF == "" {
				t.Errorf("session %s: language %q, want %q", want.idHash, got.Language, want.lang)
			}
		}
		err := f.update(func(tx refund.Tx) error { return tx.SetConsoleSessionLanguage(f.ctx, "missing", "ar") })
		wantCode(t, err, refund.ENotFound)
	}},
	{"SignInAttemptsCountAtomically", func(t *testing.T, f *fixture) {
		account, other := f.id("acct"), f.id("acct")
		fail := func(account, source string, now time.Time) time.Time {
			var locked time.Time
			if err := f.update(func(tx refund.Tx) (err error) {
				locked, err = tx.FailSignIn(f.ctx, account, source, 5, now.Add(time.Hour), now)
				return err
			}); err != nil {
				t.Error(err)
			}
			return locked
		}
		// 23 attempts at once from one address: the 5th locks the pair,
		// the later ones are not counted; none may be lost.
		var open atomic.Int64
		var wg sync.WaitGroup
		for range 23 {
			wg.Go(func() {
				if fail(account, "203.0.113.7", t0).IsZero() {
					open.Add(1)
				}
			})
		}
		wg.Wait()
		if n := open.Load(); n != 4 {
			t.Fatalf("%d of 23 attempts found the pair unlocked, want 4", n)
		}
		for _, tc := range []struct {
			name, account, source string
			at                    time.Time
			locked                bool
		}{
			{"SamePairLocked", account, "203.0.113.7", t0.Add(time.Minute), true},
			{"OtherAddress", account, "203.0.113.8", t0, false},
			{"OtherAccount", other, "203.0.113.7", t0, false},
			{"SamePairAfterTheLock", account, "203.0.113.7", t0.Add(time.Hour), false},
		} {
			if got := fail(tc.account, tc.source, tc.at); got.After(tc.at) != tc.locked {
				t.Errorf("%s: locked until %v at %v, want locked %v", tc.name, got, tc.at, tc.locked)
			}
		}
		// A success clears its pair; a reset clears every address.
		f.mustUpdate(func(tx refund.Tx) error { return tx.ClearSignInFailures(f.ctx, account, []string{"203.0.113.7"}) })
		for range 4 {
			if got := fail(account, "203.0.113.7", t0.Add(2*time.Hour)); !got.IsZero() {
				t.Fatalf("after clearing the pair: locked until %v within 4 attempts", got)
			}
		}
		f.mustUpdate(func(tx refund.Tx) error { return tx.ClearSignInFailures(f.ctx, account, nil) })
		if got := fail(account, "203.0.113.7", t0.Add(2*time.Hour)); !got.IsZero() {
			t.Fatalf("after clearing the account: locked until %v", got)
		}
		// Stale records go, locked ones stay until their lock ends.
		locker := f.id("acct")
		for range 5 {
			fail(locker, "203.0.113.9", t0.Add(3*time.Hour))
		}
		var n int
		f.mustUpdate(func(tx refund.Tx) (err error) {
			n, err = tx.DeleteStaleSignInFailures(f.ctx, t0.Add(4*time.Hour), t0.Add(3*time.Hour+time.Minute), 100)
			return err
		})
		if got := fail(locker, "203.0.113.9", t0.Add(3*time.Hour+time.Minute)); got.IsZero() {
			t.Fatalf("a locked pair was deleted as stale (%d deleted)", n)
		}
		if n < 2 {
			t.Fatalf("%d stale records deleted, want the 2 unlocked ones at least", n)
		}
	}},
	// A second-factor secret waiting for its code (0033) is kept apart
	// from the one in use, written by CreateUser and UpdateUser and read
	// back by every lookup.
	{"TOTPPendingKept", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		u := &refund.User{ID: f.id("usr"), MerchantID: m.ID, Email: f.id("u") + "@souq.example", Role: refund.RoleViewer,
			PasswordHash: "x", TOTPPending: "JBSWY3DPEHPK3PXP", CreatedAt: t0, UpdatedAt: t0}
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateUser(f.ctx, u) })
		read := func() (byID, byEmail, listed *refund.User) {
			f.mustView(func(tx refund.Tx) (err error) {
				if byID, err = tx.GetUser(f.ctx, u.ID); err != nil {
					return err
				}
				if byEmail, err = tx.GetUserByEmail(f.ctx, u.Email); err != nil {
					return err
				}
				us, err := tx.ListUsers(f.ctx, m.ID)
				if len(us) == 1 {
					listed = us[0]
				}
				return err
			})
			return
		}
		for _, got := range func() []*refund.User { a, b, c := read(); return []*refund.User{a, b, c} }() {
			if got == nil || got.TOTPPending != "JBSWY3DPEHPK3PXP" || got.TOTPSecret != "" {
				t.Fatalf("created waiting: %+v", got)
			}
		}
		u.TOTPSecret, u.TOTPPending, u.UpdatedAt = u.TOTPPending, "", t0.Add(time.Minute)
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateUser(f.ctx, u) })
		for _, got := range func() []*refund.User { a, b, c := read(); return []*refund.User{a, b, c} }() {
			if got == nil || got.TOTPPending != "" || got.TOTPSecret != "JBSWY3DPEHPK3PXP" {
				t.Fatalf("confirmed: %+v", got)
			}
		}
	}},
	// SealUserTOTP writes the two TOTP columns alone, and only while they
	// are as read: a disable made since stands, and TOTP secrets changed
	// since are not written over (EConflict).
	{"SealUserTOTPGuarded", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		u := &refund.User{ID: f.id("usr"), MerchantID: m.ID, Email: f.id("u") + "@souq.example", Role: refund.RoleViewer,
			PasswordHash: "x", TOTPSecret: "JBSWY3DPEHPK3PXP", TOTPPending: "KRSXG5DJNZTSA3DP", CreatedAt: t0, UpdatedAt: t0}
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateUser(f.ctx, u) })
		disabled := *u
		disabled.Disabled, disabled.UpdatedAt = true, t0.Add(time.Minute)
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateUser(f.ctx, &disabled) })
		if err := f.update(func(tx refund.Tx) error {
			return tx.SealUserTOTP(f.ctx, u.ID, "sealed:a", "sealed:b", "JBSWY3DPEHPK3PXP", "other")
		}); refund.ErrorCode(err) != refund.EConflict {
			t.Fatalf("sealing over a changed pending secret: %v, want EConflict", err)
		}
		if err := f.update(func(tx refund.Tx) error {
			return tx.SealUserTOTP(f.ctx, "usr_nobody", "sealed:a", "", "JBSWY3DPEHPK3PXP", "")
		}); refund.ErrorCode(err) != refund.EConflict {
			t.Fatalf("sealing a user that does not exist: %v, want EConflict", err)
		}
		f.mustUpdate(func(tx refund.Tx) error {
			return tx.SealUserTOTP(f.ctx, u.ID, "sealed:a", "sealed:b", "JBSWY3DPEHPK3PXP", "KRSXG5DJNZTSA3DP")
		})
		var got *refund.User
		f.mustView(func(tx refund.Tx) (err error) { got, err = tx.GetUser(f.ctx, u.ID); return err })
		if got.TOTPSecret != "sealed:a" || got.TOTPPending != "sealed:b" || !got.Disabled || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("after SealUserTOTP: %+v; want the sealed secrets, still disabled, updated_at kept", got)
		}
	}},
	{"TOTPStepTakenOnce", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		u := &refund.User{ID: f.id("usr"), MerchantID: m.ID, Email: f.id("u") + "@souq.example", Role: refund.RoleViewer,
			PasswordHash: "x", TOTPSecret: "JBSWY3DPEHPK3PXP", CreatedAt: t0, UpdatedAt: t0}
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateUser(f.ctx, u) })
		use := func(step int64) error {
			return f.update(func(tx refund.Tx) error { return tx.UseTOTPStep(f.ctx, u.ID, step) })
		}
		// One step, taken by eight sign-ins at once: exactly one passes.
		var passed atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				switch err := use(100); refund.ErrorCode(err) {
				case "":
					passed.Add(1)
				case refund.EConflict:
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if passed.Load() != 1 {
			t.Fatalf("step 100 taken %d times, want once", passed.Load())
		}
		// An earlier step after it is refused; a later one passes.
		wantCode(t, use(99), refund.EConflict)
		if err := use(101); err != nil {
			t.Fatal(err)
		}
		wantCode(t, use(101), refund.EConflict)
	}},
}
