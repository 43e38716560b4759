// Package sandbox is a simulated acquirer that runs in-process and
// implements processor.Processor (DESIGN.md §5).
//
// Its answer follows the order's card last four digits or payment method:
//
//	last4 0051      declined, 51 Insufficient funds
//	last4 0005      declined, 05 Do not honor
//	last4 0091      transient 91 (issuer or switch inoperative) on the first
//	                2 attempts for a key, approved on the 3rd
//	last4 0099      no answer: Refund waits for ctx to end; Status then
//	                approves the refund
//	method stcpay   accepted as pending, approved once Config.SettleDelay has
//	                passed on the injected clock
//	anything else   approved, 00, with RRN, STAN, auth code and ARN
//
// The acquirer keeps a ledger keyed by idempotency key: a replayed Refund
// returns the stored answer and never executes twice (unless
// Config.ExecuteResubmissions makes it a processor that would); a replay whose amount
// or currency differs is refused with ErrKeyMismatch. Executed lists what was
// executed so that tests can count it. All methods are safe for concurrent
// use.
//
// By default the ledger lives in memory. With Config.Journal every change
// to an entry is written through the journal before the acquirer answers,
// and Config.Ledger restores a journal's entries: the sandbox service keeps
// its ledger in a file this way, so a restarted acquirer still answers
// replays and status checks for refunds it executed before.
package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
)

// Card last four digits (and the wallet method) that select a behaviour.
const (
	CardInsufficientFunds = "0051" // declined, 51
	CardDoNotHonor        = "0005" // declined, 05
	CardIssuerUnavailable = "0091" // transient 91 twice, then approved
	CardNoAnswer          = "0099" // times out until asked for status
	MethodSTCPay          = "stcpay"
)

// DefaultSettleDelay is the wallet settlement delay when Config leaves it zero.
const DefaultSettleDelay = 2 * time.Second

// issuerUnavailableAttempts is how many 0091 attempts fail before approval.
const issuerUnavailableAttempts = 2

// ErrKeyMismatch is returned by Refund when an idempotency key is replayed
// with an amount or currency different from the request it first carried.
// It is not a processor.TransientError; the acquirer executes nothing.
var ErrKeyMismatch = errors.New("sandbox: idempotency key reused with a different amount or currency")

// Clock tells the current time.
type Clock func() time.Time

// Config of an Acquirer. Zero values take the documented defaults.
type Config struct {
	// Now is the clock used for execution times and settlement
	// (default time.Now).
	Now Clock
	// SettleDelay is how long a wallet (stcpay) refund stays pending after it
	// was accepted, measured on Now (default 2s). A negative delay settles
	// it at the first look after acceptance.
	SettleDelay time.Duration
	// Journal, when set, records every ledger change before it is
	// answered. A journal error answers a transient error and leaves the
	// ledger as it was.
	Journal Journal
	// Ledger is the acquirer's starting ledger (what a journal holds);
	// each record must pass Record.Check.
	Ledger []Record
	// Log is the acquirer's starting execution log (what a journal holds).
	Log []LogEntry
	// LateRate is the share of refunds (0..1) executed late: the request is
	// never answered, Status answers "not found" until LateDelay after it,
	// and then the refund executes, once. Which keys are late follows from
	// the key itself, so a run is reproducible.
	LateRate  float64
	LateDelay time.Duration
	// OnFinal, when set, is told each time a key gets a final answer
	// (approved, declined) or is reversed: what a real acquirer would send
	// as a notification, naming the key's amount and currency. It is
	// called with the acquirer locked and must not block (queue it).
	OnFinal func(key string, amount int64, currency string, res processor.Result)
	// ExecuteResubmissions makes the acquirer one without idempotent
	// submission: a key it already approved, submitted again, is executed
	// again (a new reference and a second row in the execution log), as
	// by a processor that ignores or does not take a key. refundd must then
	// ask before it resubmits; tests run it so that a blind resubmission
	// shows as a key executed twice instead of being absorbed here.
	ExecuteResubmissions bool
}

// Journal durably records ledger entries and the execution log.
type Journal interface {
	// Save records r, replacing its key's record, and, when the change
	// moved money, appends l to the execution log (rows are never
	// changed): both or neither, or the ledger could say a key was paid
	// that the log, by which executions are counted, does not show.
	Save(r Record, l *LogEntry) error
}

