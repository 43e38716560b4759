package sandbox

import (
	"context"
	"errors"
	"testing"

	"github.com/refundd/refundd/processor"
)

// logFails is a journal whose execution log cannot be written (a full
// disk): a change that moves money fails whole; the others are kept.
type logFails struct{ saved []Record }

func (j *logFails) Save(r Record, l *LogEntry) error {
	if l != nil {
		return errors.New("disk full")
	}
	j.saved = append(j.saved, r)
	return nil
}

// The execution log is what tests count executions by: a ledger that
// says a key was approved while the log has no row for it hides an
// execution. A failed write must leave the key unexecuted in both, and
// the answer a transient error.
func TestJournal_LedgerAndLogTogether(t *testing.T) {
	j := &logFails{}
	a := New(Config{Now: newClock().Now, Journal: j})
	_, err := a.Refund(context.Background(), card("r1", "4444"))
	var te *processor.TransientError
	if !errors.As(err, &te) || te.Code != "96" {
		t.Fatalf("Refund with the log unwritable: %v, want transient 96", err)
	}
	res, err := a.Status(context.Background(), "r1")
	log := a.Executions()
	if err == nil || len(log) != 0 {
		t.Fatalf("after the failed write: status %+v %v, log %+v; want not executed in both", res, err, log)
	}
	for _, r := range j.saved {
		if r.State == "final" {
			t.Fatalf("the journal keeps %+v as executed, without its log row", r)
		}
	}
}
