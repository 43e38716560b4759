package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// world is one simulated run: a store, the nodes that share it, the
// processor, the clients and the clock. Everything happens on the test's
// goroutine, one step at a time, decided by rnd.
type world struct {
	t       testing.TB
	seed    uint64
	rnd     *rand.Rand
	ctx     context.Context
	now     time.Time // true time: the store's clock and the processor's
	store   *faultyStore
	proc    *simProc
	nodes   []*node
	ids     int
	p       refund.Principal
	orders  []*order
	acked   map[string]bool   // refund ids a client was answered with
	ackedBy map[string]string // the refund id each client request was answered with
	retries []*request        // client requests that got no usable answer and will be sent again
	trace   []string
	faults  map[string]int
	calm    bool // faults off (the drain at the end)
	depth   int  // re-entrant client requests under way
	// notes are the processor's notifications on their way, when the
	// seed's processor sends them; nrnd decides their delays, repeats and
	// losses, apart from rnd so that seeds without them run as before.
	notes []note
	nrnd  *rand.Rand
	sent  int
}

// note is a processor notification due to arrive at refundd at at.
type note struct {
	at time.Time
	n  refund.Notification
}

// notify sends a notification of what the processor just decided about
// key: it arrives within seconds or up to half an hour later, sometimes
// twice, sometimes never (refundd then learns by asking).
func (w *world) notify(key, typ, code string) {
	if w.nrnd == nil {
		return
	}
	w.sent++
	n := refund.Notification{ID: fmt.Sprintf("msg_%d", w.sent), Type: typ, RefundID: key, ResponseCode: code}
	copies := 1
	switch r := w.nrnd.Float64(); {
	case r < 0.1:
		w.fault("notification lost")
		copies = 0
	case r < 0.3:
		w.fault("notification sent twice")
		copies = 2
	}
	for range copies {
		// Half arrive before refundd could ask, half late.
		delay := time.Duration(w.nrnd.IntN(5)) * time.Second
		if w.nrnd.IntN(2) == 0 {
			delay = time.Duration(w.nrnd.IntN(1800)) * time.Second
		}
		w.notes = append(w.notes, note{at: w.now.Add(delay), n: n})
	}
}

// deliver hands the notifications whose time has come to the first live
// node, oldest first; one refundd does not take is sent again a minute
// later.
func (w *world) deliver() {
	var n *node
	for _, c := range w.nodes {
		if !c.dead {
			n = c
			break
		}
	}
	if n == nil {
		return
	}
	slices.SortStableFunc(w.notes, func(a, b note) int { return a.at.Compare(b.at) })
	var later []note
	for _, m := range w.notes {
		if w.now.Before(m.at) {
			later = append(later, m)
			continue
		}
		out, err := n.svc.ApplyNotification(w.on(n), m.n)
		if err != nil {
			w.logf("node %d: notification %s %s of %s refused: %v", n.id, m.n.ID, m.n.Type, m.n.RefundID, err)
			m.at = w.now.Add(time.Minute)
			later = append(later, m)
			continue
		}
		w.logf("node %d: notification %s %s of %s: applied %v, %s %s", n.id, m.n.ID, m.n.Type, m.n.RefundID, out.Applied, out.Status, out.Note)
	}
	w.notes = later
}

type order struct {
	id       string
	captured int64
}

// node is one refundd process. A crashed node's store handle refuses
// everything: whatever it would have written after the crash is lost, as
// with a killed process.
type node struct {
	id   int
	svc  *refund.Service
	dead bool
	skew time.Duration
}

type nodeKey struct{}

func (w *world) logf(format string, args ...any) {
	w.trace = append(w.trace, fmt.Sprintf("%s %s", w.now.Format("15:04:05"), fmt.Sprintf(format, args...)))
}

func (w *world) fault(kind string) {
	w.faults[kind]++
	w.logf("fault: %s", kind)
}

