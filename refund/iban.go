package refund

import "strings"

// ibanLengths is the ISO 13616 registry length per country for the
// countries refundd's merchants pay out to; other countries are checked by
// mod-97 and the general 15-34 length only.
var ibanLengths = map[string]int{
	"SA": 24, "KW": 30, "AE": 23, "BH": 22, "QA": 29, "OM": 23, "JO": 30, "EG": 29,
	"GB": 22, "DE": 22, "FR": 27, "TR": 26, "LB": 28, "PK": 24,
}

// ValidIBAN checks an IBAN (no spaces, upper case): country code, check
// digits, the country's length and the ISO 7064 mod-97 check.
func ValidIBAN(iban string) bool {
	if len(iban) < 15 || len(iban) > 34 {
		return false
	}
	// Check digits are 98 - (n mod 97), 02 to 98: 00, 01 and 99 pass the
	// mod-97 check as 97, 98 and 02 would, yet no IBAN has them.
	if cd := iban[2:4]; cd == "00" || cd == "01" || cd == "99" {
		return false
	}
	for i, c := range iban {
		letter := c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9'
		if (i < 2 && !letter) || (i >= 2 && i < 4 && !digit) || (!letter && !digit) {
			return false
		}
	}
	if n, ok := ibanLengths[iban[:2]]; ok && len(iban) != n {
		return false
	}
	rem := 0
	for _, c := range iban[4:] + iban[:4] {
		if c >= 'A' {
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	return rem == 1
}

// MaskIBAN keeps the country, check digits and last four characters.
func MaskIBAN(iban string) string {
	if len(iban) <= 8 {
		return strings.Repeat("*", len(iban))
	}
	return iban[:4] + strings.Repeat("*", len(iban)-8) + iban[len(iban)-4:]
}