// LogEntry is one row of the append-only execution log: one per time
// money moved. The ledger is keyed by idempotency key and so can never
// show a key executed twice; the log would.
type LogEntry struct {
	Seq        uint64           `json:"seq"`
	Key        string           `json:"idempotency_key"`
	Amount     int64            `json:"amount"`
	Currency   string           `json:"currency"`
	Status     processor.Status `json:"status"`
	ExecutedAt time.Time        `json:"executed_at"`
}

// Record is the durable form of one ledger entry, keyed by idempotency key.
type Record struct {
	Key        string
	Amount     int64
	Currency   string
	State      string // received (0099, unanswered), pending (wallet) or final
	Result     processor.Result
	ExecutedAt time.Time
	SettleAt   time.Time
	Attempts   int
	Seq        uint64 // the reference sequence number of Result
}

// Check reports a record the acquirer cannot restore. New would restore
// a state it does not know as received (an unanswered 0099 refund), which
// a status lookup then approves: a journal refuses such a record instead.
func (r Record) Check() error {
	for _, name := range stateNames {
		if name == r.State {
			return nil
		}
	}
	return fmt.Errorf("sandbox: ledger record %q has unknown state %q", r.Key, r.State)
}

// Execution is one refund the acquirer executed.
type Execution struct {
	IdempotencyKey string
	Amount         int64
	Currency       string
	// Status is what the execution answered: approved, declined or
	// pending (a wallet refund not settled yet as of the clock). A
	// reversal later does not undo the execution: it stays approved and
	// is Reversed.
	Status processor.Status
	// Reversed says an approved refund was reversed since (Reverse).
	Reversed bool
	// ExecutedAt is when the acquirer executed it: when it answered
	// approved or declined, accepted it as pending, or (0099) approved it on
	// a status request.
	ExecutedAt time.Time
	// Attempts counts the Refund calls received for the key, including
	// transient failures, unanswered calls and replays.
	Attempts int
}

// Acquirer is the in-process sandbox acquirer. Create it with New.
type Acquirer struct {
	now         Clock
	settleDelay time.Duration
	journal     Journal

	lateRate  float64
	lateDelay time.Duration
	onFinal   func(key string, amount int64, currency string, res processor.Result)
	again     bool // ExecuteResubmissions

	mu       sync.Mutex
	ledger   map[string]*entry // by idempotency key
	attempts map[string]int    // Refund calls per key
	seq      uint64            // reference number sequence
	log      []LogEntry        // append-only execution log
}

var (
	_ processor.Processor = (*Acquirer)(nil)
	_ processor.Voider    = (*Acquirer)(nil)
)

type state int

const (
	stateReceived state = iota // 0099: recorded, not answered, not executed
	statePending               // wallet: executed, awaiting settlement
	stateFinal                 // executed, final answer in result
	stateLate                  // received, not answered; executes with result at settleAt
	stateVoided                // voided before it executed: never executes
)

var stateNames = map[state]string{stateReceived: "received", statePending: "pending", stateFinal: "final",
	stateLate: "late", stateVoided: "voided"}

type entry struct {
	seq        uint64
	amount     int64
	currency   string
	state      state
	result     processor.Result
	executedAt time.Time
	settleAt   time.Time // statePending: settlement; stateLate: execution
}

