package console_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// htmlAttrs reads the <html> element's lang and dir.
var htmlAttrs = regexp.MustCompile(`<html lang="([^"]*)" dir="([^"]*)">`)

// mustSpeak fails unless the page is in lang, with its direction.
func mustSpeak(t testing.TB, p page, lang string) {
	t.Helper()
	m := htmlAttrs.FindStringSubmatch(p.body)
	dir := map[string]string{"en": "ltr", "ar": "rtl"}[lang]
	if m == nil || m[1] != lang || m[2] != dir {
		t.Fatalf("want <html lang=%q dir=%q>, page (%d) has %v: %s", lang, dir, p.status, m, p.text())
	}
	if got := p.header.Get("Content-Language"); got != lang {
		t.Fatalf("Content-Language %q, want %q", got, lang)
	}
}

// englishWords are words of the console's English pages that no Arabic
// page may show (the data a merchant typed in English may).
var englishWords = []string{"Sign out", "Overview", "Needs attention", "Order amount", "Left to refund", "Refund of",
	"Amount", "Status", "Reason", "Created", "Issue a refund", "Waiting for", "Times are shown", "succeeded", "pending"}

// mustNotSay fails if the page's text (not its markup: class names and
// form values are English) holds any of words.
func mustNotSay(t testing.TB, p page, words ...string) {
	t.Helper()
	text := p.text()
	for _, w := range words {
		if strings.Contains(text, w) {
			t.Fatalf("page (%d) says %q:\n%s", p.status, w, text)
		}
	}
}

