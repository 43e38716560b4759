package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/postgres"
	"github.com/refundd/refundd/store/postgres/pgtest"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// regressions are seeds that once found a bug; they run on every test run.
var regressions = []struct {
	seed     uint64
	profile  int  // its processor's (profiles), as when it was found
	notifies bool // its processor sends notifications
	found    string
}{
	// With the old give-up rule (after the last attempt, fail and release
	// a refund the processor had not answered), a late execution paid a
	// refund refundd had failed while another refund took its room:
	// discrepancy executed_not_recorded. (Found as seed 336001019, whose
	// run has since changed: its processor now voids, and it no longer
	// reaches the rule; a regression seed must still fail with its bug
	// put back.)
	{340001021, 0, false, "give-up released money that was still executing"},
	// A late execution paid a refund that waited for review, which only
	// its review poll settles: with the poll off, the checker let the
	// refund wait for a person (a check then added).
	{340001091, 0, false, "a refund left in review that the processor had settled"},
	// A notification arrives before refundd asked and settles a refund:
	// with refund.succeeded read as a decline, the refund failed while
	// the processor had paid it.
	{340001028, 0, true, "a notification read wrongly"},
}

// profileOf is the processor profile of a seed: a regression's own, or
// one from the seed alone (not from the run's random stream).
func profileOf(seed uint64) int {
	for _, r := range regressions {
		if r.seed == seed {
			return r.profile
		}
	}
	return int(seed % uint64(len(profiles)))
}

// notifiesOf says whether a seed's processor sends notifications: a
// regression's as it was found, else every other seed's, from the seed alone.
func notifiesOf(seed uint64) bool {
	for _, r := range regressions {
		if r.seed == seed {
			return r.notifies
		}
	}
	return seed/uint64(len(profiles))%2 == 1
}

// summary adds up what a set of runs did.
type summary struct {
	runs, steps, checks int
	faults              map[string]int
	states              map[refund.Status]int
}

func (s *summary) add(w *world, checks int, states map[refund.Status]int) {
	s.runs++
	s.steps += len(w.trace)
	s.checks += checks
	for k, v := range w.faults {
		s.faults[k] += v
	}
	for k, v := range states {
		s.states[k] += v
	}
}

func (s *summary) String() string {
	var st []string
	for _, k := range slices.Sorted(mapKeys(s.states)) {
		st = append(st, fmt.Sprintf("%s %d", k, s.states[k]))
	}
	return fmt.Sprintf("%d runs, %d trace lines, %d invariant checks passed\n  refunds by final state: %s\n  faults injected:\n    %s",
		s.runs, s.steps, s.checks, strings.Join(st, ", "), strings.Join(faultKinds(s.faults), "\n    "))
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// seeds are the runs to make: SIM_SEED alone, or SIM_SEEDS (default n)
// seeds from a base that changes every day, plus the regressions.
func seeds(t *testing.T, n int) []uint64 {
	if s := os.Getenv("SIM_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SIM_SEED=%q: %v", s, err)
		}
		return []uint64{seed}
	}
	if s := os.Getenv("SIM_SEEDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("SIM_SEEDS=%q: want a positive count", s)
		}
	}
	var out []uint64
	for _, r := range regressions {
		out = append(out, r.seed)
	}
	base := uint64(time.Now().UTC().YearDay()) * 1_000_003
	for i := range n {
		out = append(out, base+uint64(i))
	}
	return out
}

// TestSimulation runs the default seeds on SQLite.
func TestSimulation(t *testing.T) {
	sum := &summary{faults: map[string]int{}, states: map[refund.Status]int{}}
	n := 300
	if raceEnabled {
		n = 20
	}
	all := seeds(t, n)
	t.Logf("simulating %d seeds (first %d, SIM_SEED=N reruns one)", len(all), all[0])
	for _, seed := range all {
		st, err := sqlite.Open(context.Background(), sqlitetest.Path(t))
		if err != nil {
			t.Fatal(err)
		}
		simulate(t, seed, st, sum)
		st.Close()
		if t.Failed() {
			t.Fatalf("seed %d failed: rerun it with SIM_SEED=%d go test ./sim -run TestSimulation -v", seed, seed)
		}
	}
	t.Logf("simulation on SQLite: %s", sum)
}