// New returns an Acquirer with an empty ledger.
func New(cfg Config) *Acquirer {
	a := &Acquirer{
		now:         cfg.Now,
		settleDelay: cfg.SettleDelay,
		journal:     cfg.Journal,
		lateRate:    cfg.LateRate,
		lateDelay:   cfg.LateDelay,
		onFinal:     cfg.OnFinal,
		again:       cfg.ExecuteResubmissions,
		ledger:      make(map[string]*entry),
		attempts:    make(map[string]int),
		log:         slices.Clone(cfg.Log),
	}
	for _, r := range cfg.Ledger {
		e := &entry{seq: r.Seq, amount: r.Amount, currency: r.Currency, result: r.Result,
			executedAt: r.ExecutedAt, settleAt: r.SettleAt}
		for st, name := range stateNames {
			if name == r.State {
				e.state = st
			}
		}
		a.ledger[r.Key] = e
		a.attempts[r.Key] = r.Attempts
		a.seq = max(a.seq, r.Seq)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.settleDelay == 0 {
		a.settleDelay = DefaultSettleDelay
	}
	return a
}

// Refund submits a refund. See the package documentation for the answers.
// A request with an empty idempotency key, a non-positive amount or a
// currency that is no ISO 4217 code is declined (30 Format error, 13
// Invalid amount, 30) without being recorded: a refund in a currency the
// acquirer cannot name it could not report either. A currency is taken in
// any case and kept upper-case. A context already done executes nothing
// and returns its error.
func (a *Acquirer) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	if err := ctx.Err(); err != nil {
		return processor.Result{}, err
	}
	switch {
	case req.IdempotencyKey == "":
		return processor.Result{Status: processor.Declined, ResponseCode: "30", Message: "Format error"}, nil
	case req.Amount <= 0:
		return processor.Result{Status: processor.Declined, ResponseCode: "13", Message: "Invalid amount"}, nil
	}
	c, err := money.LookupCurrency(strings.ToUpper(req.Currency))
	if err != nil {
		return processor.Result{Status: processor.Declined, ResponseCode: "30", Message: "Format error: unknown currency"}, nil
	}
	req.Currency = c.Code

	a.mu.Lock()
	res, noAnswer, err := a.refundLocked(req)
	a.mu.Unlock()
	if noAnswer {
		return a.wait(ctx, req.IdempotencyKey)
	}
	return res, err
}

// refundLocked runs a Refund under a.mu. noAnswer reports a 0099 refund the
// acquirer received but does not answer.
func (a *Acquirer) refundLocked(req processor.Request) (res processor.Result, noAnswer bool, err error) {
	key := req.IdempotencyKey
	now := a.now()
	a.attempts[key]++

	if e, ok := a.ledger[key]; ok {
		if e.state == stateVoided {
			return processor.Result{Status: processor.Declined, ResponseCode: "12",
				Message: "Invalid transaction: the idempotency key was voided"}, false, nil
		}
		if e.amount != req.Amount || !strings.EqualFold(e.currency, req.Currency) {
			return processor.Result{}, false, fmt.Errorf("%w: key %q was %d %s, replayed with %d %s",
				ErrKeyMismatch, key, e.amount, e.currency, req.Amount, req.Currency)
		}
		if err := a.due(key, e, now); err != nil {
			return processor.Result{}, false, err
		}
		switch e.state {
		case stateReceived, stateLate:
			// The same request, still unanswered: nothing new happens.
			return processor.Result{}, true, nil
		}
		if a.again && e.state == stateFinal && e.result.Status == processor.Approved {
			// No idempotent submission: the same money moves again.
			next := *e
			next.executedAt, next.result = now, a.approved(now)
			next.seq = a.seq
			if _, err := a.put(key, next); err != nil {
				return processor.Result{}, false, err
			}
			return next.result, false, nil
		}
		if err := a.settle(key, e, now); err != nil {
			return processor.Result{}, false, err
		}
		return e.result, false, nil
	}

	e := &entry{amount: req.Amount, currency: req.Currency, state: stateFinal, executedAt: now}
	late := a.late(key) && req.CardLast4 != CardNoAnswer && req.CardLast4 != CardIssuerUnavailable &&
		!strings.EqualFold(req.PaymentMethod, MethodSTCPay)
	if late {
		// Decided now, executed (and logged) at settleAt; until then the
		// acquirer neither answers nor admits to having it.
		e.state, e.settleAt, e.executedAt = stateLate, now.Add(a.lateDelay), now.Add(a.lateDelay)
		now = e.settleAt
	}
	switch {
	case req.CardLast4 == CardInsufficientFunds:
		e.result = a.declined(now, "51", "Insufficient funds")
	case req.CardLast4 == CardDoNotHonor:
		e.result = a.declined(now, "05", "Do not honor")
	case req.CardLast4 == CardIssuerUnavailable && a.attempts[key] <= issuerUnavailableAttempts:
		return processor.Result{}, false, &processor.TransientError{Code: "91", Message: "Issuer or switch inoperative"}
	case req.CardLast4 == CardNoAnswer:
		if _, err := a.put(key, entry{amount: req.Amount, currency: req.Currency, state: stateReceived}); err != nil {
			return processor.Result{}, false, err
		}
		return processor.Result{}, true, nil
	case strings.EqualFold(req.PaymentMethod, MethodSTCPay):
		e.state = statePending
		e.settleAt = now.Add(a.settleDelay)
		e.result = processor.Result{Status: processor.Pending, Message: "Accepted, settlement pending", ExecutedAt: now}
	default:
		e.result = a.approved(now)
	}
	e.seq = a.seq
	if _, err := a.put(key, *e); err != nil {
		return processor.Result{}, false, err
	}
	if late {
		return processor.Result{}, true, nil
	}
	return e.result, false, nil
}

