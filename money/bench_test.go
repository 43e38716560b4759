package money

import "testing"

func BenchmarkParseDecimal(b *testing.B) {
	kwd, err := LookupCurrency("KWD")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDecimal("12345.678", kwd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMinor(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMinor("1234567"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormat(b *testing.B) {
	kwd, err := LookupCurrency("KWD")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = Format(12345678, kwd)
	}
}
