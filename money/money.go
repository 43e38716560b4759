// Package money parses, formats and splits monetary amounts held as int64
// counts of a currency's minor units (halalas, fils, baisa, yen).
//
// Amounts are exact: nothing in this package uses floating point, because a
// float cannot hold 1.005 KWD and a refund engine must never round by
// accident. Text is parsed by hand with a strict grammar so that what a
// client sent is either taken exactly or rejected with a reason.
//
// Package money must import only the standard library and the ISO 4217 table
// (github.com/bojanz/currency), so every other package can depend on it.
package money

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bojanz/currency"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// these (ParseRate wraps ErrRate as well), so callers can classify with
// errors.Is and still show the wrapped message, which names the problem.
var (
	ErrEmpty           = errors.New("empty value")
	ErrSyntax          = errors.New("invalid number syntax")
	ErrNegative        = errors.New("negative value")
	ErrExponent        = errors.New("exponent notation not allowed")
	ErrTooManyDecimals = errors.New("too many decimal places")
	ErrOverflow        = errors.New("value out of range")
	ErrUnknownCurrency = errors.New("unknown currency")
	ErrRate            = errors.New("invalid rate")
)

// Currency is an ISO 4217 currency with its minor-unit exponent, which
// decides how many decimals an amount may have (SAR 2, KWD 3, JPY 0).
type Currency struct {
	Code   string
	Digits int
}

// LookupCurrency returns the currency for an ISO 4217 code. It accepts only
// three upper-case ASCII letters, so "sar" is rejected: normalising case is
// the caller's decision. The table is ISO's own (via bojanz/currency), not
// CLDR's, because CLDR disagrees with ISO on some minor units.
func LookupCurrency(code string) (Currency, error) {
	if len(code) != 3 || !isUpper(code[0]) || !isUpper(code[1]) || !isUpper(code[2]) {
		return Currency{}, fmt.Errorf("%w: %s is not three upper-case letters", ErrUnknownCurrency, quote(code))
	}
	digits, ok := currency.GetDigits(code)
	if !ok {
		return Currency{}, fmt.Errorf("%w: %s is not an ISO 4217 currency code", ErrUnknownCurrency, quote(code))
	}
	return Currency{Code: code, Digits: int(digits)}, nil
}

func isUpper(b byte) bool { return 'A' <= b && b <= 'Z' }

// ParseDecimal parses a decimal such as "1.35", "50.000", "0.5" or "10" into
// minor units of c, exactly. The grammar is one or more ASCII digits,
// optionally followed by '.' and one or more digits; leading zeros are
// allowed and zero is accepted (callers decide whether zero is valid).
//
// More fraction digits than c.Digits is ErrTooManyDecimals even when the
// extra digits are zeros ("1.350" SAR): the sender claimed a precision the
// currency does not have, which usually means the wrong currency.
func ParseDecimal(s string, c Currency) (int64, error) {
	if c.Digits < 0 {
		return 0, fmt.Errorf("%w: %s has a negative minor-unit exponent %d", ErrUnknownCurrency, quote(c.Code), c.Digits)
	}
	whole, frac, _, err := scan(s)
	if err != nil {
		return 0, err
	}
	if len(frac) > c.Digits {
		return 0, fmt.Errorf("%w: %s has %d decimal places, %s allows %d",
			ErrTooManyDecimals, quote(s), len(frac), currencyName(c), c.Digits)
	}
	v, ok := accumulate(whole, frac, c.Digits-len(frac))
	if !ok {
		return 0, fmt.Errorf("%w: %s exceeds the maximum %s %s",
			ErrOverflow, quote(s), Format(math.MaxInt64, c), currencyName(c))
	}
	return v, nil
}

// ParseMinor parses an integer count of minor units as it appears in JSON
// ("1000"). Only digits are accepted: a fraction is ErrSyntax because a
// client sending "10.0" has most likely confused major and minor units.
func ParseMinor(s string) (int64, error) {
	whole, _, dot, err := scan(s)
	if err != nil {
		return 0, err
	}
	if dot {
		return 0, fmt.Errorf("%w: %s has a fraction; amounts are integer minor units (halalas, fils), not decimals", ErrSyntax, quote(s))
	}
	v, ok := accumulate(whole, "", 0)
	if !ok {
		return 0, fmt.Errorf("%w: %s exceeds the maximum %d minor units", ErrOverflow, quote(s), int64(math.MaxInt64))
	}
	return v, nil
}

// Format renders minor units with exactly c.Digits decimals, the inverse of
// ParseDecimal: Format(1005, KWD) is "1.005", Format(-150, SAR) is "-1.50".
// It works on the magnitude as a uint64 so math.MinInt64 does not overflow.
func Format(minor int64, c Currency) string {
	u := uint64(minor)
	sign := ""
	if minor < 0 {
		u = -u
		sign = "-"
	}
	digits := strconv.FormatUint(u, 10)
	d := max(c.Digits, 0)
	if d == 0 {
		return sign + digits
	}
	if len(digits) <= d {
		digits = strings.Repeat("0", d+1-len(digits)) + digits
	}
	cut := len(digits) - d
	return sign + digits[:cut] + "." + digits[cut:]
}

