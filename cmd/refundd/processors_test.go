package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
	"github.com/refundd/refundd/vault"
)

// TestCLI_Processors: an account is added with its credential from the
// environment or a file, printed and listed without it, stored sealed
// (the database file never holds it), refused without a key or with a bad
// kind, re-sealed under a new key by rotate-key, and removed.
func TestCLI_Processors(t *testing.T) {
	dir := t.TempDir()
	path := sqlitetest.Path(t)
	db := "sqlite:" + path
	writeKey := func(name string) string {
		k, err := vault.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(k), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldKey, newKey := writeKey("old.key"), writeKey("new.key")
	code, out, errOut := runCLI(t, "merchant", "create", "--db", db, "--name", "Souq")
	if code != 0 {
		t.Fatalf("merchant create: %s", errOut)
	}
	var mc struct {
		Merchant struct{ ID string } `json:"merchant"`
	}
	mustJSON(t, out, &mc)
	const secret = "APP_ID_1:super-secret-partner-key"
	t.Setenv("REFUNDD_TEST_PAYLINK", secret)
	add := []string{"processor", "add", "--db", db, "--merchant", mc.Merchant.ID, "--name", "paylink-main", "--kind", "paylink",
		"--url", "https://restpilot.paylink.sa", "--credential-env", "REFUNDD_TEST_PAYLINK",
		"--option", "merchant_key=cr", "--option", "merchant_value=1010101010", "--option", "max_in_flight=4", "--default"}

	t.Setenv("REFUNDD_SECRET_KEY", "")
	if code, _, errOut := runCLI(t, add...); code == 0 || !strings.Contains(errOut, "secret key") {
		t.Fatalf("add without a secret key: %d %s", code, errOut)
	}
	code, out, errOut = runCLI(t, append(add, "--secret-key-file", oldKey)...)
	if code != 0 || strings.Contains(out, "super-secret") || !strings.Contains(out, `"kind": "paylink"`) || !strings.Contains(out, `"default": true`) {
		t.Fatalf("processor add: %d %s %s", code, out, errOut)
	}
	for _, bad := range [][]string{
		{"--name", "x1", "--kind", "paypal", "--url", "https://x.example", "--credential-env", "REFUNDD_TEST_PAYLINK"},
		{"--name", "x2", "--kind", "paylink", "--url", "https://u:p@x.example", "--credential-env", "REFUNDD_TEST_PAYLINK"},
		{"--name", "x3", "--kind", "paylink", "--url", "https://x.example", "--credential-env", "REFUNDD_TEST_PAYLINK", "--option", "colour=red"},
		{"--name", "paylink-main", "--kind", "acquirer", "--url", "https://x.example"}, // name taken
		{"--name", "x4", "--kind", "paylink", "--url", "https://x.example", "--credential-env", "NOT_SET_ANYWHERE"},
	} {
		args := append([]string{"processor", "add", "--db", db, "--merchant", mc.Merchant.ID, "--secret-key-file", oldKey}, bad...)
		if code, _, _ := runCLI(t, args...); code == 0 {
			t.Errorf("processor add %v succeeded", bad)
		}
	}
	code, out, _ = runCLI(t, "processor", "list", "--db", db, "--merchant", mc.Merchant.ID)
	if code != 0 || strings.Count(out, `"name"`) != 1 || strings.Contains(out, "super-secret") || strings.Contains(out, "credential") {
		t.Fatalf("processor list: %d %s", code, out)
	}
	sealed := func() string {
		conn, err := sqlite.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var c string
		if err := conn.QueryRow(`SELECT credential FROM processor_accounts`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := sealed()
	if strings.Contains(before, "super-secret") || !strings.HasPrefix(before, kid(t, oldKey)+":") {
		t.Fatalf("stored credential %q: want sealed under the old key", before)
	}
	code, out, errOut = runCLI(t, "processor", "rotate-key", "--db", db, "--secret-key-file", newKey, "--previous-secret-key-file", oldKey)
	if code != 0 || !strings.Contains(out, `"resealed": 1`) {
		t.Fatalf("rotate-key: %d %s %s", code, out, errOut)
	}
	if after := sealed(); !strings.HasPrefix(after, kid(t, newKey)+":") {
		t.Fatalf("after rotation: %q, want sealed under the new key", after)
	}
	// Again: nothing left to re-seal. With the old key alone: cannot open.
	if _, out, _ := runCLI(t, "processor", "rotate-key", "--db", db, "--secret-key-file", newKey, "--previous-secret-key-file", oldKey); !strings.Contains(out, `"resealed": 0`) {
		t.Fatalf("second rotate-key: %s", out)
	}
	if code, _, _ := runCLI(t, "processor", "rotate-key", "--db", db, "--secret-key-file", oldKey, "--previous-secret-key-file", oldKey); code == 0 {
		t.Fatal("rotate-key back with keys that cannot open the credential succeeded")
	}
	code, out, errOut = runCLI(t, "processor", "remove", "--db", db, "--merchant", mc.Merchant.ID, "paylink-main")
	if code != 0 || !strings.Contains(out, `"removed"`) {
		t.Fatalf("processor remove: %d %s %s", code, out, errOut)
	}
	if _, out, _ := runCLI(t, "processor", "list", "--db", db, "--merchant", mc.Merchant.ID); strings.Contains(out, "paylink-main") {
		t.Fatalf("still listed after remove: %s", out)
	}
}

func kid(t *testing.T, path string) string {
	k, err := vault.ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return vault.KeyID(k)
}
