package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// TestCLI_UserTOTPSealedWithTheSecretKey: user totp given the nodes'
// secret key stores the new secret sealed, waiting and once confirmed, so
// the database never holds it in the clear; without the key it cannot
// confirm a sealed one and says the key is needed.
func TestCLI_UserTOTPSealedWithTheSecretKey(t *testing.T) {
	t.Setenv("REFUNDD_SECRET_KEY", "")
	t.Setenv("REFUNDD_SECRET_KEY_FILE", "")
	db := sqlitetest.URL(t)
	keyFile := filepath.Join(t.TempDir(), "secret-key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("5f1d3c0a", 8)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "merchant", "create", "--db", db, "--name", "Souq")
	if code != 0 {
		t.Fatalf("merchant create: %s", errOut)
	}
	var mc struct {
		Merchant struct{ ID string } `json:"merchant"`
	}
	mustJSON(t, out, &mc)
	t.Setenv("REFUNDD_TEST_PW", "a long enough password")
	if code, out, errOut = runCLI(t, "user", "create", "--db", db, "--merchant", mc.Merchant.ID, "--email", "ops@souq.example",
		"--role", "viewer", "--password-env", "REFUNDD_TEST_PW"); code != 0 {
		t.Fatalf("user create: %s", errOut)
	}
	var uc struct {
		User struct{ ID string } `json:"user"`
	}
	mustJSON(t, out, &uc)
	stored := func() *refund.User {
		t.Helper()
		ctx := context.Background()
		st, err := server.OpenStore(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var u *refund.User
		if err := st.View(ctx, func(tx refund.Tx) (err error) { u, err = tx.GetUser(ctx, uc.User.ID); return err }); err != nil {
			t.Fatal(err)
		}
		return u
	}

	if code, out, errOut = runCLI(t, "user", "totp", "--db", db, "--secret-key-file", keyFile, uc.User.ID); code != 0 {
		t.Fatalf("user totp: %d %s", code, errOut)
	}
	var totp struct {
		URL string `json:"totp_url"`
	}
	mustJSON(t, out, &totp)
	link, err := url.Parse(totp.URL)
	if err != nil {
		t.Fatal(err)
	}
	secret := link.Query().Get("secret")
	if got := stored().TOTPPending; secret == "" || !strings.HasPrefix(got, "sealed:") || strings.Contains(got, secret) {
		t.Fatalf("the waiting secret %q is stored as %q: want it sealed", secret, got)
	}
	totpCode, err := credential.Code(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut = runCLI(t, "user", "totp", "--db", db, "--code", totpCode, uc.User.ID); code == 0 || !strings.Contains(errOut, "secret key") {
		t.Fatalf("user totp --code without the key: %d %s; want it refused, saying the key is needed", code, errOut)
	}
	if code, out, errOut = runCLI(t, "user", "totp", "--db", db, "--secret-key-file", keyFile, "--code", totpCode, uc.User.ID); code != 0 ||
		!strings.Contains(out, `"totp": true`) {
		t.Fatalf("user totp --code with the key: %d %s %s", code, out, errOut)
	}
	if got := stored().TOTPSecret; !strings.HasPrefix(got, "sealed:") || strings.Contains(got, secret) {
		t.Fatalf("the confirmed secret is stored as %q: want it sealed", got)
	}
}