// onlySession returns a browser on srv holding only b's session cookie:
// not the language cookie, so what it sees comes from the session.
func onlySession(t *testing.T, b *browser, srvURL string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range b.c.Jar.Cookies(mustURL(t, b.base+"/console/")) {
		if ck.Name == "refundd_console" {
			jar.SetCookies(mustURL(t, srvURL+"/console/"), []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/console"}})
		}
	}
	return &browser{t: t, base: srvURL, lang: b.lang, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// TestLanguage_FromAcceptLanguage: with no choice made, the browser's
// Accept-Language decides, q-values honoured; anything but Arabic is
// English.
func TestLanguage_FromAcceptLanguage(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	for _, tc := range []struct {
		name, header, lang, title string
	}{
		{"None", "", "en", "Sign in"},
		{"Arabic", "ar", "ar", "تسجيل الدخول"},
		{"SaudiArabic", "ar-SA,ar;q=0.9,en-US;q=0.8,en;q=0.7", "ar", "تسجيل الدخول"},
		{"EnglishFirst", "en-GB,en;q=0.9,ar;q=0.8", "en", "Sign in"},
		{"ArabicByQ", "en;q=0.4, ar-KW;q=0.9", "ar", "تسجيل الدخول"},
		{"ArabicRefused", "ar;q=0, fr", "en", "Sign in"},
		{"French", "fr-FR,fr;q=0.9", "en", "Sign in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			b.lang = tc.header
			p := b.get("/console/login")
			mustSpeak(t, p, tc.lang)
			mustContain(t, p, tc.title)
			if !strings.Contains(p.header.Get("Vary"), "Accept-Language") {
				t.Errorf("Vary: %q", p.header.Get("Vary"))
			}
		})
	}
	// Signed in, every page speaks the browser's language.
	b := e.mustSignIn(e.key)
	b.lang = "ar-SA"
	for _, path := range []string{"/console/", "/console/orders", "/console/orders/" + e.orders["ORD-KWD-2001"], "/console/refunds",
		"/console/webhooks", "/console/attention", "/console/approvals", "/console/discrepancies", "/console/nowhere"} {
		p := b.get(path)
		mustSpeak(t, p, "ar")
		mustNotSay(t, p, englishWords...)
	}
}

// TestLanguage_SwitchKeptInSession: the switch on a page (a form with the
// session's CSRF token) keeps the choice in a console user's session in
// the database, so another node shows it too, whatever the browser asks
// for; a wrong token, an unknown language or a foreign "back" change
// nothing or go nowhere else.
func TestLanguage_SwitchKeptInSession(t *testing.T) {
	a, bNode := twoNodes(t)
	ctx := context.Background()
	m, _, err := a.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	if _, err := a.Service.CreateUser(ctx, refund.UserInput{MerchantID: m.ID, Email: "ops@souq.example", Role: refund.RoleViewer, Password: pw}); err != nil {
		t.Fatal(err)
	}
	onA := browserOn(t, a)
	onA.lang = "en-US,en;q=0.9"
	if p := onA.userSignIn("ops@souq.example", pw, ""); p.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", p.status, p.text())
	}
	orders := onA.get("/console/orders")
	mustSpeak(t, orders, "en")
	if !strings.Contains(orders.body, `action="/console/language"`) || !strings.Contains(orders.body, `value="ar" lang="ar">العربية</button>`) {
		t.Fatalf("no language switch on the page: %s", orders.body)
	}

	// Refused: no token, a wrong one, an unknown language.
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
	}{
		{"ErrNoToken", url.Values{"lang": {"ar"}, "back": {"/console/orders"}}, http.StatusForbidden},
		{"ErrWrongToken", url.Values{"csrf": {"nope"}, "lang": {"ar"}}, http.StatusForbidden},
		{"ErrUnknownLanguage", url.Values{"csrf": {orders.csrf(t)}, "lang": {"fr"}}, http.StatusBadRequest},
	} {
		if p := onA.post("/console/language", tc.form); p.status != tc.status {
			t.Fatalf("%s: want %d, got %d %s", tc.name, tc.status, p.status, p.text())
		}
	}
	mustSpeak(t, onlySession(t, onA, a.URL()).get("/console/orders"), "en")

	// Switched to Arabic: back to the page, in Arabic from now on.
	p := onA.post("/console/language", url.Values{"csrf": {orders.csrf(t)}, "lang": {"ar"}, "back": {"/console/orders?q=ORD-1"}})
	if p.status != http.StatusSeeOther || p.location != "/console/orders?q=ORD-1" {
		t.Fatalf("switch: %d %q %s", p.status, p.location, p.text())
	}
	mustSpeak(t, onA.get("/console/orders"), "ar")
	// The choice is the session's: on the other node, with a browser that
	// asks for English and has no language cookie, still Arabic.
	onB := onlySession(t, onA, bNode.URL())
	for _, path := range []string{"/console/orders", "/console/", "/console/refunds"} {
		p := onB.get(path)
		mustSpeak(t, p, "ar")
		mustNotSay(t, p, englishWords...)
	}
	// And back to English, from the other node; "back" may not leave the
	// console.
	p = onB.post("/console/language", url.Values{"csrf": {orders.csrf(t)}, "lang": {"en"}, "back": {"https://evil.example/console/"}})
	if p.status != http.StatusSeeOther || p.location != "/console/" {
		t.Fatalf("switch back: %d %q", p.status, p.location)
	}
	onlyA := onlySession(t, onA, a.URL())
	onlyA.lang = "ar"
	mustSpeak(t, onlyA.get("/console/orders"), "en")
}

