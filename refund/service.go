package refund

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/refundd/refundd/processor"
)

// Config wires a Service. Store, Processor and NewID are required; the rest
// have defaults.
type Config struct {
	Store     Store
	Processor processor.Processor
	// NewID returns a new, time-ordered, unique id with the given prefix
	// ("ord", "re", ...). Injected so tests get deterministic ids.
	NewID func(prefix string) string
	// Now is the clock; one reading is taken per transaction.
	Now func() time.Time
	// Rand is the source of API key secrets (crypto/rand by default).
	Rand io.Reader
	Log  *slog.Logger

	// ProcessorTimeout bounds one processor call (default 10s).
	ProcessorTimeout time.Duration
	// Lease is how long a request or worker owns a refund before another
	// worker may take it over (default ProcessorTimeout + 20s).
	Lease time.Duration
	// RetryBase and RetryMax shape the exponential backoff between
	// processor attempts (defaults 1s and 10m).
	RetryBase, RetryMax time.Duration
	// MaxAttempts is how many submissions a refund gets before it is failed,
	// and only after the processor confirmed it never executed it
	// (default 12).
	MaxAttempts int
	// PollInterval is how often a refund the processor accepted as pending
	// is asked about again (default 5s).
	PollInterval time.Duration
	// QueueHold is how long a queued refund waits before the worker submits
	// it: the window in which the merchant can still cancel it (default 60s).
	QueueHold time.Duration
	// MaxInFlight caps concurrent processor calls from this node
	// (default 64).
	MaxInFlight int
	// CheckTarget vets a webhook or notify URL before it is stored (for
	// example: refuse private addresses); nil accepts any http(s) URL.
	CheckTarget func(ctx context.Context, rawURL string) error
	// IdempotencyTTL is how long idempotency keys are kept (default and
	// minimum 24h).
	IdempotencyTTL time.Duration
	// InFlightWait bounds how long a refund asked with
	// RefundInput.AwaitInFlight waits for the order's earlier refunds to
	// settle (default ProcessorTimeout, which bounds a refund submitted
	// during a request).
	InFlightWait time.Duration
	// RateLimit is how many authenticated requests per second each API key
	// may make on this node, with bursts of RateBurst (default: one
	// second's worth); 0 means unlimited.
	RateLimit float64
	RateBurst int
	// Invoicer builds and reports tax and refund invoices (package
	// invoice); nil issues none.
	Invoicer Invoicer
}

// Service is the one entry point of the domain. Every surface (native API,
// dialects, CLI, worker) calls it; it owns every rule about money.
type Service struct {
	cfg      Config
	log      *slog.Logger
	inflight chan struct{} // processor call slots
	limits   *keyLimits    // nil: unlimited
}

// NewService validates cfg and fills its defaults.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Processor == nil || cfg.NewID == nil {
		return nil, errors.New("refund: Config needs Store, Processor and NewID")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ProcessorTimeout <= 0 {
		cfg.ProcessorTimeout = 10 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = cfg.ProcessorTimeout + 20*time.Second
	}
	if cfg.Lease <= cfg.ProcessorTimeout {
		return nil, errors.New("refund: Lease must be longer than ProcessorTimeout")
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 10 * time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.QueueHold <= 0 {
		cfg.QueueHold = time.Minute
	}
	if cfg.IdempotencyTTL < 24*time.Hour {
		cfg.IdempotencyTTL = 24 * time.Hour
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.InFlightWait <= 0 {
		cfg.InFlightWait = cfg.ProcessorTimeout
	}
	return &Service{cfg: cfg, log: cfg.Log, inflight: make(chan struct{}, cfg.MaxInFlight),
		limits: newKeyLimits(cfg.RateLimit, cfg.RateBurst)}, nil
}

// now returns the clock in UTC, truncated to microseconds so that every
// backend round-trips it exactly.
func (s *Service) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}

// backoff is the wait after the n-th failed attempt: base * 2^(n-1), capped.
func (s *Service) backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := s.cfg.RetryBase
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// require returns EForbidden unless p carries scope.
func require(p Principal, scope string) error {
	if p.MerchantID == "" {
		return Errorf(EForbidden, "", "this key does not act for a merchant")
	}
	if !p.Has(scope) {
		return Errorf(EForbidden, "", "this key lacks the %s scope", scope)
	}
	return nil
}

// Page is one page of a list.
type Page[T any] struct {
	Data       []T
	HasMore    bool
	NextCursor string
}

// MaxPageSize bounds every list.
const MaxPageSize = 100

// pageLimit validates a requested page size (0 means the default of 10).
func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return 10, nil
	case n < 0 || n > MaxPageSize:
		return 0, Errorf(EInvalidRequest, "limit", "limit must be between 1 and %d", MaxPageSize)
	}
	return n, nil
}

// paginate trims one extra row fetched to learn whether more exist.
func paginate[T any](rows []T, limit int, id func(T) string) Page[T] {
	p := Page[T]{Data: rows}
	if len(rows) > limit {
		p.Data, p.HasMore = rows[:limit], true
		p.NextCursor = id(p.Data[limit-1])
	}
	if p.Data == nil {
		p.Data = []T{}
	}
	return p
}

// Ping checks that storage answers (readiness).
func (s *Service) Ping(ctx context.Context) error {
	return s.cfg.Store.Ping(ctx)
}
