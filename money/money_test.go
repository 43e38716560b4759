package money_test

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/refundd/refundd/money"
)

// sentinels lists every exported error, to check that each failure wraps one.
var sentinels = []error{
	money.ErrEmpty, money.ErrSyntax, money.ErrNegative, money.ErrExponent,
	money.ErrTooManyDecimals, money.ErrOverflow, money.ErrUnknownCurrency, money.ErrRate,
}

func cur(t testing.TB, code string) money.Currency {
	t.Helper()
	c, err := money.LookupCurrency(code)
	if err != nil {
		t.Fatalf("LookupCurrency(%q): %v", code, err)
	}
	return c
}

// checkErr fails unless err wraps want (nil meaning success) and reads well:
// it starts with the sentinel, quotes the input and has no formatting artefacts.
func checkErr(t *testing.T, err, want error, in string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, want.Error()+": ") && !strings.HasPrefix(msg, money.ErrRate.Error()+": ") {
		t.Errorf("message %q does not start with the sentinel's text", msg)
	}
	if len(in) <= 64 && !strings.Contains(msg, fmt.Sprintf("%q", in)) {
		t.Errorf("message %q does not quote the input %q", msg, in)
	}
	if strings.Contains(msg, "%!") {
		t.Errorf("message %q has a formatting error", msg)
	}
}