// TestSimulationPostgres runs a few seeds on PostgreSQL.
func TestSimulationPostgres(t *testing.T) {
	pgtest.BaseURL(t)
	sum := &summary{faults: map[string]int{}, states: map[refund.Status]int{}}
	n := 20
	if raceEnabled {
		n = 4
	}
	all := seeds(t, n)
	for _, seed := range all {
		// A schema per run, as a file per run on SQLite: the worker claims
		// across merchants, so runs must not see each other's refunds.
		st, err := postgres.Open(context.Background(), pgtest.URL(t, 4))
		if err != nil {
			t.Fatal(err)
		}
		simulate(t, seed, st, sum)
		st.Close()
		if t.Failed() {
			t.Fatalf("seed %d failed on PostgreSQL: rerun it with SIM_SEED=%d REFUNDD_TEST_POSTGRES=... go test ./sim -run TestSimulationPostgres -v", seed, seed)
		}
	}
	t.Logf("simulation on PostgreSQL: %s", sum)
}

// TestSimulation_Reproducible runs one seed twice: the traces must match
// line for line, or a failing seed could not be replayed.
func TestSimulation_Reproducible(t *testing.T) {
	for _, tc := range []struct {
		seed uint64
		has  string // a trace line that shows what the seed exercises
	}{
		{20261202, "idempotent: false"},
		{20261204, "notification msg_"}, // its processor notifies: their delays, repeats and order must replay too
	} {
		t.Run(fmt.Sprint(tc.seed), func(t *testing.T) {
			var traces [2][]string
			for i := range traces {
				st, err := sqlite.Open(context.Background(), sqlitetest.Path(t))
				if err != nil {
					t.Fatal(err)
				}
				traces[i] = simulate(t, tc.seed, st, &summary{faults: map[string]int{}, states: map[refund.Status]int{}}).trace
				st.Close()
			}
			if !slices.Equal(traces[0], traces[1]) {
				for i := range min(len(traces[0]), len(traces[1])) {
					if traces[0][i] != traces[1][i] {
						t.Fatalf("the runs differ at line %d:\n%s\n%s", i, traces[0][i], traces[1][i])
					}
				}
				t.Fatalf("the runs differ in length: %d and %d lines", len(traces[0]), len(traces[1]))
			}
			if len(traces[0]) < 50 || !strings.Contains(strings.Join(traces[0], "\n"), tc.has) {
				t.Fatalf("a run of %d lines without %q proves little", len(traces[0]), tc.has)
			}
		})
	}
}

// simulate runs one seed on st and checks the invariants.
func simulate(t *testing.T, seed uint64, st refund.Store, sum *summary) *world {
	w := newWorld(t, seed, st)
	steps := 40 + w.rnd.IntN(80)
	for range steps {
		w.step()
	}
	w.drain()
	checks, states := w.check()
	if t.Failed() {
		w.dump()
		return w
	}
	sum.add(w, checks, states)
	if os.Getenv("SIM_SEED") != "" {
		w.dump()
	}
	return w
}