// TestLanguage_ChosenBeforeSignIn: the switch on the sign-in page keeps
// the choice in a cookie, the session made at sign-in takes it, and a
// session signed in with a key keeps a later choice in its memory.
func TestLanguage_ChosenBeforeSignIn(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	b := e.browser()
	b.lang = "en"
	login := b.get("/console/login")
	mustSpeak(t, login, "en")
	if !strings.Contains(login.body, `action="/console/login/language"`) {
		t.Fatalf("no language switch on the sign-in page: %s", login.body)
	}
	if p := b.post("/console/login/language", url.Values{"lang": {"ar"}, "back": {"/console/login"}}); p.status != http.StatusForbidden {
		t.Fatalf("a switch without the sign-in form's token: %d", p.status)
	}
	p := b.post("/console/login/language", url.Values{"csrf": {login.csrf(t)}, "lang": {"ar"}, "back": {"/console/login"}})
	if p.status != http.StatusSeeOther || p.location != "/console/login" {
		t.Fatalf("switch before sign-in: %d %q %s", p.status, p.location, p.text())
	}
	login = b.get("/console/login")
	mustSpeak(t, login, "ar")
	mustContain(t, login, "تسجيل الدخول بالمفتاح", "مفتاح الواجهة البرمجية")
	// Refused in Arabic.
	refused := b.post("/console/login", url.Values{"csrf": {login.csrf(t)}, "key": {"rk_000000000000_00000000000000000000000000000000"}})
	mustSpeak(t, refused, "ar")
	mustContain(t, refused, "لم يُقبل مفتاح الواجهة البرمجية")

	if p := b.signIn(e.key); p.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", p.status, p.text())
	}
	only := onlySession(t, b, e.srv.URL())
	mustSpeak(t, only.get("/console/orders"), "ar")
	orders := b.get("/console/orders")
	if p := b.post("/console/language", url.Values{"csrf": {orders.csrf(t)}, "lang": {"en"}, "back": {"/console/orders"}}); p.status != http.StatusSeeOther {
		t.Fatalf("switch: %d", p.status)
	}
	only.lang = "ar"
	mustSpeak(t, only.get("/console/orders"), "en")
	// Signed out, the sign-in page stays in the last choice.
	out := b.post("/console/logout", url.Values{"csrf": {orders.csrf(t)}})
	mustSpeak(t, b.get(out.location), "en")
}

