package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestProcessorTruth: what the acquirer decides on its own reaches refundd
// as signed notifications, with no sync by anyone. A reversal made at the
// acquirer reverses the refund; a chargeback of 50.00 on a 100.00 order
// leaves 50.00 to refund: 60.00 is refused, 50.00 succeeds.
func TestProcessorTruth(t *testing.T) {
	db := sqliteDB(t)
	b := make([]byte, 32)
	rand.Read(b)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(b)
	addr, acqAddr := freeAddr(t), freeAddr(t)
	start(t, "acquirer", acqAddr, "/v1/sandbox/refunds",
		"sandbox", "serve", "--addr", acqAddr, "--db", "sqlite:"+filepath.Join(t.TempDir(), "acquirer.db"),
		"--notify-url", "http://"+addr+"/v1/processor/notifications", "--notify-secret", secret, "--log", "text")
	acquirer := "http://" + acqAddr
	key := newMerchant(t, db)
	start(t, "refundd", addr, "/readyz", "serve", "--addr", addr, "--db", db.url,
		"--processor", acquirer, "--processor-webhook-secret", secret, "--log", "text")
	node := "http://" + addr
	ctx := context.Background()
	order := createOrders(t, node, key, 1, 10_000)[0]

	status, body, err := call(ctx, "POST", node+"/v1/refunds", key, map[string]any{"order_id": order, "amount": 3000})
	if err != nil || status != 201 || str(body, "status") != "succeeded" {
		t.Fatalf("refund: %d %v %v", status, body, err)
	}
	id := str(body, "id")
	status, body, err = call(ctx, "POST", acquirer+"/v1/sandbox/refunds/"+id+"/reverse", "", nil)
	if err != nil || status != 200 || str(body, "status") != "reversed" {
		t.Fatalf("reverse at the acquirer: %d %v %v", status, body, err)
	}
	eventually(t, "the refund reversed by the acquirer's notification", func() bool {
		_, body, _ := call(ctx, "GET", node+"/v1/refunds/"+id, key, nil)
		return str(body, "status") == "reversed"
	})

	status, body, err = call(ctx, "POST", acquirer+"/v1/sandbox/orders/"+order+"/chargebacks", "",
		map[string]any{"amount": 5000, "reference": "CB-E2E-1", "reason": "cardholder dispute"})
	if err != nil || status != 202 {
		t.Fatalf("chargeback at the acquirer: %d %v %v", status, body, err)
	}
	eventually(t, "the order charged back by the acquirer's notification", func() bool {
		_, body, _ := call(ctx, "GET", node+"/v1/orders/"+order, key, nil)
		return num(body["charged_back_amount"]) == 5000
	})
	status, body, _ = call(ctx, "POST", node+"/v1/refunds", key, map[string]any{"order_id": order, "amount": 6000})
	if status != 422 || str(body, "error", "code") != "amount_exceeds_refundable" {
		t.Fatalf("refund of 60.00 after a 50.00 chargeback: %d %v", status, body)
	}
	status, body, _ = call(ctx, "POST", node+"/v1/refunds", key, map[string]any{"order_id": order, "amount": 5000})
	if status != 201 || str(body, "status") != "succeeded" {
		t.Fatalf("refund of 50.00 after a 50.00 chargeback: %d %v", status, body)
	}
}

// eventually polls cond for up to ten seconds: a notification travels
// between two processes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSweepFindsReversal: with notifications off, the status sweep of
// succeeded refunds finds a reversal made at the acquirer.
func TestSweepFindsReversal(t *testing.T) {
	db := sqliteDB(t)
	addr, acqAddr := freeAddr(t), freeAddr(t)
	start(t, "acquirer", acqAddr, "/v1/sandbox/refunds",
		"sandbox", "serve", "--addr", acqAddr, "--db", "sqlite:"+filepath.Join(t.TempDir(), "acquirer.db"), "--log", "text")
	acquirer := "http://" + acqAddr
	key := newMerchant(t, db)
	start(t, "refundd", addr, "/readyz", "serve", "--addr", addr, "--db", db.url,
		"--processor", acquirer, "--sweep-ages", "1s,3s", "--log", "text")
	node := "http://" + addr
	ctx := context.Background()
	order := createOrders(t, node, key, 1, 10_000)[0]
	status, body, err := call(ctx, "POST", node+"/v1/refunds", key, map[string]any{"order_id": order, "amount": 3000})
	if err != nil || status != 201 || str(body, "status") != "succeeded" {
		t.Fatalf("refund: %d %v %v", status, body, err)
	}
	id := str(body, "id")
	if status, body, err = call(ctx, "POST", acquirer+"/v1/sandbox/refunds/"+id+"/reverse", "", nil); err != nil || status != 200 {
		t.Fatalf("reverse at the acquirer: %d %v %v", status, body, err)
	}
	eventually(t, "the sweep to find the reversal", func() bool {
		_, body, _ := call(ctx, "GET", node+"/v1/refunds/"+id, key, nil)
		return str(body, "status") == "reversed"
	})
	_, body, _ = call(ctx, "GET", node+"/v1/refunds/"+id+"/transitions", key, nil)
	found := false
	for _, tr := range body["data"].([]any) {
		if c, _ := tr.(map[string]any)["cause"].(string); c == "processor reported the refund reversed (status sweep)" {
			found = true
		}
	}
	if !found {
		t.Fatalf("the reversal was not found by the sweep: %v", body)
	}
}