// scan checks s against the decimal grammar and splits it into its whole and
// fraction digits; dot reports whether a '.' was present. The errors it
// returns are final, so every parser rejects bad text with the same words.
func scan(s string) (whole, frac string, dot bool, err error) {
	if strings.TrimSpace(s) == "" {
		return "", "", false, fmt.Errorf("%w: %s has no digits", ErrEmpty, quote(s))
	}
	if s[0] == '-' {
		return "", "", false, fmt.Errorf("%w: %s is negative; amounts and rates are never negative", ErrNegative, quote(s))
	}
	i := digitRun(s)
	whole, rest := s[:i], s[i:]
	if whole == "" {
		if rest[0] == '.' {
			return "", "", false, fmt.Errorf("%w: %s must have a digit before '.', as in \"0.5\"", ErrSyntax, quote(s))
		}
		return "", "", false, unexpected(s, rest)
	}
	if rest != "" && rest[0] == '.' {
		dot = true
		rest = rest[1:]
		j := digitRun(rest)
		frac, rest = rest[:j], rest[j:]
		if frac == "" {
			return "", "", false, fmt.Errorf("%w: %s must have a digit after '.', as in \"5.0\"", ErrSyntax, quote(s))
		}
	}
	if rest == "" {
		return whole, frac, dot, nil
	}
	if isExponent(rest) {
		return "", "", false, fmt.Errorf("%w: %s; write the plain decimal instead", ErrExponent, quote(s))
	}
	return "", "", false, unexpected(s, rest)
}

// unexpected reports the first character of rest, which broke the grammar.
func unexpected(s, rest string) error {
	_, n := utf8.DecodeRuneInString(rest)
	return fmt.Errorf("%w: unexpected %s in %s; want digits, optionally '.' and more digits",
		ErrSyntax, strconv.Quote(rest[:n]), quote(s))
}

// isExponent reports whether rest is an exponent suffix such as "e3" or
// "E-2", so "1e3" gets a clearer error than a plain syntax error.
func isExponent(rest string) bool {
	if rest[0] != 'e' && rest[0] != 'E' {
		return false
	}
	rest = rest[1:]
	if rest != "" && (rest[0] == '+' || rest[0] == '-') {
		rest = rest[1:]
	}
	return rest != "" && digitRun(rest) == len(rest)
}

// digitRun returns the length of the run of ASCII digits at the start of s;
// unicode.IsDigit is deliberately not used, so "١٢" is a syntax error.
func digitRun(s string) int {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// accumulate returns the integer spelled by the digits of whole then frac,
// multiplied by 10^pad, and false if it does not fit in an int64. Checking
// each step keeps any number of leading zeros valid.
func accumulate(whole, frac string, pad int) (int64, bool) {
	var v int64
	for _, part := range [2]string{whole, frac} {
		for i := 0; i < len(part); i++ {
			d := int64(part[i] - '0')
			if v > (math.MaxInt64-d)/10 {
				return 0, false
			}
			v = v*10 + d
		}
	}
	for ; pad > 0 && v != 0; pad-- {
		if v > math.MaxInt64/10 {
			return 0, false
		}
		v *= 10
	}
	return v, true
}

// quote quotes s for an error message, cut to 64 bytes so a hostile input
// cannot blow up logs.
func quote(s string) string {
	const limit = 64
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:limit]) + fmt.Sprintf("... (%d bytes)", len(s))
}

// currencyName names c in messages, even for a zero Currency.
func currencyName(c Currency) string {
	if c.Code == "" {
		return "the currency"
	}
	return c.Code
}

// Add returns a + b for non-negative amounts, and false when the sum does
// not fit in an int64 (a list of shares, each in range, can still
// overflow when added).
func Add(a, b int64) (int64, bool) {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return 0, false
	}
	return a + b, true
}

// AddCapped returns a + b for non-negative amounts, or math.MaxInt64 when
// the sum does not fit: a total that is only shown (a gauge, an overview)
// of amounts each in range must still be read, and "at least the largest
// amount" says more than an error or a wrapped, negative sum. Money that
// moves is added with Add, which refuses instead.
func AddCapped(a, b int64) int64 {
	if s, ok := Add(max(a, 0), max(b, 0)); ok {
		return s
	}
	return math.MaxInt64
}

// Allocate spreads amount over parts in proportion to left (what each can
// still take), never giving a part more than its left: each gets the floor
// of its share, and the units left over go one each to the largest
// fractions, the earlier part first on a tie. When amount exceeds the sum
// of left, every part gets its left and the rest is not placed.
func Allocate(amount int64, left []int64) []int64 {
	out := make([]int64, len(left))
	var sum int64
	for _, l := range left {
		sum += max(l, 0)
	}
	if amount <= 0 || sum == 0 {
		return out
	}
	if amount >= sum {
		for i, l := range left {
			out[i] = max(l, 0)
		}
		return out
	}
	rems := make([]uint64, len(left))
	placed := int64(0)
	for i, l := range left {
		if l <= 0 {
			continue
		}
		hi, lo := bits.Mul64(uint64(amount), uint64(l))
		q, rem := bits.Div64(hi, lo, uint64(sum)) // amount < sum: no overflow
		out[i], rems[i] = int64(q), rem
		placed += int64(q)
	}
	idx := make([]int, 0, len(left))
	for i := range left {
		if left[i] > 0 {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return rems[idx[a]] > rems[idx[b]] })
	for _, i := range idx[:amount-placed] {
		out[i]++
	}
	return out
}
