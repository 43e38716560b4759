package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// TestDecideOnADecidedRefund: approving (or rejecting) a refund that no
// longer waits for approval (a second click, another approver was
// quicker, or it was rejected meanwhile) is a conflict the page explains,
// not a 500 "something went wrong" logged as an internal error; and it
// changes nothing.
func TestDecideOnADecidedRefund(t *testing.T) {
	t.Parallel()
	a, _ := twoNodes(t)
	ctx := context.Background()
	maker, _, r := awaitingApproval(t, a, "ORD-D-1", "broken")
	makerP := refund.UserPrincipal(maker)
	checker := browserOn(t, a)
	if p := checker.userSignIn("checker@souq.example", makerPassword, ""); p.status != http.StatusSeeOther {
		t.Fatalf("checker sign in: %d %s", p.status, p.text())
	}
	csrf := checker.get("/console/approvals").csrf(t)
	if p := checker.post("/console/refunds/"+r.ID+"/approve", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", p.status, p.text())
	}
	for _, action := range []string{"approve", "reject"} {
		t.Run(action, func(t *testing.T) {
			p := checker.post("/console/refunds/"+r.ID+"/"+action, url.Values{"csrf": {csrf}})
			if p.status != http.StatusConflict {
				t.Fatalf("%s of an approved refund: want 409, got %d %s", action, p.status, p.text())
			}
			got, err := a.Service.GetRefund(ctx, makerP, r.ID)
			if err != nil || got.Status != refund.StatusSucceeded {
				t.Fatalf("after the second %s: %v %v", action, got, err)
			}
		})
	}
}

// TestRefundPage_SaysWhyItWasCanceled: a refund an approver rejected says
// so on its page, with the approver's reason; the page showed a failure
// only for a failed refund, so a rejection read as a plain "canceled".
func TestRefundPage_SaysWhyItWasCanceled(t *testing.T) {
	t.Parallel()
	a, _ := twoNodes(t)
	_, checker, r := awaitingApproval(t, a, "ORD-W-1", "")
	if _, err := a.Service.RejectRefund(context.Background(), refund.UserPrincipal(checker), r.ID, "duplicate of ORD-W-0"); err != nil {
		t.Fatal(err)
	}
	b := browserOn(t, a)
	if p := b.userSignIn("maker@souq.example", makerPassword, ""); p.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", p.status, p.text())
	}
	page := b.get("/console/refunds/" + r.ID).text()
	for _, want := range []string{"rejected by an approver", "rejected)", "The approver said: duplicate of ORD-W-0"} {
		if !strings.Contains(page, want) {
			t.Errorf("the rejected refund's page lacks %q:\n%s", want, page)
		}
	}
}

// makerPassword is the password of awaitingApproval's users.
const makerPassword = "correct horse battery staple"

// awaitingApproval sets up a merchant whose refunds over 100.00 SAR need
// an approver, with a maker (maker@souq.example) and a checker
// (checker@souq.example), both signing in with makerPassword, and the
// maker's refund of 200.00 on order ref, waiting for approval.
func awaitingApproval(t *testing.T, a *server.Server, ref, reason string) (maker, checker *refund.User, r *refund.Refund) {
	t.Helper()
	ctx := context.Background()
	m, _, err := a.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	maker, err = a.Service.CreateUser(ctx, refund.UserInput{MerchantID: m.ID, Email: "maker@souq.example", Role: refund.RoleRefunder, Password: makerPassword})
	if err != nil {
		t.Fatal(err)
	}
	checker, err = a.Service.CreateUser(ctx, refund.UserInput{MerchantID: m.ID, Email: "checker@souq.example", Role: refund.RoleApprover, Password: makerPassword})
	if err != nil {
		t.Fatal(err)
	}
	limits := map[string]int64{"SAR": 10_000}
	if _, err := a.Service.PutRefundPolicy(ctx, refund.Principal{MerchantID: m.ID, Scopes: []string{refund.ScopeSettingsWrite}},
		refund.RefundPolicyInput{ApprovalThreshold: &limits}); err != nil {
		t.Fatal(err)
	}
	o, err := a.Service.CreateOrder(ctx, refund.Principal{MerchantID: m.ID, Scopes: []string{refund.ScopeOrdersWrite}},
		refund.OrderInput{Reference: ref, Currency: "SAR", Amount: 50_000, PaymentMethod: "card", Source: refund.Card{LastDigits: "4444"}})
	if err != nil {
		t.Fatal(err)
	}
	amount := int64(20_000)
	r, err = a.Service.CreateRefund(ctx, refund.UserPrincipal(maker), refund.RefundInput{OrderID: o.ID, Amount: &amount, Reason: reason})
	if err != nil || r.Status != refund.StatusRequiresApproval {
		t.Fatalf("the maker's refund: %v %v", r, err)
	}
	return maker, checker, r
}

