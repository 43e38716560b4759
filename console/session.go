package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/refundd/refundd/refund"
)

// A session ends when nobody used it for IdleTimeout, and in any case
// MaxSessionAge after sign-in, so a stolen cookie does not live forever.
const (
	IdleTimeout   = 8 * time.Hour
	MaxSessionAge = 24 * time.Hour
)

const (
	sessionCookie = "refundd_console"
	// loginCookie carries the sign-in form's CSRF token before there is a
	// session to tie it to (double submit).
	loginCookie = "refundd_console_login"
	// maxFormBytes bounds a console form; the largest, a line-item refund
	// of an order's 500 lines, is a few tens of kilobytes.
	maxFormBytes = 256 << 10
)

// session is one signed-in browser. A console user's session lives in the
// database (refund.Service.SignIn), so any node serves it. A session made
// by pasting an API key lives in this process's memory only: the key must
// never be written anywhere, so a node restart signs it out, and several
// nodes behind one address need sticky sessions for it.
type session struct {
	// key is the API key the user pasted. The console authenticates it
	// again on every request, so a revoked key signs the user out at once.
	key       string
	principal refund.Principal
	merchant  string // the merchant's name, for the header
	csrf      string // every state-changing form carries it
	created   time.Time
	seen      time.Time
	// user and role name a console user signed in with their own account
	// (then key is empty and dbID is the session's id in the database).
	user, role string
	dbID       string
	// lang is the language the user chose ("" until they choose); zone is
	// the merchant's time zone, read on every request.
	lang string
	zone *time.Location
}

type sessions struct {
	mu sync.Mutex
	// m is keyed by the SHA-256 of the session id, so the map holds
	// nothing a cookie could be made from.
	m map[[32]byte]*session
}

func newSessions() *sessions { return &sessions{m: map[[32]byte]*session{}} }

type lookup int

const (
	sessionFound lookup = iota
	sessionMissing
	sessionExpired
)

func (s *session) expired(now time.Time) bool {
	return now.Sub(s.seen) > IdleTimeout || now.Sub(s.created) > MaxSessionAge
}

// create stores s and returns its new session id; expired sessions are
// swept on the way.
func (ss *sessions) create(s session) string {
	id := newToken() + newToken()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, old := range ss.m {
		if old.expired(s.created) {
			delete(ss.m, k)
		}
	}
	ss.m[sha256.Sum256([]byte(id))] = &s
	return id
}

// get returns a copy of the session with id, marking it used now.
func (ss *sessions) get(id string, now time.Time) (session, lookup) {
	k := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[k]
	switch {
	case !ok:
		return session{}, sessionMissing
	case s.expired(now):
		delete(ss.m, k)
		return session{}, sessionExpired
	}
	s.seen = now
	return *s, sessionFound
}

// setLanguage keeps lang in the session with id.
func (ss *sessions) setLanguage(id, lang string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.m[sha256.Sum256([]byte(id))]; ok {
		s.lang = lang
	}
}

func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, sha256.Sum256([]byte(id)))
}

// cookie returns the session cookie: HttpOnly, SameSite=Strict, scoped to
// the console, Secure when the browser reaches it over TLS.
func (c *Console) cookie(r *http.Request, name, value, path string, maxAge time.Duration) *http.Cookie {
	ck := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.secure(r), MaxAge: int(maxAge / time.Second)}
	if maxAge < 0 {
		ck.MaxAge = -1
	}
	return ck
}

// pageFunc serves a page to a signed-in user.
type pageFunc func(w http.ResponseWriter, r *http.Request, s *session)

// signedIn runs h for a signed-in user whose key still authenticates, and
// checks the CSRF token and origin of every POST before h sees it. Anyone
// else goes to the sign-in page, told why.
func (c *Console) signedIn(h pageFunc) http.Handler {
	return headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(sessionCookie)
		if err != nil {
			c.toLogin(w, r, "")
			return
		}
		if refund.IsUserSessionID(ck.Value) {
			c.userSession(h, w, r, ck.Value)
			return
		}
		s, found := c.sessions.get(ck.Value, c.now())
		if found != sessionFound {
			http.SetCookie(w, c.cookie(r, sessionCookie, "", "/console", -1))
			c.toLogin(w, r, map[lookup]string{sessionExpired: "expired"}[found])
			return
		}
		p, err := c.svc.Authenticate(r.Context(), s.key)
		if refund.ErrorCode(err) == refund.EUnauthorized {
			c.sessions.delete(ck.Value)
			http.SetCookie(w, c.cookie(r, sessionCookie, "", "/console", -1))
			c.toLogin(w, r, "revoked")
			return
		}
		var m *refund.Merchant
		if err == nil {
			m, err = c.svc.GetMerchant(r.Context(), p.MerchantID)
		}
		if err != nil {
			c.fail(w, r, &s, err)
			return
		}
		s.principal, s.merchant, s.zone = p, m.Name, m.Location()
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if !c.sameOrigin(r) || r.ParseForm() != nil || !equal(r.PostForm.Get("csrf"), s.csrf) {
				c.fail(w, r, &s, refund.Errorf(codeCSRF, "csrf", "the form's token does not match this session"))
				return
			}
		}
		h(w, r, &s)
	}))
}

