// Package server assembles refundd: storage chosen by URL, the processor,
// the refund service, the worker and every HTTP surface on one listener.
// cmd/refundd and the end-to-end tests build the same thing through it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/console"
	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/dialect/gateway"
	"github.com/refundd/refundd/dialect/paylink"
	"github.com/refundd/refundd/dialect/sgate"
	"github.com/refundd/refundd/dialect/techrar"
	"github.com/refundd/refundd/dialect/upayments"
	"github.com/refundd/refundd/idgen"
	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/metrics"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/acquirer"
	"github.com/refundd/refundd/processor/connector"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/postgres"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/tracing"
	"github.com/refundd/refundd/vault"
	"github.com/refundd/refundd/webhook"
	"github.com/refundd/refundd/worker"
)

// Config of a Server. Zero values take the documented defaults.
type Config struct {
	Addr      string // listen address (default 127.0.0.1:8080; ":0" for any port)
	DB        string // sqlite:PATH (default sqlite:refundd.db) or postgres://...
	Processor string // "sandbox" (in-process, default) or an acquirer service URL (processor/acquirer)
	Log       *slog.Logger

	ProcessorTimeout time.Duration // one processor call (default 10s)
	// InFlightWait bounds how long a refund on a surface that runs an
	// order's refunds one at a time (gateway) waits for the one in flight
	// (default ProcessorTimeout).
	InFlightWait time.Duration
	// MaxInFlight caps concurrent processor calls from this node (default 64).
	MaxInFlight int
	// Lease is how long a node owns a claimed refund before another may
	// take it over (default ProcessorTimeout + 20s).
	Lease       time.Duration
	SettleDelay time.Duration // in-process sandbox: wallet settlement delay (default 2s)
	// WorkerInterval is the pause between idle worker passes; negative
	// disables the background worker (tests drive Worker.RunOnce).
	WorkerInterval time.Duration
	// WebhookAllowPrivate lets webhook and notify targets be loopback or
	// private addresses (refused by default).
	WebhookAllowPrivate bool
	// RateLimit is requests per second per API key on this node (0:
	// unlimited), with bursts of RateBurst.
	RateLimit float64
	RateBurst int
	// AuthFailureRate and AuthFailureBurst bound the failed API key
	// authentications per client address on this node (refund.Config;
	// 0: the defaults, negative: no limit).
	AuthFailureRate  float64
	AuthFailureBurst int
	// WebhookSchedule overrides the webhook retry schedule.
	WebhookSchedule []time.Duration
	// TracingEndpoint, when set, exports OpenTelemetry traces to this
	// OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318). TracerProvider
	// replaces the exporter (tests record spans in memory). Both unset:
	// no tracing at all.
	TracingEndpoint string
	TracerProvider  trace.TracerProvider
	// ServerTiming answers every request with a Server-Timing header that
	// splits its time into the refund core's phases (api.ServerTiming;
	// refundd bench --trace). Off by default: it tells any caller how the
	// node spends its time.
	ServerTiming bool
	// TokenSecret signs the Paylink partner tokens (HS256, at least 32
	// bytes) and must be the same on every node. Empty: a random secret
	// per process, so tokens verify only on the node that issued them.
	TokenSecret string
	// MaxAttempts is how many submissions a refund gets before it waits
	// for review (default 12); RetryBackoff the first retry delay,
	// doubling up to 10 minutes (default 1s).
	MaxAttempts  int
	RetryBackoff time.Duration
	// ReviewPoll is how often a refund waiting for review is asked about
	// (voided when "not executed") in its first week (default 1h).
	ReviewPoll time.Duration
	// ProcessorWebhookSecret (whsec_..., Standard Webhooks) verifies the
	// processor's notifications at POST /v1/processor/notifications;
	// empty: that route answers that notifications are not configured.
	ProcessorWebhookSecret string
	// MetricsAllow are the networks /metrics answers (nil: loopback
	// only, as refundd's figures are the merchants' business); other
	// callers get 403.
	MetricsAllow []netip.Prefix
	// TrustedProxies are the reverse proxies in front of refundd whose
	// X-Forwarded-For names the client (api.ClientAddr): the address that
	// failed sign-ins and API key guesses count against, audit entries
	// record and MetricsAllow checks. nil: every connection is the client.
	TrustedProxies []netip.Prefix
	// ZATCAKeyFile is a PEM ECDSA private key that seals (signs) invoices;
	// empty: the published sandbox key (invoice.SandboxKey).
	ZATCAKeyFile string
	// SecretKey (REFUNDD_SECRET_KEY) or SecretKeyFile seals the processor
	// accounts' credentials, webhook signing secrets and TOTP secrets
	// (package vault); PreviousSecretKeyFile opens those sealed before a
	// rotation. Without a key, orders can only use the node's own
	// processor, and webhook and TOTP secrets are stored in the clear.
	SecretKey             string
	SecretKeyFile         string
	PreviousSecretKeyFile string
	// SealSecrets (REFUNDD_SEAL_SECRETS) has a node with the secret key
	// store new and rotated webhook and TOTP secrets sealed, and Start
	// seal the clear ones. Turned on once every node runs a version that
	// opens them (an older one would sign with the sealed text); off, a
	// node with the key still opens sealed ones and writes clear.
	SealSecrets bool
	// PublicURL is the base URL clients reach this node at, for URLs
	// refundd writes into replies (UPayments' multivendor endpoint).
	// Empty: the listen address. Never taken from a request's Host header,
	// which the caller controls.
	PublicURL string
	// SweepAges are when succeeded refunds are asked about again (nil: 1h,
	// 1 day, 7 days; empty: never).
	SweepAges []time.Duration
	// Now and NewID replace the clock and id generator (tests). Without
	// Now, every time written comes from the database's clock.
	Now   func() time.Time
	NewID func(prefix string) string
}

