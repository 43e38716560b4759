package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// TestCLI_InvoiceConfig: invoice-config get and set read and change a
// merchant's invoice configuration, the seller's CRN and address
// included; a value ZATCA would refuse is refused (exit 1, naming the
// flag's field) and changes nothing; a flag left out keeps its value.
func TestCLI_InvoiceConfig(t *testing.T) {
	t.Parallel()
	db := sqlitetest.URL(t)
	code, out, errOut := runCLI(t, "merchant", "create", "--db", db, "--name", "Souq")
	if code != 0 {
		t.Fatalf("merchant create: %d %s", code, errOut)
	}
	var mc struct {
		Merchant struct {
			ID string `json:"id"`
		} `json:"merchant"`
	}
	mustJSON(t, out, &mc)
	m := mc.Merchant.ID
	type config struct {
		C map[string]any `json:"invoice_config"`
	}
	get := func() config {
		t.Helper()
		code, out, errOut := runCLI(t, "invoice-config", "get", "--db", db, "--merchant", m)
		if code != 0 {
			t.Fatalf("invoice-config get: %d %s", code, errOut)
		}
		var c config
		mustJSON(t, out, &c)
		return c
	}
	before := get()
	if before.C["serial_prefix"] != "INV-" || before.C["seller_crn"] != "" || before.C["zatca_enabled"] != true {
		t.Fatalf("invoice-config get: %v", before.C)
	}
	address := []string{"--seller-street", "King Fahd Road", "--seller-building-number", "2322", "--seller-district", "Al Olaya",
		"--seller-city", "Riyadh", "--seller-postal-code", "12214"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"CRNNotTenDigits", []string{"--seller-crn", "123"}, 1, "seller_crn must be 10 digits"},
		{"BuildingNotFourDigits", append(append([]string{}, address...), "--seller-building-number", "23"), 1, "seller_building_number"},
		{"PartOfAnAddress", address[:8], 1, "seller_postal_code is missing"},
		{"NoMerchant", []string{"--merchant", ""}, 2, "--merchant"},
		{"NothingToSet", nil, 2, "at least one setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, append([]string{"invoice-config", "set", "--db", db, "--merchant", m}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d %s, want %d mentioning %q", code, errOut, tc.code, tc.msg)
			}
			if after := get(); !equalJSON(after, before) {
				t.Fatalf("a refused change changed the configuration: %v, was %v", after.C, before.C)
			}
		})
	}
	code, out, errOut = runCLI(t, append([]string{"invoice-config", "set", "--db", db, "--merchant", m, "--seller-crn", "1010010000",
		"--vat-number", "310122393500003"}, address...)...)
	var c config
	if code == 0 {
		mustJSON(t, out, &c)
	}
	if code != 0 || c.C["seller_crn"] != "1010010000" || c.C["seller_building_number"] != "2322" || c.C["seller_postal_code"] != "12214" ||
		c.C["vat_number"] != "310122393500003" || c.C["serial_prefix"] != "INV-" {
		t.Fatalf("invoice-config set: %d %s %s", code, out, errOut)
	}
	// One flag changes one field.
	code, out, errOut = runCLI(t, "invoice-config", "set", "--db", db, "--merchant", m, "--seller-city", "Jeddah", "--zatca-enabled=false")
	c = config{}
	if code == 0 {
		mustJSON(t, out, &c)
	}
	if code != 0 || c.C["seller_city"] != "Jeddah" || c.C["seller_street"] != "King Fahd Road" || c.C["zatca_enabled"] != false {
		t.Fatalf("invoice-config set --seller-city: %d %s %s", code, out, errOut)
	}
}

// TestCLI_InvoiceConfigUnknownMerchant: a merchant id that names no
// merchant is refused in words, by get as by set, and nothing is written.
func TestCLI_InvoiceConfigUnknownMerchant(t *testing.T) {
	t.Parallel()
	db := sqlitetest.URL(t)
	if code, _, errOut := runCLI(t, "migrate", "--db", db); code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"Get", []string{"invoice-config", "get", "--db", db, "--merchant", "mer_nosuch"}},
		{"Set", []string{"invoice-config", "set", "--db", db, "--merchant", "mer_nosuch", "--seller-crn", "1010010000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != 1 || out != "" || !strings.Contains(errOut, `merchant "mer_nosuch" not found`) || strings.Contains(errOut, "sqlite") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and the merchant named as not found", code, out, errOut)
			}
		})
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