// TestReconcileSettlement: refunds under faults (answers dropped after
// execution, late executions, reversals), then the acquirer's report of
// the day, with anomalies injected on purpose, reconciled with
// `refundd reconcile`: every anomaly is found and named, nothing else is
// flagged, and a second run records nothing new.
func TestReconcileSettlement(t *testing.T) {
	db := sqliteDB(t)
	addr, acqAddr := freeAddr(t), freeAddr(t)
	start(t, "acquirer", acqAddr, "/v1/sandbox/refunds",
		"sandbox", "serve", "--addr", acqAddr, "--db", "sqlite:"+filepath.Join(t.TempDir(), "acquirer.db"),
		"--drop-rate", "0.15", "--late-rate", "0.2", "--late-ms", "800", "--anomaly-rate", "0.3", "--log", "text")
	acquirer := "http://" + acqAddr
	key := newMerchant(t, db)
	start(t, "refundd", addr, "/readyz", "serve", "--addr", addr, "--db", db.url, "--processor", acquirer,
		"--processor-timeout", "300ms", "--lease", "2s", "--retry-backoff", "100ms", "--log", "text")
	node := "http://" + addr
	ctx := context.Background()
	orders := createOrders(t, node, key, 3, 50_000)
	// The acquirer reports by the day it executed a refund: a run that
	// crosses midnight (UTC) reconciles both days' reports as one.
	first := time.Now().UTC().Truncate(24 * time.Hour)
	var ids []string
	for i := range 24 {
		status, body, err := call(ctx, "POST", node+"/v1/refunds", key,
			map[string]any{"order_id": orders[i%3], "amount": 500 + 37*i}, "Idempotency-Key", fmt.Sprintf("recon-%d", i))
		if err != nil || status != 201 {
			t.Fatalf("refund %d: %d %v %v", i, status, body, err)
		}
		ids = append(ids, str(body, "id"))
	}
	waitFinal(t, node, key, 30*time.Second)
	for _, id := range ids[:2] { // two reversed at the acquirer; the report says so
		if status, body, err := call(ctx, "POST", acquirer+"/v1/sandbox/refunds/"+id+"/reverse", "", nil); err != nil || status != 200 {
			t.Fatalf("reverse %s: %d %v %v", id, status, body, err)
		}
		// The acquirer drops or delays some answers: a sync that could
		// not ask it is a 503, which a client retries.
		status := 503
		for try := 0; try < 10 && status == 503; try++ {
			status, _, _ = call(ctx, "POST", node+"/v1/refunds/"+id+"/sync", key, nil)
		}
		if status != 200 {
			t.Fatalf("sync %s: %d", id, status)
		}
	}

	var report []byte
	var anomalies []struct{ Kind, Key string }
	for day := first; !day.After(time.Now().UTC()); day = day.Add(24 * time.Hour) {
		res, err := client.Get(acquirer + "/v1/sandbox/settlement?date=" + day.Format("2006-01-02"))
		if err != nil {
			t.Fatal(err)
		}
		part, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if report != nil {
			_, part, _ = bytes.Cut(part, []byte("\n")) // one header
		}
		report = append(report, part...)
		var injected []struct{ Kind, Key string }
		if err := json.Unmarshal([]byte(res.Header.Get("X-Sandbox-Anomalies")), &injected); err != nil {
			t.Fatal(err)
		}
		anomalies = append(anomalies, injected...)
	}
	want := map[string]string{}
	for _, a := range anomalies {
		want[a.Key] = map[string]string{"amount_changed": "amount_mismatch", "row_missing": "missing_at_processor",
			"unknown_row": "unknown_to_refundd"}[a.Kind]
	}
	if len(want) < 2 {
		t.Fatalf("the report carries %d anomalies: the test proves little", len(want))
	}
	path := filepath.Join(t.TempDir(), "report.csv")
	if err := os.WriteFile(path, report, 0o644); err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		var rec struct {
			Flagged int `json:"flagged"`
			Results []struct {
				Kind      string  `json:"kind"`
				RefundID  *string `json:"refund_id"`
				Reference *string `json:"reference"`
				Flagged   bool    `json:"flagged"`
			} `json:"results"`
		}
		cliExit(t, 3, &rec, "reconcile", "--url", node, "--key", key, "--exit-code", path, "--json") // anomalies flagged
		got := map[string]string{}
		for _, r := range rec.Results {
			if r.Flagged {
				id := r.Reference
				if r.RefundID != nil {
					id = r.RefundID
				}
				got[*id] = r.Kind
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("run %d flagged %v\nthe acquirer injected %v", run, got, want)
		}
		_, body, _ := call(ctx, "GET", node+"/v1/discrepancies?limit=100", key, nil)
		if n := len(body["data"].([]any)); n != len(want) {
			t.Fatalf("run %d: %d discrepancies listed, want %d", run, n, len(want))
		}
	}
	t.Logf("reconciled %d refunds against the acquirer's report: %d anomalies injected, all found by name, nothing else flagged", len(ids), len(want))
}
