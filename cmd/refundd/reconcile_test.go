package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundd/refundd/client"
	"github.com/refundd/refundd/refund"
)

// refundd reconcile prints the summary, what it flagged, and the days no
// report covers with the refunds nothing has checked in them; an empty
// report is read with the days it covers. A run that flags rows exits 3,
// one that flags none 0, so a script tells "all matched" from
// "discrepancies found" from a failure (1).
func TestCLI_Reconcile(t *testing.T) {
	r := mustRemote(t)
	o := r.order(t, "REC-CLI", "SAR", 10_000, "4444")
	ref, err := r.c.CreateRefund(context.Background(), client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(700)})
	if err != nil || ref.Status != "succeeded" {
		t.Fatalf("refund %+v: %v", ref, err)
	}
	dir := t.TempDir()
	header := "refund_id,amount,currency,status,date\n"
	unknown := func(day string) string { return header + "re_not_ours_" + day + ",1.00,SAR,settled," + day + "\n" }
	for _, tc := range []struct {
		name, report string
		args         []string
		code         int
		want         []string
		not          string
	}{
		{"the 27th", unknown("2026-02-27"), nil, 3, []string{"1 flagged",
			"line 2: unknown_to_refundd re_not_ours_2026-02-27: the report lists a refund refundd does not know"}, "unchecked"},
		// The same report as Windows PowerShell's Export-Csv writes it: a
		// BOM, every field quoted, CRLF.
		{"the 27th, from Export-Csv", "\ufeff\"refund_id\",\"amount\",\"currency\",\"status\",\"date\"\r\n" +
			"\"re_not_ours_2026-02-27\",\"1.00\",\"SAR\",\"settled\",\"2026-02-27\"\r\n", nil, 3, []string{"1 flagged",
			"line 2: unknown_to_refundd re_not_ours_2026-02-27: the report lists a refund refundd does not know"}, "unchecked"},
		// The refund of 1 March lies between the two reports: unchecked,
		// not flagged missing.
		{"the 2nd", unknown("2026-03-02"), nil, 3, []string{"1 flagged",
			"unchecked: 2026-02-28 to 2026-03-01, no report reconciled; 1 refund succeeded there that no report listed (SAR 700 minor units)"},
			"missing_at_processor"},
		// The 1st's report, empty: the refund is missing from it, and only
		// the 28th lies unchecked.
		{"the 1st, empty", header, []string{"--from", "2026-03-01", "--to", "2026-03-01"}, 3, []string{"1 flagged",
			"line -: missing_at_processor " + ref.ID + ": succeeded in refundd, absent from this report, which covers its last day to be listed, and from every other report reconciled",
			"unchecked: 2026-02-28 to 2026-02-28, no report reconciled; 0 refunds succeeded there that no report listed"}, "unknown"},
		// The processor's corrected report of the 1st lists the refund:
		// everything matches.
		{"the 1st, corrected", header + ref.ID + ",7.00,SAR,settled,2026-03-01\n", nil, 0, []string{"0 flagged"}, "line "},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".csv")
		if err := os.WriteFile(path, []byte(tc.report), 0o644); err != nil {
			t.Fatal(err)
		}
		// Without --exit-code a run that flags rows exits 0 as it always
		// has; reconciling again changes nothing, so the second run's
		// output is the first's.
		if code, _, errOut := runCLI(t, append([]string{"reconcile", "--url", r.srv.URL(), "--key", r.key, path}, tc.args...)...); code != 0 {
			t.Fatalf("reconcile %s: exit %d, want 0 without --exit-code: %s", tc.name, code, errOut)
		}
		code, out, errOut := runCLI(t, append([]string{"reconcile", "--exit-code", "--url", r.srv.URL(), "--key", r.key, path}, tc.args...)...)
		if code != tc.code {
			t.Fatalf("reconcile --exit-code %s: exit %d, want %d: %s", tc.name, code, tc.code, errOut)
		}
		if flagged := tc.code == 3; flagged != strings.Contains(errOut, "discrepancies found") {
			t.Errorf("reconcile %s: stderr %q, want it to say discrepancies found only when rows are flagged", tc.name, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("reconcile %s: output lacks %q:\n%s", tc.name, w, out)
			}
		}
		if strings.Contains(out, tc.not) {
			t.Errorf("reconcile %s: output has %q:\n%s", tc.name, tc.not, out)
		}
	}
	for _, args := range [][]string{{"--from", "1 March"}, {"--to", "2026-03-32"}} {
		if code, _, errOut := runCLI(t, append([]string{"reconcile", "--url", r.srv.URL(), "--key", r.key, filepath.Join(dir, "the_2nd.csv")}, args...)...); code != 2 || !strings.Contains(errOut, args[0]+" must be a day") {
			t.Errorf("reconcile %v: exit %d: %s", args, code, errOut)
		}
	}
	// The API reads a column's name in any case: named twice in two
	// cases, it is named twice too.
	for _, second := range []string{"refund_id=b", "REFUND_ID=b"} {
		twice := []string{"reconcile", "--url", r.srv.URL(), "--key", r.key, "--map", "refund_id=a", "--map", second, filepath.Join(dir, "the_2nd.csv")}
		if code, _, errOut := runCLI(t, twice...); code != 2 || !strings.Contains(errOut, "names column refund_id twice") {
			t.Errorf("a column mapped twice (%s): exit %d: %s", second, code, errOut)
		}
	}
}