func TestLookupCurrency(t *testing.T) {
	tests := []struct {
		name   string
		code   string
		digits int
		err    error
	}{
		{"OK/SAR", "SAR", 2, nil},
		{"OK/AED", "AED", 2, nil},
		{"OK/QAR", "QAR", 2, nil},
		{"OK/KWD", "KWD", 3, nil},
		{"OK/BHD", "BHD", 3, nil},
		{"OK/OMR", "OMR", 3, nil},
		{"OK/JOD", "JOD", 3, nil},
		{"OK/JPY", "JPY", 0, nil},
		{"OK/USD", "USD", 2, nil},
		// CLDR says 0 for IQD; ISO 4217 says 3, and ISO is what banks settle in.
		{"OK/IQD follows ISO not CLDR", "IQD", 3, nil},
		{"ErrUnknownCurrency/lower case", "sar", 0, money.ErrUnknownCurrency},
		{"ErrUnknownCurrency/mixed case", "Sar", 0, money.ErrUnknownCurrency},
		{"ErrUnknownCurrency/empty", "", 0, money.ErrUnknownCurrency},
		{"ErrUnknownCurrency/two letters", "SA", 0, money.ErrUnknownCurrency},
		{"ErrUnknownCurrency/four letters", "SARR", 0, money.ErrUnknownCurrency},
		{"ErrUnknownCurrency/padded", " SAR", 0, money.ErrUnknownCurrency},
		{"ErrUnknownCurrency/full-width letters", "ＳＡＲ", 0, money.ErrUnknownCurrency},
		{"ErrUnknownCurrency/digits", "682", 0, money.ErrUnknownCurrency},
		{"ErrUnknownCurrency/not ISO", "BTC", 0, money.ErrUnknownCurrency},
		{"ErrUnknownCurrency/no currency code", "XXX", 0, money.ErrUnknownCurrency},
		{"ErrUnknownCurrency/unassigned", "ABC", 0, money.ErrUnknownCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := money.LookupCurrency(tt.code)
			checkErr(t, err, tt.err, tt.code)
			if tt.err != nil {
				return
			}
			if want := (money.Currency{Code: tt.code, Digits: tt.digits}); c != want {
				t.Errorf("LookupCurrency(%q) = %+v, want %+v", tt.code, c, want)
			}
		})
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		name string
		in   string
		code string
		want int64
		err  error
	}{
		{"OK/SAR two decimals", "1.35", "SAR", 135, nil},
		{"OK/SAR one decimal", "0.5", "SAR", 50, nil},
		{"OK/SAR integer", "10", "SAR", 1000, nil},
		{"OK/SAR zero", "0", "SAR", 0, nil},
		{"OK/SAR zero with decimals", "0.00", "SAR", 0, nil},
		{"OK/SAR leading zeros", "007.5", "SAR", 750, nil},
		{"OK/SAR many leading zeros", "0000000000000000000000000000001.00", "SAR", 100, nil},
		{"OK/SAR max int64", "92233720368547758.07", "SAR", math.MaxInt64, nil},
		{"OK/AED", "99.99", "AED", 9999, nil},
		{"OK/QAR one dirham", "0.01", "QAR", 1, nil},
		{"OK/KWD three decimals", "50.000", "KWD", 50000, nil},
		{"OK/KWD one fils", "1.005", "KWD", 1005, nil},
		{"OK/KWD one decimal", "1.5", "KWD", 1500, nil},
		{"OK/KWD max int64", "9223372036854775.807", "KWD", math.MaxInt64, nil},
		{"OK/BHD", "0.001", "BHD", 1, nil},
		{"OK/OMR", "12.345", "OMR", 12345, nil},
		{"OK/JOD", "7.1", "JOD", 7100, nil},
		{"OK/JPY integer", "7", "JPY", 7, nil},
		{"OK/JPY max int64", "9223372036854775807", "JPY", math.MaxInt64, nil},
		{"OK/JPY leading zeros", "00000000000000000000009223372036854775807", "JPY", math.MaxInt64, nil},

		{"ErrEmpty/empty", "", "SAR", 0, money.ErrEmpty},
		{"ErrEmpty/spaces", "   ", "SAR", 0, money.ErrEmpty},
		{"ErrEmpty/tab and newline", "\t\n", "SAR", 0, money.ErrEmpty},

		{"ErrNegative/SAR", "-1.35", "SAR", 0, money.ErrNegative},
		{"ErrNegative/minus zero", "-0", "SAR", 0, money.ErrNegative},
		{"ErrNegative/minus alone", "-", "SAR", 0, money.ErrNegative},

		{"ErrSyntax/plus sign", "+5", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/leading space", " 5", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/trailing space", "5 ", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/trailing newline", "5\n", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/inner space", "1 000", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/no whole part", ".5", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/no fraction after dot", "5.", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/dot alone", ".", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/thousands comma", "1,000", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/decimal comma", "1,50", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/underscore", "1_000", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/NaN", "NaN", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/Inf", "Inf", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/Infinity", "Infinity", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/hex", "0x10", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/hex with E digit", "0xE", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/hex float", "0x1p-2", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/two dots", "1.2.3", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/adjacent dots", "1..2", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/Arabic-Indic digits", "١٢٣", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/Arabic-Indic fraction", "1.٥", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/Persian digits", "۱۲", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/full-width digit", "１", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/currency suffix", "5SAR", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/currency prefix", "SAR 5", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/quoted", `"5"`, "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/NUL", "5\x00", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/invalid UTF-8", "5\xff", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/bare exponent", "e3", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/exponent without digits", "1e", "SAR", 0, money.ErrSyntax},
		{"ErrSyntax/exponent sign only", "1e+", "SAR", 0, money.ErrSyntax},

		{"ErrExponent/positive", "1e3", "SAR", 0, money.ErrExponent},
		{"ErrExponent/upper case negative", "1E-2", "SAR", 0, money.ErrExponent},
		{"ErrExponent/explicit plus", "1e+3", "SAR", 0, money.ErrExponent},
		{"ErrExponent/with fraction", "1.5e3", "KWD", 0, money.ErrExponent},

		{"ErrTooManyDecimals/SAR", "1.001", "SAR", 0, money.ErrTooManyDecimals},
		{"ErrTooManyDecimals/SAR trailing zero", "1.350", "SAR", 0, money.ErrTooManyDecimals},
		{"ErrTooManyDecimals/AED", "0.001", "AED", 0, money.ErrTooManyDecimals},
		{"ErrTooManyDecimals/QAR", "0.000", "QAR", 0, money.ErrTooManyDecimals},
		{"ErrTooManyDecimals/KWD", "1.2345", "KWD", 0, money.ErrTooManyDecimals},
		{"ErrTooManyDecimals/BHD zeros", "0.0000", "BHD", 0, money.ErrTooManyDecimals},
		{"ErrTooManyDecimals/OMR", "1.0001", "OMR", 0, money.ErrTooManyDecimals},
		{"ErrTooManyDecimals/JOD", "1.0000", "JOD", 0, money.ErrTooManyDecimals},
		{"ErrTooManyDecimals/JPY", "1.5", "JPY", 0, money.ErrTooManyDecimals},
		{"ErrTooManyDecimals/JPY zero fraction", "10.0", "JPY", 0, money.ErrTooManyDecimals},

		{"ErrOverflow/SAR max plus one", "92233720368547758.08", "SAR", 0, money.ErrOverflow},
		{"ErrOverflow/SAR whole", "92233720368547759", "SAR", 0, money.ErrOverflow},
		{"ErrOverflow/SAR short fraction", "92233720368547758.1", "SAR", 0, money.ErrOverflow},
		{"ErrOverflow/KWD max plus one", "9223372036854775.808", "KWD", 0, money.ErrOverflow},
		{"ErrOverflow/KWD padding overflows", "10000000000000000", "KWD", 0, money.ErrOverflow},
		{"ErrOverflow/JPY max plus one", "9223372036854775808", "JPY", 0, money.ErrOverflow},
		{"ErrOverflow/huge", strings.Repeat("9", 200), "SAR", 0, money.ErrOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := money.ParseDecimal(tt.in, cur(t, tt.code))
			checkErr(t, err, tt.err, tt.in)
			if got != tt.want {
				t.Errorf("ParseDecimal(%q, %s) = %d, want %d", tt.in, tt.code, got, tt.want)
			}
		})
	}
}