// Server is a running refundd node.
type Server struct {
	Service *refund.Service
	Store   refund.Store
	Sandbox *sandbox.Acquirer // the in-process acquirer, when used
	Worker  *worker.Worker
	// Metrics is served at /metrics.
	Metrics *metrics.Metrics
	// Webhooks delivers outbox events; it runs with the worker.
	Webhooks *webhook.Dispatcher

	cfg      Config
	http     *http.Server
	ln       net.Listener
	stopOnce sync.Once
	// stopTracing flushes and stops the trace exporter.
	stopTracing func(context.Context) error
	routes      []string
	workerOn    bool
	// stopKeys ends the watch of key revocations on other nodes.
	stopKeys context.CancelFunc
}

// OpenStore opens the store named by a database URL and migrates it.
func OpenStore(ctx context.Context, db string) (refund.Store, error) {
	switch {
	case db == "":
		return sqlite.Open(ctx, "refundd.db")
	case strings.HasPrefix(db, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(db, "sqlite:"), "//")
		if path == "" {
			return nil, errors.New("server: sqlite: URL needs a path, e.g. sqlite:refundd.db")
		}
		return sqlite.Open(ctx, path)
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		st, err := postgres.Open(ctx, db)
		if err != nil {
			return nil, err // not st: a nil *postgres.Store in a refund.Store is not nil
		}
		return st, nil
	}
	return nil, fmt.Errorf("server: unknown database URL %q (want sqlite:PATH or postgres://...)", Redact(db))
}

// Redact hides the passwords in a database URL: the user part's, and the
// query's password and sslpassword, which pgx reads as libpq does. The user
// part is found first, up to the last '@': a password may hold a '?' its
// writer did not escape, and the query begins only after it.
func Redact(db string) string {
	rest := 0 // where the query may begin: after the user part
	if i := strings.Index(db, "://"); i >= 0 {
		if at := strings.LastIndex(db, "@"); at > i {
			rest = at
			if colon := strings.Index(db[i+3:at], ":"); colon >= 0 {
				db = db[:i+3+colon+1] + "xxxxx" + db[at:]
				rest = i + 3 + colon + 1 + len("xxxxx")
			}
		}
	}
	q := strings.Index(db[rest:], "?")
	if q < 0 {
		return db
	}
	db, query := db[:rest+q], db[rest+q+1:]
	params := strings.Split(query, "&")
	for i, p := range params {
		raw, _, _ := strings.Cut(p, "=")
		if k, err := url.QueryUnescape(raw); err != nil || k == "password" || k == "sslpassword" {
			params[i] = raw + "=xxxxx"
		}
	}
	return db + "?" + strings.Join(params, "&")
}

