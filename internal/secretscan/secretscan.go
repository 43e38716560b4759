// Package secretscan finds secrets that must never be written to a log, an
// error or an event: API keys, webhook secrets, signed tokens, IBANs and
// card numbers. Test packages send their servers' logs and error replies
// to a Sink and fail the run if Find reports anything in it.
package secretscan

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sync"
	"testing"

	"github.com/refundd/refundd/refund"
)

var (
	apiKey  = regexp.MustCompile(`rk_[0-9a-f]{12}_[0-9a-f]{32}`)
	whsec   = regexp.MustCompile(`whsec_[A-Za-z0-9+/]{20,}`)
	jwt     = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)
	iban    = regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\b`)
	panLike = regexp.MustCompile(`\b[3-6][0-9]{12,18}\b`)
)

// Find returns every secret-looking string in text, each with its kind.
// IBANs count only when their country, length and mod-97 check hold, and
// card numbers only when their Luhn check does, so ids, random tokens and
// amounts do not trip it.
func Find(text string) []string {
	var out []string
	for _, m := range apiKey.FindAllString(text, -1) {
		out = append(out, "API key "+m)
	}
	for _, m := range whsec.FindAllString(text, -1) {
		out = append(out, "webhook secret "+m)
	}
	for _, m := range jwt.FindAllString(text, -1) {
		out = append(out, "token "+m)
	}
	for _, m := range iban.FindAllString(text, -1) {
		if n, ok := ibanLengths[m[:2]]; ok && len(m) == n && refund.ValidIBAN(m) {
			out = append(out, "IBAN "+m)
		}
	}
	for _, m := range panLike.FindAllString(text, -1) {
		if n := len(m); (n == 15 || n == 16 || n == 19) && luhn(m) {
			out = append(out, "card number "+m)
		}
	}
	return out
}

// ibanLengths is the ISO 13616 registry: the IBAN length of each country.
// refund.ValidIBAN checks only the countries refundd pays out to; a scan
// must also not take a random token for an IBAN of an unknown country.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
	"BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
	"EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
	"GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
	"JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
	"MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
	"NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
	"SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// Sink collects what a test run's servers wrote. Safe for concurrent use.
type Sink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String returns everything written so far.
func (s *Sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Main runs the package's tests, then scans the sink: a secret found in it
// fails the run, and so does an empty sink (the scan would prove nothing).
// Use it from TestMain: os.Exit(secretscan.Main(m, sink)).
func Main(m *testing.M, sink *Sink) int {
	code := m.Run()
	if code != 0 {
		return code
	}
	text := sink.String()
	if text == "" {
		// A filtered run (-run, -fuzz) may start no server at all; a full
		// run that captured nothing means the capture broke.
		if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
			return code
		}
		fmt.Fprintln(os.Stderr, "secretscan: nothing was captured from the servers' logs and errors")
		return 1
	}
	if found := Find(text); len(found) > 0 {
		fmt.Fprintf(os.Stderr, "secretscan: %d secrets in logs, errors or events:\n", len(found))
		for _, f := range found {
			fmt.Fprintln(os.Stderr, "  "+f)
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "secretscan: %d bytes of logs, errors and events scanned, no secret found\n", len(text))
	return 0
}
