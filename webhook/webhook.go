// Package webhook delivers refundd's outbox events to merchant endpoints
// and refunds' notify URLs: signed per the Standard Webhooks spec, retried
// on a backoff schedule with jitter, each attempt written to the delivery
// log. Deliveries are claimed with leases, so every node can run a
// Dispatcher and no delivery is sent by two at once.
package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/refundd/refundd/refund"
)

// DefaultSchedule is the wait before each retry: about 28 hours in all,
// as the Standard Webhooks guidance suggests, so a receiver that is down
// for a day still gets every event.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Config of a Dispatcher.
type Config struct {
	// Schedule is the wait before retry n (after attempt n failed); when
	// it runs out the delivery fails. Default DefaultSchedule.
	Schedule []time.Duration
	// Jitter spreads each wait by up to this fraction either way (default
	// 0.2), so a recovered receiver is not hit by every retry at once.
	Jitter float64
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// AllowPrivate lets deliveries reach loopback and private addresses
	// (tests, internal receivers). Refused by default.
	AllowPrivate bool
	Interval     time.Duration // pause when nothing is due (default 500ms)
	Batch        int           // deliveries claimed at once, and sent by RunOnce (default 20)
	Parallel     int           // deliveries in flight (default 32)
	// PerTarget caps the deliveries in flight to one endpoint (or one
	// merchant's notify URLs), so a slow or dead receiver holds at most
	// that many slots and delays only itself (default a quarter of
	// Parallel, at most 4).
	PerTarget int
	// PerMerchant caps the deliveries in flight to all of one merchant's
	// endpoints and notify URLs, so that a merchant's slow or dead
	// receivers delay only that merchant (default
	// Parallel/refund.MerchantShare).
	PerMerchant int
	Now         func() time.Time
	Rand        *rand.Rand // jitter source (tests make it deterministic)
	Log         *slog.Logger
	// Client overrides the HTTP client (its transport must do its own
	// address checks).
	Client *http.Client
}

