package secretscan

import (
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	for _, tc := range []struct {
		text string
		want string // kind found, "" for none
	}{
		{`"key":"rk_0123456789ab_0123456789abcdef0123456789abcdef"`, "API key"},
		{`prefix rk_0123456789ab only`, ""},
		{`secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, "webhook secret"},
		{`Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiUEFSVE5FUiJ9.c2lnbmF0dXJlLWJ5dGVz`, "token"},
		{`iban KW81CBKU0000000000001234560101 logged`, "IBAN"},
		{`iban KW81****0101 masked`, ""},
		{`not an iban KW82CBKU0000000000001234560101`, ""},
		{`random token FP35PFG7J2A3NW7DKFYEWIBXLB passes mod-97 but FP is no country`, ""},
		{`SA0380000000608010167519 logged`, "IBAN"},
		{`pan 4111111111111111 logged`, "card number"},
		{`last4 1111 first6 411111`, ""},
		{`amount 1099511627776 and nanos 1764000000000000000`, ""},
		{`ARN 74000006123000000000017 is 23 digits`, ""},
	} {
		got := Find(tc.text)
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("Find(%q) = %v, want nothing", tc.text, got)
		case tc.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tc.want)):
			t.Errorf("Find(%q) = %v, want one %s", tc.text, got, tc.want)
		}
	}
}