// A report whose rows carry no dates covers no day for certain, so the
// refunds missing from it are not looked for: here one succeeded and is
// absent, and the run flags nothing. It said so nowhere (the API's from
// and to are null, which the text output never shows), and a cron job
// took "0 flagged" for a clean day. The command says it on stderr, in
// every output, and names the flags that give the days; a dated report
// has no such line. With --exit-code, which promises 0 for a clean run
// only, it exited 0 all the same: it exits 3, as for rows flagged.
func TestCLI_ReconcileUndatedReport(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	o := r.order(t, "REC-UNDATED", "SAR", 10_000, "4444")
	var ids []string
	for range 2 {
		ref, err := r.c.CreateRefund(context.Background(), client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(700)})
		if err != nil || ref.Status != "succeeded" {
			t.Fatalf("refund %+v: %v", ref, err)
		}
		ids = append(ids, ref.ID)
	}
	dir := t.TempDir()
	warning := "the report's rows carry no dates: refunds missing from it were not looked for"
	for _, tc := range []struct {
		name, report string
		args         []string
		warned       bool
		code         int
	}{
		{"Undated", "refund_id,amount,currency,status\n" + ids[0] + ",7.00,SAR,settled\n", nil, true, 0},
		{"UndatedJSON", "refund_id,amount,currency,status\n" + ids[0] + ",7.00,SAR,settled\n", []string{"--json"}, true, 0},
		// Both refunds listed: nothing flagged, and only the dated report
		// is a clean run.
		{"UndatedExitCode", "refund_id,amount,currency,status\n" + ids[0] + ",7.00,SAR,settled\n" + ids[1] + ",7.00,SAR,settled\n",
			[]string{"--exit-code"}, true, 3},
		{"UndatedExitCodeJSON", "refund_id,amount,currency,status\n" + ids[0] + ",7.00,SAR,settled\n" + ids[1] + ",7.00,SAR,settled\n",
			[]string{"--exit-code", "--json"}, true, 3},
		{"UndatedWithDays", "refund_id,amount,currency,status\n" + ids[0] + ",7.00,SAR,settled\n", []string{"--from", "2026-03-01", "--to", "2026-03-01"}, false, 0},
		{"Dated", "refund_id,amount,currency,status,date\n" + ids[0] + ",7.00,SAR,settled,2026-03-01\n", nil, false, 0},
		{"DatedExitCode", "refund_id,amount,currency,status,date\n" + ids[0] + ",7.00,SAR,settled,2026-03-01\n" + ids[1] + ",7.00,SAR,settled,2026-03-01\n",
			[]string{"--exit-code"}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".csv")
			if err := os.WriteFile(path, []byte(tc.report), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runCLI(t, append([]string{"reconcile", "--url", r.srv.URL(), "--key", r.key, path}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errOut)
			}
			if strings.Contains(errOut, warning) != tc.warned || tc.warned && !strings.Contains(errOut, "--from and --to") {
				t.Fatalf("stderr %q; want the warning about missing refunds: %v", errOut, tc.warned)
			}
		})
	}
}

