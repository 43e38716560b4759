package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundd/refundd/client"
)

// refundd reconcile prints the summary, what it flagged, and the days no
// report covers with the refunds nothing has checked in them.
func TestCLI_Reconcile(t *testing.T) {
	r := mustRemote(t)
	o := r.order(t, "REC-CLI", "SAR", 10_000, "4444")
	ref, err := r.c.CreateRefund(context.Background(), client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(700)})
	if err != nil || ref.Status != "succeeded" {
		t.Fatalf("refund %+v: %v", ref, err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		day  string
		want []string
		not  string
	}{
		{"2026-02-27", []string{"1 flagged", "line 2: unknown_to_refundd re_not_ours_2026-02-27: the report lists a refund refundd does not know"}, "unchecked"},
		// The refund of 1 March lies between the two reports: unchecked,
		// not flagged missing.
		{"2026-03-02", []string{"1 flagged", "unchecked: 2026-02-28 to 2026-03-01, no report reconciled; 1 refund succeeded there that no report listed (SAR 700 minor units)"},
			"missing_at_processor"},
	} {
		path := filepath.Join(dir, tc.day+".csv")
		report := "refund_id,amount,currency,status,date\nre_not_ours_" + tc.day + ",1.00,SAR,settled," + tc.day + "\n"
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI(t, "reconcile", "--url", r.srv.URL(), "--key", r.key, path)
		if code != 0 {
			t.Fatalf("reconcile %s: exit %d: %s", tc.day, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("reconcile %s: output lacks %q:\n%s", tc.day, w, out)
			}
		}
		if strings.Contains(out, tc.not) {
			t.Errorf("reconcile %s: output has %q:\n%s", tc.day, tc.not, out)
		}
	}
}
