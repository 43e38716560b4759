package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestMerchantText_IsolatedFromBidiControls: a customer's name, an item's
// name or a reason carrying a right-to-left override (U+202E) with no end
// must not reorder the page's own words and figures after it ("· created
// <date>" read backwards): every such text is shown isolated, in a <bdi>
// or an element with dir. Text in <title> and in attribute values is not
// laid out with the page's text.
func TestMerchantText_IsolatedFromBidiControls(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	const rlo = "\u202e"
	var o struct{ ID string }
	e.api("POST", "/v1/orders", e.key, jsonBody(map[string]any{
		"reference": "ORD-9001", "currency": "SAR", "amount": 5000, "payment_method": "card",
		"source":   map[string]any{"scheme": "visa", "first_digits": "400000", "last_digits": "0002", "month": 12, "year": 2027},
		"customer": map[string]any{"name": rlo + "Noura", "email": "noura@example.com"},
		"items": []map[string]any{{"id": "line-1", "name_en": rlo + "Oud oil", "name_ar": rlo + "دهن عود",
			"qty": 1, "unit_amount": 5000, "tax_rate": "15"}},
	}), http.StatusCreated, &o)
	b := e.mustSignIn(e.key)
	_, p := b.refundForm(o.ID, "partial", url.Values{"amount": {"1"}, "reason": {rlo + "late"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("refund: want 303, got %d: %s", p.status, p.text())
	}
	var rs struct{ Data []struct{ ID string } }
	e.api("GET", "/v1/refunds?order_id="+o.ID, e.key, "", http.StatusOK, &rs)
	if len(rs.Data) != 1 {
		t.Fatalf("want one refund, got %+v", rs)
	}
	for _, path := range []string{"/console/orders/" + o.ID, "/console/refunds/" + rs.Data[0].ID, "/console/refunds"} {
		for _, lang := range []string{"en", "ar"} {
			t.Run(lang+path, func(t *testing.T) {
				b.lang = lang
				pg := b.get(path)
				if pg.status != http.StatusOK || !strings.Contains(pg.body, rlo) {
					t.Fatalf("want the page with the text, got %d: %s", pg.status, pg.text())
				}
				if at := unisolated(pg.body, rlo); at != "" {
					t.Fatalf("U+202E shown without isolation: …%s…", at)
				}
			})
		}
	}
}

var titleRE = regexp.MustCompile(`(?s)<title>.*?</title>`)

// unisolated returns the page around the first occurrence of ch that is in
// the page's text but neither in a <bdi> nor in an element with a dir
// attribute opened after the enclosing block, or "".
func unisolated(body, ch string) string {
	body = titleRE.ReplaceAllString(body, "")
	for i := strings.Index(body, ch); i >= 0; {
		before := body[:i]
		inTag := strings.LastIndexByte(before, '<') > strings.LastIndexByte(before, '>')
		if !inTag && !isolated(before) {
			return body[max(0, i-80):min(len(body), i+40)]
		}
		next := strings.Index(body[i+len(ch):], ch)
		if next < 0 {
			break
		}
		i += len(ch) + next
	}
	return ""
}

var openRE = regexp.MustCompile(`<(/?)([a-z0-9]+)([^>]*)>`)

// isolated reports whether the text after before is inside an open <bdi>
// or an element with dir (a page's inline elements are well nested).
func isolated(before string) bool {
	var stack []bool // of open elements: does it isolate
	for _, m := range openRE.FindAllStringSubmatch(before, -1) {
		switch name := m[2]; {
		case name == "br" || name == "input" || name == "meta" || name == "link" || name == "img" || name == "hr":
		case m[1] == "/":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		default:
			stack = append(stack, name == "bdi" || strings.Contains(m[3], " dir=") && name != "html")
		}
	}
	for _, iso := range stack {
		if iso {
			return true
		}
	}
	return false
}

// TestProcessorText_IsolatedFromBidiControls: a declined refund's response
// code, message, RRN and ARN come from the processor; a right-to-left
// override in the code must not turn "The processor said:" after it
// backwards on the refund's and the order's pages, nor one in the others
// the text around them.
func TestProcessorText_IsolatedFromBidiControls(t *testing.T) {
	t.Parallel()
	const rlo = "\u202e"
	e := startOnAcquirer(t, map[string]any{"status": "declined", "response_code": rlo + "77", "message": rlo + "no funds",
		"rrn": rlo + "123", "arn": rlo + "456"})
	var o struct{ ID string }
	e.api("POST", "/v1/orders", e.key, jsonBody(map[string]any{"reference": "ORD-1", "currency": "SAR", "amount": 5000,
		"payment_method": "card", "source": map[string]any{"scheme": "visa", "first_digits": "400000", "last_digits": "0002", "month": 12, "year": 2027}}),
		http.StatusCreated, &o)
	b := e.mustSignIn(e.key)
	_, p := b.refundForm(o.ID, "partial", url.Values{"amount": {"1"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("refund: want 303, got %d: %s", p.status, p.text())
	}
	var rs struct{ Data []struct{ ID, Status string } }
	e.api("GET", "/v1/refunds?order_id="+o.ID, e.key, "", http.StatusOK, &rs)
	if len(rs.Data) != 1 || rs.Data[0].Status != "failed" {
		t.Fatalf("want one failed refund, got %+v", rs)
	}
	for _, path := range []string{p.location, "/console/refunds/" + rs.Data[0].ID} {
		for _, lang := range []string{"en", "ar"} {
			t.Run(lang+path, func(t *testing.T) {
				b.lang = lang
				pg := b.get(path)
				if pg.status != http.StatusOK || !strings.Contains(pg.body, rlo+"77") {
					t.Fatalf("want the page with the code, got %d: %s", pg.status, pg.text())
				}
				if at := unisolated(pg.body, rlo); at != "" {
					t.Fatalf("U+202E shown without isolation: …%s…", at)
				}
			})
		}
	}
}

// TestWebhookText_IsolatedFromBidiControls: an endpoint's description is
// the merchant's text (POST /v1/webhook_endpoints); a right-to-left
// override in it must not turn "· created <date>" after it backwards on
// the webhooks page, and its URL likewise.
func TestWebhookText_IsolatedFromBidiControls(t *testing.T) {
	t.Parallel()
	e := mustStart(t, false)
	const rlo = "\u202e"
	var endpoint struct{ ID string }
	e.api("POST", "/v1/webhook_endpoints", e.key, jsonBody(map[string]any{"url": "https://hooks.example.com/" + rlo + "a",
		"description": rlo + "Accounts team"}), http.StatusCreated, &endpoint)
	b := e.mustSignIn(e.key)
	for _, path := range []string{"/console/webhooks", "/console/webhooks/" + endpoint.ID} {
		for _, lang := range []string{"en", "ar"} {
			t.Run(lang+path, func(t *testing.T) {
				b.lang = lang
				pg := b.get(path)
				if pg.status != http.StatusOK || !strings.Contains(pg.body, rlo) {
					t.Fatalf("want the page with the text, got %d: %s", pg.status, pg.text())
				}
				if at := unisolated(pg.body, rlo); at != "" {
					t.Fatalf("U+202E shown without isolation: …%s…", at)
				}
			})
		}
	}
}