// TestCLI_ReconcileLineNumbers: a flagged row is named by its line in the
// file, as an editor numbers it, past a blank line and a quoted field
// that runs over two lines: an operator goes to that line to look at it.
func TestCLI_ReconcileLineNumbers(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, report string
		want         []string
	}{
		{"BlankLine", "refund_id,amount,currency,status,date\n" +
			"re_gone_1,1.00,SAR,settled,2026-02-27\n" +
			"\n" +
			"re_gone_2,2.00,SAR,settled,2026-02-27\n",
			[]string{"line 2: unknown_to_refundd re_gone_1:", "line 4: unknown_to_refundd re_gone_2:"}},
		{"QuotedNewline", "refund_id,amount,currency,status,date,note\r\n" +
			"re_gone_3,1.00,SAR,settled,2026-02-27,\"two\r\nlines\"\r\n" +
			"re_gone_4,2.00,SAR,settled,2026-02-27,\r\n",
			[]string{"line 2: unknown_to_refundd re_gone_3:", "line 4: unknown_to_refundd re_gone_4:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".csv")
			if err := os.WriteFile(path, []byte(tc.report), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, tc.name+"-result.csv")
			code, stdout, stderr := runCLI(t, "reconcile", "--url", r.srv.URL(), "--key", r.key, "--out", out, path)
			if code != 0 { // rows flagged, and no --exit-code
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, stdout)
				}
			}
			lines := map[string]string{}
			for _, rec := range readCSV(t, out)[1:] {
				lines[rec[3]] = rec[0]
			}
			for _, w := range tc.want {
				var line, ref string
				fmt.Sscanf(w, "line %s unknown_to_refundd %s", &line, &ref)
				if line, ref = strings.TrimSuffix(line, ":"), strings.TrimSuffix(ref, ":"); lines[ref] != line {
					t.Errorf("--out gives %s line %q, want %s", ref, lines[ref], line)
				}
			}
		})
	}
}

// TestCLI_CSVCellsAreNotFormulas: text from a processor's report (or its
// answers) and from orders reaches the CSV files operators open in a
// spreadsheet; a cell that starts with =, +, -, @ (or a tab or carriage
// return) would run there as a formula (CSV injection), so it is written
// behind a single quote.
func TestCLI_CSVCellsAreNotFormulas(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	o := r.order(t, "-A1", "SAR", 10_000, "4444")
	if _, err := r.c.CreateRefund(context.Background(), client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(100)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	report := filepath.Join(dir, "report.csv")
	if err := os.WriteFile(report, []byte("refund_id,amount,currency,status,date\n"+
		"\"=HYPERLINK(\"\"http://x.example\"\",\"\"open\"\")\",1.00,SAR,settled,2026-03-01\n"+
		"+1,1.00,SAR,settled,2026-03-01\n"+
		"\"@SUM(A1)\",1.00,SAR,settled,2026-03-01\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	formula := func(t *testing.T, recs [][]string, want int) {
		t.Helper()
		quoted := 0
		for _, rec := range recs {
			for _, cell := range rec {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("cell %q starts a formula", cell)
				}
				if strings.HasPrefix(cell, "'") {
					quoted++
				}
			}
		}
		if quoted != want {
			t.Errorf("%d cells behind a quote, want %d: %v", quoted, want, recs)
		}
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		quoted int
	}{
		{"Reconcile", []string{"reconcile", "--exit-code", report}, 3, 3}, // it flags the report's unknown rows
		{"Export", []string{"refunds", "export"}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name+".csv")
			args := append(append([]string{}, tc.args...), "--url", r.srv.URL(), "--key", r.key, "--out", out)
			if code, _, stderr := runCLI(t, args...); code != tc.code {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			formula(t, readCSV(t, out), tc.quoted)
		})
	}
}

