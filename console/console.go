// Package console serves refundd's web console at /console: a merchant's
// staff sign in with an API key, find orders, issue and cancel refunds,
// download refund invoices and read their webhook delivery logs.
//
// It is a thin surface over refund.Service, like the native API: pages are
// rendered on the server (html/template, no script), amounts are parsed and
// printed with package money in the order's currency, and every rule about
// money and refunds stays in the core. It never touches storage and imports
// no dialect.
package console

import (
	"crypto/rand"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

//go:embed templates/*.html console.css favicon.svg
var assets embed.FS

// Surface is how the console names itself to the core: refunds it creates
// and the audit entries of its calls record it.
const Surface = "console"

// Console is the web console.
type Console struct {
	svc      *refund.Service
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	pages    map[string]*template.Template
	css      []byte
	icon     []byte
}

// Option configures a Console.
type Option func(*Console)

// WithClock replaces the clock that ages sessions (tests move a fake one).
func WithClock(now func() time.Time) Option {
	return func(c *Console) {
		if now != nil {
			c.now = now
		}
	}
}

// New returns the console on svc.
func New(svc *refund.Service, log *slog.Logger, opts ...Option) *Console {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Console{svc: svc, log: log, now: time.Now, sessions: newSessions(), pages: map[string]*template.Template{}}
	for _, o := range opts {
		o(c)
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		if name == "templates/layout.html" {
			continue
		}
		c.pages[name[len("templates/"):]] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(assets, "templates/layout.html", name))
	}
	if c.css, err = assets.ReadFile("console.css"); err != nil {
		panic(err)
	}
	if c.icon, err = assets.ReadFile("favicon.svg"); err != nil {
		panic(err)
	}
	return c
}

// Register adds the console's routes to mux, all under /console.
func (c *Console) Register(mux api.Mux) {
	mux.Handle("GET /console", headers(http.RedirectHandler("/console/", http.StatusSeeOther)))
	mux.Handle("GET /console/{$}", c.signedIn(c.overview))
	mux.Handle("GET /console/console.css", headers(static("text/css; charset=utf-8", c.css)))
	mux.Handle("GET /console/favicon.svg", headers(static("image/svg+xml", c.icon)))
	mux.Handle("GET /console/login", headers(http.HandlerFunc(c.loginPage)))
	mux.Handle("POST /console/login", headers(http.HandlerFunc(c.login)))
	mux.Handle("POST /console/logout", c.signedIn(c.logout))
	mux.Handle("GET /console/orders", c.signedIn(c.orders))
	mux.Handle("GET /console/orders/{id}", c.signedIn(c.order))
	mux.Handle("POST /console/orders/{id}/refunds", c.signedIn(c.createRefund))
	mux.Handle("GET /console/refunds/{id}", c.signedIn(c.refund))
	mux.Handle("POST /console/refunds/{id}/cancel", c.signedIn(c.cancelRefund))
	mux.Handle("GET /console/invoices/{id}/xml", c.signedIn(c.invoiceXML))
	mux.Handle("GET /console/webhooks", c.signedIn(c.webhooks))
	mux.Handle("GET /console/discrepancies", c.signedIn(c.discrepancies))
	mux.Handle("GET /console/attention", c.signedIn(c.attention))
	mux.Handle("POST /console/refunds/{id}/resolve", c.signedIn(c.resolve))
	mux.Handle("GET /console/approvals", c.signedIn(c.approvals))
	mux.Handle("GET /console/refunds", c.signedIn(c.refundList))
	mux.Handle("GET /console/refunds.csv", c.signedIn(c.refundCSV))
	mux.Handle("POST /console/refunds/{id}/approve", c.signedIn(c.decide(true)))
	mux.Handle("POST /console/refunds/{id}/reject", c.signedIn(c.decide(false)))
	mux.Handle("GET /console/webhooks/{id}", c.signedIn(c.deliveries))
	// Anything else under /console is a console page that does not exist.
	mux.Handle("/console/", headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, refund.Errorf(refund.ENotFound, "", "no such page: %s", r.URL.Path))
	})))
}

// headers sets what every console response carries: no script, no
// framing, no caching of merchant data, nothing fetched from elsewhere.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r.WithContext(refund.WithRequest(r.Context(), refund.RequestInfo{Surface: Surface})))
	})
}

// static serves an embedded asset; it holds no merchant data, so browsers
// may keep it for a while.
func static(contentType string, body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(body)
	})
}

// base is what every page's layout shows.
type base struct {
	Title     string
	Nav       string // the section the page belongs to: orders, webhooks
	SignedIn  bool
	Merchant  string
	KeyPrefix string // the visible prefix of the key, never the key
	User      string // a console user's email, when signed in as one
	Role      string
	CSRF      string
	Notice    string   // a short confirmation ("Signed out.")
	Problem   *problem // what went wrong, in plain words
}

func (c *Console) base(s *session, title, nav string) base {
	b := base{Title: title, Nav: nav}
	if s != nil {
		b.SignedIn, b.Merchant, b.KeyPrefix, b.CSRF, b.User, b.Role = true, s.merchant, s.principal.KeyPrefix, s.csrf, s.user, s.role
	}
	return b
}

// render writes a page. A template error is a bug: it is logged and the
// client gets a bare 500 (the page may be half written by then).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	t, ok := c.pages[page]
	if !ok {
		panic("console: no page " + page)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout.html", data); err != nil {
		c.log.Error("console: render", "page", page, "path", r.URL.Path, "err", err)
	}
}

// errorView is the page of an error that has no form to go back to.
type errorView struct {
	base
	Status int
}

// fail renders err as an error page, with the status and words of its
// code in the reply table.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	p, status := c.explain(r, err)
	if d := refund.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", itoa(int64((d+time.Second-1)/time.Second)))
	}
	v := errorView{base: c.base(s, p.Headline, ""), Status: status}
	v.Problem = p
	c.render(w, r, status, "error.html", v)
}

// newToken returns a random, URL-safe token of 128 bits.
func newToken() string { return rand.Text() }

// amountText prints minor units of currency as a decimal with its code:
// 1005 KWD is "1.005 KWD".
func amountText(minor int64, currency string) string {
	cur, err := money.LookupCurrency(currency)
	if err != nil {
		return itoa(minor) + " (minor units) " + currency
	}
	return money.Format(minor, cur) + " " + currency
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var funcs = template.FuncMap{
	"amount": amountText,
	"mask":   refund.MaskIBAN,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"status":  statusText,
	"decimal": decimalText,
	// count and sum read the overview's figures by status name.
	"count": func(m map[refund.Status]int64, status string) int64 { return m[refund.Status(status)] },
	"sum": func(m map[string]map[refund.Status]int64, currency, status string) int64 {
		return m[currency][refund.Status(status)]
	},
	// pair hands a sub-template the page and one more value.
	"pair": func(a any, b string) pairArg { return pairArg{a, b} },
}

type pairArg struct {
	A any
	B string
}

// decimalText prints minor units without the currency code, as a form
// field expects them back.
func decimalText(minor int64, currency string) string {
	cur, err := money.LookupCurrency(currency)
	if err != nil {
		return itoa(minor)
	}
	return money.Format(minor, cur)
}
