package refund

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
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
	// MaxAttempts is how many submissions a refund gets. After the last
	// one, a refund without a definite answer goes to requires_review, its
	// amount still reserved; it fails only if the processor voids the key
	// (processor.Voider) (default 12).
	MaxAttempts int
	// ReviewPoll is how often a refund waiting for review is asked about
	// during ReviewWindow after its creation (defaults 1h and 7 days);
	// after that, once a day.
	ReviewPoll, ReviewWindow time.Duration
	// StoreClock takes every time the service writes (leases, retry times,
	// expiries, timestamps) from the store's clock (Store.Now), kept as an
	// offset from Now and measured again every ClockSync (default 30s), so
	// that all nodes share one clock whatever their own say.
	StoreClock bool
	ClockSync  time.Duration
	// SweepAges are the ages (since it succeeded) at which a succeeded
	// refund is asked about again, so that a reversal nobody notified is
	// still found (default 1h, 1 day, 7 days; an empty, non-nil slice
	// turns sweeps off).
	SweepAges []time.Duration
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
	// Credentials hashes console users' passwords and checks their codes
	// (nil: console users cannot sign in).
	Credentials Credentials
	// Sealer seals processor account credentials and Connect builds their
	// connectors; without them orders can only use Processor. Sealer also
	// opens sealed webhook and TOTP secrets.
	Sealer  Sealer
	Connect Connect
	// SealSecrets has new and rotated webhook and TOTP secrets stored
	// sealed by Sealer, and lets SealSecrets seal the clear ones. It is
	// off until every node runs a version that opens sealed secrets: an
	// older node beside one that seals would sign with the sealed text.
	// Off, secrets are written clear and sealed ones still open.
	SealSecrets bool
	// AuthFailureRate is how many failed API key authentications per
	// second each client address (IPv6: each /64) may cause on this node
	// once it has spent a burst of AuthFailureBurst; past it, a request
	// whose key is not cached as valid answers ERateLimited without
	// reading the store (defaults 1 and 30; negative: no limit).
	AuthFailureRate  float64
	AuthFailureBurst int
	// KeyCacheTTL is how long an API key read by Authenticate is kept
	// without asking the store again (default 5s; negative: never kept).
	// It bounds how late a revocation reaches a node that missed the
	// store's notification.
	KeyCacheTTL time.Duration
	// OnKeyRevoked is told of each revocation notification (tests).
	OnKeyRevoked func(prefix string)
	// HousekeepStep bounds the rows one Housekeep transaction deletes
	// (default 5000): after a long stop the expired keys can number
	// millions, and one transaction deleting them all would hold the write
	// lock (on SQLite, every refund's commit) and its changed pages for as
	// long. Tests set it low to check the steps without inserting
	// thousands of rows.
	HousekeepStep int
}

// Service is the one entry point of the domain. Every surface (native API,
// dialects, CLI, worker) calls it; it owns every rule about money.
type Service struct {
	cfg      Config
	log      *slog.Logger
	inflight chan struct{} // processor call slots
	limits   *keyLimits    // nil: unlimited
	sources  *sourceLimits // failed authentications; nil: unlimited
	clock    storeClock
	// connectors are the built connectors of processor accounts.
	connectors connectorCache
	keys       keyCache
	// sealHeld: SealSecrets found secrets sealed under keys this node
	// does not hold (ErrUnknownSecretKey); it seals nothing more.
	sealHeld atomic.Bool
}

// NewService validates cfg and fills its defaults.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Processor == nil || cfg.NewID == nil {
		return nil, errors.New("refund: Config needs Store, Processor and NewID")
	}
	// NaN makes a limiter that never refuses and a negative rate none at
	// all: either would turn the limit off without a word.
	if !(cfg.RateLimit >= 0) {
		return nil, fmt.Errorf("refund: RateLimit %v is not a number of requests per second (0: unlimited)", cfg.RateLimit)
	}
	if cfg.AuthFailureRate != cfg.AuthFailureRate { // NaN: a limit that never refuses
		return nil, fmt.Errorf("refund: AuthFailureRate %v is not a number of failures per second", cfg.AuthFailureRate)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeyCacheTTL == 0 {
		cfg.KeyCacheTTL = 5 * time.Second
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
	if cfg.ReviewPoll <= 0 {
		cfg.ReviewPoll = time.Hour
	}
	if cfg.ReviewWindow <= 0 {
		cfg.ReviewWindow = 7 * 24 * time.Hour
	}
	if cfg.SweepAges == nil {
		cfg.SweepAges = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
	}
	for i, a := range cfg.SweepAges {
		if a <= 0 || (i > 0 && a <= cfg.SweepAges[i-1]) {
			return nil, errors.New("refund: SweepAges must be positive and increasing")
		}
	}
	if cfg.ClockSync <= 0 {
		cfg.ClockSync = 30 * time.Second
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
	if cfg.HousekeepStep <= 0 {
		cfg.HousekeepStep = 5000
	}
	return &Service{cfg: cfg, log: cfg.Log, inflight: make(chan struct{}, cfg.MaxInFlight),
		limits: newKeyLimits(cfg.RateLimit, cfg.RateBurst), sources: newSourceLimits(cfg.AuthFailureRate, cfg.AuthFailureBurst)}, nil
}

// now returns the clock in UTC, truncated to microseconds so that every
// backend round-trips it exactly: the store's clock when StoreClock is on.
func (s *Service) now() time.Time {
	t := s.cfg.Now()
	if s.cfg.StoreClock {
		t = t.Add(time.Duration(s.clock.offset.Load()))
	}
	return t.UTC().Truncate(time.Microsecond)
}

// storeClock is this node's offset from the store's clock.
type storeClock struct {
	offset   atomic.Int64 // nanoseconds to add to Config.Now
	measured atomic.Int64 // Config.Now in unix nanoseconds at the last measurement
}

// SyncClock measures this node's offset from the store's clock (a no-op
// unless Config.StoreClock). The server calls it before serving; the
// worker again every ClockSync.
func (s *Service) SyncClock(ctx context.Context) error {
	if !s.cfg.StoreClock {
		return nil
	}
	before := s.cfg.Now()
	db, err := s.cfg.Store.Now(ctx)
	if err != nil {
		return err
	}
	after := s.cfg.Now()
	// The store read its clock somewhere in the round trip: take the middle.
	local := before.Add(after.Sub(before) / 2)
	s.clock.offset.Store(int64(db.Sub(local)))
	s.clock.measured.Store(after.UnixNano())
	return nil
}

// Now is the time as the service writes it: the store's clock when
// Config.StoreClock is on, so that a figure computed against a stored time
// (an age on /metrics) is the same on every node.
func (s *Service) Now() time.Time { return s.now() }

// LongestRequest is the most a request may wait on refunds in flight and
// the processor: InFlightWait for the order's refund in flight, then one
// processor call. A server's write deadline and its drain on shutdown
// must outlast it, or a refund the processor executed goes unanswered.
func (s *Service) LongestRequest() time.Duration {
	return s.cfg.InFlightWait + s.cfg.ProcessorTimeout
}

// syncClockIfStale re-measures the offset when it is older than ClockSync.
func (s *Service) syncClockIfStale(ctx context.Context) {
	if !s.cfg.StoreClock || s.cfg.Now().UnixNano()-s.clock.measured.Load() < int64(s.cfg.ClockSync) {
		return
	}
	if err := s.SyncClock(ctx); err != nil {
		s.log.Warn("could not read the store's clock; keeping the last offset", "err", err)
	}
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
