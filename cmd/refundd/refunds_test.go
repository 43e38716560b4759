package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/client"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// remote is a running refundd the refunds commands talk to over HTTP.
type remote struct {
	srv *server.Server
	key string
	c   *client.Client
	clk *fixedClock
	mid string // the merchant's id
}

// fixedClock is the server's clock: every refund is created on 2026-03-01.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// mustRemote starts a real server on a temp SQLite file (already migrated:
// sqlitetest's copy of a template, so no test here pays for the migrations)
// and a free port, with one merchant, and a client on its key.
func mustRemote(t *testing.T) *remote {
	t.Helper()
	clk := &fixedClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{Addr: "127.0.0.1:0", DB: sqlitetest.URL(t),
		WorkerInterval: -1, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	m, key, err := srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Import Souq"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(srv.URL(), key)
	if err != nil {
		t.Fatal(err)
	}
	return &remote{srv: srv, key: key, c: c, clk: clk, mid: m.ID}
}

// advance moves the server's clock.
func (r *remote) advance(d time.Duration) {
	r.clk.mu.Lock()
	defer r.clk.mu.Unlock()
	r.clk.now = r.clk.now.Add(d)
}

func (r *remote) order(t *testing.T, ref, currency string, amount int64, last4 string) *client.Order {
	t.Helper()
	o, err := r.c.CreateOrder(context.Background(), client.CreateOrderParams{Reference: ref, Currency: currency, Amount: amount,
		PaymentMethod: "card", Source: client.Card{Scheme: "visa", FirstDigits: "411111", LastDigits: last4, Month: 12, Year: 2030}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// refunded returns the refunded amount of each order, by reference.
func (r *remote) refunded(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for o, err := range r.c.AllOrders(context.Background(), client.ListOrdersParams{Limit: 100}) {
		if err != nil {
			t.Fatal(err)
		}
		out[o.Reference] = o.RefundedAmount + o.PendingRefundAmount
	}
	return out
}

// approvalThreshold sets the merchant's approval threshold in currency
// through the API (the Go client has no refund policy call).
func (r *remote) approvalThreshold(t *testing.T, currency string, minor int64) {
	t.Helper()
	body := fmt.Sprintf(`{"approval_threshold":{%q:%d}}`, currency, minor)
	req, err := http.NewRequest("PUT", r.srv.URL()+"/v1/refund_policy", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("put policy: %d", resp.StatusCode)
	}
}

func (r *remote) refundCount(t *testing.T) int {
	t.Helper()
	n := 0
	for _, err := range r.c.AllRefunds(context.Background(), client.ListRefundsParams{Limit: 100}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseCSV(t, string(b))
}

func parseCSV(t *testing.T, s string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, s)
	}
	return recs
}

// wantRow is the expected result line of one import row.
type wantRow struct {
	row, order, amount, status, code string
	ref                              string // merchant_reference; "derived" for a generated one
}

func checkImportResult(t *testing.T, recs [][]string, want []wantRow) map[string]string {
	t.Helper()
	header := "row,order_reference,amount,status,refund_id,error_code,error_message,merchant_reference"
	if len(recs) == 0 || strings.Join(recs[0], ",") != header {
		t.Fatalf("result header %v, want %s", recs, header)
	}
	if len(recs)-1 != len(want) {
		t.Fatalf("result has %d rows, want %d: %v", len(recs)-1, len(want), recs)
	}
	ids := map[string]string{}
	for i, w := range want {
		got := recs[i+1]
		row, order, amount, status, id, code, msg, ref := got[0], got[1], got[2], got[3], got[4], got[5], got[6], got[7]
		if row != w.row || order != w.order || amount != w.amount || status != w.status || code != w.code {
			t.Errorf("row %s: got %v, want %+v", w.row, got, w)
			continue
		}
		switch {
		case status == "error" && (id != "" || msg == ""):
			t.Errorf("row %s: an error row has no refund and says why: %v", w.row, got)
		case status != "error" && !strings.HasPrefix(id, "re_"):
			t.Errorf("row %s: refund id %q", w.row, id)
		case w.ref == "derived" && !strings.HasPrefix(ref, "imp-"):
			t.Errorf("row %s: derived merchant_reference %q", w.row, ref)
		case w.ref != "derived" && ref != w.ref:
			t.Errorf("row %s: merchant_reference %q, want %q", w.row, ref, w.ref)
		}
		ids[w.row] = id
	}
	return ids
}

// TestRefundsImport_RerunRefundsNothingTwice imports testdata's file with
// good and bad rows, first half of it (as an interrupted run would), then
// all of it twice: every rerun answers the refunds already made.
func TestRefundsImport_RerunRefundsNothingTwice(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	for _, o := range []struct {
		ref, cur string
		amount   int64
		last4    string
	}{
		{"IMP-SAR-1", "SAR", 10000, "1111"}, {"IMP-KWD-1", "KWD", 50000, "1111"}, {"IMP-SAR-2", "SAR", 10000, "1111"},
		{"IMP-SAR-3", "SAR", 1000, "1111"}, {"IMP-SAR-4", "SAR", 10000, "1111"}, {"IMP-DECLINED", "SAR", 1000, "0051"},
	} {
		r.order(t, o.ref, o.cur, o.amount, o.last4)
	}
	dir := t.TempDir()
	file := filepath.Join("testdata", "refunds-import.csv")
	full, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// The first three data rows, at the same line numbers, as a run
	// interrupted after them would have sent.
	head := filepath.Join(dir, "head.csv")
	if err := os.WriteFile(head, []byte(strings.Join(strings.SplitAfter(string(full), "\n")[:4], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []wantRow{
		{"2", "IMP-SAR-1", "10.50", "succeeded", "", "derived"},
		{"3", "IMP-KWD-1", "1.005", "succeeded", "", "derived"},
		{"4", "IMP-SAR-2", "25.00", "succeeded", "", "RMA-2001"},
		{"5", "IMP-SAR-2", "5.00", "succeeded", "", "derived"},
		{"6", "IMP-MISSING", "5.00", "error", "order_not_found", ""},
		{"7", "IMP-KWD-1", "0.0005", "error", "invalid_amount", ""},
		{"8", "IMP-SAR-3", "1.234", "error", "invalid_amount", ""},
		{"9", "IMP-SAR-4", "500.00", "error", "amount_exceeds_refundable", "derived"},
		{"10", "IMP-DECLINED", "3.00", "failed", "51", "derived"},
	}
	wantRefunded := map[string]int64{"IMP-SAR-1": 1050, "IMP-KWD-1": 1005, "IMP-SAR-2": 3000, "IMP-SAR-3": 0, "IMP-SAR-4": 0, "IMP-DECLINED": 0}

	headOut := filepath.Join(dir, "head-result.csv")
	code, _, stderr := runCLI(t, "refunds", "import", "--url", r.srv.URL(), "--key", r.key, head, "--out", headOut)
	if code != 0 {
		t.Fatalf("head import: exit %d: %s", code, stderr)
	}
	headIDs := checkImportResult(t, readCSV(t, headOut), want[:3])

	var results []string
	for run := range 2 {
		out := filepath.Join(dir, "result.csv")
		code, stdout, stderr := runCLI(t, "refunds", "import", "--url", r.srv.URL(), "--key", r.key, "--concurrency", "4", "--out", out, file)
		if code != 1 || !strings.Contains(stderr, "5 of 9 rows were not refunded: 4 got no refund") || !strings.Contains(stderr, "9/9 rows, 4 errors") ||
			!strings.Contains(stderr, "9 rows: 4 succeeded, 1 failed, 4 not refunded") {
			t.Fatalf("run %d: exit %d, stderr %s", run, code, stderr)
		}
		if stdout != "" {
			t.Fatalf("run %d: with --out nothing goes to stdout, got %q", run, stdout)
		}
		recs := readCSV(t, out)
		ids := checkImportResult(t, recs, want)
		for row, id := range headIDs {
			if ids[row] != id {
				t.Fatalf("run %d row %s: refund %s, the interrupted run made %s", run, row, ids[row], id)
			}
		}
		b, _ := os.ReadFile(out)
		results = append(results, string(b))

		got := r.refunded(t)
		for ref, amount := range wantRefunded {
			if got[ref] != amount {
				t.Errorf("run %d: order %s refunded %d, want %d", run, ref, got[ref], amount)
			}
		}
		if n := r.refundCount(t); n != 5 {
			t.Fatalf("run %d: %d refunds exist, want 5 (4 succeeded, 1 declined)", run, n)
		}
		if n := len(r.srv.Sandbox.Executed()); n != 5 {
			t.Fatalf("run %d: the acquirer executed %d refunds, want 5", run, n)
		}
	}
	if results[0] != results[1] {
		t.Fatalf("a rerun answered differently:\n%s\n---\n%s", results[0], results[1])
	}

	// Without --out the result goes to stdout.
	code, stdout, _ := runCLI(t, "refunds", "import", "--url", r.srv.URL(), "--key", r.key, head)
	if code != 0 {
		t.Fatalf("import to stdout: exit %d", code)
	}
	checkImportResult(t, parseCSV(t, stdout), want[:3])

	t.Run("Export", func(t *testing.T) {
		testRefundsExport(t, r)
	})
}

func testRefundsExport(t *testing.T, r *remote) {
	header := "refund_id,order_id,order_reference,merchant_reference,status,amount,amount_minor,currency,arn,rrn,created_at,updated_at"
	tests := []struct {
		name   string
		args   []string
		rows   []string // order_reference/status/amount/amount_minor/currency of each row
		totals []string // lines of the stderr summary, spaces squeezed
	}{
		{name: "Day", args: []string{"--from", "2026-03-01", "--to", "2026-03-01"},
			rows: []string{
				"IMP-DECLINED/failed/3.00/300/SAR",
				"IMP-SAR-2/succeeded/5.00/500/SAR",
				"IMP-SAR-2/succeeded/25.00/2500/SAR",
				"IMP-KWD-1/succeeded/1.005/1005/KWD",
				"IMP-SAR-1/succeeded/10.50/1050/SAR",
			},
			totals: []string{"refunds export: 5 refunds", "KWD 1 1.005 1.005 0.000 0.000", "SAR 4 43.50 40.50 0.00 3.00"}},
		{name: "Instants", args: []string{"--from", "2026-03-01T08:59:59Z", "--to", "2026-03-01T09:00:01Z"}, rows: []string{
			"IMP-DECLINED/failed/3.00/300/SAR", "IMP-SAR-2/succeeded/5.00/500/SAR", "IMP-SAR-2/succeeded/25.00/2500/SAR",
			"IMP-KWD-1/succeeded/1.005/1005/KWD", "IMP-SAR-1/succeeded/10.50/1050/SAR"}, totals: []string{"refunds export: 5 refunds"}},
		{name: "DayAfter", args: []string{"--from", "2026-03-02"}, totals: []string{"refunds export: 0 refunds"}},
		{name: "DayBefore", args: []string{"--to", "2026-02-28"}, totals: []string{"refunds export: 0 refunds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "export.csv")
			args := append([]string{"refunds", "export", "--target", r.srv.URL(), "--key", r.key, "--out", out}, tt.args...)
			code, _, stderr := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			recs := readCSV(t, out)
			if strings.Join(recs[0], ",") != header {
				t.Fatalf("header %v", recs[0])
			}
			var got []string
			for i, rec := range recs[1:] {
				if i > 0 && rec[0] >= recs[i][0] {
					t.Errorf("not newest first: %s after %s", rec[0], recs[i][0])
				}
				got = append(got, strings.Join([]string{rec[2], rec[4], rec[5], rec[6], rec[7]}, "/"))
				id, orderID, ref, status, arn, created := rec[0], rec[1], rec[3], rec[4], rec[8], rec[10]
				refund, err := r.c.GetRefund(context.Background(), id)
				if err != nil || refund.OrderID != orderID || refund.MerchantReference != ref {
					t.Errorf("row %v does not match refund %+v (%v)", rec, refund, err)
				}
				if (status == "succeeded") != (arn != "") || created != "2026-03-01T09:00:00Z" {
					t.Errorf("row %v: ARN only on succeeded refunds, created_at from the server", rec)
				}
			}
			// Rows were imported concurrently: compare them as a set.
			slices.Sort(got)
			slices.Sort(tt.rows)
			if strings.Join(got, "\n") != strings.Join(tt.rows, "\n") {
				t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.rows, "\n"))
			}
			var summary []string // the table with its padding squeezed
			for line := range strings.Lines(stderr) {
				summary = append(summary, strings.Join(strings.Fields(line), " "))
			}
			for _, line := range tt.totals {
				if !slices.Contains(summary, line) {
					t.Errorf("summary lacks %q:\n%s", line, stderr)
				}
			}
		})
	}

	// Without --out the CSV goes to stdout and the summary to stderr.
	code, stdout, stderr := runCLI(t, "refunds", "export", "--url", r.srv.URL(), "--key", r.key)
	if recs := parseCSV(t, stdout); code != 0 || len(recs) != 6 || strings.Contains(stdout, "refunds export:") || !strings.Contains(stderr, "5 refunds") {
		t.Fatalf("export to stdout: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestRefundsImport_SummaryCountsEveryStatus imports refunds above the
// merchant's approval threshold: they wait in requires_approval, and the
// summary must say so, not "nothing to do".
func TestRefundsImport_SummaryCountsEveryStatus(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	r.order(t, "APPR-1", "SAR", 10000, "1111")
	r.approvalThreshold(t, "SAR", 500)
	in := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(in, []byte("order_reference,amount\nAPPR-1,10.00\nAPPR-1,20.00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "refunds", "import", "--url", r.srv.URL(), "--key", r.key, in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkImportResult(t, parseCSV(t, stdout), []wantRow{
		{"2", "APPR-1", "10.00", "requires_approval", "", "derived"},
		{"3", "APPR-1", "20.00", "requires_approval", "", "derived"},
	})
	if !strings.Contains(stderr, "2 rows: 2 requires_approval") {
		t.Fatalf("summary does not count the refunds awaiting approval: %s", stderr)
	}
}

// TestRefundsImport_Rows covers how rows name orders and which rows are
// refused before anything is sent.
func TestRefundsImport_Rows(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	o := r.order(t, "ROWS-1", "SAR", 10000, "1111")
	k := r.order(t, "ROWS-KWD", "KWD", 10000, "1111")
	tests := []struct {
		name     string
		csv      string
		want     []wantRow
		refunded map[string]int64 // refunded amount after the import, by order reference
	}{
		{name: "OrderIDColumn", csv: "amount,order_id\n1.00," + o.ID + "\n",
			want: []wantRow{{"2", o.ID, "1.00", "succeeded", "", "derived"}}, refunded: map[string]int64{"ROWS-1": 100}},
		{name: "OrderIDInReferenceColumn", csv: "order_reference,amount\n" + k.ID + ",0.5\n",
			want: []wantRow{{"2", k.ID, "0.500", "succeeded", "", "derived"}}, refunded: map[string]int64{"ROWS-KWD": 500}},
		{name: "BOMHeaderCaseAndSpaces", csv: "\ufeffOrder_Reference, Amount ,Reason\nROWS-1, 2.00 , spaces\n",
			want: []wantRow{{"2", "ROWS-1", "2.00", "succeeded", "", "derived"}}, refunded: map[string]int64{"ROWS-1": 300}},
		// Windows PowerShell's Export-Csv writes a BOM and quotes every
		// field, the header's too.
		{name: "BOMBeforeQuotedHeader", csv: "\ufeff\"order_reference\",\"amount\"\r\n\"ROWS-KWD\",\"0.250\"\r\n",
			want: []wantRow{{"2", "ROWS-KWD", "0.250", "succeeded", "", "derived"}}, refunded: map[string]int64{"ROWS-KWD": 750}},
		// The same amount written three ways is three refunds of it: the
		// derived references count them apart as they would "1.5" thrice.
		{name: "SameAmountWrittenDifferently", csv: "order_reference,amount\nROWS-KWD,1.5\nROWS-KWD,1.500\nROWS-KWD,01.50\n",
			want: []wantRow{
				{"2", "ROWS-KWD", "1.500", "succeeded", "", "derived"},
				{"3", "ROWS-KWD", "1.500", "succeeded", "", "derived"},
				{"4", "ROWS-KWD", "1.500", "succeeded", "", "derived"},
			}, refunded: map[string]int64{"ROWS-KWD": 5250}},
		{name: "RowsRefusedBeforeSending", csv: "order_reference,amount,reason,merchant_reference\n" +
			"ROWS-1,0,zero,\n" +
			"ROWS-1,,empty,\n" +
			"ROWS-1,-1.00,negative,\n" +
			"ROWS-1,1e3,exponent,\n" +
			",1.00,no order,\n" +
			"ROWS-1,1.00,first,DUP-1\n" +
			"ROWS-1,1.00,second,DUP-1\n" +
			"ROWS-1,1.00\n" +
			"ROWS-1,1.00,bad reference,has space\n",
			want: []wantRow{
				{"2", "ROWS-1", "0.00", "error", "invalid_amount", ""},
				{"3", "ROWS-1", "", "error", "invalid_amount", ""},
				{"4", "ROWS-1", "-1.00", "error", "invalid_amount", ""},
				{"5", "ROWS-1", "1e3", "error", "invalid_amount", ""},
				{"6", "", "1.00", "error", "invalid_request", ""},
				{"7", "ROWS-1", "1.00", "succeeded", "", "DUP-1"},
				{"8", "ROWS-1", "1.00", "error", "merchant_reference_reused", ""},
				{"9", "ROWS-1", "1.00", "error", "invalid_request", ""},
				{"10", "ROWS-1", "1.00", "error", "invalid_request", "has space"},
			}, refunded: map[string]int64{"ROWS-1": 400}},
	}
	for _, tt := range tests { // sequential: they share the orders
		t.Run(tt.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "in.csv")
			if err := os.WriteFile(in, []byte(tt.csv), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI(t, "refunds", "import", "--url", r.srv.URL(), "--key", r.key, in)
			wantCode := 0
			for _, w := range tt.want {
				if w.status == "error" {
					wantCode = 1
				}
			}
			if code != wantCode {
				t.Fatalf("exit %d, want %d: %s", code, wantCode, stderr)
			}
			recs := parseCSV(t, stdout)
			if len(recs) > 0 && recs[0][1] == "order_id" {
				recs[0][1] = "order_reference" // the result names the column the file used
			}
			checkImportResult(t, recs, tt.want)
			got := r.refunded(t)
			for ref, amount := range tt.refunded {
				if got[ref] != amount {
					t.Errorf("order %s refunded %d, want %d", ref, got[ref], amount)
				}
			}
		})
	}
}

func TestRefundsCommands_Errors(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.csv", "order_reference,amount\nNOPE,1.00\n")
	u, k := r.srv.URL(), r.key
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"ImportNeedsURL", []string{"refunds", "import", "--key", k, good}, 2, "--url"},
		{"ImportNeedsFile", []string{"refunds", "import", "--url", u, "--key", k}, 2, "one FILE.csv"},
		{"ImportTwoFiles", []string{"refunds", "import", "--url", u, "--key", k, good, good}, 2, "one FILE.csv"},
		{"ImportBadConcurrency", []string{"refunds", "import", "--url", u, "--key", k, "--concurrency", "0", good}, 2, "--concurrency"},
		{"ImportBadURL", []string{"refunds", "import", "--url", "localhost:1", "--key", k, good}, 2, "base URL"},
		{"ImportMissingFile", []string{"refunds", "import", "--url", u, "--key", k, filepath.Join(dir, "missing.csv")}, 1, "no such file"},
		{"ImportEmptyFile", []string{"refunds", "import", "--url", u, "--key", k, write("empty.csv", "")}, 1, "header"},
		{"ImportUnknownColumn", []string{"refunds", "import", "--url", u, "--key", k, write("unknown.csv", "order_reference,amount,note\n")}, 1, `unknown column "note"`},
		{"ImportNoAmountColumn", []string{"refunds", "import", "--url", u, "--key", k, write("noamount.csv", "order_reference,reason\n")}, 1, "amount column"},
		{"ImportBothOrderColumns", []string{"refunds", "import", "--url", u, "--key", k, write("both.csv", "order_reference,order_id,amount\n")}, 1, "exactly one"},
		{"ImportWrongKey", []string{"refunds", "import", "--url", u, "--key", "rk_wrong", good}, 1, "unauthorized"},
		{"ExportNeedsKey", []string{"refunds", "export", "--url", u}, 2, "--key"},
		{"ExportBadFrom", []string{"refunds", "export", "--url", u, "--key", k, "--from", "01/03/2026"}, 2, "YYYY-MM-DD"},
		{"ExportFromAfterTo", []string{"refunds", "export", "--url", u, "--key", k, "--from", "2026-03-02", "--to", "2026-03-01"}, 2, "before --to"},
		{"ExportStrayArgument", []string{"refunds", "export", "--url", u, "--key", k, "out.csv"}, 2, "--out out.csv"},
		{"ExportWrongKey", []string{"refunds", "export", "--url", u, "--key", "rk_wrong"}, 1, "unauthorized"},
		{"UnknownSubcommand", []string{"refunds", "delete"}, 2, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.msg) {
				t.Fatalf("want exit %d mentioning %q, got %d: %s", tt.code, tt.msg, code, stderr)
			}
			if code == 2 && stdout != "" {
				t.Fatalf("a usage error printed %q", stdout)
			}
		})
	}
	if n := r.refundCount(t); n != 0 {
		t.Fatalf("failed commands made %d refunds", n)
	}
	// A failed export leaves no file behind.
	out := filepath.Join(dir, "export.csv")
	if code, _, _ := runCLI(t, "refunds", "export", "--url", u, "--key", "rk_wrong", "--out", out); code != 1 {
		t.Fatal("export with a wrong key must fail")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a failed export left %s (%v)", out, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 5 { // the CSV files written above, no temporaries
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("files left in the output directory: %v", names)
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		tty   bool
		total int
		fails []bool
		want  string
	}{
		{name: "PipeFinalLine", total: 3, fails: []bool{false, true, false}, want: "x: 3/3 rows, 1 errors\n"},
		{name: "PipeEveryHundred", total: 250, fails: make([]bool, 250),
			want: "x: 100/250 rows, 0 errors\nx: 200/250 rows, 0 errors\nx: 250/250 rows, 0 errors\n"},
		{name: "TerminalRedrawsInPlace", tty: true, total: 2, fails: []bool{false, true},
			want: "\rx [###############...............]  50% 1/2 rows, 0 errors" +
				"\rx [##############################] 100% 2/2 rows, 1 errors\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := newProgress(&buf, "x", tt.total)
			p.tty = tt.tty
			for _, f := range tt.fails {
				p.add(f)
			}
			p.done()
			if buf.String() != tt.want {
				t.Fatalf("got %q\nwant %q", buf.String(), tt.want)
			}
		})
	}
}

// TestSummary: every status counted is in the closing line, one this
// command does not know yet too, after the usual ones.
func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		counts map[string]int
		want   string
	}{
		{map[string]int{}, "nothing to do"},
		{map[string]int{"succeeded": 2, statusError: 1, "requires_approval": 1}, "2 succeeded, 1 requires_approval, 1 not refunded"},
		{map[string]int{"on_hold": 1, "failed": 1}, "1 failed, 1 on_hold"},
	} {
		if got := summary(tc.counts); got != tc.want {
			t.Errorf("summary(%v) = %q, want %q", tc.counts, got, tc.want)
		}
	}
}