// newWorld sets a seed's world up on st, calmly: its nodes, its
// processor, a merchant and its orders.
func newWorld(t testing.TB, seed uint64, st refund.Store) *world {
	w := &world{t: t, seed: seed, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ctx: context.Background(),
		now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), acked: map[string]bool{}, ackedBy: map[string]string{}, faults: map[string]int{}}
	w.store = &faultyStore{Store: st, w: w}
	w.proc = &simProc{w: w, keys: map[string]*keyState{}, caps: profiles[profileOf(seed)], voids: w.rnd.IntN(2) == 0}
	if notifiesOf(seed) {
		w.nrnd = rand.New(rand.NewPCG(seed, 0x6e6f74696679))
	}
	w.logf("seed %d, processor can void: %v, idempotent: %v, status by key: %v, notifies: %v", seed, w.proc.voids,
		w.proc.caps.IdempotentSubmit, w.proc.caps.StatusByKey, w.nrnd != nil)
	for range 1 + w.rnd.IntN(3) {
		w.startNode()
	}
	// Set up calmly: a merchant and its orders.
	w.calm = true
	n := w.live()
	_, key, err := n.svc.CreateMerchant(w.ctx, refund.MerchantInput{Name: fmt.Sprintf("Sim %d", seed)})
	if err != nil {
		t.Fatal(err)
	}
	if w.p, err = n.svc.Authenticate(w.ctx, key); err != nil {
		t.Fatal(err)
	}
	for range 1 + w.rnd.IntN(3) {
		captured := int64(1000 + w.rnd.IntN(20000))
		o, err := n.svc.CreateOrder(w.on(n), w.p, refund.OrderInput{Currency: "KWD", Amount: captured, PaymentMethod: "card",
			Source: refund.Card{Scheme: "visa", LastDigits: "4444"}})
		if err != nil {
			t.Fatal(err)
		}
		w.orders = append(w.orders, &order{id: o.ID, captured: captured})
	}
	w.calm = false
	return w
}

// step takes one random action.
func (w *world) step() {
	switch r := w.rnd.IntN(100); {
	case r < 35:
		w.send(w.newRequest(w.orders[w.rnd.IntN(len(w.orders))]), w.live())
	case r < 50 && len(w.retries) > 0:
		i := w.rnd.IntN(len(w.retries))
		req := w.retries[i]
		w.retries = slices.Delete(w.retries, i, i+1)
		w.fault("client retry")
		w.send(req, w.live())
	case r < 70:
		w.work(w.live())
	case r < 85:
		w.advance(time.Duration(1+w.rnd.IntN(600)) * time.Second)
	case r < 90:
		w.crash(w.live(), "between requests")
	case r < 95:
		w.syncSome(w.live())
	default:
		w.advance(time.Hour)
	}
}

func (w *world) advance(d time.Duration) {
	w.now = w.now.Add(d)
	w.logf("clock +%v", d)
	w.deliver()
}

// work is one worker pass on n.
func (w *world) work(n *node) {
	claimed, err := n.svc.ProcessDue(w.on(n), 10, 1)
	if claimed > 0 || err != nil {
		w.logf("node %d worker pass: %d claimed, err %v", n.id, claimed, err)
	}
}

// syncSome forces a status sync of one refund, as an operator would.
func (w *world) syncSome(n *node) {
	rs := w.refunds()
	if len(rs) == 0 {
		return
	}
	r := rs[w.rnd.IntN(len(rs))]
	got, err := n.svc.SyncRefund(w.on(n), w.p, r.ID)
	if err == nil {
		w.logf("node %d sync %s: %s -> %s", n.id, r.ID, r.Status, got.Status)
	}
}