func TestParseDecimalBadCurrency(t *testing.T) {
	_, err := money.ParseDecimal("1", money.Currency{Code: "SAR", Digits: -1})
	if !errors.Is(err, money.ErrUnknownCurrency) {
		t.Errorf("negative Digits: error = %v, want ErrUnknownCurrency", err)
	}
}

func TestMessages(t *testing.T) {
	sar, kwd := cur(t, "SAR"), cur(t, "KWD")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"ErrTooManyDecimals/KWD", second(money.ParseDecimal("1.2345", kwd)),
			`too many decimal places: "1.2345" has 4 decimal places, KWD allows 3`},
		{"ErrOverflow/SAR", second(money.ParseDecimal("92233720368547758.08", sar)),
			`value out of range: "92233720368547758.08" exceeds the maximum 92233720368547758.07 SAR`},
		{"ErrExponent/SAR", second(money.ParseDecimal("1e3", sar)),
			`exponent notation not allowed: "1e3"; write the plain decimal instead`},
		{"ErrSyntax/comma", second(money.ParseDecimal("1,000", sar)),
			`invalid number syntax: unexpected "," in "1,000"; want digits, optionally '.' and more digits`},
		{"ErrSyntax/minor fraction", second(money.ParseMinor("10.0")),
			`invalid number syntax: "10.0" has a fraction; amounts are integer minor units (halalas, fils), not decimals`},
		{"ErrOverflow/minor", second(money.ParseMinor("9223372036854775808")),
			`value out of range: "9223372036854775808" exceeds the maximum 9223372036854775807 minor units`},
		{"ErrRate/above 100", second(money.ParseRate("100.01")),
			`invalid rate: "100.01" exceeds 100 percent`},
		{"ErrRate/decimals", second(money.ParseRate("5.555")),
			`invalid rate: too many decimal places: "5.555" has 3 decimal places, a rate allows 2`},
		{"ErrSyntax/long input is cut", second(money.ParseDecimal(strings.Repeat("1", 100)+"x", sar)),
			`invalid number syntax: unexpected "x" in "` + strings.Repeat("1", 64) + `"... (101 bytes); want digits, optionally '.' and more digits`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || tt.err.Error() != tt.want {
				t.Errorf("error = %v\nwant    %s", tt.err, tt.want)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func TestParseMinor(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		err  error
	}{
		{"OK/thousand", "1000", 1000, nil},
		{"OK/zero", "0", 0, nil},
		{"OK/leading zeros", "007", 7, nil},
		{"OK/max int64", "9223372036854775807", math.MaxInt64, nil},
		{"ErrEmpty/empty", "", 0, money.ErrEmpty},
		{"ErrEmpty/spaces", "  ", 0, money.ErrEmpty},
		{"ErrNegative/minus", "-5", 0, money.ErrNegative},
		{"ErrSyntax/zero fraction", "10.0", 0, money.ErrSyntax},
		{"ErrSyntax/fraction", "10.5", 0, money.ErrSyntax},
		{"ErrSyntax/dangling dot", "10.", 0, money.ErrSyntax},
		{"ErrSyntax/plus", "+1", 0, money.ErrSyntax},
		{"ErrSyntax/space", "1 000", 0, money.ErrSyntax},
		{"ErrSyntax/hex", "0x10", 0, money.ErrSyntax},
		{"ErrSyntax/Arabic-Indic digit", "١", 0, money.ErrSyntax},
		{"ErrSyntax/JSON string quotes", `"1000"`, 0, money.ErrSyntax},
		{"ErrSyntax/null", "null", 0, money.ErrSyntax},
		{"ErrExponent/positive", "1e3", 0, money.ErrExponent},
		{"ErrExponent/with fraction", "1.5E2", 0, money.ErrExponent},
		{"ErrOverflow/max plus one", "9223372036854775808", 0, money.ErrOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := money.ParseMinor(tt.in)
			checkErr(t, err, tt.err, tt.in)
			if got != tt.want {
				t.Errorf("ParseMinor(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name  string
		minor int64
		code  string
		want  string
	}{
		{"KWD/whole", 50000, "KWD", "50.000"},
		{"KWD/fils", 1005, "KWD", "1.005"},
		{"KWD/one fils", 1, "KWD", "0.001"},
		{"KWD/zero", 0, "KWD", "0.000"},
		{"BHD", 12345, "BHD", "12.345"},
		{"OMR", 100, "OMR", "0.100"},
		{"JOD", 7100, "JOD", "7.100"},
		{"SAR/halalas", 5, "SAR", "0.05"},
		{"SAR/negative", -150, "SAR", "-1.50"},
		{"SAR/negative halalas", -5, "SAR", "-0.05"},
		{"SAR/zero", 0, "SAR", "0.00"},
		{"AED", 9999, "AED", "99.99"},
		{"QAR", 100, "QAR", "1.00"},
		{"JPY", 7, "JPY", "7"},
		{"JPY/zero", 0, "JPY", "0"},
		{"JPY/negative", -7, "JPY", "-7"},
		{"SAR/max int64", math.MaxInt64, "SAR", "92233720368547758.07"},
		{"SAR/min int64", math.MinInt64, "SAR", "-92233720368547758.08"},
		{"KWD/min int64", math.MinInt64, "KWD", "-9223372036854775.808"},
		{"JPY/min int64", math.MinInt64, "JPY", "-9223372036854775808"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := money.Format(tt.minor, cur(t, tt.code)); got != tt.want {
				t.Errorf("Format(%d, %s) = %q, want %q", tt.minor, tt.code, got, tt.want)
			}
		})
	}
	// A hand-built Currency with a nonsense exponent must not panic.
	if got := money.Format(100, money.Currency{Code: "SAR", Digits: -1}); got != "100" {
		t.Errorf("Format with Digits -1 = %q, want %q", got, "100")
	}
}

// TestFormatRoundTrip checks ParseDecimal(Format(x)) == x for edge values and
// seeded random values of every magnitude, in every currency named above.
func TestFormatRoundTrip(t *testing.T) {
	values := []int64{0, 1, 9, 10, 99, 100, 999, 1000, math.MaxInt64, math.MaxInt64 - 1}
	for p := int64(10); p <= math.MaxInt64/10; p *= 10 {
		values = append(values, p-1, p, p+1)
	}
	r := rand.New(rand.NewPCG(4217, 682))
	for range 5000 {
		values = append(values, r.Int64()>>r.IntN(63))
	}
	for _, code := range []string{"SAR", "AED", "QAR", "KWD", "BHD", "OMR", "JOD", "JPY", "USD"} {
		c := cur(t, code)
		for _, x := range values {
			s := money.Format(x, c)
			got, err := money.ParseDecimal(s, c)
			if err != nil || got != x {
				t.Fatalf("%s: ParseDecimal(Format(%d)) = ParseDecimal(%q) = %d, %v", code, x, s, got, err)
			}
			if x > 0 {
				if neg := money.Format(-x, c); neg != "-"+s {
					t.Fatalf("%s: Format(%d) = %q, want %q", code, -x, neg, "-"+s)
				}
			}
		}
	}
}

func TestAddCapped(t *testing.T) {
	for _, tc := range []struct {
		name       string
		a, b, want int64
	}{
		{"OK", 1005, 995, 2000},
		{"Largest", math.MaxInt64 - 1, 1, math.MaxInt64},
		{"BeyondInt64", math.MaxInt64, 1, math.MaxInt64},
		{"BothLargest", math.MaxInt64, math.MaxInt64, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := money.AddCapped(tc.a, tc.b); got != tc.want {
				t.Fatalf("AddCapped(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want money.Rate
		err  error
	}{
		{"OK/integer", "15", 1500, nil},
		{"OK/one decimal", "5.5", 550, nil},
		{"OK/zero", "0", 0, nil},
		{"OK/two zero decimals", "15.00", 1500, nil},
		{"OK/two decimals", "15.25", 1525, nil},
		{"OK/one basis point", "0.01", 1, nil},
		{"OK/leading zeros", "007", 700, nil},
		{"OK/hundred", "100", 10000, nil},
		{"OK/hundred with decimals", "100.00", 10000, nil},
		{"ErrEmpty/empty", "", 0, money.ErrEmpty},
		{"ErrNegative/minus", "-5", 0, money.ErrNegative},
		{"ErrTooManyDecimals/three", "5.555", 0, money.ErrTooManyDecimals},
		{"ErrTooManyDecimals/trailing zero", "15.000", 0, money.ErrTooManyDecimals},
		{"ErrExponent/positive", "1.5e1", 0, money.ErrExponent},
		{"ErrSyntax/percent sign", "15%", 0, money.ErrSyntax},
		{"ErrSyntax/dangling dot", "15.", 0, money.ErrSyntax},
		{"ErrSyntax/space", " 15", 0, money.ErrSyntax},
		{"ErrRate/just above 100", "100.01", 0, money.ErrRate},
		{"ErrRate/basis points by mistake", "1500", 0, money.ErrRate},
		{"ErrRate/overflow", strings.Repeat("9", 30), 0, money.ErrRate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := money.ParseRate(tt.in)
			checkErr(t, err, tt.err, tt.in)
			if err != nil && !errors.Is(err, money.ErrRate) {
				t.Errorf("error %v does not wrap ErrRate", err)
			}
			if got != tt.want {
				t.Errorf("ParseRate(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestRateString(t *testing.T) {
	tests := []struct {
		r    money.Rate
		want string
	}{
		{1500, "15"}, {550, "5.5"}, {1525, "15.25"}, {0, "0"}, {1, "0.01"},
		{50, "0.5"}, {505, "5.05"}, {10000, "100"}, {-550, "-5.5"},
		{math.MinInt64, "-92233720368547758.08"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Errorf("Rate(%d).String() = %q, want %q", int64(tt.r), got, tt.want)
			}
		})
	}
	for r := money.Rate(0); r <= 10000; r++ {
		if got, err := money.ParseRate(r.String()); err != nil || got != r {
			t.Fatalf("ParseRate(%q) = %d, %v, want %d", r.String(), got, err, r)
		}
	}
}

func TestSplitInclusive(t *testing.T) {
	tests := []struct {
		name      string
		total     int64
		rate      money.Rate
		excl, tax int64
	}{
		{"SAR 10.33 at 15%", 1033, 1500, 898, 135},
		{"SAR 100 at 15%", 10000, 1500, 8696, 1304},
		{"SAR 115 at 15% is exact", 11500, 1500, 10000, 1500},
		{"one halala at 15%", 1, 1500, 1, 0},
		{"zero", 0, 1500, 0, 0},
		{"zero rate", 10000, 0, 10000, 0},
		{"5% VAT", 10000, 500, 9524, 476},
		{"5.5% rate", 10000, 550, 9479, 521},
		{"half rounds up", 1, 10000, 1, 0},
		{"three at 100%", 3, 10000, 2, 1},
		{"refund mirrors sale", -1033, 1500, -898, -135},
		{"refund half rounds away from zero", -3, 10000, -2, -1},
		{"max int64 at 15%", math.MaxInt64, 1500, 8020323510308500702, 1203048526546275105},
		{"min int64 at 15%", math.MinInt64, 1500, -8020323510308500703, -1203048526546275105},
		{"max int64 at 100%", math.MaxInt64, 10000, 4611686018427387904, 4611686018427387903},
		{"min int64 at 100%", math.MinInt64, 10000, -4611686018427387904, -4611686018427387904},
		{"min int64 at 0%", math.MinInt64, 0, math.MinInt64, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			excl, tax := money.SplitInclusive(tt.total, tt.rate)
			if excl != tt.excl || tax != tt.tax {
				t.Errorf("SplitInclusive(%d, %s) = %d, %d, want %d, %d", tt.total, tt.rate, excl, tax, tt.excl, tt.tax)
			}
		})
	}
}

// refSplit is SplitInclusive computed with math/big, as the oracle:
// excl = floor((2*|total|*10000 + d) / 2d), the half-up rounding of |total|*10000/d.
func refSplit(total int64, r money.Rate) (excl, tax int64) {
	t := new(big.Int).Abs(big.NewInt(total))
	d := big.NewInt(10000 + int64(r))
	num := new(big.Int).Mul(t, big.NewInt(20000))
	num.Add(num, d)
	e := num.Quo(num, d.Mul(d, big.NewInt(2)))
	x := new(big.Int).Sub(t, e)
	if total < 0 {
		e.Neg(e)
		x.Neg(x)
	}
	return e.Int64(), x.Int64()
}

func TestSplitInclusiveMatchesBig(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 1033))
	for i := range 100000 {
		total := int64(r.Uint64()) >> r.IntN(64)
		rate := money.Rate(r.IntN(10001))
		if i%4 == 0 {
			rate = money.Rate([]int64{0, 500, 1500, 10000}[i%16/4])
		}
		excl, tax := money.SplitInclusive(total, rate)
		wantExcl, wantTax := refSplit(total, rate)
		if excl != wantExcl || tax != wantTax {
			t.Fatalf("SplitInclusive(%d, %d) = %d, %d, want %d, %d", total, rate, excl, tax, wantExcl, wantTax)
		}
		if excl+tax != total {
			t.Fatalf("SplitInclusive(%d, %d): %d + %d != total", total, rate, excl, tax)
		}
		if total >= 0 && (excl < 0 || tax < 0) || total < 0 && (excl > 0 || tax > 0) {
			t.Fatalf("SplitInclusive(%d, %d) = %d, %d: sign differs from total", total, rate, excl, tax)
		}
	}
}

func TestSplitInclusivePanicsOnBadRate(t *testing.T) {
	for _, r := range []money.Rate{-1, 10001, math.MinInt64, math.MaxInt64} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SplitInclusive(100, %d) did not panic", r)
				}
			}()
			money.SplitInclusive(100, r)
		}()
	}
}

var (
	decimalRE = regexp.MustCompile(`^([0-9]+)(?:\.([0-9]+))?$`)
	minorRE   = regexp.MustCompile(`^[0-9]+$`)
	maxInt64  = big.NewInt(math.MaxInt64)
)

// sentinel returns the single sentinel err wraps, failing if there is not one.
func sentinel(t *testing.T, err error) error {
	t.Helper()
	var found error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			if found != nil {
				t.Fatalf("error %v wraps both %v and %v", err, found, s)
			}
			found = s
		}
	}
	if found == nil {
		t.Fatalf("error %v wraps no sentinel", err)
	}
	return found
}

