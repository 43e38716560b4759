package money

import (
	"fmt"
	"math/bits"
	"strconv"
)

// Rate is a tax percentage in hundredths of a percent (basis points), so
// 15% is 1500 and 5.5% is 550; integers keep VAT arithmetic exact.
type Rate int64

// maxRate is 100%: no VAT exceeds it, and a larger value is almost certainly
// a rate sent as a fraction or in basis points by mistake.
const maxRate Rate = 10000

// ParseRate parses a percentage such as "15", "5.5" or "15.00" with the same
// strict grammar as ParseDecimal and at most two decimals. Negative rates and
// rates above 100 are rejected. Errors wrap ErrRate and, where one applies,
// the specific sentinel (ErrNegative, ErrTooManyDecimals, ...).
func ParseRate(s string) (Rate, error) {
	whole, frac, _, err := scan(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrRate, err)
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("%w: %w: %s has %d decimal places, a rate allows 2",
			ErrRate, ErrTooManyDecimals, quote(s), len(frac))
	}
	v, ok := accumulate(whole, frac, 2-len(frac))
	if !ok || Rate(v) > maxRate {
		return 0, fmt.Errorf("%w: %s exceeds 100 percent", ErrRate, quote(s))
	}
	return Rate(v), nil
}

// String renders r as a percentage without trailing zeros, the form
// ParseRate reads: 1500 is "15", 550 is "5.5", 1525 is "15.25".
func (r Rate) String() string {
	u := uint64(r)
	sign := ""
	if r < 0 {
		u = -u
		sign = "-"
	}
	s := sign + strconv.FormatUint(u/100, 10)
	switch f := u % 100; {
	case f == 0:
		return s
	case f%10 == 0:
		return s + "." + strconv.FormatUint(f/10, 10)
	default:
		return s + "." + strconv.FormatUint(f/10, 10) + strconv.FormatUint(f%10, 10)
	}
}

// SplitInclusive splits a VAT-inclusive total into the amount excluding tax
// and the tax, per Saudi (ZATCA) practice: excl is total*10000/(10000+r)
// rounded half up, and tax is the remainder, so excl+tax == total always.
// 1033 at 15% gives 898 and 135. A negative total (a refund) is split by
// its magnitude and negated, so refunds mirror the sale exactly.
//
// The product is computed in 128 bits, so every int64 total is exact.
// r must be within 0..10000 as ParseRate guarantees; anything else is a
// programming error and panics rather than misstating tax.
func SplitInclusive(total int64, r Rate) (excl, tax int64) {
	if r < 0 || r > maxRate {
		panic("money: SplitInclusive rate " + strconv.FormatInt(int64(r), 10) + " is outside 0..10000")
	}
	t := uint64(total)
	if total < 0 {
		t = -t
	}
	d := uint64(10000 + r)
	// t <= 2^63, so t*10000 < 2^77 and hi < 2^13 < d: Div64 cannot panic.
	hi, lo := bits.Mul64(t, 10000)
	q, rem := bits.Div64(hi, lo, d)
	if 2*rem >= d {
		q++
	}
	// q <= t because d >= 10000, so both parts fit once the sign is restored.
	e, x := q, t-q
	if total < 0 {
		e, x = -e, -x
	}
	return int64(e), int64(x)
}

// Tax is the VAT on an amount excluding tax, as ZATCA computes a line's
// VAT (KSA-11 = net x rate): excl*r/10000 rounded half up, in 128 bits.
// A negative amount is taxed by its magnitude and negated.
func Tax(excl int64, r Rate) int64 {
	if r < 0 || r > maxRate {
		panic("money: Tax rate " + strconv.FormatInt(int64(r), 10) + " is outside 0..10000")
	}
	e := uint64(excl)
	if excl < 0 {
		e = -e
	}
	hi, lo := bits.Mul64(e, uint64(r))
	q, rem := bits.Div64(hi, lo, 10000) // hi < 10000: r <= 10000
	if 2*rem >= 10000 {
		q++
	}
	if excl < 0 {
		return -int64(q)
	}
	return int64(q)
}

// SplitTaxed splits a VAT-inclusive amount the way a ZATCA document must
// state it: excl is the largest amount excluding tax whose VAT by Tax
// keeps excl+tax within total, and tax is Tax(excl). What is left,
// total-excl-tax, is 0 or 1 minor unit: about one total in seven cannot be
// written as a net amount plus its VAT (at 15%, 20.66 lies between 17.96 +
// 2.69 = 20.65 and 17.97 + 2.70 = 20.67), and that unit is the document's
// rounding amount. 10.33 at 15% is 8.98 + 1.35 exactly. total must not be
// negative.
func SplitTaxed(total int64, r Rate) (excl, tax, rounding int64) {
	if total < 0 {
		panic("money: SplitTaxed of a negative total")
	}
	// Start from the inclusive split and step to the largest fitting net:
	// excl+Tax(excl) rises by 1 or 2 per unit of excl, so one or two steps
	// either way suffice.
	e, _ := SplitInclusive(total, r)
	// Compared as Tax(e) > total-e, never as e+Tax(e) > total, which
	// overflows near the largest int64.
	for e > 0 && Tax(e, r) > total-e {
		e--
	}
	for e < total && Tax(e+1, r) <= total-(e+1) {
		e++
	}
	t := Tax(e, r)
	return e, t, total - e - t
}
