package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// twoNodes runs two refundd nodes on one database, as behind a load
// balancer without sticky sessions.
func twoNodes(t *testing.T) (a, b *server.Server) {
	t.Helper()
	db := sqlitetest.URL(t)
	open := func() *server.Server {
		srv, err := server.Open(context.Background(), server.Config{Addr: "127.0.0.1:0", DB: db, WorkerInterval: -1,
			ProcessorTimeout: 5 * time.Second, Log: slog.New(slog.NewJSONHandler(scanned, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Stop(context.Background()) })
		return srv
	}
	return open(), open()
}

func browserOn(t *testing.T, srv *server.Server) *browser {
	e := &env{t: t, srv: srv}
	return e.browser()
}

// userSignIn signs in with an email and password (and code) on the form.
func (b *browser) userSignIn(email, password, code string) page {
	b.t.Helper()
	form := b.get("/console/login")
	return b.post("/console/login", url.Values{"csrf": {form.csrf(b.t)}, "email": {email}, "password": {password}, "code": {code}})
}

// TestConsoleUsers: people sign in with their own accounts; a session made
// on one node works on the other; the approvals queue offers approve and
// reject to an approver and not to the refund's maker, whose POST is
// refused anyway; wrong passwords lock the account; a second factor is
// asked for when the account has one; a disabled user is signed out.
func TestConsoleUsers(t *testing.T) {
	a, b := twoNodes(t)
	ctx := context.Background()
	m, _, err := a.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	maker, err := a.Service.CreateUser(ctx, refund.UserInput{MerchantID: m.ID, Email: "Maker@Souq.example", Role: refund.RoleRefunder, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.CreateUser(ctx, refund.UserInput{MerchantID: m.ID, Email: "checker@souq.example", Role: refund.RoleApprover, Password: pw}); err != nil {
		t.Fatal(err)
	}
	limits := map[string]int64{"SAR": 10_000}
	if _, err := a.Service.PutRefundPolicy(ctx, refund.Principal{MerchantID: m.ID, Scopes: []string{refund.ScopeSettingsWrite}},
		refund.RefundPolicyInput{ApprovalThreshold: &limits}); err != nil {
		t.Fatal(err)
	}
	makerP := refund.UserPrincipal(maker)
	o, err := a.Service.CreateOrder(ctx, refund.Principal{MerchantID: m.ID, Scopes: []string{refund.ScopeOrdersWrite}},
		refund.OrderInput{Reference: "ORD-U-1", Currency: "SAR", Amount: 50_000, PaymentMethod: "card", Source: refund.Card{LastDigits: "4444"}})
	if err != nil {
		t.Fatal(err)
	}
	amount := int64(20_000)
	r, err := a.Service.CreateRefund(ctx, makerP, refund.RefundInput{OrderID: o.ID, Amount: &amount, Reason: "broken"})
	if err != nil || r.Status != refund.StatusRequiresApproval {
		t.Fatalf("the maker's refund: %v %v", r, err)
	}

	// The maker signs in on node A (email in any case) and works on node B.
	onA := browserOn(t, a)
	if p := onA.userSignIn("maker@souq.example", pw, ""); p.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", p.status, p.text())
	}
	onB := browserOn(t, b)
	onB.c.Jar = onA.c.Jar
	for _, ck := range onA.c.Jar.Cookies(mustURL(t, a.URL()+"/console")) {
		onB.c.Jar.SetCookies(mustURL(t, b.URL()+"/console"), []*http.Cookie{ck})
	}
	queue := onB.get("/console/approvals")
	if queue.status != 200 || !strings.Contains(queue.text(), r.ID) || !strings.Contains(queue.text(), "You asked for this refund") ||
		strings.Contains(queue.body, "/console/refunds/"+r.ID+"/approve") || !strings.Contains(queue.text(), "maker@souq.example (refunder)") {
		t.Fatalf("the maker's queue on the other node: %d %s", queue.status, queue.text())
	}
	if p := onB.post("/console/refunds/"+r.ID+"/approve", url.Values{"csrf": {queue.csrf(t)}}); p.status != http.StatusForbidden {
		t.Fatalf("the maker's own approve: %d %s", p.status, p.text())
	}

	// The approver approves it.
	checker := browserOn(t, b)
	if p := checker.userSignIn("checker@souq.example", pw, ""); p.status != http.StatusSeeOther {
		t.Fatalf("checker sign in: %d %s", p.status, p.text())
	}
	queue = checker.get("/console/approvals")
	if !strings.Contains(queue.body, "/console/refunds/"+r.ID+"/approve") {
		t.Fatalf("the checker's queue: %s", queue.text())
	}
	if p := checker.post("/console/refunds/"+r.ID+"/approve", url.Values{"csrf": {queue.csrf(t)}}); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", p.status, p.text())
	}
	got, err := a.Service.GetRefund(ctx, makerP, r.ID)
	if err != nil || got.Status != refund.StatusSucceeded {
		t.Fatalf("after approval: %v %v", got, err)
	}
	if q := checker.get("/console/approvals?m=approved"); !strings.Contains(q.text(), "Nothing is waiting for approval") {
		t.Fatalf("queue after approval: %s", q.text())
	}

	// Five wrong passwords lock the account, even for the right one.
	intruder := browserOn(t, a)
	for range refund.MaxFailedSignIns {
		if p := intruder.userSignIn("checker@souq.example", "wrong password!", ""); p.status == http.StatusSeeOther {
			t.Fatal("a wrong password signed in")
		}
	}
	if p := intruder.userSignIn("checker@souq.example", pw, ""); p.status == http.StatusSeeOther {
		t.Fatal("a locked account signed in")
	}

	// A second factor, once turned on, is asked for.
	secret, _, err := credential.Argon2{}.NewTOTP(maker.Email)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.ChangeUser(ctx, maker.ID, func(u *refund.User) error { u.TOTPSecret = secret; return nil }); err != nil {
		t.Fatal(err)
	}
	if p := browserOn(t, a).userSignIn("maker@souq.example", pw, "000000"); p.status == http.StatusSeeOther {
		t.Fatal("signed in with a wrong code")
	}
	code, _ := credential.Code(secret, time.Now())
	if p := browserOn(t, a).userSignIn("maker@souq.example", pw, code); p.status != http.StatusSeeOther {
		t.Fatalf("sign in with the code: %d %s", p.status, p.text())
	}

	// Disabling the maker ends their session on every node.
	if _, err := a.Service.ChangeUser(ctx, maker.ID, func(u *refund.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if p := onB.get("/console/approvals"); p.status != http.StatusSeeOther || !strings.Contains(p.location, "/console/login") {
		t.Fatalf("a disabled user's page: %d %s", p.status, p.location)
	}
	// The audit trail names the person.
	audit, err := a.Service.ListAudit(ctx, refund.Principal{MerchantID: m.ID, Scopes: []string{refund.ScopeRefundsRead}}, refund.AuditFilter{ObjectID: r.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, e := range audit.Data {
		actors = append(actors, e.Actor+" "+e.Action)
	}
	if !strings.Contains(strings.Join(actors, ","), "user:checker@souq.example refund.approve") ||
		!strings.Contains(strings.Join(actors, ","), "user:maker@souq.example refund.create") {
		t.Fatalf("audit: %v", actors)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSignInAgainEndsTheOldSession: signing in over a live session (as a
// user, or with a key) ends it, on every node: a copy of the old cookie
// no longer opens the console.
func TestSignInAgainEndsTheOldSession(t *testing.T) {
	a, b := twoNodes(t)
	ctx := context.Background()
	m, key, err := a.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	if _, err := a.Service.CreateUser(ctx, refund.UserInput{MerchantID: m.ID, Email: "maker@souq.example", Role: refund.RoleRefunder, Password: pw}); err != nil {
		t.Fatal(err)
	}
	session := func(t *testing.T, br *browser) string {
		t.Helper()
		for _, ck := range br.c.Jar.Cookies(mustURL(t, a.URL()+"/console")) {
			if ck.Name == "refundd_console" {
				return ck.Value
			}
		}
		t.Fatal("no session cookie")
		return ""
	}
	for _, again := range []struct {
		name    string
		signIn  func(*browser) page
		newKind string
	}{
		{"AsTheUser", func(br *browser) page { return br.userSignIn("maker@souq.example", pw, "") }, "user"},
		{"WithAKey", func(br *browser) page { return br.signIn(key) }, "key"},
	} {
		t.Run(again.name, func(t *testing.T) {
			br := browserOn(t, a)
			if p := br.userSignIn("maker@souq.example", pw, ""); p.status != http.StatusSeeOther {
				t.Fatalf("sign in: %d %s", p.status, p.text())
			}
			old := session(t, br)
			if p := again.signIn(br); p.status != http.StatusSeeOther {
				t.Fatalf("sign in again: %d %s", p.status, p.text())
			}
			if now := session(t, br); now == old {
				t.Fatalf("the session id was kept: %s", now)
			}
			if p := br.get("/console/orders"); p.status != http.StatusOK {
				t.Fatalf("the new session: %d %s", p.status, p.text())
			}
			copied := browserOn(t, b)
			copied.c.Jar.SetCookies(mustURL(t, b.URL()+"/console"), []*http.Cookie{{Name: "refundd_console", Value: old, Path: "/console"}})
			if p := copied.get("/console/orders"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/console/login") {
				t.Fatalf("the replaced session on the other node: %d %q", p.status, p.location)
			}
		})
	}
}
