package refund_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
)

// A second factor was on as soon as the operator made its secret: a user
// whose authenticator app took it wrong (a mistyped secret, a scan of an
// older URL) was locked out at the next sign-in. StartTOTP now only hands
// out the secret; the user signs in as before until ConfirmTOTP gets a
// code from it, which turns it on (the code used up) and is audited. A
// wrong code changes nothing, and a new start leaves the factor in use
// working until its own confirmation.
func TestTOTP_OnOnlyWithACodeFromTheNewSecret(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, func(c *refund.Config) { c.Credentials = credential.Argon2{} })
		const email, pw = "ops@souq.example", "correct horse battery staple"
		u, err := h.svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: email, Role: refund.RoleViewer, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		user := func() *refund.User {
			t.Helper()
			us, err := h.svc.ListUsers(h.ctx, h.p.MerchantID)
			if err != nil || len(us) != 1 {
				t.Fatalf("users %v, %v", us, err)
			}
			return us[0]
		}
		signIn := func(code string) error {
			_, _, _, err := h.svc.SignIn(h.ctx, email, pw, code)
			return err
		}
		start := func() string {
			t.Helper()
			link, err := h.svc.StartTOTP(h.ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			l, err := url.Parse(link)
			if err != nil || l.Query().Get("secret") == "" || l.Query().Get("secret") != user().TOTPPending {
				t.Fatalf("StartTOTP gave %q (%v), the user waits with %q", link, err, user().TOTPPending)
			}
			return l.Query().Get("secret")
		}
		code := func(secret string) string {
			c, err := credential.Code(secret, h.clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}

		wantCode := func(t *testing.T, err error, want string) {
			t.Helper()
			if refund.ErrorCode(err) != want {
				t.Fatalf("err = %v, want %s", err, want)
			}
		}

		first := start()
		if got := user(); got.TOTPSecret != "" {
			t.Fatalf("the second factor is on before a code confirmed it")
		}
		if err := signIn(""); err != nil {
			t.Fatalf("sign-in without a code while the new factor waits: %v", err)
		}
		wrong := "000000"
		if wrong == code(first) {
			wrong = "111111"
		}
		_, err = h.svc.ConfirmTOTP(h.ctx, u.ID, wrong)
		wantCode(t, err, refund.EInvalidRequest)
		if got := user(); got.TOTPSecret != "" || got.TOTPPending != first {
			t.Fatalf("a wrong code changed the user: on %q, waiting %q", got.TOTPSecret, got.TOTPPending)
		}
		c := code(first)
		if got, err := h.svc.ConfirmTOTP(h.ctx, u.ID, c); err != nil || got.TOTPSecret != first || got.TOTPPending != "" {
			t.Fatalf("confirmed with a code from the new secret: %+v, %v", got, err)
		}
		wantCode(t, signIn(""), refund.EUnauthorized)
		wantCode(t, signIn(c), refund.EUnauthorized) // used up by the confirmation
		h.clk.Advance(30 * time.Second)
		if err := signIn(code(first)); err != nil {
			t.Fatalf("sign-in with the next code: %v", err)
		}

		// A new secret waits while the one in use goes on signing in.
		second := start()
		h.clk.Advance(30 * time.Second)
		if err := signIn(code(first)); err != nil {
			t.Fatalf("sign-in with the factor in use while another waits: %v", err)
		}
		_, err = h.svc.ConfirmTOTP(h.ctx, u.ID, code(first))
		wantCode(t, err, refund.EInvalidRequest) // not from the new secret
		h.clk.Advance(30 * time.Second)
		if _, err := h.svc.ConfirmTOTP(h.ctx, u.ID, code(second)); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(30 * time.Second)
		wantCode(t, signIn(code(first)), refund.EUnauthorized)
		if err := signIn(code(second)); err != nil {
			t.Fatalf("sign-in with the new factor: %v", err)
		}

		page, err := h.svc.ListAudit(h.ctx, h.p, refund.AuditFilter{ObjectID: u.ID})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range page.Data {
			if strings.HasPrefix(e.Action, "user.totp") {
				got = append(got, e.Action+" "+e.Before+"->"+e.After)
			}
		}
		want := []string{"user.totp on->on", "user.totp_start ->waiting for a code", "user.totp off->on", "user.totp_start ->waiting for a code"}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("audit %q, want %q", got, want)
		}
	})
}
