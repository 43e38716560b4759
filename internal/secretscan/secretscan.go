// Package secretscan finds secrets that must never be written to a log, an
// error or an event: API keys, webhook secrets, signed tokens, IBANs and
// card numbers. Test packages send their servers' logs and error replies
// to a Sink and fail the run if Find reports anything in it.
package secretscan

import (
	"bytes"
	"flag"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var (
	apiKey  = regexp.MustCompile(`rk_[0-9a-f]{12}_[0-9a-f]{32}`)
	whsec   = regexp.MustCompile(`whsec_[A-Za-z0-9+/]{20,}`)
	jwt     = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)
	iban    = regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\b`)
	panLike = regexp.MustCompile(`\b[3-6][0-9]{12,18}\b`)
)

// Find returns every secret-looking string in text, each with its kind.
// IBANs count only when their mod-97 check holds and card numbers only
// when their Luhn check does, so ids and amounts do not trip it.
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
		if ibanValid(m) {
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

func ibanValid(s string) bool {
	r := s[4:] + s[:4]
	var digits strings.Builder
	for _, c := range r {
		switch {
		case c >= '0' && c <= '9':
			digits.WriteRune(c)
		case c >= 'A' && c <= 'Z':
			fmt.Fprintf(&digits, "%d", c-'A'+10)
		default:
			return false
		}
	}
	n, ok := new(big.Int).SetString(digits.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
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
