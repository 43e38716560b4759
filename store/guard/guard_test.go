package guard

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

var sqlite = Dialect{
	Name:     "sqlite-test",
	Param:    func(n int) string { return "?" + strconv.Itoa(n) },
	Greatest: "max",
	Time:     func(t time.Time) any { return t.UnixNano() },
}

// The statements are written once and reused (textsOf): each call must
// still get its own arguments and its own refusal, and the text must be
// what the stores have always run.
func TestStepsReuseTheirTextsNotTheirArguments(t *testing.T) {
	at := time.Unix(1700000000, 0)
	// Two reservations, the same texts.
	reserveTexts := []string{
		"UPDATE orders SET pending_refund_amount = pending_refund_amount + ?1, updated_at = max(updated_at, ?3) WHERE id = ?2 AND captured_amount - voided_amount - charged_back_amount - refunded_amount - pending_refund_amount >= ?1",
		"UPDATE transactions SET pending_amount = pending_amount + ?1 WHERE id = ?2 AND order_id = ?3 AND type = 'capture' AND amount - refunded_amount - pending_amount >= ?1",
	}
	for _, tc := range []struct {
		name string
		b    refund.Balances
		op   refund.BalanceOp
		want []string // Update of each step
		args [][]any
		what []string // the refusal of each step, over its limit
	}{
		{"reserve", refund.Balances{OrderID: "ord_1", CaptureID: "txn_1", Amount: 100, At: at}, refund.Reserve,
			reserveTexts,
			[][]any{{int64(100), "ord_1", at.UnixNano()}, {int64(100), "txn_1", "ord_1"}},
			[]string{"less than 100 left", `capture "txn_1" has less than 100 left`}},
		{"another reserve", refund.Balances{OrderID: "ord_2", CaptureID: "txn_2", Amount: 7, At: at}, refund.Reserve,
			reserveTexts,
			[][]any{{int64(7), "ord_2", at.UnixNano()}, {int64(7), "txn_2", "ord_2"}},
			[]string{"less than 7 left", `capture "txn_2" has less than 7 left`}},
		{"commit, no time, an item", refund.Balances{OrderID: "ord_3", Amount: 5, Items: []refund.RefundItem{{ItemID: "it_1", Qty: 2, Amount: 5}}}, refund.Commit,
			[]string{
				"UPDATE orders SET pending_refund_amount = pending_refund_amount - ?1, refunded_amount = refunded_amount + ?1 WHERE id = ?2 AND pending_refund_amount >= ?1",
				"UPDATE order_items SET pending_qty = pending_qty - ?1, refunded_qty = refunded_qty + ?1, pending_amount = pending_amount - ?2, refunded_amount = refunded_amount + ?2 WHERE order_id = ?3 AND item_id = ?4 AND pending_qty >= ?1 AND pending_amount >= ?2",
			},
			[][]any{{int64(5), "ord_3"}, {2, int64(5), "ord_3", "it_1"}},
			[]string{"less than 5 left", `item "it_1" has less than 2 units or 5 left`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps, err := Steps(sqlite, tc.b, tc.op)
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) != len(tc.want) {
				t.Fatalf("%d steps, want %d", len(steps), len(tc.want))
			}
			for i, st := range steps {
				if st.Update != tc.want[i] {
					t.Errorf("step %d:\n got %s\nwant %s", i, st.Update, tc.want[i])
				}
				if got, want := fmt.Sprint(st.Args), fmt.Sprint(tc.args[i]); got != want {
					t.Errorf("step %d args %s, want %s", i, got, want)
				}
				if err := st.Refused(tc.op, true, tc.b.OrderID); !strings.Contains(err.Error(), tc.what[i]) {
					t.Errorf("step %d refused: %v, want it to say %q", i, err, tc.what[i])
				}
			}
		})
	}
}
