package refund

import "testing"

// SetMaxKeptBytes bounds kept reconciliations at n bytes for t, so that a
// test reaches the bound without a report of tens of thousands of rows.
func SetMaxKeptBytes(t *testing.T, n int) {
	old := maxKeptBytes
	maxKeptBytes = n
	t.Cleanup(func() { maxKeptBytes = old })
}