// userSession serves h to a console user signed in with their own account:
// the session lives in the database, so any node serves it, and the user
// is read again on every request (a disabled user is signed out at once).
func (c *Console) userSession(h pageFunc, w http.ResponseWriter, r *http.Request, id string) {
	sess, u, err := c.svc.ConsoleSessionOf(r.Context(), id)
	if refund.ErrorCode(err) == refund.ENotFound {
		http.SetCookie(w, c.cookie(r, sessionCookie, "", "/console", -1))
		c.toLogin(w, r, "expired")
		return
	}
	if err != nil {
		c.fail(w, r, &session{}, err)
		return
	}
	s := session{principal: refund.UserPrincipal(u), user: u.Email, role: u.Role}
	m, err := c.svc.GetMerchant(r.Context(), u.MerchantID)
	if err != nil {
		c.fail(w, r, &s, err)
		return
	}
	s.merchant, s.csrf, s.created, s.seen, s.dbID = m.Name, sess.CSRF, sess.CreatedAt, sess.SeenAt, id
	s.lang, s.zone = sess.Language, m.Location()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if !c.sameOrigin(r) || r.ParseForm() != nil || !equal(r.PostForm.Get("csrf"), s.csrf) {
			c.fail(w, r, &s, refund.Errorf(codeCSRF, "csrf", "the form's token does not match this session"))
			return
		}
	}
	h(w, r, &s)
}

// toLogin sends the browser to the sign-in page with a notice code.
func (c *Console) toLogin(w http.ResponseWriter, r *http.Request, why string) {
	to := "/console/login"
	if why != "" {
		to += "?" + url.Values{"m": {why}}.Encode()
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// secure reports whether the browser reaches the console over TLS: the
// request came over TLS, or the node's public URL is https (refundd
// serves no TLS itself; a proxy in front of it terminates it).
func (c *Console) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(c.origin, "https://")
}

// sameOrigin refuses a form posted from another site. Browsers send
// Origin (or at least Sec-Fetch-Site) with every POST; a client that sends
// neither still needs the CSRF token. The console's own origin is the
// request's scheme and Host, or the configured public URL's, which is
// what a browser behind a TLS-terminating proxy sends.
func (c *Console) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		if c.origin != "" && strings.EqualFold(o, c.origin) {
			return true
		}
		u, err := url.Parse(o)
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return err == nil && u.Scheme == scheme && u.Host == r.Host
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

func equal(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// loginNotices are the sign-in page's notices (message ids), by the code
// in ?m=; only these words can appear, whatever the link says.
var loginNotices = map[string]string{
	"expired":    "login.notice.expired",
	"revoked":    "login.notice.revoked",
	"signed_out": "login.notice.signed_out",
}

type loginView struct {
	base
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.renderLogin(w, r, http.StatusOK, nil)
}

// loginToken returns the sign-in form's CSRF token, kept in a cookie
// (double submit) across renders so that two open sign-in tabs both
// work; the language switch of a page without a session carries it too.
func (c *Console) loginToken(w http.ResponseWriter, r *http.Request) string {
	token := newToken()
	if ck, err := r.Cookie(loginCookie); err == nil && len(ck.Value) >= 26 {
		token = ck.Value
	}
	http.SetCookie(w, c.cookie(r, loginCookie, token, "/console/login", time.Hour))
	return token
}

// renderLogin shows the sign-in form with its CSRF token in a cookie and
// in the form.
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, p *problem) {
	v := loginView{base: c.base(r, nil, "", "login.title")}
	v.CSRF, v.Problem = c.loginToken(w, r), p
	if id, ok := loginNotices[r.URL.Query().Get("m")]; ok && p == nil {
		v.Notice = v.loc.S(id)
	}
	c.render(w, r, status, "login.html", &v)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	ck, err := r.Cookie(loginCookie)
	loc := c.locale(r, nil)
	if err != nil || !c.sameOrigin(r) || r.ParseForm() != nil || !equal(r.PostForm.Get("csrf"), ck.Value) {
		p, status := c.explain(w, loc, r, refund.Errorf(codeCSRF, "csrf", "the sign-in form's token is missing or wrong"))
		c.renderLogin(w, r, status, p)
		return
	}
	// The language chosen before sign-in (the cookie) goes into the session.
	var lang string
	if ck, err := r.Cookie(langCookie); err == nil {
		lang = supported(ck.Value)
	}
	if email := strings.TrimSpace(r.PostForm.Get("email")); email != "" {
		id, _, _, err := c.svc.SignIn(r.Context(), email, r.PostForm.Get("password"), r.PostForm.Get("code"))
		if err == nil && lang != "" {
			err = c.svc.SetSessionLanguage(r.Context(), id, lang)
		}
		if err != nil {
			prob, status := c.explain(w, loc, r, err)
			if code := refund.ErrorCode(err); code == refund.EUnauthorized || code == refund.ERateLimited {
				// Not error.unauthorized's or error.rate_limited's words,
				// which speak of an API key: a pause here is the address's
				// (too many failed sign-ins), which login.error.denied says.
				prob.Headline, prob.Detail = loc.S("login.error.denied"), ""
			}
			if refund.ErrorCode(err) == refund.ESecretKeyUnavailable {
				// The one secret a sign-in opens is the second factor's.
				prob.Headline, prob.Detail = loc.S("login.error.second_factor_unavailable"), ""
			}
			c.renderLogin(w, r, status, prob)
			return
		}
		c.dropSession(r)
		http.SetCookie(w, c.cookie(r, sessionCookie, id, "/console", MaxSessionAge))
		http.SetCookie(w, c.cookie(r, loginCookie, "", "/console/login", -1))
		http.Redirect(w, r, "/console/orders", http.StatusSeeOther)
		return
	}
	key := trimKey(r.PostForm.Get("key"))
	if key == "" {
		p, status := c.explain(w, loc, r, errorf(refund.EInvalidRequest, "key", "login.error.no_key"))
		c.renderLogin(w, r, status, p)
		return
	}
	p, err := c.svc.Authenticate(r.Context(), key)
	if err == nil && p.MerchantID == "" {
		err = errorf(refund.EForbidden, "key", "login.error.partner_key")
	}
	var m *refund.Merchant
	if err == nil {
		m, err = c.svc.GetMerchant(r.Context(), p.MerchantID)
	}
	if err != nil {
		prob, status := c.explain(w, loc, r, err)
		c.renderLogin(w, r, status, prob)
		return
	}
	c.dropSession(r)
	now := c.now()
	id := c.sessions.create(session{key: key, principal: p, merchant: m.Name, csrf: newToken(), created: now, seen: now, lang: lang})
	http.SetCookie(w, c.cookie(r, sessionCookie, id, "/console", MaxSessionAge))
	http.SetCookie(w, c.cookie(r, loginCookie, "", "/console/login", -1))
	http.Redirect(w, r, "/console/orders", http.StatusSeeOther)
}

// dropSession ends the session r's cookie names, if any, as a sign-in
// replaces it: a sign-in never reuses an earlier session id, and never
// leaves one working beside the new (a console user's lives in the
// database, valid on every node, so replacing the cookie alone would keep
// it open to whoever copied it).
func (c *Console) dropSession(r *http.Request) {
	old, err := r.Cookie(sessionCookie)
	if err != nil {
		return
	}
	if !refund.IsUserSessionID(old.Value) {
		c.sessions.delete(old.Value)
		return
	}
	if err := c.svc.SignOut(r.Context(), old.Value); err != nil {
		// The new session stands; the old one expires on its own.
		c.log.Warn("the session a sign-in replaced could not be ended", "err", err)
	}
}

// trimKey drops the spaces and line breaks a paste brings along.
func trimKey(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if b := s[i]; b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			out = append(out, b)
		}
	}
	return string(out)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if s.dbID != "" {
		if err := c.svc.SignOut(r.Context(), s.dbID); err != nil {
			c.fail(w, r, s, err)
			return
		}
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.delete(ck.Value)
	}
	http.SetCookie(w, c.cookie(r, sessionCookie, "", "/console", -1))
	c.toLogin(w, r, "signed_out")
}

