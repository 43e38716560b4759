package service_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
)

// A ledger record whose state the acquirer does not know (a file written
// by another version, or damaged) restored as "received", the unanswered
// 0099 state, which a status lookup approves: the restart would pay a
// refund nobody knows was executable. Loading must refuse it instead.
func TestJournal_LoadRefusesUnknownState(t *testing.T) {
	for _, tc := range []struct {
		state string
		ok    bool
	}{
		{"final", true},
		{"received", true},
		{"late", true},
		{"voided", true},
		{"pending", true},
		{"settling", false},
		{"", false},
	} {
		t.Run("state "+tc.state, func(t *testing.T) {
			ctx := context.Background()
			j, err := service.OpenJournal(ctx, filepath.Join(t.TempDir(), "ledger.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if err := j.Save(sandbox.Record{Key: "re_1", Amount: 1005, Currency: "KWD", State: tc.state,
				Result: processor.Result{Status: processor.Declined, ResponseCode: "05"}}, nil); err != nil {
				t.Fatal(err)
			}
			ledger, err := j.Load(ctx)
			if !tc.ok {
				if err == nil {
					res, serr := sandbox.New(sandbox.Config{Ledger: ledger}).Status(ctx, "re_1")
					t.Fatalf("loaded a record in state %q; its status then: %+v %v", tc.state, res, serr)
				}
				return
			}
			if err != nil || len(ledger) != 1 {
				t.Fatalf("Load = %+v, %v", ledger, err)
			}
		})
	}
}
