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
// secret key and --seal-secrets stores the new secret sealed, waiting and
// once confirmed, so the database never holds it in the clear; given the
// key alone it stores it clear, as older nodes can read it (and seals
// nothing else); without the key it cannot confirm a sealed one and says
// the key is needed.
func TestCLI_UserTOTPSealedWithTheSecretKey(t *testing.T) {
	t.Setenv("REFUNDD_SECRET_KEY", "")
	t.Setenv("REFUNDD_SECRET_KEY_FILE", "")
	t.Setenv("REFUNDD_SEAL_SECRETS", "")
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

	start := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, append(append([]string{"user", "totp", "--db", db, "--secret-key-file", keyFile}, args...), uc.User.ID)...)
		if code != 0 {
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
		return link.Query().Get("secret")
	}
	if secret, got := start(), stored().TOTPPending; secret == "" || got != secret {
		t.Fatalf("without --seal-secrets the waiting secret %q is stored as %q: want it in the clear", secret, got)
	}
	secret := start("--seal-secrets")
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
	if code, out, errOut = runCLI(t, "user", "totp", "--db", db, "--secret-key-file", keyFile, "--seal-secrets", "--code", totpCode, uc.User.ID); code != 0 ||
		!strings.Contains(out, `"totp": true`) {
		t.Fatalf("user totp --code with the key: %d %s %s", code, out, errOut)
	}
	if got := stored().TOTPSecret; !strings.HasPrefix(got, "sealed:") || strings.Contains(got, secret) {
		t.Fatalf("the confirmed secret is stored as %q: want it sealed", got)
	}
}

// TestCLI_CommandsSealOnlyWithSealSecrets: processor add and rotate-key
// given the secret key leave a clear TOTP secret clear (older nodes may
// still read it) unless told --seal-secrets; rotate-key then seals it
// under the new key, after the credentials.
func TestCLI_CommandsSealOnlyWithSealSecrets(t *testing.T) {
	t.Setenv("REFUNDD_SECRET_KEY", "")
	t.Setenv("REFUNDD_SECRET_KEY_FILE", "")
	t.Setenv("REFUNDD_SEAL_SECRETS", "")
	db := sqlitetest.URL(t)
	dir := t.TempDir()
	writeKey := func(name, hex string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat(hex, 8)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldKey, newKey := writeKey("old.key", "5f1d3c0a"), writeKey("new.key", "0a3c1d5f")
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
	if code, _, errOut = runCLI(t, "user", "totp", "--db", db, uc.User.ID); code != 0 {
		t.Fatalf("user totp: %s", errOut)
	}
	pending := func() string {
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
		return u.TOTPPending
	}
	plain := pending()
	if plain == "" || strings.HasPrefix(plain, "sealed:") {
		t.Fatalf("user totp without the key stored %q: want the secret in the clear", plain)
	}
	t.Setenv("REFUNDD_TEST_CRED", "APP_ID_1:super-secret-partner-key")
	if code, _, errOut = runCLI(t, "processor", "add", "--db", db, "--merchant", mc.Merchant.ID, "--name", "paylink-main", "--kind", "paylink",
		"--url", "https://restpilot.paylink.sa", "--credential-env", "REFUNDD_TEST_CRED", "--option", "merchant_key=cr",
		"--option", "merchant_value=1010101010", "--secret-key-file", oldKey); code != 0 {
		t.Fatalf("processor add: %s", errOut)
	}
	if got := pending(); got != plain {
		t.Fatalf("after processor add the TOTP secret is stored as %q: want it left clear", got)
	}
	rotate := []string{"processor", "rotate-key", "--db", db, "--secret-key-file", newKey, "--previous-secret-key-file", oldKey}
	if code, out, errOut = runCLI(t, rotate...); code != 0 || !strings.Contains(out, `"resealed": 1`) {
		t.Fatalf("rotate-key: %d %s %s", code, out, errOut)
	}
	if got := pending(); got != plain {
		t.Fatalf("after rotate-key without --seal-secrets the TOTP secret is stored as %q: want it left clear", got)
	}
	if code, out, errOut = runCLI(t, append(rotate, "--seal-secrets")...); code != 0 || !strings.Contains(out, `"resealed": 1`) {
		t.Fatalf("rotate-key --seal-secrets: %d %s %s; want the TOTP secret alone sealed", code, out, errOut)
	}
	if got := pending(); !strings.HasPrefix(got, "sealed:"+kid(t, newKey)+":") {
		t.Fatalf("after rotate-key --seal-secrets the TOTP secret is stored as %q: want it sealed under the new key", got)
	}
}
