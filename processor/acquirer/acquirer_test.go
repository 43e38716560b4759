package acquirer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/acquirer"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
)

// acquirerService starts the sandbox acquirer service over real HTTP with a
// ledger file, and returns a connector to it.
type acquirerService struct {
	*service.Service
	acq    *sandbox.Acquirer
	client *acquirer.Client
	url    string
}

func startService(t *testing.T, journal *service.Journal) *acquirerService {
	t.Helper()
	var ledger []sandbox.Record
	var log []sandbox.LogEntry
	if journal != nil {
		var err error
		if ledger, err = journal.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if log, err = journal.LoadLog(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	cfg := sandbox.Config{Ledger: ledger, Log: log}
	if journal != nil {
		cfg.Journal = journal // a nil *Journal in the interface would not be nil
	}
	acq := sandbox.New(cfg)
	svc, err := service.New(acq, service.Faults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(svc.Handler())
	t.Cleanup(ts.Close)
	c, err := acquirer.New(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &acquirerService{Service: svc, acq: acq, client: c, url: ts.URL}
}

func request(key, last4 string, amount int64) processor.Request {
	return processor.Request{IdempotencyKey: key, MerchantID: "mer_1", OrderID: "ord_1", Amount: amount,
		Currency: "KWD", PaymentMethod: "card", CardLast4: last4, CaptureRef: "txn_1"}
}

func TestClient_Answers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		last4      string
		wantStatus processor.Status
		wantCode   string
		transient  bool
		executed   int
	}{
		{"approved", "4444", processor.Approved, "00", false, 1},
		{"insufficient funds", sandbox.CardInsufficientFunds, processor.Declined, "51", false, 1},
		{"do not honor", sandbox.CardDoNotHonor, processor.Declined, "05", false, 1},
		{"issuer unavailable", sandbox.CardIssuerUnavailable, "", "91", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startService(t, nil)
			res, err := s.client.Refund(t.Context(), request("ref_1", tc.last4, 1005))
			var te *processor.TransientError
			switch {
			case tc.transient:
				if !errors.As(err, &te) || te.Code != tc.wantCode {
					t.Fatalf("Refund = %+v, %v; want transient %s", res, err, tc.wantCode)
				}
			case err != nil:
				t.Fatal(err)
			case res.Status != tc.wantStatus || res.ResponseCode != tc.wantCode || res.RRN == "" || res.ExecutedAt.IsZero():
				t.Fatalf("Refund = %+v, want %s %s with references", res, tc.wantStatus, tc.wantCode)
			}
			if n := len(s.acq.Executed()); n != tc.executed {
				t.Fatalf("executed %d, want %d", n, tc.executed)
			}
			if tc.executed == 1 {
				st, err := s.client.Status(t.Context(), "ref_1")
				if err != nil || st != res {
					t.Fatalf("Status = %+v, %v; want %+v", st, err, res)
				}
			}
		})
	}
}

func TestClient_StatusOfUnknownKey(t *testing.T) {
	s := startService(t, nil)
	if _, err := s.client.Status(t.Context(), "never/sent"); !errors.Is(err, processor.ErrNotFound) {
		t.Fatalf("Status = %v, want ErrNotFound", err)
	}
}

func TestClient_KeyMismatch(t *testing.T) {
	s := startService(t, nil)
	if _, err := s.client.Refund(t.Context(), request("ref_1", "4444", 1005)); err != nil {
		t.Fatal(err)
	}
	_, err := s.client.Refund(t.Context(), request("ref_1", "4444", 2000))
	if !acquirer.IsKeyMismatch(err) {
		t.Fatalf("replay with another amount = %v, want a key mismatch", err)
	}
	if ex := s.acq.Executed(); len(ex) != 1 || ex[0].Amount != 1005 {
		t.Fatalf("executed %+v, want the first refund only", ex)
	}
}

// A route that is not the acquirer's (a wrong base URL) must not read as
// "never executed", or refundd would think a resubmission is safe.
func TestClient_NotFoundWithoutProblemIsNotErrNotFound(t *testing.T) {
	for name, h := range map[string]http.Handler{
		"plain 404": http.NotFoundHandler(),
		"JSON 404 of a proxy": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"code":"not_found","message":"no route to upstream"}`))
		}),
	} {
		t.Run(name, func(t *testing.T) {
			ts := httptest.NewServer(h)
			defer ts.Close()
			c, err := acquirer.New(ts.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Status(t.Context(), "ref_1"); err == nil || errors.Is(err, processor.ErrNotFound) {
				t.Fatalf("Status = %v, want an error that is not ErrNotFound", err)
			}
		})
	}
}

func TestNew_RefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "sandbox2", "ftp://x", "http://", "://x"} {
		if _, err := acquirer.New(u, nil); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}

func TestFaults_ErrorExecutesNothing(t *testing.T) {
	s := startService(t, nil)
	if err := s.SetFaults(service.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	var te *processor.TransientError
	if _, err := s.client.Refund(t.Context(), request("ref_1", "4444", 1005)); !errors.As(err, &te) || te.Code != "96" {
		t.Fatalf("Refund = %v, want transient 96", err)
	}
	if n := len(s.acq.Executed()); n != 0 {
		t.Fatalf("an injected error executed %d refunds", n)
	}
}

// The dangerous failure: the acquirer executes, the answer is lost. The
// retry with the same key must answer the first execution, not a second.
func TestFaults_DropThenReplayExecutesOnce(t *testing.T) {
	s := startService(t, nil)
	if err := s.SetFaults(service.Faults{DropRate: 1}); err != nil {
		t.Fatal(err)
	}
	if res, err := s.client.Refund(t.Context(), request("ref_1", "4444", 1005)); err == nil {
		t.Fatalf("a dropped answer read as %+v", res)
	}
	ex := s.acq.Executed()
	if len(ex) != 1 || ex[0].Status != processor.Approved {
		t.Fatalf("executed %+v, want the refund executed despite the drop", ex)
	}
	if err := s.SetFaults(service.Faults{}); err != nil {
		t.Fatal(err)
	}
	st, err := s.client.Status(t.Context(), "ref_1")
	if err != nil || st.Status != processor.Approved {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	again, err := s.client.Refund(t.Context(), request("ref_1", "4444", 1005))
	if err != nil || again != st {
		t.Fatalf("replay = %+v, %v; want the first answer %+v", again, err, st)
	}
	if ex := s.acq.Executed(); len(ex) != 1 || ex[0].Attempts != 2 {
		t.Fatalf("executed %+v, want one execution seen twice", ex)
	}
	// The ledger is keyed by key and cannot show a second execution; the
	// execution log would.
	if log := s.acq.Executions(); len(log) != 1 || sandbox.DoubleExecutions(log) != nil {
		t.Fatalf("execution log %+v, want one row", log)
	}
}

func TestFaults_LatencyMeetsCallerDeadline(t *testing.T) {
	s := startService(t, nil)
	if err := s.SetFaults(service.Faults{LatencyMS: 2000}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.client.Refund(ctx, request("ref_1", "4444", 1005)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Refund = %v, want the caller's deadline", err)
	}
	if n := len(s.acq.Executed()); n != 0 {
		t.Fatalf("a call abandoned during latency executed %d", n)
	}
}

func TestNoAnswerUntilStatus(t *testing.T) {
	s := startService(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.client.Refund(ctx, request("ref_1", sandbox.CardNoAnswer, 1005)); err == nil {
		t.Fatal("0099 answered")
	}
	st, err := s.client.Status(t.Context(), "ref_1")
	if err != nil || st.Status != processor.Approved {
		t.Fatalf("Status = %+v, %v; want approved", st, err)
	}
}

func TestFaultsAPI(t *testing.T) {
	s := startService(t, nil)
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"latency_ms":5,"error_rate":0.25,"drop_rate":0.5}`, 200},
		{`{"latency_ms":-1}`, 400},
		{`{"error_rate":1.5}`, 400},
		{`{"drop_rate":-0.1}`, 400},
		{`{"latency_ms":1000000}`, 400},
		{`{"latency":5}`, 400},
		{`{"latency_ms":5}{"latency_ms":60000}`, 400},
		{`not json`, 400},
	} {
		req, _ := http.NewRequest(http.MethodPut, s.url+"/v1/sandbox/faults", strings.NewReader(tc.body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("PUT %s = %d, want %d", tc.body, res.StatusCode, tc.want)
		}
	}
	// Only the valid change took effect.
	if f := s.Faults(); f != (service.Faults{LatencyMS: 5, ErrorRate: 0.25, DropRate: 0.5}) {
		t.Fatalf("faults = %+v", f)
	}
}

