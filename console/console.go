// Package console serves refundd's web console at /console: a merchant's
// staff sign in with an API key, find orders, issue and cancel refunds,
// download refund invoices and read their webhook delivery logs.
//
// It is a thin surface over refund.Service, like the native API: pages are
// rendered on the server (html/template, no script), amounts are parsed and
// printed with package money in the order's currency, and every rule about
// money and refunds stays in the core. It never touches storage and imports
// no dialect.
//
// Every page is in English and in Arabic (right to left), with dates in
// the merchant's time zone: see i18n.go.
package console

import (
	"crypto/rand"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	// sets holds the pages parsed for one language and time zone (their
	// functions are bound to both), made on first use: pageSet.
	sets sync.Map // setKey -> map[string]*template.Template
	css  []byte
	icon []byte
	// origin is the scheme and host of the node's public URL
	// (WithPublicURL), "" when none is configured.
	origin string
}

type setKey struct{ lang, zone string }

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

// WithPublicURL tells the console the base URL browsers reach it at
// (server.Config.PublicURL): behind a proxy that terminates TLS, forms
// come from that origin, and cookies must be Secure when it is https.
func WithPublicURL(public string) Option {
	return func(c *Console) {
		if u, err := url.Parse(public); err == nil && u.Scheme != "" && u.Host != "" {
			host := u.Host
			if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
				host = strings.TrimSuffix(host, ":"+p) // a browser's Origin leaves the default port out
			}
			c.origin = strings.ToLower(u.Scheme + "://" + host)
		}
	}
}

// New returns the console on svc.
func New(svc *refund.Service, log *slog.Logger, opts ...Option) *Console {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Console{svc: svc, log: log, now: time.Now, sessions: newSessions()}
	for _, o := range opts {
		o(c)
	}
	// Every language's pages parse now, so a broken template fails at
	// start rather than on a page.
	for _, lang := range languages {
		c.pageSet(locale{catalogue: catalogues[lang], zone: defaultZone()})
	}
	var err error
	if c.css, err = assets.ReadFile("console.css"); err != nil {
		panic(err)
	}
	if c.icon, err = assets.ReadFile("favicon.svg"); err != nil {
		panic(err)
	}
	return c
}

