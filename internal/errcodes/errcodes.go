// Package errcodes lists the error codes of package refund, read from its
// source, and checks a surface's reply to each, so that a code added to
// the core fails every surface's test until the surface answers it or
// says why it never meets it.
//
// It is imported only by tests.
package errcodes

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// Codes returns the value of every E* constant of refund/error.go, read
// from the source: a list kept by hand is the gap this package is for.
func Codes(tb testing.TB) []string {
	tb.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("errcodes: cannot find its own source")
	}
	file := filepath.Join(filepath.Dir(here), "..", "..", "refund", "error.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var codes []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			for i, name := range v.Names {
				if !strings.HasPrefix(name.Name, "E") || i >= len(v.Values) {
					continue
				}
				lit, ok := v.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					tb.Fatalf("errcodes: %s is not a string literal", name.Name)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					tb.Fatal(err)
				}
				codes = append(codes, s)
			}
		}
	}
	if len(codes) < 30 || !slices.Contains(codes, refund.ESecretKeyUnavailable) {
		tb.Fatalf("errcodes: read only %d codes from %s", len(codes), file)
	}
	return codes
}

// Check sends every code of package refund through a surface's fail (its
// one code-to-reply table) and wants a reply other than its internal
// error, 500, except for the codes in unmet, each with why the surface
// never meets it: those must still answer 500, so that the list says
// what the table does. A 500, and a code missing from the table, must
// not carry the core's message. shape, when not nil, checks that every
// reply is in the surface's error shape.
func Check(t *testing.T, fail func(http.ResponseWriter, *http.Request, error), unmet map[string]string, shape func(status int, body string) bool) {
	t.Helper()
	codes := Codes(t)
	for code, why := range unmet {
		if !slices.Contains(codes, code) {
			t.Errorf("unmet names %q, which is no code of package refund", code)
		}
		if strings.TrimSpace(why) == "" {
			t.Errorf("unmet %q says not why", code)
		}
	}
	for _, code := range codes {
		t.Run(code, func(t *testing.T) {
			w := httptest.NewRecorder()
			fail(w, httptest.NewRequest("POST", "/", nil), refund.Errorf(code, "", "the core's message"))
			_, isUnmet := unmet[code]
			switch {
			case code == refund.EInternal && w.Code != http.StatusInternalServerError:
				t.Errorf("internal answers %d %s, want 500", w.Code, w.Body)
			case code == refund.EInternal:
			case isUnmet && w.Code != http.StatusInternalServerError:
				t.Errorf("%s answers %d, but the test lists it as never met (%s): take it off that list", code, w.Code, unmet[code])
			case !isUnmet && w.Code == http.StatusInternalServerError:
				t.Errorf("%s answers 500 internal error: give it a reply in the surface's table, "+
					"or list it as never met on this surface, with why", code)
			}
			if w.Code == http.StatusInternalServerError && strings.Contains(w.Body.String(), "the core's message") {
				t.Errorf("%s answers 500 %s: an internal error with the core's message, which only the logs should hold", code, w.Body)
			}
			if shape != nil && !shape(w.Code, w.Body.String()) {
				t.Errorf("%s answers %d %s: not in the surface's error shape", code, w.Code, w.Body)
			}
		})
	}
	// A code the surface does not know (one added to the core and not
	// yet to the surface) is its internal error, and nothing of the
	// error reaches the client: not its message, field or Retry-After.
	t.Run("CodeNotInTheTable", func(t *testing.T) {
		w := httptest.NewRecorder()
		fail(w, httptest.NewRequest("POST", "/", nil), &refund.Error{Code: "made_up_code", Message: "the core's message",
			Param: "made_up_field", RetryAfter: time.Second})
		body := w.Body.String()
		if w.Code != http.StatusInternalServerError || strings.Contains(body, "the core's message") ||
			strings.Contains(body, "made_up") || w.Header().Get("Retry-After") != "" {
			t.Errorf("answers %d %s (Retry-After %q); want 500 internal error and nothing of the error",
				w.Code, body, w.Header().Get("Retry-After"))
		}
		if shape != nil && !shape(w.Code, body) {
			t.Errorf("answers %d %s: not in the surface's error shape", w.Code, body)
		}
	})
}

// DialectUnmet is own, a dialect's codes it never meets, with those no
// dialect meets: none of them reads events, discrepancies or webhook
// endpoints, reconciles, approves, cancels or resolves a refund, nor
// answers the stores' and the key lookups' own codes.
func DialectUnmet(own map[string]string) map[string]string {
	unmet := map[string]string{
		refund.EDiscrepancyNotFound:       "no route here reads discrepancies",
		refund.EDiscrepancyResolved:       "no route here resolves discrepancies",
		refund.EEventNotFound:             "no route here reads events",
		refund.EKeyNotFound:               "a store's answer to a key lookup: Authenticate and ActForMerchant answer unauthorized instead",
		refund.ENotFound:                  "the stores' not-found of rows without a code of their own, which the use cases turn into theirs: one escaping a handler is a bug, answered internal (as api.ECodeRouteNotFound says)",
		refund.EOrderReferenceExists:      "only creating an order returns it, and no route here creates one",
		refund.EPartnerNotFound:           "a store's answer to a partner lookup: Authenticate and ActForMerchant answer unauthorized instead",
		refund.EProcessorAccountRemoved:   "only a status sync returns it, and no route here syncs a refund",
		refund.EReconciliationAnswerLost:  "only a reconciliation returns it, and no route here reconciles a report",
		refund.ERefundNotAwaitingApproval: "no route here approves or rejects a refund",
		refund.ERefundNotCancelable:       "no route here cancels a refund",
		refund.ERefundNotReviewable:       "no route here resolves a refund",
		refund.EWebhookEndpointNotFound:   "no route here reads webhook endpoints",
	}
	maps.Copy(unmet, own)
	return unmet
}