func TestSubmitRejectsBadBodies(t *testing.T) {
	s := startService(t, nil)
	for _, body := range []string{`{`, `{"idempotency_key":"k","amount":"12"}`, `{"unknown":1}`, strings.Repeat("x", 70<<10),
		`{"idempotency_key":"k","amount":12,"currency":"SAR"}{"amount":1200}`} {
		res, err := http.Post(s.url+"/v1/sandbox/refunds", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %.20q = %d, want 400", body, res.StatusCode)
		}
	}
	if n := len(s.acq.Executed()); n != 0 {
		t.Fatalf("bad bodies executed %d refunds", n)
	}
}

// The ledger outlives the acquirer process: a restarted acquirer answers a
// replay with the original execution and lists it.
func TestJournal_SurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	j, err := service.OpenJournal(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s := startService(t, j)
	first, err := s.client.Refund(t.Context(), request("ref_1", "4444", 1005))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.client.Refund(ctx, request("ref_2", sandbox.CardNoAnswer, 700)); err == nil {
		t.Fatal("0099 answered")
	}
	j.Close()

	j2, err := service.OpenJournal(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	s2 := startService(t, j2)
	again, err := s2.client.Refund(t.Context(), request("ref_1", "4444", 1005))
	if err != nil || again != first {
		t.Fatalf("replay after restart = %+v, %v; want %+v", again, err, first)
	}
	st, err := s2.client.Status(t.Context(), "ref_2")
	if err != nil || st.Status != processor.Approved {
		t.Fatalf("0099 after restart = %+v, %v", st, err)
	}
	// New executions continue the reference sequence instead of reusing it.
	if st.RRN == first.RRN || st.STAN == first.STAN {
		t.Fatalf("restarted acquirer reused references: %+v vs %+v", st, first)
	}
	if ex := s2.acq.Executed(); len(ex) != 2 {
		t.Fatalf("executed after restart %+v, want 2", ex)
	}
	if log := s2.acq.Executions(); len(log) != 2 || sandbox.DoubleExecutions(log) != nil {
		t.Fatalf("execution log after restart %+v, want ref_1 and ref_2 once each", log)
	}
}

// Void over HTTP: an unexecuted key answers voided and never executes; an
// executed key answers its result; an acquirer without voids answers 501,
// which the connector reports as an error (nothing known), never as a void.
func TestClient_Void(t *testing.T) {
	s := startService(t, nil)
	res, err := s.client.Void(t.Context(), "never-sent")
	if err != nil || res.Status != processor.Voided {
		t.Fatalf("void of an unexecuted key: %+v %v", res, err)
	}
	if res, err := s.client.Refund(t.Context(), request("never-sent", "4444", 1000)); err != nil || res.Status != processor.Declined {
		t.Fatalf("submission of a voided key: %+v %v", res, err)
	}
	if _, err := s.client.Refund(t.Context(), request("paid", "4444", 1000)); err != nil {
		t.Fatal(err)
	}
	if res, err := s.client.Void(t.Context(), "paid"); err != nil || res.Status != processor.Approved {
		t.Fatalf("void of an executed key: %+v %v", res, err)
	}
	if log := s.acq.Executions(); len(log) != 1 || log[0].Key != "paid" {
		t.Fatalf("execution log %+v", log)
	}

	acq := sandbox.New(sandbox.Config{})
	svc, err := service.New(acq, service.Faults{}, nil, service.WithoutVoids())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(svc.Handler())
	t.Cleanup(ts.Close)
	c, err := acquirer.New(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	var se *acquirer.StatusError
	if res, err := c.Void(t.Context(), "k"); !errors.As(err, &se) || se.StatusCode != http.StatusNotImplemented {
		t.Fatalf("void without the capability: %+v %v, want a 501 error", res, err)
	}
}

// GET /v1/sandbox/executions serves the append-only log.
func TestExecutionsEndpoint(t *testing.T) {
	s := startService(t, nil)
	for _, key := range []string{"a", "b", "a"} {
		if _, err := s.client.Refund(t.Context(), request(key, "4444", 1000)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := http.Get(s.url + "/v1/sandbox/executions")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var log []sandbox.LogEntry
	if err := json.NewDecoder(res.Body).Decode(&log); err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Key != "a" || log[1].Key != "b" || log[1].Seq != 2 || sandbox.DoubleExecutions(log) != nil {
		t.Fatalf("log %+v: a replay must not log a second execution", log)
	}
}

// An answer about a key executed for another amount or currency (a
// second refundd whose refund ids collide with the first's, on one
// acquirer ledger) is not this refund's answer: after the submission's
// 409, the lookup must not read the other refund's approval as this
// one's, or refundd records a refund paid that the acquirer never paid.
func TestClient_AnswerForAnotherAmountIsNoAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*processor.Request)
	}{
		{"Amount", func(r *processor.Request) { r.Amount = 2000 }},
		{"Currency", func(r *processor.Request) { r.Currency = "BHD" }},
		{"Same", func(*processor.Request) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startService(t, nil)
			first, err := s.client.Refund(t.Context(), request("ref_1", "4444", 1005))
			if err != nil {
				t.Fatal(err)
			}
			other := request("ref_1", "4444", 1005)
			tc.change(&other)
			look := func() (processor.Result, error) {
				if rs, ok := processor.Processor(s.client).(processor.RequestStatuser); ok {
					return rs.StatusOf(t.Context(), other)
				}
				return s.client.Status(t.Context(), other.IdempotencyKey)
			}
			res, err := look()
			if tc.name == "Same" {
				if err != nil || res != first {
					t.Fatalf("lookup of the refund itself = %+v, %v; want %+v", res, err, first)
				}
				return
			}
			if _, err := s.client.Refund(t.Context(), other); !acquirer.IsKeyMismatch(err) {
				t.Fatalf("submission of %+v: %v, want the key mismatch", other, err)
			}
			if res, err := look(); err == nil {
				t.Fatalf("lookup for %d %s answered %+v: the acquirer executed 1005 KWD under that key", other.Amount, other.Currency, res)
			}
		})
	}
}
