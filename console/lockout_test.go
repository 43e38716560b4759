package console_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// browserFrom is a browser whose connections come from ip, one of the
// loopback addresses (all of 127/8 on Linux): another client address.
func (e *env) browserFrom(ip string) *browser {
	b := e.browser()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	b.c.Transport = &http.Transport{DialContext: d.DialContext}
	return b
}

// TestSignInLockoutPerAddress: whoever knows a user's email can lock the
// account only from their own address. Five wrong passwords from one
// address refuse even the right password from there, for LockoutFor, and
// leave the owner, signing in from another address, untouched.
func TestSignInLockoutPerAddress(t *testing.T) {
	e := mustStart(t, false)
	const pw = "correct horse battery staple"
	if _, err := e.srv.Service.CreateUser(context.Background(), refund.UserInput{MerchantID: e.mer.ID, Email: "owner@souq.example",
		Role: refund.RoleViewer, Password: pw}); err != nil {
		t.Fatal(err)
	}
	guesser := e.browserFrom("127.0.0.2")
	for i := range refund.MaxFailedSignIns {
		if p := guesser.userSignIn("owner@souq.example", "wrong password!", ""); p.status == http.StatusSeeOther {
			t.Fatalf("wrong password %d signed in", i)
		}
	}
	for _, tc := range []struct {
		name  string
		b     *browser
		after time.Duration // the clock moves first
		ok    bool
	}{
		{"OwnerFromItsAddress", e.browserFrom("127.0.0.1"), 0, true},
		{"GuesserWithTheRightPassword", guesser, 0, false},
		{"GuesserAfterTheLock", e.browserFrom("127.0.0.2"), refund.LockoutFor, true},
	} {
		e.clock.Advance(tc.after)
		p := tc.b.userSignIn("owner@souq.example", pw, "")
		if (p.status == http.StatusSeeOther) != tc.ok {
			t.Fatalf("%s: %d %s, want signed in %v", tc.name, p.status, p.text(), tc.ok)
		}
		// A refusal speaks of the email and password, not of an API key.
		if !tc.ok && (!strings.Contains(p.text(), "Wrong email, password or code") || strings.Contains(p.text(), "API key was not accepted")) {
			t.Fatalf("%s: the refusal reads %q", tc.name, p.text())
		}
	}
}

// forwarded sets X-Forwarded-For on every request it sends, as a reverse
// proxy does for the client it forwards.
type forwarded struct {
	client string
	next   http.RoundTripper
}

func (f forwarded) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.client)
	return f.next.RoundTrip(r)
}

// TestSignInLockoutBehindAProxy: behind a reverse proxy every connection
// comes from the proxy, so five wrong passwords from anyone locked the
// account for everyone, again every quarter hour. With the proxy trusted
// (--trusted-proxies), the guesser is the client it names and locks out
// only itself; a client naming someone else (the header's left part is
// the client's to write) counts as itself still; and a proxy not trusted
// names nobody.
func TestSignInLockoutBehindAProxy(t *testing.T) {
	const pw = "correct horse battery staple"
	for _, tc := range []struct {
		name    string
		trusted bool
		ownerOK bool
	}{
		{"Trusted", true, true},
		{"NotTrusted", false, false}, // all share the proxy's address, as before
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustStartWith(t, false, func(c *server.Config) {
				if tc.trusted {
					c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}
				}
			})
			if _, err := e.srv.Service.CreateUser(context.Background(), refund.UserInput{MerchantID: e.mer.ID, Email: "owner@souq.example",
				Role: refund.RoleViewer, Password: pw}); err != nil {
				t.Fatal(err)
			}
			via := func(client string) *browser {
				b := e.browserFrom("127.0.0.9") // the proxy
				b.c.Transport = forwarded{client: client, next: b.c.Transport}
				return b
			}
			guesser := via("203.0.113.66")
			for i := range refund.MaxFailedSignIns {
				if p := guesser.userSignIn("owner@souq.example", "wrong password!", ""); p.status == http.StatusSeeOther {
					t.Fatalf("wrong password %d signed in", i)
				}
			}
			if p := guesser.userSignIn("owner@souq.example", pw, ""); p.status == http.StatusSeeOther {
				t.Fatal("the guesser signed in during its lock")
			}
			// Naming the owner's address to the left of its own.
			if p := via("198.51.100.20, 203.0.113.66").userSignIn("owner@souq.example", pw, ""); p.status == http.StatusSeeOther {
				t.Fatal("the guesser escaped its lock by naming another address")
			}
			p := via("198.51.100.20").userSignIn("owner@souq.example", pw, "")
			if (p.status == http.StatusSeeOther) != tc.ownerOK {
				t.Fatalf("the owner behind the proxy: %d %s, want signed in %v", p.status, p.text(), tc.ownerOK)
			}
		})
	}
}

// TestSignInPausedPerAddress: past its address's failed-authentication
// budget a sign-in is refused before it is checked, and the refusal reads
// as the sign-in form's, not as error.rate_limited's, which speaks of an
// API key's requests ("Too many requests with this key"), with the
// Retry-After every 429 sends (the sign-in form sent none).
func TestSignInPausedPerAddress(t *testing.T) {
	e := mustStart(t, false)
	b := e.browserFrom("127.0.0.3")
	for i := 0; ; i++ {
		p := b.userSignIn(fmt.Sprintf("nobody%d@souq.example", i), "wrong password!", "")
		if p.status == http.StatusSeeOther {
			t.Fatal("a wrong password signed in")
		}
		if p.status != http.StatusTooManyRequests {
			if i > 100 {
				t.Fatal("no pause after 100 failed sign-ins from one address")
			}
			continue
		}
		if !strings.Contains(p.text(), "Wrong email, password or code") || strings.Contains(p.text(), "with this key") {
			t.Fatalf("the pause reads %q", p.text())
		}
		if p.header.Get("Retry-After") == "" {
			t.Fatal("the pause sends no Retry-After")
		}
		return
	}
}
