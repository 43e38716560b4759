package money

import "testing"

// TestSplitTaxed_Exhaustive checks every total from 0 to 20 000.00 at the
// rates refundd meets: the net is the largest whose ZATCA VAT fits, VAT is
// exactly Tax(net), and what is left is 0 or 1 minor unit.
func TestSplitTaxed_Exhaustive(t *testing.T) {
	rates := []Rate{0, 500, 1000, 1500, 550, 10000}
	if testing.Short() {
		rates = rates[:4]
	}
	for _, r := range rates {
		for total := int64(0); total <= 2_000_000; total++ {
			e, v, rnd := SplitTaxed(total, r)
			if v != Tax(e, r) || e+v+rnd != total || rnd < 0 || rnd > 1 || e < 0 {
				t.Fatalf("SplitTaxed(%d, %v) = %d, %d, %d", total, r, e, v, rnd)
			}
			if next := e + 1; next+Tax(next, r) <= total {
				t.Fatalf("SplitTaxed(%d, %v): net %d is not the largest that fits", total, r, e)
			}
		}
	}
	for _, tc := range []struct{ total, excl, tax, rounding int64 }{
		{1033, 898, 135, 0}, {2066, 1796, 269, 1}, {3099, 2695, 404, 0}, {0, 0, 0, 0}, {1, 1, 0, 0},
	} {
		if e, v, r := SplitTaxed(tc.total, 1500); e != tc.excl || v != tc.tax || r != tc.rounding {
			t.Errorf("SplitTaxed(%d, 15%%) = %d + %d + %d, want %d + %d + %d", tc.total, e, v, r, tc.excl, tc.tax, tc.rounding)
		}
	}
}

func TestTax(t *testing.T) {
	for _, tc := range []struct{ excl, want int64 }{{898, 135}, {1796, 269}, {1797, 270}, {-898, -135}, {0, 0}, {3, 0}, {4, 1}} {
		if got := Tax(tc.excl, 1500); got != tc.want {
			t.Errorf("Tax(%d, 15%%) = %d, want %d", tc.excl, got, tc.want)
		}
	}
	if got := Tax(1<<62, 10000); got != 1<<62 {
		t.Errorf("Tax(2^62, 100%%) = %d", got)
	}
}

// TestSplitTaxed_Extremes: the largest amounts split without overflowing
// (an overflowing comparison once looped for ever).
func TestSplitTaxed_Extremes(t *testing.T) {
	for _, total := range []int64{1<<63 - 1, 1<<63 - 2, 1 << 62, 1<<62 + 12345} {
		for _, r := range []Rate{0, 1500, 10000} {
			e, v, rnd := SplitTaxed(total, r)
			if e < 0 || v < 0 || rnd < 0 || rnd > 1 || v != Tax(e, r) || total-e-v != rnd {
				t.Fatalf("SplitTaxed(%d, %v) = %d, %d, %d", total, r, e, v, rnd)
			}
		}
	}
}