// Dispatcher sends due deliveries.
type Dispatcher struct {
	svc    *refund.Service
	cfg    Config
	client *http.Client
	randMu sync.Mutex

	// claimMu lets one claim run at a time, so two never count the
	// same free slots.
	claimMu  sync.Mutex
	flightMu sync.Mutex
	running  int            // attempts in flight
	flight   map[string]int // attempts in flight per target
	merchant map[string]int // attempts in flight per merchant
	landed   chan struct{}  // closed (and replaced) when an attempt ends

	// afterClaim, when set (tests), runs after each claim with how many
	// it took, so a test can end an attempt between a claim and the wait.
	afterClaim func(n int)

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a stopped dispatcher.
func New(svc *refund.Service, cfg Config) *Dispatcher {
	if cfg.Schedule == nil {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = 0.2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 20
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 32
	}
	if cfg.PerTarget <= 0 {
		cfg.PerTarget = max(1, min(4, cfg.Parallel/4))
	}
	if cfg.PerMerchant <= 0 {
		cfg.PerMerchant = max(1, cfg.Parallel/refund.MerchantShare)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{svc: svc, cfg: cfg, client: cfg.Client, flight: map[string]int{}, merchant: map[string]int{}, landed: make(chan struct{})}
	if d.client == nil {
		d.client = NewClient(cfg.AllowPrivate)
	}
	return d
}

// lease is how long a claimed delivery belongs to this dispatcher: one
// attempt's timeout plus room to record it.
func (d *Dispatcher) lease() time.Duration { return d.cfg.Timeout + 30*time.Second }

// RunOnce sends due deliveries, up to Batch of them, and returns when
// they are done, with how many it sent. Each attempt starts as soon as it
// is claimed, and a target at PerTarget (a merchant at PerMerchant) is
// skipped until one of its attempts ends, so a slow receiver does not
// hold up the others.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sent := 0
	for sent < d.cfg.Batch && ctx.Err() == nil {
		n, landed, err := d.fill(ctx, d.cfg.Batch-sent, &wg)
		sent += n
		if err != nil {
			return sent, err
		}
		if n > 0 {
			continue
		}
		// Nothing to claim now: done, unless an attempt in flight frees
		// a slot, its target or its merchant.
		if landed == nil {
			break
		}
		select {
		case <-landed:
		case <-ctx.Done():
		}
	}
	return sent, nil
}

// fill claims due deliveries for up to max free slots and starts each at
// once; it returns how many it started, and a channel closed when an
// attempt in flight at the claim has ended (nil when none was). The
// channel is taken with the counts the claim goes by, not after it: an
// attempt that ends during the claim closes it, so a wait on it returns
// at once rather than missing the slot that attempt freed.
func (d *Dispatcher) fill(ctx context.Context, max int, wg *sync.WaitGroup) (int, <-chan struct{}, error) {
	d.claimMu.Lock()
	defer d.claimMu.Unlock()
	d.flightMu.Lock()
	n := min(max, d.cfg.Parallel-d.running)
	per := refund.TargetCap{Max: d.cfg.PerTarget, InFlight: maps.Clone(d.flight),
		MerchantMax: d.cfg.PerMerchant, MerchantInFlight: maps.Clone(d.merchant)}
	var landed <-chan struct{}
	if d.running > 0 {
		landed = d.landed
	}
	d.flightMu.Unlock()
	if n <= 0 || ctx.Err() != nil {
		return 0, landed, nil
	}
	jobs, err := d.svc.ClaimDeliveries(ctx, d.lease(), n, per)
	if err != nil {
		return 0, landed, err // no lease taken: nothing may be sent
	}
	if d.afterClaim != nil {
		d.afterClaim(len(jobs))
	}
	for _, job := range jobs {
		target, merchant := job.Delivery.Target(), job.Delivery.MerchantID
		d.flightMu.Lock()
		d.running++
		d.flight[target]++
		d.merchant[merchant]++
		d.flightMu.Unlock()
		wg.Go(func() {
			defer d.land(target, merchant)
			d.attempt(ctx, job)
		})
	}
	return len(jobs), landed, nil
}

// land counts an attempt to target (of merchant) as ended and wakes
// whoever waits for a free slot.
func (d *Dispatcher) land(target, merchant string) {
	d.flightMu.Lock()
	defer d.flightMu.Unlock()
	d.running--
	if d.flight[target]--; d.flight[target] <= 0 {
		delete(d.flight, target)
	}
	if d.merchant[merchant]--; d.merchant[merchant] <= 0 {
		delete(d.merchant, merchant)
	}
	close(d.landed)
	d.landed = make(chan struct{})
}

// recordTimeout bounds the write of an attempt's outcome once the
// dispatcher is stopping.
const recordTimeout = 5 * time.Second

// attempt sends one claimed delivery and records the outcome. ctx ending
// (Stop) neither cuts the request short nor loses its record: a receiver
// that took the event would otherwise get it again when the lease ran
// out. The send is bounded by Timeout and the record by Timeout plus
// recordTimeout, so Stop waits at most their sum.
// A delivery not yet begun when ctx ends is handed back unsent.
func (d *Dispatcher) attempt(ctx context.Context, job refund.DeliveryJob) {
	if ctx.Err() != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if err := d.svc.ReleaseDelivery(rctx, job); err != nil {
			d.cfg.Log.Warn("could not hand back a claimed webhook delivery; its lease will run out", "delivery", job.Delivery.ID, "err", err)
		}
		return
	}
	ctx = context.WithoutCancel(ctx)
	out := d.send(ctx, job)
	rctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout+recordTimeout)
	defer cancel()
	if err := d.svc.RecordDelivery(rctx, job, out); err != nil {
		d.cfg.Log.Error("record webhook delivery", "delivery", job.Delivery.ID, "err", err)
	}
}

// send makes one attempt and decides when the next one is due.
func (d *Dispatcher) send(ctx context.Context, job refund.DeliveryJob) refund.DeliveryOutcome {
	start := d.cfg.Now()
	var code int
	var err error
	if job.Unsignable == "" {
		code, err = d.post(ctx, job)
	}
	out := refund.DeliveryOutcome{StatusCode: code, Latency: d.cfg.Now().Sub(start)}
	if job.Unsignable != "" {
		out.Err = job.Unsignable // a failed attempt, nothing sent
	} else if err != nil {
		out.Err = deliveryError(err)
		d.cfg.Log.Info("webhook delivery failed", "delivery", job.Delivery.ID, "err", err)
	} else if code < 200 || code > 299 {
		out.Err = "receiver answered " + strconv.Itoa(code)
	}
	if out.Err != "" {
		if n := job.Delivery.Attempts; n < len(d.cfg.Schedule) {
			next := d.cfg.Now().Add(d.jitter(d.cfg.Schedule[n]))
			out.NextRetry = &next
		}
		d.cfg.Log.Warn("webhook delivery failed", "delivery", job.Delivery.ID, "event", job.Event.ID,
			"attempt", job.Delivery.Attempts+1, "status", code, "err", out.Err, "retry", out.NextRetry != nil)
	}
	return out
}