// refunds reads every refund of the merchant, calmly (straight from the
// store, as the checker).
func (w *world) refunds() []*refund.Refund {
	var rs []*refund.Refund
	err := w.store.Store.View(w.ctx, func(tx refund.Tx) (err error) {
		rs, err = tx.ListRefunds(w.ctx, refund.RefundFilter{MerchantID: w.p.MerchantID, Limit: 1 << 20})
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	slices.SortFunc(rs, func(a, b *refund.Refund) int { return strings.Compare(a.ID, b.ID) })
	return rs
}

// drain turns the faults off, lets the clients finish their retries and
// the workers run until nothing is due, for up to two simulated days; then
// syncs every failed refund once, as a reconciliation would.
func (w *world) drain() {
	w.calm = true
	w.logf("drain: faults off")
	for len(w.retries) > 0 {
		req := w.retries[0]
		w.retries = w.retries[1:]
		if req.sent > 20 {
			w.t.Errorf("seed %d: client request %s never got an answer", w.seed, req.ref)
			continue
		}
		w.advance(15 * time.Second) // the client's backoff
		w.send(req, w.live())
	}
	// Until every refund is final or waits for review and the processor
	// has no late execution left, for at most two simulated days.
	for i := 0; i < 600 && !w.settled(); i++ {
		w.now = w.now.Add(5 * time.Minute) // untraced: up to 600 of these
		w.deliver()
		n := w.live()
		for range 20 {
			if claimed, _ := n.svc.ProcessDue(w.on(n), 50, 1); claimed == 0 {
				break
			}
		}
	}
	n := w.live()
	for _, r := range w.refunds() {
		if r.Status == refund.StatusFailed {
			if _, err := n.svc.SyncRefund(w.on(n), w.p, r.ID); err != nil {
				w.t.Errorf("seed %d: sync of failed refund %s: %v", w.seed, r.ID, err)
			}
		}
	}
}

// settled reports whether nothing is left to happen on its own: every
// refund final or waiting for review, and no late execution pending at
// the processor (one would settle a refund waiting for review).
func (w *world) settled() bool {
	w.proc.dueAll()
	if len(w.notes) > 0 {
		return false
	}
	for _, k := range w.proc.keys {
		if len(k.lateAt) > 0 {
			return false
		}
	}
	for _, r := range w.refunds() {
		switch r.Status {
		case refund.StatusPending, refund.StatusProcessing:
			return false
		case refund.StatusRequiresReview:
			// Its next poll will settle it if the processor has an answer
			// or can void it; otherwise it waits for a person.
			if w.proc.settles(r.ID) {
				return false
			}
		}
	}
	return true
}

// check verifies the invariants and returns how many checks it made and
// the refunds' final states.
func (w *world) check() (int, map[refund.Status]int) {
	t, checks := w.t, 0
	fail := func(format string, args ...any) {
		t.Errorf("seed %d: %s", w.seed, fmt.Sprintf(format, args...))
	}
	rs := w.refunds()
	byID := map[string]*refund.Refund{}
	states := map[refund.Status]int{}
	for _, r := range rs {
		byID[r.ID] = r
		states[r.Status]++
	}
	var discrepancies []*refund.Discrepancy
	if err := w.store.Store.View(w.ctx, func(tx refund.Tx) (err error) {
		discrepancies, err = tx.ListDiscrepancies(w.ctx, refund.DiscrepancyFilter{MerchantID: w.p.MerchantID, Limit: 1 << 20})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The simulated processor is honest: it never executes a key after it
	// answered declined or voided. So refundd must never have failed a
	// refund the processor then executed: a discrepancy, or a failed
	// refund revived as succeeded, means refundd released money while the
	// processor could still pay it out (the customer paid twice, or nearly).
	listed := map[string]bool{}
	for _, d := range discrepancies {
		listed[d.RefundID] = true
		checks++
		fail("discrepancy %s: %s %s (%s)", d.ID, d.Kind, d.RefundID, d.Detail)
	}
	for _, r := range rs {
		var ts []refund.Transition
		if err := w.store.Store.View(w.ctx, func(tx refund.Tx) (err error) {
			ts, err = tx.ListTransitions(w.ctx, r.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		checks += 2
		for _, tr := range ts {
			if tr.From == refund.StatusFailed {
				fail("refund %s was failed (money released), then the processor executed it: %s", r.ID, tr.Cause)
			}
		}
		// Every transition is recorded, with its time and cause: the
		// history is one path from creation to the refund's status.
		var at refund.Status = ""
		for i, tr := range ts {
			if tr.From != at || tr.Cause == "" || tr.At.IsZero() || (i > 0 && tr.At.Before(ts[i-1].At)) {
				fail("refund %s: transition %d %s -> %s at %v (%q) does not follow %q", r.ID, i, tr.From, tr.To, tr.At, tr.Cause, at)
				break
			}
			at = tr.To
		}
		if at != r.Status {
			fail("refund %s is %s, its recorded transitions end at %q", r.ID, r.Status, at)
		}
	}

	// Nothing executed twice; nothing executed that refundd does not know.
	executed := map[string]int64{}
	times := map[string]int{}
	for _, e := range w.proc.log {
		times[e.key]++
		executed[e.key] += e.amount
	}
	for _, key := range slices.Sorted(mapKeys(times)) {
		checks += 2
		if times[key] > 1 {
			fail("the processor executed %s %d times", key, times[key])
		}
		if byID[key] == nil {
			fail("the processor executed %s, which refundd does not know", key)
		}
	}
	// A request sent with an idempotency key or a merchant reference made
	// at most one refund, however often it was retried.
	made := map[string][]string{}
	for _, r := range rs {
		if !strings.HasPrefix(r.Reason, "none ") {
			made[r.Reason] = append(made[r.Reason], r.ID)
		}
	}
	for _, reason := range slices.Sorted(mapKeys(made)) {
		checks++
		if len(made[reason]) > 1 {
			fail("client request %q made %d refunds: %v", reason, len(made[reason]), made[reason])
		}
	}
	// Every acknowledged refund exists.
	for _, id := range slices.Sorted(mapKeys(w.acked)) {
		checks++
		if byID[id] == nil {
			fail("acknowledged refund %s does not exist", id)
		}
	}
	// Every refund is final or waits for review; what the processor did and
	// what refundd recorded agree, or the difference is listed.
	for _, r := range rs {
		checks += 2
		_, wasExecuted := executed[r.ID]
		switch r.Status {
		case refund.StatusSucceeded:
			if !wasExecuted {
				fail("refund %s is succeeded but the processor never executed it", r.ID)
			}
		case refund.StatusRequiresReview:
			// Its money is held, and it is listed as needing a person: only
			// while the processor cannot settle it. One the processor has
			// answered (or can void) is settled by the review poll; still
			// waiting after the drain, nobody asked, and a person is sent
			// to settle by hand what the processor would have told.
			if w.proc.settles(r.ID) {
				fail("refund %s still waits for review, though the processor %s", r.ID, w.proc.answer(r.ID))
			}
		case refund.StatusFailed, refund.StatusCanceled:
			if wasExecuted && !listed[r.ID] {
				fail("refund %s is %s, the processor executed it, and nothing lists the difference", r.ID, r.Status)
			}
		default:
			fail("refund %s is still %s after the drain", r.ID, r.Status)
		}
	}
	// Per order: the counters are the refunds' sums, and never over.
	for _, o := range w.orders {
		var got *refund.Order
		if err := w.store.Store.View(w.ctx, func(tx refund.Tx) (err error) {
			got, err = tx.GetOrder(w.ctx, w.p.MerchantID, o.id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var refunded, held int64
		for _, r := range rs {
			if r.OrderID != o.id {
				continue
			}
			switch r.Status {
			case refund.StatusSucceeded:
				refunded += r.Amount
			case refund.StatusPending, refund.StatusProcessing, refund.StatusRequiresReview:
				held += r.Amount
			}
		}
		checks += 3
		if got.RefundedAmount+got.PendingRefundAmount > got.CapturedAmount {
			fail("order %s over-refunded: refunded %d + pending %d > captured %d", o.id, got.RefundedAmount, got.PendingRefundAmount, got.CapturedAmount)
		}
		if got.RefundedAmount != refunded {
			fail("order %s: refunded_amount %d, its succeeded refunds add up to %d", o.id, got.RefundedAmount, refunded)
		}
		if got.PendingRefundAmount != held {
			fail("order %s: pending %d, its open refunds add up to %d", o.id, got.PendingRefundAmount, held)
		}
	}
	return checks, states
}