// TestResolve_HistoryNamesWhoResolved: a refund waiting for review that a
// person settles in the console records in its history who did: the
// console user by their email, a key session by its key's prefix, as an
// approval or a rejection names who decided. A console user's resolution
// was recorded as "resolved by : <note>", naming nobody.
func TestResolve_HistoryNamesWhoResolved(t *testing.T) {
	t.Parallel()
	a, _ := twoNodes(t)
	ctx := context.Background()
	m, key, err := a.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.CreateUser(ctx, refund.UserInput{MerchantID: m.ID, Email: "ops@souq.example", Role: refund.RoleAdmin, Password: makerPassword}); err != nil {
		t.Fatal(err)
	}
	p, err := a.Service.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	o, err := a.Service.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 50_000, PaymentMethod: "card", Source: refund.Card{LastDigits: "4444"}})
	if err != nil {
		t.Fatal(err)
	}
	inReview := func(t *testing.T) string {
		t.Helper()
		amount := int64(1_000)
		r, err := a.Service.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &amount, Queue: true})
		if err != nil {
			t.Fatal(err)
		}
		err = a.Store.Update(ctx, func(tx refund.Tx) error {
			rf, err := tx.GetRefund(ctx, "", r.ID)
			if err != nil {
				return err
			}
			rf.Status, rf.Attempts = refund.StatusRequiresReview, 12
			return tx.UpdateRefund(ctx, rf)
		})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	for _, tc := range []struct {
		name    string
		signIn  func(b *browser) page
		who     string // in the cause, and on the refund's page
		outcome string
	}{
		{"ConsoleUser", func(b *browser) page { return b.userSignIn("ops@souq.example", makerPassword, "") }, "ops@souq.example", "failed"},
		{"KeySession", func(b *browser) page { return b.signIn(key) }, p.KeyPrefix, "succeeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := inReview(t)
			b := browserOn(t, a)
			if got := tc.signIn(b); got.status != http.StatusSeeOther {
				t.Fatalf("sign in: %d %s", got.status, got.text())
			}
			csrf := b.get("/console/attention").csrf(t)
			if got := b.post("/console/refunds/"+id+"/resolve", url.Values{"csrf": {csrf}, "outcome": {tc.outcome}, "note": {"acquirer desk confirmed"}}); got.status != http.StatusSeeOther {
				t.Fatalf("resolve: %d %s", got.status, got.text())
			}
			ts, err := a.Service.Transitions(ctx, p, id)
			if err != nil {
				t.Fatal(err)
			}
			last := ts[len(ts)-1]
			if string(last.To) != tc.outcome || !strings.Contains(last.Cause, tc.who) || !strings.Contains(last.Cause, "acquirer desk confirmed") {
				t.Fatalf("the resolution's transition: %s, %q; want %s naming %s and the note", last.To, last.Cause, tc.outcome, tc.who)
			}
			if page := b.get("/console/refunds/" + id).text(); !strings.Contains(page, "resolved by") || !strings.Contains(page, tc.who+": acquirer desk confirmed") {
				t.Fatalf("the refund's page does not say who resolved it:\n%s", page)
			}
		})
	}
}