// FuzzParseDecimal checks ParseDecimal against a regexp and math/big oracle in
// three currencies: accepted exactly when the grammar and exponent allow and
// the value fits, never negative, and Format gives back a string that parses
// to the same value.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{
		"1.35", "50.000", "0.5", "10", "0", "0.00", "007.5", "1.350", "1.005",
		"92233720368547758.07", "92233720368547758.08", "9223372036854775807",
		"", " ", "-1", "+1", ".5", "5.", "1,000", "NaN", "Inf", "0x10", "1.2.3",
		"١٢٣", "1e3", "1E-2", "1.5e3", "\xff",
	} {
		f.Add(s)
	}
	currencies := []money.Currency{cur(f, "JPY"), cur(f, "SAR"), cur(f, "KWD")}
	f.Fuzz(func(t *testing.T, s string) {
		m := decimalRE.FindStringSubmatch(s)
		for _, c := range currencies {
			v, err := money.ParseDecimal(s, c)
			if err != nil {
				if v != 0 {
					t.Fatalf("ParseDecimal(%q, %s) = %d with error %v", s, c.Code, v, err)
				}
				switch kind := sentinel(t, err); {
				case m == nil && (kind == money.ErrTooManyDecimals || kind == money.ErrOverflow):
					t.Fatalf("ParseDecimal(%q, %s): %v for text outside the grammar", s, c.Code, err)
				case m != nil && len(m[2]) > c.Digits && kind != money.ErrTooManyDecimals:
					t.Fatalf("ParseDecimal(%q, %s): %v, want ErrTooManyDecimals", s, c.Code, err)
				case m != nil && len(m[2]) <= c.Digits && kind != money.ErrOverflow:
					t.Fatalf("ParseDecimal(%q, %s): %v for a valid decimal", s, c.Code, err)
				case m != nil && kind == money.ErrOverflow && fits(m[1]+m[2]+strings.Repeat("0", c.Digits-len(m[2]))):
					t.Fatalf("ParseDecimal(%q, %s): %v but the value fits", s, c.Code, err)
				}
				continue
			}
			if m == nil || len(m[2]) > c.Digits {
				t.Fatalf("ParseDecimal(%q, %s) = %d, want an error", s, c.Code, v)
			}
			if v < 0 {
				t.Fatalf("ParseDecimal(%q, %s) = %d, negative", s, c.Code, v)
			}
			want, _ := new(big.Int).SetString(m[1]+m[2]+strings.Repeat("0", c.Digits-len(m[2])), 10)
			if want.Cmp(big.NewInt(v)) != 0 {
				t.Fatalf("ParseDecimal(%q, %s) = %d, want %s", s, c.Code, v, want)
			}
			out := money.Format(v, c)
			if back, err := money.ParseDecimal(out, c); err != nil || back != v {
				t.Fatalf("ParseDecimal(Format(%d, %s) = %q) = %d, %v", v, c.Code, out, back, err)
			}
		}
	})
}

