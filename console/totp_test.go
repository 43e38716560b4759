package console_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
)

// TestTOTPCodeWorksOnce: a second-factor code that signed in once must not
// sign in again (RFC 6238 §5.2: the verifier must not accept the second
// attempt of the same OTP after a successful validation). Otherwise
// whoever watched the password and code typed (shoulder, screen share,
// phishing proxy) signs in with them within the next minute and a half.
func TestTOTPCodeWorksOnce(t *testing.T) {
	t.Parallel()
	a, _ := twoNodes(t)
	ctx := context.Background()
	m, _, err := a.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	u, err := a.Service.CreateUser(ctx, refund.UserInput{MerchantID: m.ID, Email: "ops@souq.example", Role: refund.RoleApprover, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := credential.Argon2{}.NewTOTP(u.Email)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.ChangeUser(ctx, u.ID, func(u *refund.User) error { u.TOTPSecret = secret; return nil }); err != nil {
		t.Fatal(err)
	}
	code, _ := credential.Code(secret, time.Now())
	if p := browserOn(t, a).userSignIn("ops@souq.example", pw, code); p.status != http.StatusSeeOther {
		t.Fatalf("first sign-in with the code: %d %s", p.status, p.text())
	}
	if p := browserOn(t, a).userSignIn("ops@souq.example", pw, code); p.status == http.StatusSeeOther {
		t.Fatalf("the same code signed in a second time (%d to %s)", p.status, p.location)
	}
}