// TestApprovals_QueueReachesEveryWaitingRefund: with more refunds waiting
// than a page holds, the queue offers the rest on the next page, the
// oldest (the first to run out of time) on the first. It listed the
// newest MaxPageSize only: the oldest were never offered to an approver
// there and expired, their customers unpaid, while the overview counted
// them as waiting; then it put them on the last page.
func TestApprovals_QueueReachesEveryWaitingRefund(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	e.api("PUT", "/v1/refund_policy", e.key, `{"approval_threshold":{"SAR":1}}`, http.StatusOK, nil)
	var ids []string
	for range refund.MaxPageSize + 1 {
		var r struct{ ID, Status string }
		e.api("POST", "/v1/refunds", e.key, fmt.Sprintf(`{"order_id":%q,"amount":1}`, e.orders["ORD-SAR-1001"]), http.StatusCreated, &r)
		if r.Status != string(refund.StatusRequiresApproval) {
			t.Fatalf("refund %s is %s, want requires_approval", r.ID, r.Status)
		}
		ids = append(ids, r.ID)
	}
	b := e.mustSignIn(e.key)
	shown := map[string]bool{}
	for path, pages := "/console/approvals", 0; path != ""; pages++ {
		if pages > 2 {
			t.Fatalf("more than %d pages for %d refunds", pages, len(ids))
		}
		p := b.get(path)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d", path, p.status)
		}
		offered := regexp.MustCompile(`data-approval="([^"]+)"`).FindAllStringSubmatch(p.body, -1)
		if pages == 0 && (len(offered) != refund.MaxPageSize || offered[0][1] != ids[0]) {
			t.Fatalf("the first page offers %d refunds, first %v; want %d, the oldest (%s) first", len(offered), offered[:min(1, len(offered))], refund.MaxPageSize, ids[0])
		}
		for _, m := range offered {
			shown[m[1]] = true
		}
		path = ""
		if m := regexp.MustCompile(`<a href="([^"]*)" id="next"`).FindStringSubmatch(p.body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	for _, id := range ids {
		if !shown[id] {
			t.Errorf("refund %s waits for approval and no page of the queue offers it", id)
		}
	}
}

// TestApprovals_QueueForAKeyThatOnlyApproves: a second person signed in
// with a key that holds refunds:approve and refunds:read (what the demo
// prints as the approver key, what docs/native-api.md's approver uses)
// sees the queue and can approve from it.
func TestApprovals_QueueForAKeyThatOnlyApproves(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	e.api("PUT", "/v1/refund_policy", e.key, `{"approval_threshold":{"SAR":1}}`, http.StatusOK, nil)
	var r struct{ ID, Status string }
	e.api("POST", "/v1/refunds", e.key, fmt.Sprintf(`{"order_id":%q,"amount":100}`, e.orders["ORD-SAR-1001"]), http.StatusCreated, &r)
	if r.Status != string(refund.StatusRequiresApproval) {
		t.Fatalf("refund %s is %s, want requires_approval", r.ID, r.Status)
	}
	_, key, err := e.srv.Service.CreateKey(context.Background(), e.mer.ID, "", []string{refund.ScopeRefundsApprove, refund.ScopeRefundsRead})
	if err != nil {
		t.Fatal(err)
	}
	b := e.mustSignIn(key)
	q := b.get("/console/approvals")
	if q.status != http.StatusOK || !strings.Contains(q.body, `action="/console/refunds/`+r.ID+`/approve"`) {
		t.Fatalf("the queue for an approver key: %d %s", q.status, q.text())
	}
	// The queue links the refund's page: shown without the order it may
	// not read.
	if p := b.get("/console/refunds/" + r.ID); p.status != http.StatusOK || !strings.Contains(p.body, e.orders["ORD-SAR-1001"]) ||
		strings.Contains(p.body, `href="/console/orders/`+e.orders["ORD-SAR-1001"]) {
		t.Fatalf("the refund's page for an approver key: %d %s", p.status, p.text())
	}
	if p := b.post("/console/refunds/"+r.ID+"/approve", url.Values{"csrf": {q.csrf(t)}}); p.status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", p.status, p.text())
	}
}