// TestRefundsImport_RerunWithEditedReason reruns a file after its reasons
// were edited (a typo fixed), within the day the idempotency keys are
// kept and after it: the rows were refunded by the first run, and the
// rerun must say so, not report them as not refunded (an operator told
// "not refunded" refunds them again by other means).
func TestRefundsImport_RerunWithEditedReason(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		after time.Duration // between the two runs
	}{
		{"SameDay", time.Minute},
		{"KeysExpired", 49 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := mustRemote(t)
			r.order(t, "EDIT-1", "KWD", 50000, "1111")
			dir := t.TempDir()
			in := filepath.Join(dir, "in.csv")
			run := func(body string) (int, string, [][]string) {
				t.Helper()
				if err := os.WriteFile(in, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				code, stdout, stderr := runCLI(t, "refunds", "import", "--url", r.srv.URL(), "--key", r.key, in)
				return code, stderr, parseCSV(t, stdout)
			}
			code, stderr, first := run("order_reference,amount,reason,merchant_reference\nEDIT-1,1.005,damged,\nEDIT-1,2.000,lat,RMA-7\n")
			if code != 0 {
				t.Fatalf("first run: exit %d: %s", code, stderr)
			}
			ids := checkImportResult(t, first, []wantRow{
				{"2", "EDIT-1", "1.005", "succeeded", "", "derived"},
				{"3", "EDIT-1", "2.000", "succeeded", "", "RMA-7"},
			})
			r.advance(tt.after)
			code, stderr, second := run("order_reference,amount,reason,merchant_reference\nEDIT-1,1.005,damaged,\nEDIT-1,2.000,late,RMA-7\n")
			if code != 0 || strings.Contains(stderr, "not refunded") {
				t.Errorf("rerun: exit %d: %s\n%v", code, stderr, second)
			}
			again := checkImportResult(t, second, []wantRow{
				{"2", "EDIT-1", "1.005", "succeeded", "", "derived"},
				{"3", "EDIT-1", "2.000", "succeeded", "", "RMA-7"},
			})
			for row, id := range ids {
				if again[row] != id {
					t.Errorf("row %s: rerun answered refund %q, the first run made %s", row, again[row], id)
				}
			}
			if got := r.refunded(t)["EDIT-1"]; got != 3005 {
				t.Errorf("refunded %d fils, want 3005", got)
			}
			if n := len(r.srv.Sandbox.Executed()); n != 2 {
				t.Errorf("the acquirer executed %d refunds, want 2", n)
			}
		})
	}
}