// Open builds a server: opens and migrates the store, wires the service and
// the routes. It does not listen yet.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.TokenSecret != "" && len(cfg.TokenSecret) < paylink.MinSecretLen {
		return nil, fmt.Errorf("server: the token secret must be at least %d bytes", paylink.MinSecretLen)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	storeClock := cfg.Now == nil
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = idgen.New
	}
	st, err := OpenStore(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	s := &Server{Store: st, cfg: cfg}
	var proc processor.Processor
	switch cfg.Processor {
	case "", "sandbox":
		s.Sandbox = sandbox.New(sandbox.Config{Now: cfg.Now, SettleDelay: cfg.SettleDelay})
		proc = s.Sandbox
	default:
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
		if tracingOn(cfg) {
			hc.Transport = tracing.Transport(hc.Transport)
		}
		if proc, err = acquirer.New(cfg.Processor, hc); err != nil {
			st.Close()
			return nil, fmt.Errorf("server: --processor: want sandbox or an acquirer URL: %w", err)
		}
	}
	s.Metrics = metrics.New()
	proc = s.Metrics.Processor(proc)
	tp := cfg.TracerProvider
	if tp == nil {
		var shutdown func(context.Context) error
		if tp, shutdown, err = tracing.Setup(ctx, cfg.TracingEndpoint); err != nil {
			st.Close()
			return nil, fmt.Errorf("server: tracing: %w", err)
		}
		s.stopTracing = shutdown
	}
	if tracingOn(cfg) {
		proc = tracing.Processor(tp, proc)
	}
	invoicer := invoice.New(invoice.Sandbox{})
	if cfg.ZATCAKeyFile != "" {
		k, err := invoice.LoadKey(cfg.ZATCAKeyFile)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("--zatca-key-file: %w", err)
		}
		invoicer = invoicer.WithKey(k)
	}
	sealer, err := keyring(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	conns := &connector.Registry{Observe: s.Metrics.ObserveAccountCall}
	s.Service, err = refund.NewService(refund.Config{Store: st, Processor: proc, NewID: cfg.NewID, Now: cfg.Now,
		Sealer: sealer, SealSecrets: cfg.SealSecrets, Connect: conns.Connect,
		Log: cfg.Log, ProcessorTimeout: cfg.ProcessorTimeout, Lease: cfg.Lease, MaxInFlight: cfg.MaxInFlight, InFlightWait: cfg.InFlightWait,
		RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, AuthFailureRate: cfg.AuthFailureRate, AuthFailureBurst: cfg.AuthFailureBurst, CheckTarget: webhook.CheckTarget(cfg.WebhookAllowPrivate),
		Invoicer: invoicer, Credentials: credential.Argon2{}, MaxAttempts: cfg.MaxAttempts, RetryBase: cfg.RetryBackoff, ReviewPoll: cfg.ReviewPoll,
		StoreClock: storeClock, SweepAges: cfg.SweepAges})
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := s.Service.SyncClock(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: read the database's clock: %w", err)
	}
	s.Worker = worker.New(s.Service, worker.Config{Interval: cfg.WorkerInterval, Log: cfg.Log})
	s.Webhooks = webhook.New(s.Service, webhook.Config{AllowPrivate: cfg.WebhookAllowPrivate, Schedule: cfg.WebhookSchedule,
		Interval: cfg.WorkerInterval, Now: cfg.Now, Log: cfg.Log})
	s.Metrics.WatchStats(s.Service)
	s.Metrics.WatchStore(st)
	mux := &recordingMux{ServeMux: http.NewServeMux()}
	mux.Handle("GET /metrics", allowNetworks(cfg.MetricsAllow, s.Metrics.Handler()))
	var apiOpts []api.Option
	if cfg.ProcessorWebhookSecret != "" {
		verify, err := webhook.Verifier(cfg.ProcessorWebhookSecret)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("server: --processor-webhook-secret: %w", err)
		}
		apiOpts = append(apiOpts, api.WithNotificationVerifier(verify))
	}
	api.New(s.Service, cfg.Log, apiOpts...).Register(mux)
	gateway.New(s.Service, cfg.Log).Register(mux)
	sgate.New(s.Service, cfg.Log).Register(mux)
	paylink.New(s.Service, paylink.Config{Secret: []byte(cfg.TokenSecret), Now: cfg.Now, Log: cfg.Log}).Register(mux)
	upayments.New(s.Service, cfg.Log, s.publicURL).Register(mux)
	techrar.New(s.Service, cfg.Log, s.publicURL).Register(mux)
	console.New(s.Service, cfg.Log, console.WithClock(cfg.Now), console.WithPublicURL(cfg.PublicURL)).Register(mux)
	var handler http.Handler = s.Metrics.Middleware(mux)
	if tracingOn(cfg) {
		handler = tracing.Middleware(tp, handler)
	}
	if cfg.ServerTiming {
		handler = api.ServerTiming(handler)
	}
	s.http = &http.Server{
		Handler:           api.Middleware(handler, cfg.Log, cfg.TrustedProxies...),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A reply cut by the write deadline is a refund its caller may
		// send again: the deadline outlasts the longest request.
		WriteTimeout:   max(60*time.Second, s.DrainTimeout()),
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
	}
	s.routes = mux.patterns
	return s, nil
}