// late reports whether key is one of the LateRate share executed late,
// from a hash of the key: the same key is always late or always not.
func (a *Acquirer) late(key string) bool {
	if a.lateRate <= 0 {
		return false
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return float64(h.Sum64())/math.MaxUint64 < a.lateRate
}

// due executes a late refund whose time has come. Called under a.mu.
func (a *Acquirer) due(key string, e *entry, now time.Time) error {
	if e.state != stateLate || now.Before(e.settleAt) {
		return nil
	}
	next := *e
	next.state = stateFinal
	_, err := a.put(key, next)
	return err
}

// put makes next key's ledger entry: written through the journal first,
// with the execution log's row when it is an approval just given (both or
// neither), then kept in memory, in place of the key's entry so pointers
// to it stay good; then OnFinal is told of a final answer just given.
// Called under a.mu.
func (a *Acquirer) put(key string, next entry) (*entry, error) {
	e := a.ledger[key]
	final := next.state == stateFinal && (e == nil || e.state != stateFinal)
	// An approval under a reference number the key did not have is money
	// moving: the first, or (ExecuteResubmissions) a resubmission's.
	again := next.state == stateFinal && e != nil && e.state == stateFinal && next.seq != e.seq
	var l *LogEntry
	if (final || again) && next.result.Status == processor.Approved {
		l = &LogEntry{Seq: uint64(len(a.log)) + 1, Key: key, Amount: next.amount, Currency: next.currency,
			Status: next.result.Status, ExecutedAt: next.executedAt}
	}
	if a.journal != nil {
		err := a.journal.Save(Record{Key: key, Amount: next.amount, Currency: next.currency, State: stateNames[next.state],
			Result: next.result, ExecutedAt: next.executedAt, SettleAt: next.settleAt, Attempts: a.attempts[key], Seq: next.seq}, l)
		if err != nil {
			return e, &processor.TransientError{Code: "96", Message: "System malfunction: ledger write failed: " + err.Error()}
		}
	}
	if e == nil {
		e = &entry{}
		a.ledger[key] = e
	}
	*e = next
	if l != nil {
		a.log = append(a.log, *l)
	}
	if (final || again) && a.onFinal != nil {
		a.onFinal(key, e.amount, e.currency, e.result)
	}
	return e, nil
}

// Void voids key if it has not executed: a late or unanswered request is
// dropped and the key will never execute (a later submission of it is
// declined). An executed key answers its result and nothing changes.
func (a *Acquirer) Void(ctx context.Context, key string) (processor.Result, error) {
	if err := ctx.Err(); err != nil {
		return processor.Result{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	e, ok := a.ledger[key]
	if !ok {
		e = &entry{state: stateReceived}
	}
	if err := a.due(key, e, now); err != nil {
		return processor.Result{}, err
	}
	switch e.state {
	case stateReceived, stateLate:
		next := *e
		next.state, next.result = stateVoided, processor.Result{Status: processor.Voided, Message: "Voided", ExecutedAt: now}
		var err error
		if e, err = a.put(key, next); err != nil {
			return processor.Result{}, err
		}
	}
	if err := a.settle(key, e, now); err != nil {
		return processor.Result{}, err
	}
	return e.result, nil
}

// ErrNotReversible is Reverse's answer for a key that was not approved.
var ErrNotReversible = errors.New("sandbox: only an approved refund can be reversed")

// Reverse reverses an approved refund, as an acquirer does when the
// issuer returns it: Status answers reversed from then on, and OnFinal is
// told. A key never executed answers processor.ErrNotFound.
func (a *Acquirer) Reverse(ctx context.Context, key string) (processor.Result, error) {
	if err := ctx.Err(); err != nil {
		return processor.Result{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.ledger[key]
	if !ok {
		return processor.Result{}, processor.ErrNotFound
	}
	now := a.now()
	if err := a.due(key, e, now); err != nil {
		return processor.Result{}, err
	}
	if err := a.settle(key, e, now); err != nil {
		return processor.Result{}, err
	}
	switch {
	case e.state == stateFinal && e.result.Status == processor.Reversed:
		return e.result, nil
	case e.state != stateFinal || e.result.Status != processor.Approved:
		if e.state == stateLate || e.state == stateReceived {
			return processor.Result{}, processor.ErrNotFound
		}
		return processor.Result{}, ErrNotReversible
	}
	next := *e
	next.result.Status, next.result.Message = processor.Reversed, "Reversed"
	if _, err := a.put(key, next); err != nil {
		return processor.Result{}, err
	}
	if a.onFinal != nil { // final before as after: put does not tell
		a.onFinal(key, e.amount, e.currency, e.result)
	}
	return e.result, nil
}

// Executions returns the execution log, oldest first, after executing the
// late refunds whose time has come.
func (a *Acquirer) Executions() []LogEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dueAll()
	return slices.Clone(a.log)
}

// RunDue does what has come due without anyone asking: late refunds whose
// time has come execute and wallet refunds whose delay has passed settle,
// each told to OnFinal, in key order. A real acquirer does this on its
// own clock; a service calls RunDue on a ticker, or a late execution
// would wait for the next call about its key and its notification would
// never come first. A journal error leaves the entry as it was, to be
// tried on the next run.
func (a *Acquirer) RunDue() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for _, key := range a.waiting() {
		e := a.ledger[key]
		if a.due(key, e, now) == nil {
			a.settle(key, e, now)
		}
	}
}

// dueAll executes every late refund whose time has come. Called under a.mu.
func (a *Acquirer) dueAll() {
	now := a.now()
	for _, key := range a.waiting() {
		a.due(key, a.ledger[key], now) // a journal error leaves it late: shown as it is
	}
}

// waiting lists the keys whose entry waits for its time (a late refund,
// a wallet refund not settled), in key order so the log is the same on
// every run: RunDue's ticker looks at these, not at every key the ledger
// ever took. Called under a.mu.
func (a *Acquirer) waiting() []string {
	var keys []string
	for key, e := range a.ledger {
		if e.state == stateLate || e.state == statePending {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

// wait is the 0099 non-answer: it waits for ctx to end. A context without a
// deadline would wait forever, so it fails at once as a timeout.
func (a *Acquirer) wait(ctx context.Context, key string) (processor.Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		return processor.Result{}, fmt.Errorf("sandbox: no answer for %q: %w", key, context.DeadlineExceeded)
	}
	<-ctx.Done()
	return processor.Result{}, ctx.Err()
}

// Status reports the stored answer for a key, settling a wallet refund whose
// delay has passed. A 0099 refund that was received but not answered is
// approved (executed) by this call. A key never executed, including 0091
// attempts that failed, returns processor.ErrNotFound.
func (a *Acquirer) Status(ctx context.Context, idempotencyKey string) (processor.Result, error) {
	if err := ctx.Err(); err != nil {
		return processor.Result{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.ledger[idempotencyKey]
	if !ok {
		return processor.Result{}, processor.ErrNotFound
	}
	now := a.now()
	if err := a.due(idempotencyKey, e, now); err != nil {
		return processor.Result{}, err
	}
	switch e.state {
	case stateLate:
		return processor.Result{}, processor.ErrNotFound
	case stateVoided:
		return e.result, nil
	}
	if e.state == stateReceived {
		next := *e
		next.state, next.executedAt, next.result = stateFinal, now, a.approved(now)
		next.seq = a.seq
		if _, err := a.put(idempotencyKey, next); err != nil {
			return processor.Result{}, err
		}
	}
	if err := a.settle(idempotencyKey, e, now); err != nil {
		return processor.Result{}, err
	}
	return e.result, nil
}

// Amount answers the amount and currency key was submitted with, false
// for a key never submitted.
func (a *Acquirer) Amount(key string) (int64, string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.ledger[key]
	if !ok || e.amount <= 0 {
		return 0, "", false
	}
	return e.amount, e.currency, true
}

// Executed returns what the acquirer executed, ordered by execution time
// then idempotency key. Wallet refunds whose delay has passed are settled
// first, so their Status is as of the clock.
func (a *Acquirer) Executed() []Execution {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.dueAll()
	out := make([]Execution, 0, len(a.ledger))
	for key, e := range a.ledger {
		if e.state == stateReceived || e.state == stateLate || e.state == stateVoided {
			continue
		}
		a.settle(key, e, now) // a journal error leaves it pending: shown as it is
		x := Execution{
			IdempotencyKey: key,
			Amount:         e.amount,
			Currency:       e.currency,
			Status:         e.result.Status,
			ExecutedAt:     e.executedAt,
			Attempts:       a.attempts[key],
		}
		if x.Status == processor.Reversed {
			x.Status, x.Reversed = processor.Approved, true
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(x, y Execution) int {
		if c := x.ExecutedAt.Compare(y.ExecutedAt); c != 0 {
			return c
		}
		return cmp.Compare(x.IdempotencyKey, y.IdempotencyKey)
	})
	return out
}

// settle approves a pending wallet refund once now reaches its settlement
// time. The approval's ExecutedAt is the settlement time. Called under a.mu.
func (a *Acquirer) settle(key string, e *entry, now time.Time) error {
	if e.state != statePending || now.Before(e.settleAt) {
		return nil
	}
	next := *e
	next.state, next.result = stateFinal, a.approved(e.settleAt)
	next.seq = a.seq
	_, err := a.put(key, next)
	return err
}

// approved assigns fresh reference numbers. Called under a.mu.
func (a *Acquirer) approved(at time.Time) processor.Result {
	seq := a.next()
	return processor.Result{
		Status:       processor.Approved,
		ResponseCode: "00",
		Message:      "Approved",
		RRN:          rrn(at, seq),
		STAN:         stan(seq),
		AuthCode:     authCode(seq),
		ARN:          arn(at, seq),
		ExecutedAt:   at,
	}
}

// declined answers a decline; like a real acquirer it carries an RRN and a
// STAN but no auth code or ARN. Called under a.mu.
func (a *Acquirer) declined(at time.Time, code, msg string) processor.Result {
	seq := a.next()
	return processor.Result{
		Status:       processor.Declined,
		ResponseCode: code,
		Message:      msg,
		RRN:          rrn(at, seq),
		STAN:         stan(seq),
		ExecutedAt:   at,
	}
}

func (a *Acquirer) next() uint64 {
	a.seq++
	return a.seq
}

// julian is the YDDD date (last digit of the year, day of the year) used in
// RRNs and ARNs.
func julian(t time.Time) string {
	return fmt.Sprintf("%d%03d", t.Year()%10, t.YearDay())
}

// rrn is 12 digits: YDDD and an 8-digit sequence (unique for 10^8
// executions of one acquirer).
func rrn(at time.Time, seq uint64) string {
	return julian(at) + fmt.Sprintf("%08d", seq%100_000_000)
}

// stan is 6 digits, 000001 to 999999, cycling like a real trace number.
func stan(seq uint64) string {
	return fmt.Sprintf("%06d", (seq-1)%999_999+1)
}

// authCode is 6 uppercase alphanumerics, a bijection of seq modulo 36^6 so
// that consecutive codes do not look consecutive.
func authCode(seq uint64) string {
	const space = 36 * 36 * 36 * 36 * 36 * 36
	// 2654435761 is coprime to 36^6 (odd, not a multiple of 3).
	v := (seq*2654435761 + 0x5EED) % space
	s := strings.ToUpper(strconv.FormatUint(v, 36))
	return strings.Repeat("0", 6-len(s)) + s
}

// sandboxBIN is the acquirer BIN embedded in ARNs.
const sandboxBIN = "400000"

// arn is 23 digits laid out like a card-scheme acquirer reference number:
// format code 7, acquirer BIN (6), YDDD (4), sequence (11), Luhn check digit.
func arn(at time.Time, seq uint64) string {
	body := "7" + sandboxBIN + julian(at) + fmt.Sprintf("%011d", seq%100_000_000_000)
	return body + luhn(body)
}

// luhn returns the Luhn check digit for digits.
func luhn(digits string) string {
	sum := 0
	double := true // the rightmost digit of the body is doubled
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return strconv.Itoa((10 - sum%10) % 10)
}

// DoubleExecutions returns the keys that appear more than once in an
// execution log: refunds that moved money twice. Tests call it on what
// the acquirer reports.
func DoubleExecutions(log []LogEntry) []string {
	seen := map[string]int{}
	var twice []string
	for _, l := range log {
		if seen[l.Key]++; seen[l.Key] == 2 {
			twice = append(twice, l.Key)
		}
	}
	return twice
}