// TestRefundsImport_ExitCode: a script tells from the exit code whether
// every row was refunded. A refund the processor declined refunded
// nothing, like a row refused before sending, and a rerun answers the
// same declined refund: the run fails and says what to do.
func TestRefundsImport_ExitCode(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	r.order(t, "EXIT-OK", "SAR", 10000, "1111")
	r.order(t, "EXIT-DECLINED", "SAR", 10000, "0051")
	for _, tt := range []struct {
		name string
		csv  string
		code int
		msg  []string
	}{
		{"Refunded", "order_reference,amount\nEXIT-OK,1.00\n", 0, []string{"1 rows: 1 succeeded\n"}},
		{"Declined", "order_reference,amount\nEXIT-DECLINED,1.00\n", 1,
			[]string{"1 rows: 1 failed\n", "1 of 1 rows were not refunded", "from a new file, each with a new merchant_reference"}},
		{"DeclinedAndRefused", "order_reference,amount\nEXIT-OK,2.00\nEXIT-DECLINED,2.00\nEXIT-OK,-1\n", 1,
			[]string{"3 rows: 1 succeeded, 1 failed, 1 not refunded\n", "2 of 3 rows were not refunded"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "in.csv")
			if err := os.WriteFile(in, []byte(tt.csv), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runCLI(t, "refunds", "import", "--url", r.srv.URL(), "--key", r.key, in)
			if code != tt.code {
				t.Errorf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			for _, m := range tt.msg {
				if !strings.Contains(stderr, m) {
					t.Errorf("stderr lacks %q: %s", m, stderr)
				}
			}
		})
	}
}

// TestRefundsExport_TotalsOfRefundsNotFinal: a refund waiting for
// approval (or for review) has its amount reserved and may yet be paid
// (or may have been): the totals count it in flight, never as not
// refunded.
func TestRefundsExport_TotalsOfRefundsNotFinal(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	r.order(t, "TOT-1", "KWD", 100000, "1111")
	r.approvalThreshold(t, "KWD", 5000)
	in := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(in, []byte("order_reference,amount\nTOT-1,1.000\nTOT-1,20.500\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "refunds", "import", "--url", r.srv.URL(), "--key", r.key, in); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	// The 20.500 refund waits for approval; the 1.000 one has succeeded,
	// or, on a loaded machine, may still be at the processor (this server
	// runs no worker): either way it is not "not refunded".
	code, _, stderr := runCLI(t, "refunds", "export", "--url", r.srv.URL(), "--key", r.key)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{"KWD 2 21.500 1.000 20.500 0.000", "KWD 2 21.500 0.000 21.500 0.000"}
	for line := range strings.Lines(stderr) {
		if slices.Contains(want, strings.Join(strings.Fields(line), " ")) {
			return
		}
	}
	t.Fatalf("totals are none of %q:\n%s", want, stderr)
}

// TestRefundsExport_TotalsBeyondInt64: two refunds of orders of the
// largest amount add up past an int64; the totals show the largest amount
// (capped), never a wrapped, negative one.
func TestRefundsExport_TotalsBeyondInt64(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	r.order(t, "BIG-1", "KWD", math.MaxInt64, "1111")
	r.order(t, "BIG-2", "KWD", math.MaxInt64, "1111")
	in := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(in, []byte("order_reference,amount\nBIG-1,9223372036854775.807\nBIG-2,9223372036854775.807\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "refunds", "import", "--url", r.srv.URL(), "--key", r.key, in); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	code, _, stderr := runCLI(t, "refunds", "export", "--url", r.srv.URL(), "--key", r.key)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Succeeded, or still at the processor (this server runs no worker).
	most := "9223372036854775.807"
	want := []string{"KWD 2 " + most + " " + most + " 0.000 0.000", "KWD 2 " + most + " 0.000 " + most + " 0.000"}
	for line := range strings.Lines(stderr) {
		if slices.Contains(want, strings.Join(strings.Fields(line), " ")) {
			return
		}
	}
	t.Fatalf("totals are none of %q:\n%s", want, stderr)
}

// TestRefundsExport_KeyWithoutOrdersRead: a key that may read refunds but
// not orders exports every refund without its order's reference; it must
// say so, or the empty column reads as orders that have none.
func TestRefundsExport_KeyWithoutOrdersRead(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	o := r.order(t, "REFLESS-1", "SAR", 10000, "1111")
	if _, err := r.c.CreateRefund(context.Background(), client.CreateRefundParams{OrderID: o.ID, Amount: client.Int64(100)}); err != nil {
		t.Fatal(err)
	}
	_, narrow, err := r.srv.Service.CreateKey(context.Background(), r.mid, "", []string{refund.ScopeRefundsRead})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, key, ref string
		warn           bool
	}{
		{"OrdersRead", r.key, "REFLESS-1", false},
		{"RefundsReadOnly", narrow, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "refunds", "export", "--url", r.srv.URL(), "--key", tt.key)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if recs := parseCSV(t, stdout); len(recs) != 2 || recs[1][2] != tt.ref {
				t.Fatalf("export: %v", recs)
			}
			if got := strings.Contains(stderr, "orders:read"); got != tt.warn {
				t.Fatalf("warning about order_reference: %v, want %v: %s", got, tt.warn, stderr)
			}
		})
	}
}

// TestRefundsImport_KeyScopes: refunds import needs orders:read (to find
// each row's order) and refunds:write. A key lacking both was told of
// orders:read only, and fixed for it, then refused again for the other; a
// key lacking refunds:write alone ran the whole file, every row refused.
// The command now names every scope the key lacks at once, before any row.
func TestRefundsImport_KeyScopes(t *testing.T) {
	t.Parallel()
	r := mustRemote(t)
	r.order(t, "SCOPE-1", "SAR", 10000, "1111")
	file := filepath.Join(t.TempDir(), "refunds.csv")
	if err := os.WriteFile(file, []byte("order_reference,amount,reason\nSCOPE-1,1.00,damaged\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		scopes  []string
		missing string
	}{
		{"NeitherScope", []string{refund.ScopeRefundsRead}, "orders:read and refunds:write"},
		{"NoRefundsWrite", []string{refund.ScopeOrdersRead, refund.ScopeRefundsRead}, "refunds:write"},
		{"NoOrdersRead", []string{refund.ScopeRefundsWrite}, "orders:read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, key, err := r.srv.Service.CreateKey(context.Background(), r.mid, "", tc.scopes)
			if err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI(t, "refunds", "import", "--url", r.srv.URL(), "--key", key, file)
			if code != 1 || stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and no row sent: %s", code, stdout, stderr)
			}
			if want := "the key lacks " + tc.missing + ";"; !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("want one line saying %q: %s", want, stderr)
			}
		})
	}
	if got := r.refunded(t)["SCOPE-1"]; got != 0 {
		t.Errorf("SCOPE-1 was refunded %d", got)
	}
}
