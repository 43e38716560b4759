package main

import (
	"context"
	"flag"
	"io"

	"github.com/refundd/refundd/refund"
)

// invoicingOperator acts for a merchant on its invoice configuration from
// the command line (the core asks orders:read to read it, orders:write to
// change it), audited as the operator.
func invoicingOperator(merchantID string) refund.Principal {
	return refund.Principal{MerchantID: merchantID, Scopes: []string{refund.ScopeOrdersRead, refund.ScopeOrdersWrite}}
}

// invoiceConfigJSON prints c with the native API's field names.
func invoiceConfigJSON(c *refund.InvoiceConfig) map[string]any {
	j := map[string]any{"merchant_id": c.MerchantID, "serial_prefix": c.SerialPrefix, "seller_name": c.SellerName,
		"vat_number": c.VATNumber, "seller_crn": c.CRN, "seller_street": c.Address.Street,
		"seller_building_number": c.Address.BuildingNumber, "seller_district": c.Address.District, "seller_city": c.Address.City,
		"seller_postal_code": c.Address.PostalCode, "zatca_enabled": c.ZATCAEnabled, "updated_at": nil}
	if !c.UpdatedAt.IsZero() {
		j["updated_at"] = c.UpdatedAt
	}
	return map[string]any{"invoice_config": j}
}

func runInvoiceConfigGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("invoice-config get", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "merchant id")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *merchant == "" {
		return usageError("invoice-config get needs --merchant ID")
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		if _, err := svc.GetMerchant(ctx, *merchant); err != nil {
			return err // see runInvoiceConfigSet
		}
		c, err := svc.GetInvoiceConfig(ctx, invoicingOperator(*merchant))
		if err != nil {
			return err
		}
		return printJSON(stdout, invoiceConfigJSON(c))
	})
}

// runInvoiceConfigSet changes what its flags name and keeps the rest; a
// flag given empty clears its field. The core checks the values (a
// 10-digit CRN, a whole address) and changes nothing when it refuses one.
func runInvoiceConfigSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("invoice-config set", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "merchant id")
	text := map[string]*string{}
	for _, f := range []struct{ name, usage string }{
		{"serial-prefix", "starts every serial (1-16 letters, digits or /_-)"},
		{"seller-name", "the seller's name on the documents (empty: the merchant's)"},
		{"vat-number", "the seller's VAT number, 15 digits (empty: the merchant's)"},
		{"seller-crn", "the seller's commercial registration number, 10 digits (empty: none)"},
		{"seller-street", "the seller's street (the address: street, building number, district, city and postal code, or none)"},
		{"seller-building-number", "the seller's building number, 4 digits"},
		{"seller-district", "the seller's district"},
		{"seller-city", "the seller's city"},
		{"seller-postal-code", "the seller's postal code, 5 digits"},
	} {
		text[f.name] = fs.String(f.name, "", f.usage+" (left out: unchanged)")
	}
	zatca := fs.Bool("zatca-enabled", true, "report documents to ZATCA (left out: unchanged)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *merchant == "" {
		return usageError("invoice-config set needs --merchant ID")
	}
	given, settings := map[string]bool{}, 0
	fs.Visit(func(f *flag.Flag) {
		given[f.Name] = true
		if f.Name != "db" && f.Name != "merchant" {
			settings++
		}
	})
	if settings == 0 {
		// Nothing to change: writing the row anyway would audit a change
		// that is none.
		return usageError("invoice-config set needs at least one setting to change (--seller-name, --vat-number, --seller-crn, the --seller-* address, --serial-prefix or --zatca-enabled)")
	}
	pick := func(name string) *string {
		if !given[name] {
			return nil
		}
		return text[name]
	}
	in := refund.InvoiceConfigInput{SerialPrefix: pick("serial-prefix"), SellerName: pick("seller-name"), VATNumber: pick("vat-number"),
		CRN: pick("seller-crn"), Street: pick("seller-street"), BuildingNumber: pick("seller-building-number"),
		District: pick("seller-district"), City: pick("seller-city"), PostalCode: pick("seller-postal-code")}
	if given["zatca-enabled"] {
		in.ZATCAEnabled = zatca
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		// The core takes the merchant of an API key as given, where it
		// exists; an operator's --merchant may name none, and the store
		// then answers with its foreign key (set) or the defaults (get).
		if _, err := svc.GetMerchant(ctx, *merchant); err != nil {
			return err
		}
		c, err := svc.UpdateInvoiceConfig(ctx, invoicingOperator(*merchant), in)
		if err != nil {
			return err
		}
		return printJSON(stdout, invoiceConfigJSON(c))
	})
}