// TestCLI_ReconcileOutFailsFirst: an --out that cannot be written fails
// the command before the report is sent, so an operator told it failed
// has not had the report reconciled (its corrections applied, its
// discrepancies recorded) behind the error; and a file written is whole,
// never a truncated earlier result.
func TestCLI_ReconcileOutFailsFirst(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "report.csv")
	if err := os.WriteFile(report, []byte("refund_id,amount,currency,status,date\nre_x,1.00,SAR,settled,2026-03-01\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	discrepancies := func() string {
		req, _ := http.NewRequest("GET", r.srv.URL()+"/v1/discrepancies", nil)
		req.Header.Set("Authorization", "Bearer "+r.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for _, tc := range []struct {
		name, out string
		code      int
	}{
		{"MissingDirectory", filepath.Join(dir, "no", "such", "dir", "result.csv"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "reconcile", "--url", r.srv.URL(), "--key", r.key, "--out", tc.out, report)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if d := discrepancies(); strings.Contains(d, "re_x") {
				t.Errorf("the report was reconciled behind the failure: %s", d)
			}
		})
	}
}

// TestCLI_ReconcileHintsInFlags: where the server's refusal tells the
// caller what to send, the command says it with its own flags (--map
// amount=HEADER, --from and --to), not the API's query parameters
// (map=amount=HEADER, from and to), which this command never shows.
func TestCLI_ReconcileHintsInFlags(t *testing.T) {
	r := mustRemote(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, report, want string
	}{
		{"NoAmountColumn", "refund_id,amt,currency,status,date\nre_x,1.00,SAR,settled,2026-03-02\n", "--map amount=HEADER"},
		{"TwoIDColumns", "refund_id,idempotency_key,amount,currency,status,date\nre_x,re_x,1.00,SAR,settled,2026-03-02\n", "--map refund_id=HEADER"},
		{"Empty", "", "--from and --to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".csv")
			if err := os.WriteFile(path, []byte(tc.report), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runCLI(t, "reconcile", "--url", r.srv.URL(), "--key", r.key, path)
			if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "with map=") {
				t.Fatalf("exit %d, want it to say %q: %s", code, tc.want, errOut)
			}
		})
	}
}

// TestCLI_ReconcileAgainReplaysTheFirstRun: run again after a lost answer
// (a timeout, a killed cron job), the command reconciled the report again,
// and the refund its first run corrected read matched, so the operator
// never saw the correction. The same file with the same options sends the
// same Idempotency-Key: the first run's answer comes back, the correction
// in it, and stderr says it is a replay. Another file is another key and
// is reconciled; another --idempotency-key reconciles the same file
// again; a key given twice for two files is refused, recording nothing.
func TestCLI_ReconcileAgainReplaysTheFirstRun(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	o := r.order(t, "REC-AGAIN", "SAR", 10_000, "0051") // declined by the sandbox
	ref, err := r.c.CreateRefund(context.Background(), client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(700)})
	if err != nil || ref.Status != "failed" {
		t.Fatalf("refund %+v: %v", ref, err)
	}
	dir := t.TempDir()
	write := func(name, report string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	report := "refund_id,amount,currency,status,date\n" + ref.ID + ",7.00,SAR,settled,2026-03-01\n"
	paid := write("paid.csv", report)
	corrected := write("corrected.csv", report+"re_not_ours,1.00,SAR,settled,2026-03-01\n")
	// reconcile runs the command with --json and returns the first row's
	// kind and correction, and stderr.
	reconcile := func(args ...string) (string, string) {
		t.Helper()
		code, out, errOut := runCLI(t, append([]string{"reconcile", "--json", "--url", r.srv.URL(), "--key", r.key}, args...)...)
		if code != 0 {
			t.Fatalf("reconcile %v: exit %d: %s", args, code, errOut)
		}
		var rec client.Reconciliation
		mustJSON(t, out, &rec)
		if len(rec.Results) == 0 {
			t.Fatalf("reconcile %v: no results: %s", args, out)
		}
		return fmt.Sprintf("%s corrected=%v", rec.Results[0].Kind, rec.Results[0].Corrected), errOut
	}
	const replayed = "was reconciled before (Idempotency-Key reconcile-"
	for _, tc := range []struct {
		name     string
		args     []string
		want     string
		replayed bool
	}{
		{"First", []string{paid}, "executed_not_recorded corrected=true", false},
		{"Again", []string{paid}, "executed_not_recorded corrected=true", true},
		{"AnotherFile", []string{corrected}, "matched corrected=false", false},
		{"AnotherKey", []string{"--idempotency-key", "rerun-1", paid}, "matched corrected=false", false},
	} {
		got, errOut := reconcile(tc.args...)
		if got != tc.want || strings.Contains(errOut, replayed) != tc.replayed {
			t.Fatalf("%s: the row came to %s, stderr %q; want %s, replayed %v", tc.name, got, errOut, tc.want, tc.replayed)
		}
	}
	before, err := r.c.ListDiscrepancies(context.Background(), client.ListDiscrepanciesParams{})
	if err != nil {
		t.Fatal(err)
	}
	other := write("other.csv", report+"re_other,2.00,SAR,settled,2026-03-01\n")
	code, _, errOut := runCLI(t, "reconcile", "--url", r.srv.URL(), "--key", r.key, "--idempotency-key", "rerun-1", other)
	if code != 1 || !strings.Contains(errOut, "idempotency_key_reused") {
		t.Fatalf("a key given for another file: exit %d: %s; want 1, idempotency_key_reused", code, errOut)
	}
	after, err := r.c.ListDiscrepancies(context.Background(), client.ListDiscrepanciesParams{})
	if err != nil || len(after.Data) != len(before.Data) {
		t.Fatalf("discrepancies after a refused run: %d, before %d (%v)", len(after.Data), len(before.Data), err)
	}
}

