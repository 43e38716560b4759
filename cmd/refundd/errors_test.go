package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// TestCLI_ErrorsReadOnce runs commands with bad input and reads what they
// print: one line, "refundd: " once, then what went wrong in words, with
// no package's own tag ("refund: not_found:", "refundd api: 401", "server:",
// "client: GET /v1/...", "vault:") stacked in front, and, where the CLI
// knows, what to do about it.
func TestCLI_ErrorsReadOnce(t *testing.T) {
	db := sqlitetest.URL(t)
	r := mustRemote(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() // nobody listens there once closed
	l.Close()
	dir := t.TempDir()
	report := filepath.Join(dir, "report.csv")
	if err := os.WriteFile(report, []byte("refund_id,amount,currency,status,date\nre_x,1.00,SAR,settled,2026-03-01\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imp := filepath.Join(dir, "import.csv")
	if err := os.WriteFile(imp, []byte("order_reference,amount,reason\nORD-1,1.00,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REFUNDD_TEST_PW", "a long enough password")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // in the message, in order
	}{
		{"UserDisableUnknown", []string{"user", "disable", "--db", db, "usr_missing"}, 1, []string{"no such user (not_found)", "refundd user list"}},
		{"UserTOTPUnknown", []string{"user", "totp", "--db", db, "usr_missing"}, 1, []string{"no such user", "refundd user list"}},
		{"UserResetUnknown", []string{"user", "reset-password", "--db", db, "--password-env", "REFUNDD_TEST_PW", "usr_missing"}, 1,
			[]string{"no such user", "refundd user list"}},
		{"UserCreateBadEmail", []string{"user", "create", "--db", db, "--merchant", "mer_x", "--email", "a", "--role", "viewer",
			"--password-env", "REFUNDD_TEST_PW"}, 1, []string{`"a" is not an email address`}},
		{"KeyRevokeUnknown", []string{"key", "revoke", "--db", db, "key_missing"}, 1, []string{`key "key_missing" not found (key_not_found)`, "refundd key list"}},
		{"KeyCreateUnknownMerchant", []string{"key", "create", "--db", db, "--merchant", "mer_missing"}, 1, []string{`merchant "mer_missing" not found`}},
		{"MerchantWithoutName", []string{"merchant", "create", "--db", db}, 1, []string{"name is required", "(invalid_request)"}},
		{"PartnerUnknownMerchant", []string{"partner", "create", "--db", db, "--name", "P", "--merchant", "mer_missing"}, 1,
			[]string{`merchant "mer_missing" not found`}},
		{"ProcessorRemoveUnknown", []string{"processor", "remove", "--db", db, "--merchant", "mer_x", "nope"}, 1,
			[]string{"no such processor account", "refundd processor list"}},
		{"BadDatabaseURL", []string{"migrate", "--db", "foo:bar"}, 1, []string{`unknown database URL "foo:bar"`}},
		{"RotateKeyMissingFile", []string{"processor", "rotate-key", "--db", db, "--secret-key-file", filepath.Join(dir, "none"),
			"--previous-secret-key-file", filepath.Join(dir, "none")}, 1, []string{"--secret-key-file", "no such file"}},
		{"ImportWrongKey", []string{"refunds", "import", "--url", r.srv.URL(), "--key", "rk_wrong", imp}, 1,
			[]string{"refunds import: ", "invalid API key", "--key"}},
		{"ExportWrongKey", []string{"refunds", "export", "--url", r.srv.URL(), "--key", "rk_wrong"}, 1,
			[]string{"refunds export: ", "invalid API key", "--key"}},
		{"ReconcileWrongKey", []string{"reconcile", "--url", r.srv.URL(), "--key", "rk_wrong", report}, 1,
			[]string{"reconcile: ", "invalid API key", "--key"}},
		{"ImportNobodyThere", []string{"refunds", "import", "--url", closed, "--key", "rk_x", imp}, 1,
			[]string{"refunds import: ", "cannot reach " + closed, "connection refused", "--url"}},
		{"ReconcileNobodyThere", []string{"reconcile", "--url", closed, "--key", "rk_x", report}, 1,
			[]string{"reconcile: ", "cannot reach " + closed, "connection refused", "--url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errOut)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "refundd: ") {
				t.Fatalf("want one line starting refundd: , got %q", errOut)
			}
			for _, tag := range []string{"refundd: refundd", "refund: ", "refundd api", "server: ", "client: ", "vault: ", "GET /v1", "POST /v1"} {
				if strings.Contains(strings.TrimPrefix(errOut, "refundd: "), tag) {
					t.Errorf("the message carries %q: %s", tag, errOut)
				}
			}
			rest := errOut
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("the message lacks %q (in order %q): %s", w, tc.want, errOut)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