// DrainTimeout is how long Stop should let requests in flight run: the
// longest a refund request may take, and room to record and send its
// answer.
func (s *Server) DrainTimeout() time.Duration {
	return s.Service.LongestRequest() + 30*time.Second
}

// tracingOn reports whether cfg asks for OpenTelemetry tracing.
func tracingOn(cfg Config) bool { return cfg.TracingEndpoint != "" || cfg.TracerProvider != nil }

// recordingMux is the server's one mux; it remembers every pattern a
// surface registers, so that Routes can list them all.
type recordingMux struct {
	*http.ServeMux
	patterns []string
}

func (m *recordingMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *recordingMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

// Routes returns every route pattern of every surface, in registration
// order ("POST /v1/refunds", "/v1/", ...). Tests walk it so that a new
// route cannot go unchecked.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// Start listens on the configured address and serves in the background,
// with the worker running unless disabled.
func (s *Server) Start(ctx context.Context) error {
	// Here, not in Open: commands that open the server without serving
	// (processor rotate-key re-seals the credentials first) seal nothing
	// they were not asked to.
	if err := s.sealSecrets(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopKeys = stop
	listening := make(chan struct{})
	go s.Service.WatchKeys(wctx, listening)
	// Serve once revocations are heard, unless the database will not let
	// the watch start soon: then KeyCacheTTL alone bounds a revocation's
	// delay until the watch reconnects.
	select {
	case <-listening:
	case <-time.After(2 * time.Second):
		s.cfg.Log.Warn("serving before the key revocation watch is listening")
	}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Log.Error("http server stopped", "err", err)
		}
	}()
	if s.cfg.WorkerInterval >= 0 {
		s.workerOn = true
		if err := s.Webhooks.Start(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		return s.Worker.Start(context.WithoutCancel(ctx))
	}
	return nil
}

// URL is the base URL the server listens on.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// publicURL is the configured public base URL, or the listen URL.
func (s *Server) publicURL() string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	return s.URL()
}

