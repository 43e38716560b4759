package refund

// exemptions are ZATCA's VAT exemption reason codes (BT-121) with the
// category each is for (BR-KSA-CL-04: Z zero-rated, E exempt, O outside
// the scope) and the text its code list gives it (BT-120), as the XML
// implementation standard lists them (11.2.4) and its validator compares
// them (BR-KSA-83). VATEX-SA-OOS takes the seller's own text: refundd
// states EN 16931's, "Not subject to VAT".
var exemptions = map[string]struct{ category, text string }{
	"VATEX-SA-29":    {"E", "Financial services mentioned in Article 29 of the VAT Regulations"},
	"VATEX-SA-29-7":  {"E", "Life insurance services mentioned in Article 29 of the VAT Regulations"},
	"VATEX-SA-30":    {"E", "Real estate transactions mentioned in Article 30 of the VAT Regulations"},
	"VATEX-SA-32":    {"Z", "Export of goods"},
	"VATEX-SA-33":    {"Z", "Export of services"},
	"VATEX-SA-34-1":  {"Z", "The international transport of Goods"},
	"VATEX-SA-34-2":  {"Z", "international transport of passengers"},
	"VATEX-SA-34-3":  {"Z", "services directly connected and incidental to a Supply of international passenger transport"},
	"VATEX-SA-34-4":  {"Z", "Supply of a qualifying means of transport"},
	"VATEX-SA-34-5":  {"Z", "Any services relating to Goods or passenger transportation, as defined in article twenty five of these Regulations"},
	"VATEX-SA-35":    {"Z", "Medicines and medical equipment"},
	"VATEX-SA-36":    {"Z", "Qualifying metals"},
	"VATEX-SA-EDU":   {"Z", "Private education to citizen"},
	"VATEX-SA-HEA":   {"Z", "Private healthcare to citizen"},
	"VATEX-SA-MLTRY": {"Z", "supply of qualified military goods"},
	"VATEX-SA-OOS":   {"O", "Not subject to VAT"},
}

// ExemptionCategory is the VAT category code is for: "Z" (zero-rated),
// "E" (exempt) or "O" (outside the scope); ok is false for a code refundd
// does not know.
func ExemptionCategory(code string) (category string, ok bool) {
	e, ok := exemptions[code]
	return e.category, ok
}

// ExemptionText is the reason text ZATCA's code list gives code ("" for
// a code refundd does not know).
func ExemptionText(code string) string { return exemptions[code].text }
