package server_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// TestResolveDiscrepancy, through the native API on each store: two
// discrepancies a reconciliation flagged are open; every refusal (no or
// blank note, a note refundd cannot keep, an unknown or another
// merchant's id, a key without refunds:review) changes nothing; resolving
// one answers it resolved with who, when and the trimmed note, audits it,
// lists it under status=resolved and not under status=open, and takes it
// off the overview's count; resolving it again is refused, while a retry
// with the first request's Idempotency-Key replays the first answer.
func TestResolveDiscrepancy(t *testing.T) {
	for _, st := range noteStores {
		t.Run(st.name, func(t *testing.T) {
			s := mustStart(t, st.opts(t)...)
			ctx := context.Background()
			report := "refund_id,arn,rrn,amount,currency,status,date\n" +
				"re_not_ours_1,74000000000000000000991,606099999991,7.50,SAR,approved,2026-03-01\n" +
				"re_not_ours_2,74000000000000000000992,606099999992,2.50,SAR,approved,2026-03-01\n"
			if r := s.reconcile(report); r.status != http.StatusOK || r.num("flagged") != 2 {
				t.Fatalf("reconcile: %d %s", r.status, r.raw)
			}
			list := func(query string) []string {
				t.Helper()
				r := s.do("GET", "/v1/discrepancies"+query, s.key, nil)
				if r.status != http.StatusOK {
					t.Fatalf("list%s: %d %s", query, r.status, r.raw)
				}
				var ids []string
				for _, d := range r.get("data").([]any) {
					ids = append(ids, d.(map[string]any)["id"].(string))
				}
				return ids
			}
			all := list("")
			if len(all) != 2 {
				t.Fatalf("%d discrepancies, want 2", len(all))
			}
			target, other := all[1], all[0]
			opened := s.do("GET", "/v1/discrepancies", s.key, nil)
			for _, d := range opened.get("data").([]any) {
				m := d.(map[string]any)
				if m["status"] != "open" || m["resolved_at"] != nil || m["resolved_by"] != nil || m["resolution"] != nil {
					t.Fatalf("a new discrepancy: %v", m)
				}
			}
			merchant := refund.Principal{MerchantID: s.mer.ID, Scopes: refund.MerchantScopes}
			openCount := func() int64 {
				t.Helper()
				o, err := s.Service.Overview(ctx, merchant)
				if err != nil {
					t.Fatal(err)
				}
				return o.Discrepancies
			}
			audited := func(id string) int {
				t.Helper()
				r := s.do("GET", "/v1/audit?action=discrepancy.resolve&object_id="+id, s.key, nil)
				if r.status != http.StatusOK {
					t.Fatalf("audit: %d %s", r.status, r.raw)
				}
				return len(r.get("data").([]any))
			}
			if n := openCount(); n != 2 {
				t.Fatalf("overview counts %d discrepancies, want 2", n)
			}

			var scopes []string
			for _, sc := range refund.MerchantScopes {
				if sc != refund.ScopeRefundsReview {
					scopes = append(scopes, sc)
				}
			}
			_, noReview, err := s.Service.CreateKey(ctx, s.mer.ID, "", scopes)
			if err != nil {
				t.Fatal(err)
			}
			foreign := s.newMerchant("Other Merchant")
			resolve := func(key, id string, body any, headers ...string) reply {
				t.Helper()
				return s.do("POST", "/v1/discrepancies/"+id+"/resolve", key, body, headers...)
			}
			for _, tc := range []struct {
				name, key, id string
				body          any
				status        int
				code, param   string
			}{
				{"NoNote", s.key, target, map[string]any{}, http.StatusBadRequest, refund.EInvalidRequest, "note"},
				{"BlankNote", s.key, target, map[string]any{"note": " \t\n "}, http.StatusBadRequest, refund.EInvalidRequest, "note"},
				{"NullNote", s.key, target, `{"note":null}`, http.StatusBadRequest, refund.EInvalidRequest, "note"},
				{"NULInNote", s.key, target, map[string]any{"note": "paid\x00back"}, http.StatusBadRequest, refund.EInvalidRequest, "note"},
				{"LongNote", s.key, target, map[string]any{"note": strings.Repeat("ن", 501)}, http.StatusBadRequest, refund.EInvalidRequest, "note"},
				{"UnknownField", s.key, target, map[string]any{"note": "ok", "outcome": "failed"}, http.StatusBadRequest, refund.EInvalidRequest, ""},
				{"UnknownID", s.key, "dsc_missing", map[string]any{"note": "settled"}, http.StatusNotFound, refund.EDiscrepancyNotFound, ""},
				{"ForeignID", foreign, target, map[string]any{"note": "settled"}, http.StatusNotFound, refund.EDiscrepancyNotFound, ""},
				{"NoReviewScope", noReview, target, map[string]any{"note": "settled"}, http.StatusForbidden, refund.EForbidden, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := s.do("GET", "/v1/discrepancies", s.key, nil).raw
					r := resolve(tc.key, tc.id, tc.body)
					if r.status != tc.status || r.str("error", "code") != tc.code || (tc.param != "" && r.str("error", "param") != tc.param) {
						t.Fatalf("%d %s; want %d %s (%s)", r.status, r.raw, tc.status, tc.code, tc.param)
					}
					if after := s.do("GET", "/v1/discrepancies", s.key, nil).raw; after != before {
						t.Fatalf("a refusal changed the discrepancies:\n before %s\n after  %s", before, after)
					}
					if n := audited(target); n != 0 {
						t.Fatalf("a refusal was audited %d times", n)
					}
				})
			}
			if n := openCount(); n != 2 {
				t.Fatalf("after the refusals the overview counts %d discrepancies, want 2", n)
			}

			s.clock.Advance(time.Hour)
			r := resolve(s.key, target, map[string]any{"note": "  refunded 7.50 SAR by bank transfer, ticket 4411\n"})
			if r.status != http.StatusOK {
				t.Fatalf("resolve: %d %s", r.status, r.raw)
			}
			keys, err := s.Service.ListKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(keys, func(k *refund.APIKey) bool { return strings.HasPrefix(s.key, k.Prefix) })
			if i < 0 {
				t.Fatal("the merchant's key is not listed")
			}
			at, _ := time.Parse(time.RFC3339Nano, r.str("resolved_at"))
			if r.str("id") != target || r.str("status") != "resolved" || !at.Equal(s.clock.Now()) ||
				r.str("resolved_by") != "key:"+keys[i].ID || r.str("resolution") != "refunded 7.50 SAR by bank transfer, ticket 4411" ||
				r.str("kind") != refund.ReconUnknownToRefundd {
				t.Fatalf("resolved: %s (want resolved at %v by key:%s)", r.raw, s.clock.Now(), keys[i].ID)
			}
			if n := audited(target); n != 1 {
				t.Fatalf("the resolution was audited %d times, want once", n)
			}
			for query, want := range map[string][]string{
				"":                 {other, target},
				"?status=open":     {other},
				"?status=resolved": {target},
				"?status=open&kind=" + refund.ReconUnknownToRefundd: {other},
			} {
				if got := list(query); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("list%s = %v, want %v", query, got, want)
				}
			}
			if bad := s.do("GET", "/v1/discrepancies?status=closed", s.key, nil); bad.status != http.StatusBadRequest ||
				bad.str("error", "code") != refund.EInvalidRequest || bad.str("error", "param") != "status" {
				t.Errorf("status=closed: %d %s", bad.status, bad.raw)
			}
			if n := openCount(); n != 1 {
				t.Fatalf("after the resolution the overview counts %d discrepancies, want 1", n)
			}

			// Again: refused, and the first resolution stands.
			resolved := s.do("GET", "/v1/discrepancies?status=resolved", s.key, nil).raw
			again := resolve(s.key, target, map[string]any{"note": "another note"})
			if again.status != http.StatusConflict || again.str("error", "code") != refund.EDiscrepancyResolved {
				t.Fatalf("resolving again: %d %s", again.status, again.raw)
			}
			if now := s.do("GET", "/v1/discrepancies?status=resolved", s.key, nil).raw; now != resolved || audited(target) != 1 {
				t.Fatalf("resolving again changed it:\n before %s\n after  %s", resolved, now)
			}

			// A retry with the first request's key replays its answer.
			body := map[string]any{"note": "confirmed with the acquirer"}
			first := resolve(s.key, other, body, "Idempotency-Key", "resolve-other-1")
			replay := resolve(s.key, other, body, "Idempotency-Key", "resolve-other-1")
			if first.status != http.StatusOK || replay.status != http.StatusOK || replay.raw != first.raw ||
				replay.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("first %d %s; retry %d %s (replayed %q)", first.status, first.raw, replay.status, replay.raw, replay.header.Get("Idempotent-Replayed"))
			}
			if n := audited(other); n != 1 {
				t.Fatalf("a replayed resolution was audited %d times, want once", n)
			}
			if n := openCount(); n != 0 {
				t.Fatalf("with both resolved the overview counts %d, want 0", n)
			}
		})
	}
}