// sealSecrets seals, with Config.SealSecrets, the secrets stored in the
// clear (before they were sealed, or by a node that did not seal) or
// under the previous key, before the node serves. A row whose sealed
// secret does not open is left for its use to refuse (logged there too);
// the node still serves everything else. Secrets sealed under keys the
// node was not given, none under its own (a wrong key), have it seal nothing and
// store new secrets clear, logged: it still starts, as a node without
// --seal-secrets would, serving what its key allows, rather than keeping
// the refunds of every merchant from being served for one wrong setting.
func (s *Server) sealSecrets(ctx context.Context) error {
	if !s.cfg.SealSecrets {
		return nil
	}
	n, err := s.Service.SealSecrets(ctx)
	switch {
	case errors.Is(err, refund.ErrUnknownSecretKey):
		s.cfg.Log.Error("not sealing secrets: stored secrets are sealed under keys this node was not given; it stores new ones clear until it restarts with the right keys", "err", err)
	case errors.Is(err, refund.ErrSecretNotOpened):
		s.cfg.Log.Error("some stored secrets do not open with this node's secret keys and were left as they are", "err", err)
	case err != nil:
		return fmt.Errorf("server: seal the stored secrets under the secret key: %w", err)
	}
	if n > 0 {
		s.cfg.Log.Info("sealed stored secrets under the current secret key", "rows", n)
	}
	return nil
}

// Handler is the server's whole HTTP surface (for in-process tests).
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Stop stops accepting requests, lets in-flight ones finish (until ctx
// ends), stops the worker and closes the store. Safe to call twice.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		if s.ln != nil {
			err = s.http.Shutdown(ctx)
		}
		if s.stopKeys != nil {
			s.stopKeys()
		}
		s.Worker.Stop()
		s.Webhooks.Stop()
		if s.stopTracing != nil {
			s.stopTracing(ctx)
		}
		if cerr := s.Store.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// loopback is where /metrics is served unless configured otherwise.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// allowNetworks serves h only to callers whose address is in allow (nil:
// loopback), as Miniflux does for its metrics: the connection's, and the
// client a trusted proxy names (a proxy on the same host passes every
// client's request from loopback); both, since any host in a trusted
// network can name any client.
func allowNetworks(allow []netip.Prefix, h http.Handler) http.Handler {
	if allow == nil {
		allow = loopback
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, _, err := net.SplitHostPort(r.RemoteAddr)
		if err == nil && api.AddrIn(peer, allow) && api.AddrIn(refund.RequestFrom(r.Context()).IP, allow) {
			h.ServeHTTP(w, r)
			return
		}
		http.Error(w, "metrics are served to the networks in --metrics-allow only", http.StatusForbidden)
	})
}

// keyring reads the node's secret key (and the previous one), or answers
// nil when none is given.
func keyring(cfg Config) (refund.Sealer, error) {
	var cur []byte
	var err error
	switch {
	case cfg.SecretKey != "" && cfg.SecretKeyFile != "":
		return nil, errors.New("server: give the secret key once: REFUNDD_SECRET_KEY or --secret-key-file")
	case cfg.SecretKey != "":
		if cur, err = vault.ParseKey(cfg.SecretKey); err != nil {
			return nil, fmt.Errorf("server: REFUNDD_SECRET_KEY: %w", err)
		}
	case cfg.SecretKeyFile != "":
		if cur, err = vault.ReadKeyFile(cfg.SecretKeyFile); err != nil {
			return nil, fmt.Errorf("server: --secret-key-file: %w", err)
		}
	default:
		if cfg.PreviousSecretKeyFile != "" {
			return nil, errors.New("server: --previous-secret-key-file needs the current key too")
		}
		if cfg.SealSecrets {
			// Refused rather than ignored: the operator who asked for
			// sealed secrets would find them stored in the clear.
			return nil, errors.New("server: --seal-secrets needs the secret key (REFUNDD_SECRET_KEY or --secret-key-file)")
		}
		return nil, nil
	}
	var prev [][]byte
	if cfg.PreviousSecretKeyFile != "" {
		k, err := vault.ReadKeyFile(cfg.PreviousSecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("server: --previous-secret-key-file: %w", err)
		}
		prev = append(prev, k)
	}
	return vault.New(cur, prev...)
}