// TestCLI_ReconcileRefusedAgainSaysReplayed: the same command run again
// after a refusal is answered, under the same Idempotency-Key, the first
// run's refusal, replayed, and the command said nothing of it (a replayed
// answer it marks), so the refusal read as this run's. It says so on
// stderr, with --json too, beside the refusal; a first refusal, and one
// under another --idempotency-key, are not marked.
func TestCLI_ReconcileRefusedAgainSaysReplayed(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	path := filepath.Join(t.TempDir(), "no_amount.csv")
	if err := os.WriteFile(path, []byte("refund_id,amt,currency,status,date\nre_x,1.00,SAR,settled,2026-03-02\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const replayed = "was refused before (Idempotency-Key reconcile-"
	for _, tc := range []struct {
		name     string
		args     []string
		replayed bool
	}{
		{"First", nil, false},
		{"Again", nil, true},
		{"AgainJSON", []string{"--json"}, true},
		{"AnotherKey", []string{"--idempotency-key", "rerun-1"}, false},
	} {
		code, out, errOut := runCLI(t, append(append([]string{"reconcile", "--url", r.srv.URL(), "--key", r.key}, tc.args...), path)...)
		if code != 1 || out != "" || !strings.Contains(errOut, "invalid_request") || strings.Contains(errOut, replayed) != tc.replayed {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want 1, the refusal, replayed %v", tc.name, code, out, errOut, tc.replayed)
		}
	}
}

// TestCLI_ReconcileMappedAgainReplays: the client sent --map's columns in
// a map's order, which changes from run to run, and the server knows a
// request by its query: the same command run again was refused as another
// request under its key (idempotency_key_reused) as often as not. They go
// in column order; each run after the first is a replay.
func TestCLI_ReconcileMappedAgainReplays(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	path := filepath.Join(t.TempDir(), "mapped.csv")
	if err := os.WriteFile(path, []byte("Ref,Amt,Cur,St,Day\nre_not_ours,1.00,SAR,settled,2026-03-01\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"reconcile", "--url", r.srv.URL(), "--key", r.key, "--map", "refund_id=Ref", "--map", "amount=Amt",
		"--map", "currency=Cur", "--map", "status=St", "--map", "date=Day", path}
	for run := range 8 {
		code, _, errOut := runCLI(t, args...)
		if code != 0 || strings.Contains(errOut, "was reconciled before") != (run > 0) {
			t.Fatalf("run %d: exit %d: %s; want 0, replayed after the first", run, code, errOut)
		}
	}
}

// A lost answer's refusal tells the command's user how to reconcile the
// report again in its own words: --idempotency-key, not the header.
func TestInFlagWords_AnswerLost(t *testing.T) {
	err := inFlagWords(fmt.Errorf("wrapped: %w", &client.Error{StatusCode: 409, Code: refund.EReconciliationAnswerLost,
		Message: "this reconciliation was applied and its answer, too large to keep, is lost: ...; a new Idempotency-Key reconciles the report again"}))
	var e *client.Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "another --idempotency-key reconciles") || e.Code != refund.EReconciliationAnswerLost {
		t.Fatalf("%v", err)
	}
}
