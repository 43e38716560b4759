// Package service runs the sandbox acquirer as its own HTTP service
// (`refundd sandbox serve`): the API of package processor/acquirer, a
// ledger kept in a SQLite file, a listing of what was executed, and fault
// injection switchable at run time:
//
//	GET /v1/sandbox/refunds   every executed refund (the ledger)
//	GET /v1/sandbox/faults    the faults in force
//	PUT /v1/sandbox/faults    replace them: {"latency_ms","error_rate","drop_rate"}
//
// Faults apply to submissions and status checks alike: latency delays the
// answer; an injected error answers 503 (96, system malfunction) without
// executing anything; a drop executes the call and then closes the
// connection without answering, the failure that makes a retry dangerous
// for a processor without idempotency.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/acquirer"
	"github.com/refundd/refundd/processor/sandbox"
)

// Faults to inject. Rates are probabilities in [0, 1].
type Faults struct {
	LatencyMS int64   `json:"latency_ms"`
	ErrorRate float64 `json:"error_rate"`
	DropRate  float64 `json:"drop_rate"`
}

// maxLatency bounds injected latency so a typo cannot hang a test run.
const maxLatency = 60_000

// Validate reports the first field out of range.
func (f Faults) Validate() error {
	switch {
	case f.LatencyMS < 0 || f.LatencyMS > maxLatency:
		return fmt.Errorf("latency_ms must be between 0 and %d", maxLatency)
	case !(f.ErrorRate >= 0 && f.ErrorRate <= 1): // also rejects NaN
		return errors.New("error_rate must be between 0 and 1")
	case !(f.DropRate >= 0 && f.DropRate <= 1):
		return errors.New("drop_rate must be between 0 and 1")
	}
	return nil
}

// noAnswerWait is how long a submission the acquirer does not answer
// (card 0099) holds the request before answering 504, unless the caller
// gives up first.
const noAnswerWait = 60 * time.Second

// Service is the HTTP face of one sandbox acquirer.
type Service struct {
	acq         *sandbox.Acquirer
	log         *slog.Logger
	noVoids     bool
	notifier    *Notifier // nil: no notifications
	anomalyRate float64   // share of settlement report rows corrupted on purpose

	mu     sync.Mutex
	faults Faults
}

// Option configures a Service.
type Option func(*Service)

// WithoutVoids makes the service refuse voids (501), like an acquirer
// without that capability.
func WithoutVoids() Option { return func(s *Service) { s.noVoids = true } }

// WithAnomalyRate corrupts that share (0..1) of the settlement report's
// approved rows, for reconciliation tests.
func WithAnomalyRate(r float64) Option { return func(s *Service) { s.anomalyRate = r } }

// WithNotifier lets the service open chargebacks, which it reports
// through n (the acquirer's own answers reach n through sandbox.Config's
// OnFinal).
func WithNotifier(n *Notifier) Option { return func(s *Service) { s.notifier = n } }

// New returns a service for acq with the given starting faults.
func New(acq *sandbox.Acquirer, faults Faults, log *slog.Logger, opts ...Option) (*Service, error) {
	if err := faults.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{acq: acq, log: log, faults: faults}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Faults returns the faults in force.
func (s *Service) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults replaces the faults in force.
func (s *Service) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	s.log.Info("sandbox faults changed", "latency_ms", f.LatencyMS, "error_rate", f.ErrorRate, "drop_rate", f.DropRate)
	return nil
}

// Handler routes the service's API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sandbox/refunds", s.submit)
	mux.HandleFunc("GET /v1/sandbox/refunds/{key}", s.status)
	mux.HandleFunc("GET /v1/sandbox/refunds", s.list)
	mux.HandleFunc("POST /v1/sandbox/refunds/{key}/void", s.void)
	mux.HandleFunc("POST /v1/sandbox/refunds/{key}/reverse", s.reverse)
	mux.HandleFunc("POST /v1/sandbox/orders/{order_id}/chargebacks", s.chargeback)
	mux.HandleFunc("GET /v1/sandbox/executions", s.executions)
	mux.HandleFunc("GET /v1/sandbox/settlement", s.settlement)
	mux.HandleFunc("GET /v1/sandbox/faults", func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, s.Faults()) })
	mux.HandleFunc("PUT /v1/sandbox/faults", s.putFaults)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, map[string]bool{"ok": true}) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return mux
}

// maxBody bounds a request body.
const maxBody = 64 << 10

func (s *Service) submit(w http.ResponseWriter, r *http.Request) {
	var req acquirer.RefundRequest
	if err := decode(w, r, &req); err != nil {
		problem(w, http.StatusBadRequest, "30", "Format error: "+err.Error())
		return
	}
	f, ok := s.before(w, r)
	if !ok {
		return
	}
	s.log.Debug("refund submitted", "idempotency_key", req.IdempotencyKey, "request_id", r.Header.Get("X-Request-Id"))
	ctx, cancel := context.WithTimeout(r.Context(), noAnswerWait)
	defer cancel()
	res, err := s.acq.Refund(ctx, processor.Request{IdempotencyKey: req.IdempotencyKey, MerchantID: req.MerchantID,
		OrderID: req.OrderID, Amount: req.Amount, Currency: req.Currency, PaymentMethod: req.PaymentMethod,
		CardLast4: req.CardLast4, CaptureRef: req.CaptureRef})
	s.answer(w, f, req.IdempotencyKey, res, err)
}

func (s *Service) status(w http.ResponseWriter, r *http.Request) {
	f, ok := s.before(w, r)
	if !ok {
		return
	}
	res, err := s.acq.Status(r.Context(), r.PathValue("key"))
	s.answer(w, f, r.PathValue("key"), res, err)
}