// TestArabic_Pages: an Arabic page of a KWD order shows its amounts with
// three decimals in Latin digits, a refund made and refused in Arabic, its
// dates in the merchant's time zone with the offset, and a SAR order's
// lines by their Arabic names.
func TestArabic_Pages(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	if _, err := e.srv.Service.SetMerchantTimeZone(context.Background(), e.mer.ID, "Asia/Dubai"); err != nil {
		t.Fatal(err)
	}
	b := e.mustSignIn(e.key)
	b.lang = "ar"
	kwd := e.orders["ORD-KWD-2001"]
	p := b.get("/console/orders/" + kwd)
	mustSpeak(t, p, "ar")
	mustNotSay(t, p, englishWords...)
	// The order was made at 09:00 UTC: 13:00 in Dubai.
	mustContain(t, p, "مبلغ الطلب 12.345 KWD", "المتبقي للاسترداد 12.345 KWD", "المُسترد 0.000 KWD",
		"أُنشئ في 2026-03-01 13:00:00 +04:00", "تظهر الأوقات بتوقيت Asia/Dubai (UTC+04:00).")
	if !strings.Contains(p.body, `<time datetime="2026-03-01T13:00:00+04:00" dir="ltr">2026-03-01 13:00:00 +04:00</time>`) {
		t.Fatalf("the order's date is not a <time> in Dubai time: %s", p.body)
	}
	amounts := regexp.MustCompile(`<span class="amount" dir="ltr">([^<]*)</span>`).FindAllStringSubmatch(p.body, -1)
	if len(amounts) < 6 {
		t.Fatalf("only %d amounts on the page", len(amounts))
	}
	for _, a := range amounts {
		if !regexp.MustCompile(`^[0-9]+\.[0-9]{3} KWD$`).MatchString(a[1]) {
			t.Errorf("amount %q: want Latin digits with 3 decimals and the code", a[1])
		}
	}

	// A refund of 1.005 KWD, in Arabic.
	_, res := b.refundForm(kwd, "partial", url.Values{"amount": {"1.005"}, "reason": {"زجاجة مكسورة"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("refund: %d %s", res.status, res.text())
	}
	p = b.get(res.location)
	mustSpeak(t, p, "ar")
	mustContain(t, p, "استرداد 1.005 KWD: ناجح", "تم الاسترداد: وافق عليه معالج الدفع.", "المُسترد 1.005 KWD",
		"المتبقي للاسترداد 11.340 KWD", "زجاجة مكسورة")
	// Refused, in Arabic, with the form as typed.
	_, bad := b.refundForm(kwd, "partial", url.Values{"amount": {"1.0005"}, "reason": {"دقيق جدًا"}})
	mustSpeak(t, bad, "ar")
	mustContain(t, bad, "المبلغ غير صالح.", "عدد المنازل العشرية لعملة KWD هو 3، والقيمة \"1.0005\" فيها أكثر من ذلك.")
	if bad.status != http.StatusUnprocessableEntity || !strings.Contains(bad.body, `value="1.0005"`) {
		t.Fatalf("bad amount: %d", bad.status)
	}
	// More than is left: the headline in Arabic, the core's detail marked
	// as English.
	_, over := b.refundForm(kwd, "partial", url.Values{"amount": {"50.000"}, "reason": {"أكثر"}})
	mustContain(t, over, "المبلغ أكبر مما تبقّى للاسترداد.")
	if !strings.Contains(over.body, `<span class="detail" lang="en" dir="ltr">`) {
		t.Fatalf("the core's detail is not marked as English: %s", over.body)
	}

	// The refund's page: statuses, history, dates in Dubai time.
	rs := e.refunds("ORD-KWD-2001")
	rp := b.get("/console/refunds/" + rs[0].ID)
	mustSpeak(t, rp, "ar")
	mustContain(t, rp, "ناجح", "قيد المعالجة", "2026-03-01 13:00:00 +04:00", "أُنشئ عبر وحدة التحكم",
		"أُرسل إلى معالج الدفع (المحاولة 1)", "وافق معالج الدفع (00)")

	// Line items by their Arabic names.
	sar := b.get("/console/orders/" + e.orders["ORD-SAR-1001"])
	mustContain(t, sar, "قهوة عربية ٢٥٠ غ", "تمر سكري ٥٠٠ غ", "10.33 SAR", "30.99 SAR")
	mustNotSay(t, sar, "Arabic coffee 250g", "Sukkari dates")
	b.lang = "en"
	mustContain(t, b.get("/console/orders/"+e.orders["ORD-SAR-1001"]), "Arabic coffee 250g", "created 2026-03-01 13:00:00 +04:00")
}

// TestOverview_DaysInMerchantZone: "today" is the merchant's day. A
// refund at 23:30 Riyadh time is yesterday's at 00:30 the next day in
// Riyadh, and today's for a merchant on UTC (20:30 and 21:30).
func TestOverview_DaysInMerchantZone(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	e.clock.Advance(11*time.Hour + 30*time.Minute) // 20:30 UTC
	e.api("POST", "/v1/refunds", e.key, jsonBody(map[string]any{"order_id": e.orders["ORD-SAR-1001"], "amount": 500}), http.StatusCreated, nil)
	e.clock.Advance(time.Hour)
	b := e.mustSignIn(e.key)
	today := regexp.MustCompile(`<tr data-window="today" data-count="(\d+)">`)
	for _, tc := range []struct{ zone, today, day string }{
		{"Asia/Riyadh", "0", "2026-03-01"},
		{"UTC", "1", "2026-03-01"},
		{"Asia/Kuwait", "0", "2026-03-01"},
	} {
		if _, err := e.srv.Service.SetMerchantTimeZone(context.Background(), e.mer.ID, tc.zone); err != nil {
			t.Fatal(err)
		}
		p := b.get("/console/")
		m := today.FindStringSubmatch(p.body)
		if m == nil || m[1] != tc.today {
			t.Errorf("%s: today's refunds %v, want %s", tc.zone, m, tc.today)
		}
		if !strings.Contains(p.body, `data-day="`+tc.day+`" data-total="1"`) {
			t.Errorf("%s: no bar of 1 refund on %s", tc.zone, tc.day)
		}
	}
}

// TestMerchantTimeZone_Refused: a zone must be an IANA name.
func TestMerchantTimeZone_Refused(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	for _, zone := range []string{"", "Local", "Mars/Olympus", "UTC+3", "../../etc/passwd"} {
		if _, err := e.srv.Service.SetMerchantTimeZone(context.Background(), e.mer.ID, zone); refund.ErrorCode(err) != refund.EInvalidRequest {
			t.Errorf("zone %q: %v", zone, err)
		}
	}
	if _, err := e.srv.Service.SetMerchantTimeZone(context.Background(), "mer_missing", "Asia/Kuwait"); refund.ErrorCode(err) != refund.EMerchantNotFound {
		t.Errorf("unknown merchant: %v", err)
	}
}
