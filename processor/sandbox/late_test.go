package sandbox

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
)

// shortCtx is a call whose caller gives up as soon as it waits: a late
// refund is never answered, so its Refund returns when the context ends.
// Its deadline is already due, but it reports so only once the call waits
// on Done: the call is always made, however slow the machine (a 1 ms
// timeout could expire before Refund even looked at it).
func shortCtx(*testing.T) context.Context { return &givesUp{Context: context.Background()} }

type givesUp struct {
	context.Context
	waited atomic.Bool
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *givesUp) Deadline() (time.Time, bool) { return time.Unix(0, 0), true }
func (c *givesUp) Done() <-chan struct{}       { c.waited.Store(true); return closed }
func (c *givesUp) Err() error {
	if c.waited.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

// A late refund: no answer, "not found" until its delay has passed, then
// executed exactly once, however often it was resubmitted meanwhile.
func TestLate_ExecutesOnceAfterItsDelay(t *testing.T) {
	clock := newClock()
	a := New(Config{Now: clock.Now, LateRate: 1, LateDelay: time.Minute})
	for i := range 3 {
		if _, err := a.Refund(shortCtx(t), card("late-1", "4444")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("submission %d answered: %v", i, err)
		}
		if _, err := a.Status(context.Background(), "late-1"); !errors.Is(err, processor.ErrNotFound) {
			t.Fatalf("status before the delay: %v, want not found", err)
		}
		clock.Advance(15 * time.Second) // resubmissions do not restart the delay
	}
	if n := len(a.Executions()); n != 0 {
		t.Fatalf("%d executions before the delay", n)
	}
	clock.Advance(15 * time.Second)
	res, err := a.Status(context.Background(), "late-1")
	if err != nil {
		t.Fatal(err)
	}
	checkApproved(t, res)
	if _, err := a.Refund(context.Background(), card("late-1", "4444")); err != nil {
		t.Fatalf("resubmission after execution: %v", err)
	}
	log := a.Executions()
	if len(log) != 1 || log[0].Key != "late-1" || !log[0].ExecutedAt.Equal(newClock().Now().Add(time.Minute)) {
		t.Fatalf("execution log %+v, want one row at the due time", log)
	}
	if DoubleExecutions(log) != nil {
		t.Fatalf("double executions in %+v", log)
	}
}

// Which keys are late depends on the key alone: a rate between 0 and 1
// makes some late and some not, the same way every run.
func TestLate_RateIsPerKeyAndStable(t *testing.T) {
	a := New(Config{LateRate: 0.5, LateDelay: time.Minute})
	b := New(Config{LateRate: 0.5, LateDelay: time.Minute})
	late := 0
	for i := range 200 {
		key := "re_" + string(rune('a'+i%26)) + time.Duration(i).String()
		if a.late(key) != b.late(key) {
			t.Fatalf("key %s late on one acquirer, not the other", key)
		}
		if a.late(key) {
			late++
		}
	}
	if late < 60 || late > 140 {
		t.Fatalf("%d of 200 keys late at rate 0.5", late)
	}
}

// Void: an unexecuted key (never seen, or late) is voided and never
// executes; an executed key answers its result and stays executed.
func TestVoid(t *testing.T) {
	clock := newClock()
	a := New(Config{Now: clock.Now, LateRate: 1, LateDelay: time.Minute})
	a.Refund(shortCtx(t), card("late-void", "4444"))
	for _, key := range []string{"late-void", "never-seen"} {
		res, err := a.Void(context.Background(), key)
		if err != nil || res.Status != processor.Voided {
			t.Fatalf("void %s: %+v %v", key, res, err)
		}
	}
	clock.Advance(time.Hour)
	if n := len(a.Executions()); n != 0 {
		t.Fatalf("a voided key executed: %+v", a.Executions())
	}
	res, err := a.Status(context.Background(), "late-void")
	if err != nil || res.Status != processor.Voided {
		t.Fatalf("status of a voided key: %+v %v", res, err)
	}
	res, err = a.Refund(context.Background(), card("never-seen", "4444"))
	if err != nil || res.Status != processor.Declined {
		t.Fatalf("submission of a voided key: %+v %v, want declined", res, err)
	}
	// An executed key cannot be voided.
	b := New(Config{Now: clock.Now})
	if _, err := b.Refund(context.Background(), card("done", "4444")); err != nil {
		t.Fatal(err)
	}
	res, err = b.Void(context.Background(), "done")
	if err != nil || res.Status != processor.Approved {
		t.Fatalf("void of an executed key: %+v %v, want its approval", res, err)
	}
	if n := len(b.Executions()); n != 1 {
		t.Fatalf("%d executions, want 1", n)
	}
}

// The check over the execution log can fail: a log with one key twice is
// a double execution.
func TestDoubleExecutions(t *testing.T) {
	at := newClock().Now()
	for _, tc := range []struct {
		log  []LogEntry
		want []string
	}{
		{nil, nil},
		{[]LogEntry{{Seq: 1, Key: "a", ExecutedAt: at}, {Seq: 2, Key: "b", ExecutedAt: at}}, nil},
		{[]LogEntry{{Seq: 1, Key: "a"}, {Seq: 2, Key: "b"}, {Seq: 3, Key: "a"}}, []string{"a"}},
	} {
		got := DoubleExecutions(tc.log)
		if len(got) != len(tc.want) || (len(got) == 1 && got[0] != tc.want[0]) {
			t.Fatalf("DoubleExecutions(%+v) = %v, want %v", tc.log, got, tc.want)
		}
	}
}

// Reverse turns an approved refund into a reversed one and says so
// through OnFinal, as every final answer is; nothing else reverses.
func TestReverse(t *testing.T) {
	var told []processor.Status
	a := New(Config{OnFinal: func(key string, _ int64, _ string, res processor.Result) { told = append(told, res.Status) }})
	ctx := context.Background()
	if _, err := a.Refund(ctx, card("ok", "4444")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Refund(ctx, card("no", CardDoNotHonor)); err != nil {
		t.Fatal(err)
	}
	res, err := a.Reverse(ctx, "ok")
	if err != nil || res.Status != processor.Reversed {
		t.Fatalf("reverse: %+v %v", res, err)
	}
	if res, err := a.Status(ctx, "ok"); err != nil || res.Status != processor.Reversed {
		t.Fatalf("status after the reversal: %+v %v", res, err)
	}
	// The ledger lists what executed, as approved, declined or pending:
	// a reversal does not undo an execution, and says so apart.
	listed := map[string]Execution{}
	for _, x := range a.Executed() {
		listed[x.IdempotencyKey] = x
	}
	if ok, no := listed["ok"], listed["no"]; len(listed) != 2 || ok.Status != processor.Approved || !ok.Reversed ||
		no.Status != processor.Declined || no.Reversed {
		t.Fatalf("the ledger lists %+v", listed)
	}
	if _, err := a.Reverse(ctx, "no"); !errors.Is(err, ErrNotReversible) {
		t.Fatalf("reverse of a decline: %v", err)
	}
	if _, err := a.Reverse(ctx, "never"); !errors.Is(err, processor.ErrNotFound) {
		t.Fatalf("reverse of an unknown key: %v", err)
	}
	want := []processor.Status{processor.Approved, processor.Declined, processor.Reversed}
	if len(told) != len(want) || told[0] != want[0] || told[1] != want[1] || told[2] != want[2] {
		t.Fatalf("OnFinal was told %v, want %v", told, want)
	}
}

// A real acquirer executes a late refund, and settles a wallet refund,
// when their time comes, and notifies then; nobody has to ask about the
// key first. RunDue is that moment: before it, no notification of a
// late execution could arrive before refundd's own lookup, which then
// answered it anyway, so a late notification was never exercised.
func TestRunDue_ExecutesAndNotifiesWithoutACall(t *testing.T) {
	clock := newClock()
	var told []string
	a := New(Config{Now: clock.Now, LateRate: 1, LateDelay: time.Minute, SettleDelay: 30 * time.Second,
		OnFinal: func(key string, _ int64, _ string, res processor.Result) {
			told = append(told, key+" "+string(res.Status))
		}})
	if _, err := a.Refund(shortCtx(t), card("late-1", "4444")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a late refund answered: %v", err)
	}
	if res, err := a.Refund(context.Background(), wallet("wallet-1", MethodSTCPay)); err != nil || res.Status != processor.Pending {
		t.Fatalf("wallet: %+v %v", res, err)
	}
	a.RunDue()
	if len(told) != 0 {
		t.Fatalf("told %v before anything was due", told)
	}
	clock.Advance(time.Minute)
	a.RunDue()
	if want := "[late-1 approved wallet-1 approved]"; fmt.Sprint(told) != want {
		t.Fatalf("told %v, want %s", told, want)
	}
	a.RunDue() // once each
	if len(told) != 2 {
		t.Fatalf("told %v", told)
	}
	checkLog(t, a, 2)
}