// chooseLanguage shows the console in the language the switch asked for,
// from now on: it is kept in the session (in the database for a console
// user, so every node shows it) and in a cookie for the sign-in page after
// sign-out.
func (c *Console) chooseLanguage(w http.ResponseWriter, r *http.Request, s *session) {
	lang := supported(r.PostForm.Get("lang"))
	if lang == "" {
		c.fail(w, r, s, errorf(refund.EInvalidRequest, "lang", "language.error.unknown"))
		return
	}
	if s.dbID != "" {
		if err := c.svc.SetSessionLanguage(r.Context(), s.dbID, lang); err != nil {
			c.fail(w, r, s, err)
			return
		}
	} else if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.setLanguage(ck.Value, lang)
	}
	c.languageChosen(w, r, lang)
}

// chooseLanguageSignedOut is the switch on a page without a session (the
// sign-in page): the choice is kept in a cookie, and goes into the session
// at sign-in. Its form carries the sign-in form's token.
func (c *Console) chooseLanguageSignedOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !c.sameOrigin(r) || r.ParseForm() != nil || !equal(r.PostForm.Get("csrf"), ck.Value) {
		c.fail(w, r, nil, refund.Errorf(codeCSRF, "csrf", "the language form's token is missing or wrong"))
		return
	}
	lang := supported(r.PostForm.Get("lang"))
	if lang == "" {
		c.fail(w, r, nil, errorf(refund.EInvalidRequest, "lang", "language.error.unknown"))
		return
	}
	c.languageChosen(w, r, lang)
}

// languageChosen keeps lang in the cookie and goes back to the page the
// switch was on.
func (c *Console) languageChosen(w http.ResponseWriter, r *http.Request, lang string) {
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/console", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure(r), MaxAge: int(365 * 24 * time.Hour / time.Second)})
	back := r.PostForm.Get("back")
	if !localPath(back) {
		back = "/console/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
