package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/refundd/refundd/store/postgres/pgtest"
)

// TestCLI_DatabasePasswordIsNeverPrinted: a PostgreSQL URL may carry its
// password in the user part or, as libpq and pgx also read it, in the
// query (password=, sslpassword=). serve logs the URL it serves on and
// migrate prints the one it migrated: neither may show a password, however
// it was given, nor may an error about the URL.
func TestCLI_DatabasePasswordIsNeverPrinted(t *testing.T) {
	t.Parallel()
	base := pgtest.URL(t, 4)
	with := func(t *testing.T, user bool, params map[string]string) string {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		if user {
			u.User = url.UserPassword(u.User.Username(), "s3cret-pw")
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for _, tc := range []struct {
		name   string
		user   bool
		params map[string]string
		code   int
	}{
		{"UserPart", true, nil, 0},
		{"QueryPassword", false, map[string]string{"password": "s3cret-pw"}, 0},
		{"QuerySSLPassword", false, map[string]string{"sslpassword": "s3cret-pw"}, 0},
		{"QueryPasswordBadURL", false, map[string]string{"password": "s3cret-pw", "sslmode": "bogus"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := with(t, tc.user, tc.params)
			for _, cmd := range []string{"migrate", "serve"} {
				var out bytes.Buffer
				errOut := &signalWriter{marker: "refundd serving", ready: make(chan struct{})}
				ctx, cancel := context.WithCancel(context.Background())
				args := []string{cmd, "--db", db}
				if cmd == "serve" {
					args = append(args, "--addr", "127.0.0.1:0", "--sweep-ages", "off")
				}
				done := make(chan int, 1)
				go func() { done <- run(ctx, args, &out, errOut) }()
				var code int
				select {
				case <-errOut.ready:
					cancel()
					code = <-done
				case code = <-done:
				}
				cancel()
				if cmd == "migrate" && code != tc.code {
					t.Fatalf("%s: exit %d, want %d: %s%s", cmd, code, tc.code, out.String(), errOut.String())
				}
				if all := out.String() + errOut.String(); strings.Contains(all, "s3cret-pw") {
					t.Fatalf("%s printed the password:\n%s", cmd, all)
				}
			}
		})
	}
}
