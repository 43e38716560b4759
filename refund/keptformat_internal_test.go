package refund

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A reconciliation's kept results are read by whichever node takes its key
// over, perhaps of another release: every field they hold names itself
// with a tag, so that renaming a Go field does not silently empty it.
func TestKeptReconciliation_EveryFieldTagged(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Time]() || seen[typ] {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				t.Errorf("%s.%s (%s) has no JSON name of its own", path, f.Name, typ.Name())
			}
			walk(f.Type, path+"."+f.Name)
		}
	}
	walk(reflect.TypeFor[keptReconciliation](), "keptReconciliation")
}

// What a node of the release before the tags kept (Go's field names) reads
// back whole.
func TestKeptReconciliation_ReadsWhatAnEarlierReleaseKept(t *testing.T) {
	const earlier = `{"From":"2026-12-03T00:00:00Z","To":"2026-12-04T00:00:00Z",` +
		`"Results":[{"Line":2,"Kind":"corrected","RefundID":"re_1","Reference":"arn-1","Currency":"KWD","ReportAmount":4000,"BookAmount":4000,` +
		`"ReportStatus":"settled","BookStatus":"succeeded","Corrected":true,"Flagged":true,"Detail":"paid"}],` +
		`"Unchecked":[{"From":"2026-12-01T00:00:00Z","To":"2026-12-02T00:00:00Z","Counted":true,"Refunds":1,"Totals":{"KWD":1000}}],` +
		`"UncheckedIn":[["2026-12-01T00:00:00Z","2026-12-03T00:00:00Z"]],` +
		`"Report":{"MerchantID":"m_1","ProcessorAccount":"pa_1","Day":"2026-12-04T00:00:00Z","From":"2026-12-03T00:00:00Z","ReconciledAt":"2026-12-05T09:00:00Z","RefundIDs":["re_1"]},` +
		`"Lost":true}`
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(earlier)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var k keptReconciliation
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(zr).Decode(&k); err != nil {
		t.Fatal(err)
	}
	d := func(day int) time.Time { return time.Date(2026, 12, day, 0, 0, 0, 0, time.UTC) }
	want := keptReconciliation{From: d(3), To: d(4),
		Results: []ReconcileResult{{Line: 2, Kind: "corrected", RefundID: "re_1", Reference: "arn-1", Currency: "KWD", ReportAmount: 4000, BookAmount: 4000,
			ReportStatus: "settled", BookStatus: "succeeded", Corrected: true, Flagged: true, Detail: "paid"}},
		Unchecked:   []UncheckedDays{{From: d(1), To: d(2), Counted: true, Refunds: 1, Totals: map[string]int64{"KWD": 1000}}},
		UncheckedIn: [][2]time.Time{{d(1), d(3)}},
		Report:      &SettlementReport{MerchantID: "m_1", ProcessorAccount: "pa_1", Day: d(4), From: d(3), ReconciledAt: d(5).Add(9 * time.Hour), RefundIDs: []string{"re_1"}},
		Lost:        true}
	if !reflect.DeepEqual(k, want) {
		t.Fatalf("read back:\n%+v\nwant\n%+v", k, want)
	}
	// And what this release keeps holds every name the earlier one wrote,
	// each with the same value (a field added since may come beside them).
	body, err := packKept(&want)
	if err != nil {
		t.Fatal(err)
	}
	zr, err = gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got, was map[string]any
	if err := json.NewDecoder(zr).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(earlier), &was); err != nil {
		t.Fatal(err)
	}
	if !holds(got, was) {
		t.Fatalf("kept now:\n%v\nkept before:\n%v", got, was)
	}
}

// holds says whether got holds everything in was: its objects' names with
// the same values, its arrays element by element.
func holds(got, was any) bool {
	switch w := was.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok || !holds(gv, v) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !holds(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, was)
}