// before applies latency and injected errors; false means it answered.
func (s *Service) before(w http.ResponseWriter, r *http.Request) (Faults, bool) {
	f := s.Faults()
	if f.LatencyMS > 0 {
		t := time.NewTimer(time.Duration(f.LatencyMS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return f, false
		case <-t.C:
		}
	}
	if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		problem(w, http.StatusServiceUnavailable, "96", "System malfunction (injected fault)")
		return f, false
	}
	return f, true
}

// answer writes the acquirer's answer about key, with the amount and
// currency the key was submitted with, or drops it when the fault says so:
// the call has executed by now, so a dropped answer is the "committed, but
// the caller never heard" failure.
func (s *Service) answer(w http.ResponseWriter, f Faults, key string, res processor.Result, err error) {
	if f.DropRate > 0 && rand.Float64() < f.DropRate {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, herr := hj.Hijack(); herr == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // no hijacking (HTTP/2): abort the stream instead
	}
	var transient *processor.TransientError
	switch {
	case err == nil:
		out := acquirer.ToResult(res)
		out.Amount, out.Currency, _ = s.acq.Amount(key)
		reply(w, http.StatusOK, out)
	case errors.Is(err, processor.ErrNotFound):
		problem(w, http.StatusNotFound, "25", "Unable to locate record")
	case errors.Is(err, sandbox.ErrKeyMismatch):
		problem(w, http.StatusConflict, "94", err.Error())
	case errors.As(err, &transient):
		problem(w, http.StatusServiceUnavailable, transient.Code, transient.Message)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		problem(w, http.StatusGatewayTimeout, "68", "Response received too late")
	default:
		s.log.Error("sandbox acquirer failed", "err", err)
		problem(w, http.StatusInternalServerError, "96", "System malfunction")
	}
}

// Execution is one entry of the ledger listing.
type Execution struct {
	IdempotencyKey string    `json:"idempotency_key"`
	Amount         int64     `json:"amount"`
	Currency       string    `json:"currency"`
	Status         string    `json:"status"` // approved, declined or pending
	Reversed       bool      `json:"reversed,omitempty"`
	ExecutedAt     time.Time `json:"executed_at"`
	Attempts       int       `json:"attempts"`
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	out := []Execution{}
	for _, e := range s.acq.Executed() {
		out = append(out, Execution{IdempotencyKey: e.IdempotencyKey, Amount: e.Amount, Currency: e.Currency,
			Status: string(e.Status), Reversed: e.Reversed, ExecutedAt: e.ExecutedAt, Attempts: e.Attempts})
	}
	reply(w, http.StatusOK, out)
}

// void voids a key the acquirer has not executed. An acquirer started
// with voids off answers 501, as most real ones would: then refundd cannot
// release a refund that went unanswered and waits for review instead.
func (s *Service) void(w http.ResponseWriter, r *http.Request) {
	if s.noVoids {
		problem(w, http.StatusNotImplemented, "not_supported", "this acquirer cannot void a key")
		return
	}
	f, ok := s.before(w, r)
	if !ok {
		return
	}
	res, err := s.acq.Void(r.Context(), r.PathValue("key"))
	s.answer(w, f, r.PathValue("key"), res, err)
}

// reverse reverses an approved refund, as when the issuer returns it; the
// notifier, if any, tells refundd.
func (s *Service) reverse(w http.ResponseWriter, r *http.Request) {
	res, err := s.acq.Reverse(r.Context(), r.PathValue("key"))
	if errors.Is(err, sandbox.ErrNotReversible) {
		problem(w, http.StatusConflict, "12", err.Error())
		return
	}
	s.answer(w, Faults{}, r.PathValue("key"), res, err)
}

// chargeback opens a chargeback on an order: the acquirer has no orders of
// its own, so all it does is tell refundd, through the notifier.
func (s *Service) chargeback(w http.ResponseWriter, r *http.Request) {
	if s.notifier == nil {
		problem(w, http.StatusNotImplemented, "not_supported", "start the sandbox with --notify-url to send chargebacks")
		return
	}
	var req struct {
		Amount    int64  `json:"amount"`
		Reference string `json:"reference"`
		Reason    string `json:"reason"`
	}
	if err := decode(w, r, &req); err != nil || req.Amount <= 0 {
		problem(w, http.StatusBadRequest, "30", "Format error: send {\"amount\": <positive minor units>, \"reference\", \"reason\"}")
		return
	}
	s.notifier.Chargeback(r.PathValue("order_id"), req.Amount, req.Reference, req.Reason)
	reply(w, http.StatusAccepted, map[string]any{"order_id": r.PathValue("order_id"), "amount": req.Amount, "reference": req.Reference})
}

// executions serves the append-only execution log: one row per time money
// moved, so a key executed twice shows twice.
func (s *Service) executions(w http.ResponseWriter, r *http.Request) {
	out := s.acq.Executions()
	if out == nil {
		out = []sandbox.LogEntry{}
	}
	reply(w, http.StatusOK, out)
}

func (s *Service) putFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := decode(w, r, &f); err != nil {
		problem(w, http.StatusBadRequest, "invalid_faults", err.Error())
		return
	}
	if err := s.SetFaults(f); err != nil {
		problem(w, http.StatusBadRequest, "invalid_faults", err.Error())
		return
	}
	reply(w, http.StatusOK, f)
}

// decode reads r's body, one JSON object of v's fields and nothing after
// it: a second object after the first was silently ignored, so a body
// that said two things was acted on by its first.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, code, msg string) {
	reply(w, status, acquirer.Problem{Code: code, Message: msg})
}