// fits reports whether the decimal digits in s fit in an int64.
func fits(s string) bool {
	n, _ := new(big.Int).SetString(s, 10)
	return n.Cmp(maxInt64) <= 0
}

// FuzzParseMinor checks ParseMinor against a regexp and math/big oracle: it
// accepts exactly the digit strings that fit, never returns a negative, and
// Format with no decimals gives back the same value.
func FuzzParseMinor(f *testing.F) {
	for _, s := range []string{
		"1000", "0", "007", "9223372036854775807", "9223372036854775808",
		"", " ", "-5", "10.0", "1e3", "+1", `"1000"`, "null", "١",
	} {
		f.Add(s)
	}
	jpy := cur(f, "JPY")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := money.ParseMinor(s)
		valid := minorRE.MatchString(s)
		if err != nil {
			if v != 0 {
				t.Fatalf("ParseMinor(%q) = %d with error %v", s, v, err)
			}
			kind := sentinel(t, err)
			if valid != (kind == money.ErrOverflow) || valid && fits(s) {
				t.Fatalf("ParseMinor(%q): unexpected %v", s, err)
			}
			return
		}
		if !valid {
			t.Fatalf("ParseMinor(%q) = %d, want an error", s, v)
		}
		if v < 0 {
			t.Fatalf("ParseMinor(%q) = %d, negative", s, v)
		}
		if want, _ := new(big.Int).SetString(s, 10); want.Cmp(big.NewInt(v)) != 0 {
			t.Fatalf("ParseMinor(%q) = %d, want %s", s, v, want)
		}
		out := money.Format(v, jpy)
		if back, err := money.ParseMinor(out); err != nil || back != v {
			t.Fatalf("ParseMinor(Format(%d) = %q) = %d, %v", v, out, back, err)
		}
	})
}

func ExampleParseDecimal() {
	kwd, _ := money.LookupCurrency("KWD")
	fils, _ := money.ParseDecimal("1.5", kwd)
	fmt.Println(fils, money.Format(fils, kwd))
	_, err := money.ParseDecimal("1.350", money.Currency{Code: "SAR", Digits: 2})
	fmt.Println(err)
	// Output:
	// 1500 1.500
	// too many decimal places: "1.350" has 3 decimal places, SAR allows 2
}

func ExampleSplitInclusive() {
	sar, _ := money.LookupCurrency("SAR")
	vat, _ := money.ParseRate("15")
	excl, tax := money.SplitInclusive(1033, vat)
	fmt.Println(money.Format(excl, sar), "+", money.Format(tax, sar), "VAT at", vat.String()+"%")
	// Output: 8.98 + 1.35 VAT at 15%
}