func (d *Dispatcher) jitter(w time.Duration) time.Duration {
	d.randMu.Lock()
	f := 1 + d.cfg.Jitter*(2*d.cfg.Rand.Float64()-1)
	d.randMu.Unlock()
	return time.Duration(float64(w) * f)
}

// post sends the signed request and returns the receiver's status code.
func (d *Dispatcher) post(ctx context.Context, job refund.DeliveryJob) (int, error) {
	h, err := SignAll(job.Secrets, job.Event.ID, d.cfg.Now(), job.Payload)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.Delivery.URL, bytes.NewReader(job.Payload))
	if err != nil {
		return 0, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "refundd-webhooks/1")
	if job.Event.RequestID != "" {
		// The API request that caused the event, for tracing across systems.
		req.Header.Set("X-Request-Id", job.Event.RequestID)
	}
	res, err := d.client.Do(req)
	if err != nil {
		return 0, errors.Unwrap(err) // drop the URL: it is in the log row already
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return res.StatusCode, nil
}

// Sign returns the Standard Webhooks headers for one message: webhook-id
// is the event id, so a receiver can drop duplicates of a retried event.
func Sign(secret, id string, at time.Time, payload []byte) (http.Header, error) {
	return SignAll([]string{secret}, id, at, payload)
}

// SignAll is Sign with a signature per secret, space-separated in
// webhook-signature as the spec allows: during a secret's rotation a
// receiver holding either the old or the new secret verifies the message.
func SignAll(secrets []string, id string, at time.Time, payload []byte) (http.Header, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhook: no secret to sign with")
	}
	sigs := make([]string, len(secrets))
	for i, secret := range secrets {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return nil, fmt.Errorf("webhook: bad secret: %w", err)
		}
		if sigs[i], err = wh.Sign(id, at, payload); err != nil {
			return nil, err
		}
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, strings.Join(sigs, " "))
	return h, nil
}

// MinSecretBytes is the shortest key refundd takes for a secret that
// signs what it receives. Standard Webhooks asks for 24 to 64 random
// bytes; a shorter key can be guessed, and "whsec_" alone is the empty
// key, with which anyone can sign a notification that moves money.
const MinSecretBytes = 24

// CheckSecret refuses a Standard Webhooks secret (whsec_ and base64) that
// does not decode, or whose key is shorter than MinSecretBytes.
func CheckSecret(secret string) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	switch {
	case err != nil:
		return fmt.Errorf("webhook: bad secret: not whsec_ and base64: %w", err)
	case len(key) < MinSecretBytes:
		return fmt.Errorf("webhook: bad secret: its key is %d bytes; at least %d random bytes are needed", len(key), MinSecretBytes)
	}
	return nil
}

// Verifier returns a check of Standard Webhooks signatures made with
// secret (whsec_...), for messages refundd receives: a processor's
// notifications. The check refuses a bad signature and a timestamp more
// than five minutes away (replays).
func Verifier(secret string) (func(payload []byte, h http.Header) error, error) {
	if err := CheckSecret(secret); err != nil {
		return nil, err
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("webhook: bad secret: %w", err)
	}
	return wh.Verify, nil
}

// Start runs passes in the background until Stop.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		return nil
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go d.loop(ctx, d.done)
	return nil
}

