package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// chromium is Debian's Chromium, which .ci/run installs.
const chromium = "/usr/bin/chromium"

// TestBrowser runs e2e/console.test.mjs: headless Chromium, driven by
// playwright-core, walks every page of the console against a real server,
// once in English and once in Arabic (right to left): sign-in, search,
// refunds of 1.005 KWD, a canceled queued refund, a declined refund, the
// webhook delivery log, maker-checker approval, the overview, the refunds
// list, what needs attention and the discrepancies, saving a screenshot of
// each page (NN-name.png in English, ar-NN-name.png in Arabic) and
// checking each with axe-core. Without node, Chromium or e2e/node_modules
// it skips, unless REFUNDD_CONSOLE_E2E is set (as .ci/run does), where it
// fails instead.
func TestBrowser(t *testing.T) {
	node, err := exec.LookPath("node")
	var missing []string
	if err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install chromium)")
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "console/e2e/node_modules (cd console/e2e && npm ci)")
	}
	if len(missing) > 0 {
		if os.Getenv("REFUNDD_CONSOLE_E2E") != "" {
			t.Fatalf("REFUNDD_CONSOLE_E2E is set but the browser test cannot run: missing %s", strings.Join(missing, ", "))
		}
		t.Skipf("console browser test skipped: missing %s", strings.Join(missing, ", "))
	}
	shots := t.TempDir()
	if dir := os.Getenv("REFUNDD_ARTIFACTS"); dir != "" {
		shots = filepath.Join(dir, "console-screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// The browser runs in real time, so the server does too.
	e := mustStart(t, true)
	// A delivery log to show: the receiver refuses refund.created.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Type string }
		_ = json.NewDecoder(r.Body).Decode(&ev)
		if ev.Type == refund.EventRefundCreated {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer receiver.Close()
	e.api("POST", "/v1/webhook_endpoints", e.key, jsonBody(map[string]any{"url": receiver.URL + "/refundd"}), http.StatusCreated, nil)
	// The Arabic walk refunds an order like ORD-KWD-2001 of its own.
	var kwd struct{ ID string }
	e.api("POST", "/v1/orders", e.key, jsonBody(map[string]any{"reference": "ORD-KWD-2003", "currency": "KWD", "amount": 12345,
		"payment_method": "card", "source": map[string]any{"scheme": "visa", "last_digits": "4444", "month": 12, "year": 2027},
		"customer": map[string]any{"name": "Abdullah Al-Enezi"}}), http.StatusCreated, &kwd)
	e.orders["ORD-KWD-2003"] = kwd.ID
	e.api("POST", "/v1/refunds", e.key, jsonBody(map[string]any{"order_id": e.orders["ORD-SAR-1001"], "amount": 500}), http.StatusCreated, nil)
	if n, err := e.srv.Webhooks.RunOnce(context.Background()); err != nil || n != 2 {
		t.Fatalf("webhook deliveries: sent %d, %v", n, err)
	}

	// Maker-checker: refunds from 20.00 SAR wait for approval; a refunder
	// and an approver with their own accounts.
	const password = "correct horse battery staple"
	for email, role := range map[string]string{"maker@souq.example": refund.RoleRefunder, "checker@souq.example": refund.RoleApprover} {
		if _, err := e.srv.Service.CreateUser(context.Background(), refund.UserInput{MerchantID: e.mer.ID, Email: email, Role: role, Password: password}); err != nil {
			t.Fatal(err)
		}
	}
	e.api("PUT", "/v1/refund_policy", e.key, jsonBody(map[string]any{"approval_threshold": map[string]any{"SAR": 2000}}), http.StatusOK, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute) // two walks, each page checked by axe-core
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("e2e", "console.test.mjs"), e.srv.URL(), e.key, shots)
	cmd.WaitDelay = 10 * time.Second
	orders, err := json.Marshal(e.orders)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "REFUNDD_E2E_MAKER=maker@souq.example", "REFUNDD_E2E_CHECKER=checker@souq.example",
		"REFUNDD_E2E_PASSWORD="+password, "REFUNDD_E2E_ORDERS="+string(orders))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("node e2e/console.test.mjs:\n%s", strings.ReplaceAll(out.String(), e.key, "rk_…"))
	if err != nil {
		t.Fatalf("browser test failed (%v); screenshots in %s", err, shots)
	}

	// Every page was photographed in both languages, as a real PNG.
	pngs, err := filepath.Glob(filepath.Join(shots, "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sign-in", "sign-in-refused", "orders", "search", "order", "refunded", "bad-amount",
		"queued-refund", "canceled", "order-after-cancel", "refund-failed", "webhooks", "deliveries", "not-found", "signed-out",
		"waiting-for-approval", "approvals-own", "approvals-queue", "approved", "overview", "refunds-filtered", "attention",
		"discrepancies"} {
		for _, lang := range []string{"", "ar-"} {
			found := false
			for _, p := range pngs {
				name := filepath.Base(p)
				if strings.HasPrefix(name, "ar-") == (lang == "ar-") && strings.HasSuffix(name, "-"+want+".png") {
					b, err := os.ReadFile(p)
					found = found || err == nil && len(b) > 1000 && bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n"))
				}
			}
			if !found {
				t.Errorf("no screenshot %s*-%s.png in %s (have %d)", lang, want, shots, len(pngs))
			}
		}
	}
	t.Logf("%d screenshots in %s", len(pngs), shots)

	// The approved refund: made by the refunder, approved by the approver.
	for _, r := range e.refunds("ORD-SAR-1001") {
		if r.Amount == 2500 && (r.Status != refund.StatusSucceeded || !strings.HasPrefix(r.CreatedBy, "user:")) {
			t.Fatalf("the 25.00 SAR refund: %s by %q", r.Status, r.CreatedBy)
		}
	}

	// What the browser did is what the server holds: the English walk
	// refunded ORD-KWD-2001, the Arabic one ORD-KWD-2003, alike.
	for _, ref := range []string{"ORD-KWD-2001", "ORD-KWD-2003"} {
		if o := e.order(ref); o.RefundedAmount != 1005 || o.PendingRefundAmount != 0 {
			t.Fatalf("%s after the browser: refunded %d, pending %d; want 1005, 0", ref, o.RefundedAmount, o.PendingRefundAmount)
		}
		statuses := map[refund.Status]int{}
		for _, r := range e.refunds(ref) {
			statuses[r.Status]++
			if r.Surface != "console" {
				t.Errorf("refund %s was made through %q, not the console", r.ID, r.Surface)
			}
		}
		if statuses[refund.StatusSucceeded] != 1 || statuses[refund.StatusCanceled] != 1 || len(statuses) != 2 {
			t.Fatalf("%s's refunds by status: %v; want one succeeded and one canceled", ref, statuses)
		}
	}
	// ORD-SAR-1051's card is declined: a 1.00 SAR refund in each walk, and
	// the Arabic walk's 20.00 SAR one after its approval.
	var declined []int64
	for _, r := range e.refunds("ORD-SAR-1051") {
		if r.Status != refund.StatusFailed || r.FailureCode != "51" {
			t.Errorf("ORD-SAR-1051's refund %s: %s (%s)", r.ID, r.Status, r.FailureCode)
		}
		declined = append(declined, r.Amount)
	}
	if len(declined) != 3 {
		t.Fatalf("ORD-SAR-1051's declined refunds: %v; want 100, 100, 2000", declined)
	}
}