// chance reports true with probability p, unless the world is calm.
func (w *world) chance(p float64) bool {
	return !w.calm && w.rnd.Float64() < p
}

func (w *world) newID(prefix string) string {
	w.ids++
	return fmt.Sprintf("%s_%08d", prefix, w.ids)
}

// startNode adds a node with a clock skewed by up to three minutes either
// way. Its times come from the store's clock all the same.
func (w *world) startNode() *node {
	n := &node{id: len(w.nodes) + 1, skew: time.Duration(w.rnd.IntN(361)-180) * time.Second}
	svc, err := refund.NewService(refund.Config{
		Store:     &fencedStore{Store: w.store, n: n},
		Processor: w.proc.asProcessor(),
		NewID:     w.newID,
		Now:       func() time.Time { return w.now.Add(n.skew) },
		// Short schedules so a run reaches every state in simulated hours.
		ProcessorTimeout: time.Second, Lease: 30 * time.Second, RetryBase: time.Second, RetryMax: 20 * time.Second,
		MaxAttempts: 3, PollInterval: 5 * time.Second, QueueHold: 10 * time.Second,
		ReviewPoll: 10 * time.Minute, ReviewWindow: 24 * time.Hour,
		StoreClock: true, ClockSync: time.Minute,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	n.svc = svc
	if err := svc.SyncClock(w.ctx); err != nil {
		w.t.Fatal(err)
	}
	w.nodes = append(w.nodes, n)
	w.logf("node %d starts, clock skew %v", n.id, n.skew)
	return n
}

// live returns a node that has not crashed, chosen at random.
func (w *world) live() *node {
	var alive []*node
	for _, n := range w.nodes {
		if !n.dead {
			alive = append(alive, n)
		}
	}
	if len(alive) == 0 {
		return w.startNode()
	}
	return alive[w.rnd.IntN(len(alive))]
}

// crash kills n; a fresh node takes its place.
func (w *world) crash(n *node, where string) {
	n.dead = true
	w.fault("crash " + where)
	w.logf("node %d crashes (%s)", n.id, where)
	w.startNode()
}

func (w *world) on(n *node) context.Context {
	return context.WithValue(w.ctx, nodeKey{}, n)
}

var errDead = errors.New("sim: this node has crashed")

// fencedStore is one node's handle on the shared store.
type fencedStore struct {
	refund.Store
	n *node
}

func (s *fencedStore) Update(ctx context.Context, fn func(tx refund.Tx) error) error {
	if s.n.dead {
		return errDead
	}
	return s.Store.Update(ctx, fn)
}

func (s *fencedStore) View(ctx context.Context, fn func(tx refund.Tx) error) error {
	if s.n.dead {
		return errDead
	}
	return s.Store.View(ctx, fn)
}

func (s *fencedStore) LookupIdempotency(ctx context.Context, merchantID, key string) (*refund.IdempotencyRecord, error) {
	if s.n.dead {
		return nil, errDead
	}
	return s.Store.LookupIdempotency(ctx, merchantID, key)
}

// faultyStore injects commits of unknown outcome: an Update that never ran
// but reports a lost connection, and one that committed but reports it
// failed. Its clock is the world's true time.
type faultyStore struct {
	refund.Store
	w *world
}

func (s *faultyStore) Update(ctx context.Context, fn func(tx refund.Tx) error) error {
	if s.w.chance(0.03) {
		s.w.fault("store: connection lost before commit")
		return errors.New("sim: connection lost before commit")
	}
	err := s.Store.Update(ctx, fn)
	if err == nil && s.w.chance(0.03) {
		s.w.fault("store: committed, outcome reported lost")
		return errors.New("sim: connection lost during commit (it committed)")
	}
	return err
}

func (s *faultyStore) Now(context.Context) (time.Time, error) { return s.w.now, nil }

// keyState is what the processor knows of one idempotency key.
type keyState struct {
	amount   int64
	executed bool // money moved
	declined bool
	voided   bool
	lateAt   []time.Time // late executions due then (an idempotent processor holds one at most)
}

// execution is one row of the processor's append-only execution log.
type execution struct {
	key    string
	amount int64
	at     time.Time
}

// simProc is the simulated processor. Its execution log is append-only,
// so that executing a key twice shows. What it can prove is the seed's
// profile (caps): idempotent on the key as most are, or executing every
// submission as a new refund; with a status lookup by key, or none. The
// core must never pay twice whichever it is.
type simProc struct {
	w     *world
	keys  map[string]*keyState
	log   []execution
	caps  processor.Capabilities
	voids bool // it can void a key (processor.Voider)
	// timeouts is how many of the next submissions time out without
	// executing, calm or not: a checker test scripts a history with it.
	timeouts int
}

var errNoAnswer = errors.New("sim: the processor did not answer in time")

func (p *simProc) asProcessor() processor.Processor {
	if p.voids {
		return voidingProc{p}
	}
	return p
}

// profiles are what a simulated processor can prove; a seed picks one.
var profiles = []processor.Capabilities{
	{IdempotentSubmit: true, StatusByKey: true},
	{IdempotentSubmit: true},
	{StatusByKey: true},
	{},
}

// Capabilities declares the seed's profile to the core.
func (p *simProc) Capabilities() processor.Capabilities {
	c := p.caps
	c.Partial, c.Vendors, c.Lines = true, true, true
	return c
}

func (p *simProc) execute(key string, k *keyState) {
	k.executed = true
	p.log = append(p.log, execution{key: key, amount: k.amount, at: p.w.now})
	p.w.logf("processor executes %s (%d)", key, k.amount)
	p.w.notify(key, refund.NotifyRefundSucceeded, "00")
}

// dueAll runs every late execution whose time has come, in key order:
// one nobody asks about executes all the same.
func (p *simProc) dueAll() {
	for _, key := range slices.Sorted(maps.Keys(p.keys)) {
		p.due(key, p.keys[key])
	}
}

// due runs the late executions whose time has come.
func (p *simProc) due(key string, k *keyState) {
	for i := 0; i < len(k.lateAt); {
		if p.w.now.Before(k.lateAt[i]) {
			i++
			continue
		}
		k.lateAt = slices.Delete(k.lateAt, i, i+1)
		if !k.voided && !(k.executed && p.caps.IdempotentSubmit) {
			p.execute(key, k)
		}
	}
}

func (p *simProc) result(k *keyState) processor.Result {
	switch {
	case k.voided:
		return processor.Result{Status: processor.Voided}
	case k.executed:
		return processor.Result{Status: processor.Approved, ResponseCode: "00", RRN: "sim"}
	}
	return processor.Result{Status: processor.Declined, ResponseCode: "05", Message: "do not honor"}
}

func (p *simProc) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	n, _ := ctx.Value(nodeKey{}).(*node)
	w := p.w
	k := p.keys[req.IdempotencyKey]
	if k == nil {
		k = &keyState{amount: req.Amount}
		p.keys[req.IdempotencyKey] = k
	}
	w.logf("node %d submits %s", n.id, req.IdempotencyKey)
	p.due(req.IdempotencyKey, k)
	switch {
	case k.voided:
		return p.result(k), nil
	case !p.caps.IdempotentSubmit:
		// It does not know the key: every submission is a new refund.
	case k.executed, k.declined:
		return p.result(k), nil
	case len(k.lateAt) > 0:
		return processor.Result{}, errNoAnswer // the same request, still pending
	}
	if p.timeouts > 0 {
		p.timeouts--
		w.fault("processor: timeout, not executed (scripted)")
		return processor.Result{}, errNoAnswer
	}
	switch r := w.rnd.Float64(); {
	case w.calm:
	case r < 0.08:
		w.fault("processor: timeout, not executed")
		return processor.Result{}, errNoAnswer
	case r < 0.14:
		w.fault("processor: executed, answer dropped")
		p.execute(req.IdempotencyKey, k)
		return processor.Result{}, errNoAnswer
	case r < 0.22:
		w.fault("processor: late execution")
		k.lateAt = append(k.lateAt, w.now.Add(time.Duration(1+w.rnd.IntN(900))*time.Second))
		return processor.Result{}, errNoAnswer
	case r < 0.27:
		w.fault("processor: 5xx")
		return processor.Result{}, &processor.TransientError{Code: "96", Message: "system malfunction"}
	case r < 0.31:
		w.fault("processor: decline")
		k.declined = true
		w.notify(req.IdempotencyKey, refund.NotifyRefundFailed, "05")
		return p.result(k), nil
	case r < 0.34:
		w.crash(n, "before the processor executed")
		return processor.Result{}, errNoAnswer
	case r < 0.37:
		p.execute(req.IdempotencyKey, k)
		w.crash(n, "after the processor executed")
		return processor.Result{}, errNoAnswer
	case r < 0.45 && w.depth == 0:
		// Another client refunds the same order while this refund is at
		// the processor: its amount is reserved, its answer not yet
		// recorded.
		w.fault("concurrent refund on the order")
		w.depth++
		w.send(w.newRequest(w.orderOf(req.OrderID)), w.live())
		w.depth--
	}
	p.execute(req.IdempotencyKey, k)
	return p.result(k), nil
}

func (p *simProc) Status(ctx context.Context, key string) (processor.Result, error) {
	if !p.caps.StatusByKey {
		p.dueAll()
		return processor.Result{}, processor.ErrNoStatus
	}
	k := p.keys[key]
	if k == nil {
		return processor.Result{}, processor.ErrNotFound
	}
	p.due(key, k)
	if p.w.chance(0.08) {
		p.w.fault("processor: status timeout")
		return processor.Result{}, errNoAnswer
	}
	if !k.executed && !k.declined && !k.voided {
		return processor.Result{}, processor.ErrNotFound
	}
	return p.result(k), nil
}

// settles reports whether a status check or a void of key would settle
// its refund: the processor answered it (executed, declined, voided) or
// can void it.
func (p *simProc) settles(key string) bool {
	k := p.keys[key]
	return p.caps.StatusByKey && (p.voids || (k != nil && (k.executed || k.declined || k.voided)))
}

// answer says what the processor holds for key, for a failure message.
func (p *simProc) answer(key string) string {
	k := p.keys[key]
	switch {
	case k != nil && k.executed:
		return "executed it"
	case k != nil && k.declined:
		return "declined it"
	case k != nil && k.voided:
		return "voided it"
	}
	return "never executed it and can void it"
}

// voidingProc is the processor with the void capability.
type voidingProc struct{ *simProc }

func (p voidingProc) Void(ctx context.Context, key string) (processor.Result, error) {
	k := p.keys[key]
	if k == nil {
		k = &keyState{}
		p.keys[key] = k
	}
	p.due(key, k)
	if p.w.chance(0.08) {
		p.w.fault("processor: void timeout")
		return processor.Result{}, errNoAnswer
	}
	if !k.executed && !k.declined {
		k.voided, k.lateAt = true, nil
		p.w.logf("processor voids %s", key)
	}
	return p.result(k), nil
}

// request is one client's refund request, sent again until it gets an
// answer it can act on.
type request struct {
	order  *order
	amount *int64 // nil: the whole remainder
	mode   string // "key" (Idempotency-Key), "reference" (merchant reference), "none"
	ref    string
	sent   int
}

func (w *world) orderOf(id string) *order {
	for _, o := range w.orders {
		if o.id == id {
			return o
		}
	}
	w.t.Fatalf("seed %d: unknown order %s", w.seed, id)
	return nil
}

func (w *world) newRequest(o *order) *request {
	r := &request{order: o, mode: []string{"key", "key", "reference", "none"}[w.rnd.IntN(4)]}
	if w.rnd.IntN(5) > 0 {
		a := int64(1 + w.rnd.IntN(int(o.captured/3)))
		r.amount = &a
	}
	w.ids++
	r.ref = fmt.Sprintf("req-%d", w.ids)
	return r
}

func (r *request) input() refund.RefundInput {
	// The reason names the client request, so the checker can tell one
	// request that made two refunds.
	in := refund.RefundInput{OrderID: r.order.id, Amount: r.amount, Surface: "native", Reason: r.mode + " " + r.ref}
	if r.mode == "reference" {
		in.MerchantReference, in.Surface = r.ref, "sgate"
	}
	return in
}

func (r *request) hash() string {
	if r.amount == nil {
		return r.order.id + "/all"
	}
	return fmt.Sprintf("%s/%d", r.order.id, *r.amount)
}

// retryable reports whether a client would send the request again: no
// answer, a server error, or "still running". A 4xx is final.
func retryable(err error) bool {
	switch refund.ErrorCode(err) {
	case refund.EInternal, refund.EConflict, refund.EIdempotencyKeyInUse, refund.EProcessorUnavailable:
		return true
	}
	return false
}

// send sends r to n the way its surface would, and records what the client
// learned.
func (w *world) send(r *request, n *node) {
	r.sent++
	ctx := w.on(n)
	w.logf("node %d: client %s %s refund of %s (%s, try %d)", n.id, r.ref, r.mode, r.order.id, amountText(r.amount), r.sent)
	var got *refund.Refund
	var err error
	switch r.mode {
	case "key":
		var claim *refund.Claim
		claim, err = n.svc.BeginIdempotent(ctx, w.p, refund.ScopeRefundsWrite, r.ref, r.hash())
		if err == nil && claim.Replay != nil {
			if claim.Replay.Status == 201 {
				w.ack(r, string(claim.Replay.Body))
			}
			w.logf("client %s: replayed %d %s", r.ref, claim.Replay.Status, claim.Replay.Body)
			return
		}
		if err == nil {
			got, err = n.svc.CreateRefund(refund.WithClaim(ctx, claim), w.p, r.input())
			if !n.dead {
				reply := refund.Reply{Status: 201, Body: []byte("")}
				switch {
				case err == nil:
					reply.Body = []byte(got.ID)
				case retryable(err):
					reply.Status = 500
				default:
					reply.Status = 422
					reply.Body = []byte(refund.ErrorCode(err))
				}
				n.svc.CompleteIdempotent(ctx, claim, reply)
			}
		}
	default:
		got, err = n.svc.CreateRefund(ctx, w.p, r.input())
	}
	switch {
	case n.dead:
		// The process died: no answer reached the client.
		w.logf("client %s: no answer", r.ref)
		if r.mode != "none" {
			w.retries = append(w.retries, r)
		}
	case err == nil:
		w.ack(r, got.ID)
	case retryable(err) && r.mode != "none":
		w.logf("client %s: %v, will retry", r.ref, err)
		w.retries = append(w.retries, r)
	default:
		w.logf("client %s: %v", r.ref, err)
	}
}

func (w *world) ack(r *request, id string) {
	if prev, ok := w.ackedBy[r.ref]; ok && prev != id && r.mode != "none" {
		w.t.Errorf("seed %d: client request %s was answered with refund %s, and on a retry with %s: refunded twice",
			w.seed, r.ref, prev, id)
	}
	w.ackedBy[r.ref] = id
	w.acked[id] = true
	w.logf("client %s: acknowledged %s", r.ref, id)
}

func amountText(a *int64) string {
	if a == nil {
		return "all"
	}
	return fmt.Sprint(*a)
}

// dump prints the end of the trace, for a failed run.
func (w *world) dump() {
	from := max(0, len(w.trace)-300)
	w.t.Logf("seed %d: trace (last %d of %d steps):\n%s", w.seed, len(w.trace)-from, len(w.trace),
		strings.Join(w.trace[from:], "\n"))
}

// faultKinds returns the fault counts in a stable order.
func faultKinds(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return out
}
