package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
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

// TestTOTPNodeWithoutTheKey: a node started without the secret key cannot
// check a second factor a node with it sealed: its sign-in form answers
// 503 with words saying so, whatever the password, and never counts the
// attempt, so the user is not locked out and signs in on a node with the
// key.
func TestTOTPNodeWithoutTheKey(t *testing.T) {
	t.Parallel()
	db := sqlitetest.URL(t)
	open := func(key string) *server.Server { return sealingNode(t, db, key) }
	keyed, keyless := open(strings.Repeat("5f1d3c0a", 8)), open("")
	ctx := context.Background()
	m, _, err := keyed.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	u, err := keyed.Service.CreateUser(ctx, refund.UserInput{MerchantID: m.ID, Email: "ops@souq.example", Role: refund.RoleApprover, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	link, err := keyed.Service.StartTOTP(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	l, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	secret := l.Query().Get("secret")
	code, _ := credential.Code(secret, time.Now())
	if _, err := keyed.Service.ConfirmTOTP(ctx, u.ID, code); err != nil {
		t.Fatal(err)
	}
	for range refund.MaxFailedSignIns + 1 {
		for _, p := range []string{pw, "not the password at all"} {
			page := browserOn(t, keyless).userSignIn("ops@souq.example", p, code)
			if page.status != http.StatusServiceUnavailable {
				t.Fatalf("sign-in on the node without the key: %d %s; want 503", page.status, page.text())
			}
			mustContain(t, page, "cannot check your second factor")
			if strings.Contains(page.text(), "secret this needs") {
				t.Fatalf("the sign-in speaks of secrets in general, not its second factor: %s", page.text())
			}
		}
	}
	// A code of the next step: the one confirming used this one.
	next, _ := credential.Code(secret, time.Now().Add(30*time.Second))
	if p := browserOn(t, keyed).userSignIn("ops@souq.example", pw, next); p.status != http.StatusSeeOther {
		t.Fatalf("sign-in on the node with the key: %d %s; want signed in, not locked out", p.status, p.text())
	}
}

// sealingNode starts a node on db that seals secrets with key (none: a
// node without the key), stopped when t ends.
func sealingNode(t *testing.T, db, key string) *server.Server {
	t.Helper()
	srv, err := server.Open(context.Background(), server.Config{Addr: "127.0.0.1:0", DB: db, WorkerInterval: -1,
		ProcessorTimeout: 5 * time.Second, Log: slog.New(slog.NewJSONHandler(scanned, nil)), SecretKey: key, SealSecrets: key != ""})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	return srv
}