// pageSet returns every page parsed with its functions bound to loc.
func (c *Console) pageSet(loc locale) map[string]*template.Template {
	key := setKey{loc.lang, loc.zone.String()}
	if set, ok := c.sets.Load(key); ok {
		return set.(map[string]*template.Template)
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	set := map[string]*template.Template{}
	for _, name := range names {
		if name == "templates/layout.html" {
			continue
		}
		set[name[len("templates/"):]] = template.Must(template.New("layout.html").Funcs(loc.funcs()).
			ParseFS(assets, "templates/layout.html", name))
	}
	actual, _ := c.sets.LoadOrStore(key, set)
	return actual.(map[string]*template.Template)
}

// defaultZone is the zone of a page without a merchant (the sign-in page).
func defaultZone() *time.Location { return (&refund.Merchant{}).Location() }

// Register adds the console's routes to mux, all under /console.
func (c *Console) Register(mux api.Mux) {
	mux.Handle("GET /console", headers(http.RedirectHandler("/console/", http.StatusSeeOther)))
	mux.Handle("GET /console/{$}", c.signedIn(c.overview))
	mux.Handle("GET /console/console.css", headers(static("text/css; charset=utf-8", c.css)))
	mux.Handle("GET /console/favicon.svg", headers(static("image/svg+xml", c.icon)))
	mux.Handle("GET /console/login", headers(http.HandlerFunc(c.loginPage)))
	mux.Handle("POST /console/login", headers(http.HandlerFunc(c.login)))
	mux.Handle("POST /console/login/language", headers(http.HandlerFunc(c.chooseLanguageSignedOut)))
	mux.Handle("POST /console/language", c.signedIn(c.chooseLanguage))
	mux.Handle("POST /console/logout", c.signedIn(c.logout))
	mux.Handle("GET /console/orders", c.signedIn(c.orders))
	mux.Handle("GET /console/orders/{id}", c.signedIn(c.order))
	mux.Handle("POST /console/orders/{id}/refunds", c.signedIn(c.createRefund))
	mux.Handle("GET /console/refunds/{id}", c.signedIn(c.refund))
	mux.Handle("POST /console/refunds/{id}/cancel", c.signedIn(c.cancelRefund))
	mux.Handle("GET /console/invoices/{id}/xml", c.signedIn(c.invoiceXML))
	mux.Handle("GET /console/webhooks", c.signedIn(c.webhooks))
	mux.Handle("GET /console/discrepancies", c.signedIn(c.discrepancies))
	mux.Handle("POST /console/discrepancies/{id}/resolve", c.signedIn(c.resolveDiscrepancy))
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
	// Lang and Dir are the page's language and direction; Zone names the
	// merchant's time zone, which every date on the page is in.
	Lang, Dir string
	Zone      template.HTML
	Switch    langSwitch
	loc       locale
}

// langSwitch is the form that shows the page in the other language.
type langSwitch struct {
	Action, CSRF, Back string
	Lang, Label        string // the other language, named in itself
}

func (b *base) pageBase() *base { return b }

// base starts a page for s (nil before sign-in) in its language, titled
// with message title and its arguments.
func (c *Console) base(r *http.Request, s *session, nav, title string, args ...any) base {
	loc := c.locale(r, s)
	b := base{Title: loc.S(title, args...), Nav: nav, loc: loc, Lang: loc.lang, Dir: loc.dir}
	if s != nil {
		b.SignedIn, b.Merchant, b.KeyPrefix, b.CSRF, b.User, b.Role = true, s.merchant, s.principal.KeyPrefix, s.csrf, s.user, s.role
		b.Zone = loc.zoneText(c.now())
	}
	return b
}

// locale is the language and time zone of s's pages.
func (c *Console) locale(r *http.Request, s *session) locale {
	loc := locale{catalogue: catalogues[language(r, s)], zone: defaultZone()}
	if s != nil && s.zone != nil {
		loc.zone = s.zone
	}
	return loc
}

// render writes a page in its language. A template error is a bug: it is
// logged and the client gets a bare 500 (the page may be half written by
// then).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data interface{ pageBase() *base }) {
	b := data.pageBase()
	if b.loc.catalogue == nil {
		b.loc = c.locale(r, nil)
		b.Lang, b.Dir = b.loc.lang, b.loc.dir
	}
	t, ok := c.pageSet(b.loc)[page]
	if !ok {
		panic("console: no page " + page)
	}
	other := languages[0]
	if b.Lang == other {
		other = languages[1]
	}
	b.Switch = langSwitch{Action: "/console/language", CSRF: b.CSRF, Back: backTo(r), Lang: other,
		Label: catalogues[other].msgs["language.name"]}
	if !b.SignedIn {
		// Before sign-in the switch carries the sign-in form's token (the
		// sign-in page has it already).
		b.Switch.Action = "/console/login/language"
		if b.Switch.CSRF == "" {
			b.Switch.CSRF = c.loginToken(w, r)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", b.Lang)
	w.Header().Add("Vary", "Accept-Language")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout.html", data); err != nil {
		c.log.Error("console: render", "page", page, "path", r.URL.Path, "err", err)
	}
}

// backTo is where the language switch returns to: this page, or for a
// form's answer, the page the form was on.
func backTo(r *http.Request) string {
	if r.Method == http.MethodGet {
		return r.URL.RequestURI()
	}
	if ref, err := url.Parse(r.Header.Get("Referer")); err == nil && ref.Host == r.Host && localPath(ref.RequestURI()) {
		return ref.RequestURI()
	}
	if strings.HasPrefix(r.URL.Path, "/console/login") {
		return "/console/login"
	}
	return "/console/"
}

// localPath reports whether p is a console page of this site, so the
// language switch cannot be made to send anyone elsewhere.
func localPath(p string) bool {
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && !strings.HasPrefix(p, "//") &&
		!strings.Contains(p, "\\") && (u.Path == "/console" || strings.HasPrefix(u.Path, "/console/"))
}

// errorView is the page of an error that has no form to go back to.
type errorView struct {
	base
	Status int
}

// fail renders err as an error page, with the status and words of its
// code in the reply table.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	v := errorView{base: c.base(r, s, "", "")}
	p, status := c.explain(w, v.loc, r, err)
	v.Title, v.Status, v.Problem = p.Headline, status, p
	c.render(w, r, status, "error.html", &v)
}

// newToken returns a random, URL-safe token of 128 bits.
func newToken() string { return rand.Text() }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

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
