package sqlite_test

import (
	"context"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
	"github.com/refundd/refundd/store/storetest"
)

// TestStore runs the conformance suite, each test on a copy of a migrated
// file (the migrations themselves: TestMigrateIsIdempotent,
// TestUpgradeFromEveryVersion).
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) refund.Store {
		st, err := sqlite.Open(context.Background(), sqlitetest.Path(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return st
	})
}
