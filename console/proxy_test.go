package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// TestBehindTLSProxy: refundd serves no TLS itself, so a console reached
// over HTTPS is behind a proxy that terminates TLS (operations.md:
// --public-url https://refunds.example.com). A browser there posts every
// form with Origin https://refunds.example.com; the console must take it
// as its own origin (it is the configured public URL) and mark its
// cookies Secure, since the browser reaches it over TLS.
func TestBehindTLSProxy(t *testing.T) {
	t.Parallel()
	// A public URL with the scheme's default port is the same origin: a
	// browser's Origin leaves the port out.
	for _, public := range []string{"https://refunds.example.com", "https://refunds.example.com:443/"} {
		t.Run(public, func(t *testing.T) { behindTLSProxy(t, public) })
	}
}

func behindTLSProxy(t *testing.T, public string) {
	const origin = "https://refunds.example.com"
	srv, err := server.Open(context.Background(), server.Config{Addr: "127.0.0.1:0",
		DB: sqlitetest.URL(t), WorkerInterval: -1, ProcessorTimeout: 5 * time.Second,
		PublicURL: public, Log: slog.New(slog.NewJSONHandler(scanned, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	_, key, err := srv.Service.CreateMerchant(context.Background(), refund.MerchantInput{Name: "Souq Al Khaleej"})
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, base: srv.URL(), c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	// The proxy forwards the browser's Host, as proxies are told to.
	host := "refunds.example.com"
	get := func(path string) page {
		req, _ := http.NewRequest("GET", b.base+path, nil)
		req.Host = host
		return b.do(req)
	}
	form := get("/console/login")
	if form.status != http.StatusOK {
		t.Fatalf("sign-in page: %d", form.status)
	}
	secure := func(p page, want string) {
		t.Helper()
		found := false
		for _, ck := range p.header.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(ck)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Secure {
				t.Errorf("cookie %s sent to a browser on %s without Secure: %s", c.Name, public, ck)
			}
			found = found || c.Name == want
		}
		if !found {
			t.Errorf("no %s cookie set: %v", want, p.header.Values("Set-Cookie"))
		}
	}
	secure(form, "refundd_console_login")
	req, _ := http.NewRequest("POST", b.base+"/console/login",
		stringsReader(url.Values{"csrf": {form.csrf(t)}, "key": {key}}.Encode()))
	req.Host = host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	// The browser sends the sign-in form's cookie back over TLS (the
	// test's jar, on plain http, would hold back a Secure one).
	if len(jar.Cookies(req.URL)) == 0 {
		req.AddCookie(&http.Cookie{Name: "refundd_console_login", Value: form.csrf(t)})
	}
	p := b.do(req)
	if p.status != http.StatusSeeOther || p.location != "/console/orders" {
		t.Fatalf("sign-in from %s: want 303 to /console/orders, got %d %q: %s", origin, p.status, p.location, p.text())
	}
	secure(p, "refundd_console")
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