// loop claims deliveries whenever slots are free and something is due:
// when an attempt ends, or every Interval when nothing was due.
func (d *Dispatcher) loop(ctx context.Context, done chan struct{}) {
	var wg sync.WaitGroup
	defer close(done)
	defer wg.Wait()
	for {
		n, landed, err := d.fill(ctx, d.cfg.Batch, &wg)
		if err != nil && ctx.Err() == nil {
			d.cfg.Log.Error("webhook pass failed", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-landed: // nil, blocking, when none was in flight
		case <-time.After(d.cfg.Interval):
		}
	}
}

// Stop ends the background loop and waits for the pass in flight: the
// attempts under way finish (each send within Timeout, its record within
// Timeout plus recordTimeout) and are recorded, and
// deliveries claimed but not begun are handed back unsent. Safe to call
// twice.
func (d *Dispatcher) Stop() {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.cancel = nil
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// ErrPrivateTarget is returned for targets on loopback, private, link-local
// or otherwise non-public addresses.
var ErrPrivateTarget = errors.New("target address is not public")

// notPublic are special-purpose blocks (RFC 6890 and successors) that
// IsPrivate and IsGlobalUnicast let through.
var notPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved
	netip.MustParsePrefix("fc00::/7"),      // unique local
	netip.MustParsePrefix("fec0::/10"),     // site-local (deprecated)
	// Local-use NAT64 (RFC 8215): the IPv4 address sits where the
	// operator's prefix length puts it, which a sender cannot know.
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001::/32"), // Teredo: a relay to an address it encodes
}

// embeddedV4 are IPv6 blocks whose addresses carry an IPv4 address that a
// translator or relay on the path connects to: well-known-prefix NAT64
// (RFC 6052), IPv4-translated (RFC 2765) and IPv4-compatible addresses in
// the last 32 bits, 6to4 (RFC 3056) in bits 16 to 48.
var embeddedV4 = []struct {
	prefix netip.Prefix
	at     int // the IPv4 address's first byte
}{
	{netip.MustParsePrefix("64:ff9b::/96"), 12},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), 12},
	{netip.MustParsePrefix("::/96"), 12},
	{netip.MustParsePrefix("2002::/16"), 2},
}

// public reports whether ip is a routable public unicast address; an IPv6
// address carrying an IPv4 one is as public as that address.
func public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() {
		for _, e := range embeddedV4 {
			if e.prefix.Contains(ip) {
				b := ip.As16()
				return public(netip.AddrFrom4([4]byte(b[e.at : e.at+4])))
			}
		}
	}
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range notPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// NewClient returns the HTTP client deliveries use. Unless allowPrivate,
// it refuses to connect to non-public addresses; the check runs on the
// address actually dialed, so DNS answers cannot smuggle one in.
func NewClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !public(ap.Addr()) {
				return ErrPrivateTarget
			}
			return nil
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a proxy would dial on our behalf and skip the check
	tr.DialContext = dialer.DialContext
	return &http.Client{
		Transport: tr,
		// Redirects are not followed: a receiver must answer itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// deliveryError says why a delivery failed in words fit for the merchant's
// delivery log: never the node's own addresses (a DNS failure names the
// node's resolver, a refused connection the local port). The full error
// goes to the node's log.
func deliveryError(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, ErrPrivateTarget):
		return ErrPrivateTarget.Error()
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "the receiver's host name does not resolve"
		}
		return "the receiver's host name could not be resolved"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "the receiver did not answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the receiver refused the connection"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the receiver closed the connection without answering"
	case strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"):
		return "the TLS handshake with the receiver failed"
	}
	return "the receiver could not be reached"
}

// errPrivateRegistered is ErrPrivateTarget as the one registering the URL
// reads it, with what would be accepted; a delivery's log keeps the short
// form.
var errPrivateRegistered = fmt.Errorf("%w: give a URL on a public address (a node started with --webhook-allow-private accepts loopback and private ones)", ErrPrivateTarget)

// CheckTarget vets a URL when it is registered: with allowPrivate false,
// a host that is, or resolves only to, non-public addresses is refused.
// (The dial-time check still guards each delivery.)
func CheckTarget(allowPrivate bool) func(ctx context.Context, rawURL string) error {
	return func(ctx context.Context, rawURL string) error {
		if allowPrivate {
			return nil
		}
		u, err := url.Parse(rawURL)
		if err != nil {
			return err
		}
		host := u.Hostname()
		// A name under localhost is loopback (RFC 6761) whatever the
		// resolver says; DNS names ignore case and may end in a dot.
		if name := strings.TrimSuffix(strings.ToLower(host), "."); name == "localhost" || strings.HasSuffix(name, ".localhost") {
			return errPrivateRegistered
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			if !public(ip) {
				return errPrivateRegistered
			}
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			// An unresolvable name is accepted: DNS may not be set up yet,
			// and every delivery is checked when it dials.
			return nil
		}
		for _, a := range addrs {
			if !public(a) {
				return errPrivateRegistered
			}
		}
		return nil
	}
}
