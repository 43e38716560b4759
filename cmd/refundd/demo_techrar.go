package main

import (
	"context"
	"fmt"
	"io"
)

// The Techrar dialect: refund lines of a tax invoice, which issues a
// refund invoice (credit note) with Saudi VAT and ZATCA data.
func init() {
	demoSections = append(demoSections, func(w io.Writer, url string, d *demoData) {
		o := d.order("ORD-INV-4001")
		// The order got its tax invoice when it was recorded; IssueInvoice
		// returns that one (and would issue it if it were missing).
		tax, _, err := d.svc.IssueInvoice(context.Background(), d.principal, o.ID)
		if err != nil {
			fmt.Fprintf(w, "\n(the Techrar examples are missing: ORD-INV-4001 has no tax invoice: %v)\n", err)
			return
		}
		fmt.Fprintf(w, `
Try the Techrar dialect (invoices with Saudi VAT; amounts are decimals, VAT included):

  # ORD-INV-4001's tax invoice %[4]s (id %[5]d): 30.99 SAR: 26.94 + 4.04 VAT and a 0.01 rounding, reported to the ZATCA sandbox
  curl -s %[1]s/order/v1/merchant/invoices/%[5]d/ -H 'Authorization: Bearer %[2]s' -H 'app-id: %[3]d'

  # refund its dates line (10.33 SAR): the reply is the refund invoice, 8.98 + 1.35 VAT, paid and reported
  curl -s -X POST %[1]s/order/v1/merchant/invoices/%[5]d/refund/ -H 'Authorization: Bearer %[2]s' -H 'app-id: %[3]d' -H 'Content-Type: application/json' \
    -d '{"comments":"damaged box","refunded_items":[{"id":%[6]d,"qty":1,"amount":10.33}]}'

  # the merchant's invoices, newest first, 20 a page
  curl -s '%[1]s/order/v1/merchant/invoices/?type=refund&page=1' -H 'Authorization: Bearer %[2]s' -H 'app-id: %[3]d'

  # the tax invoice as ZATCA UBL 2.1 XML (type 388), and the refund invoices of the order (381, each at /v1/invoices/<id>/xml)
  curl -s %[1]s/v1/invoices/%[5]d/xml -H 'Authorization: Bearer %[2]s'
  curl -s '%[1]s/v1/invoices?order_id=%[7]s&type=refund' -H 'Authorization: Bearer %[2]s'

  # the simplified invoice's QR payload (base64 TLV: seller, VAT number, time, total, VAT)
  curl -s %[1]s/v1/invoices/%[5]d/qr -H 'Authorization: Bearer %[2]s'
`, url, d.key, d.merchant.AppID, tax.Serial, tax.ID, tax.Lines[1].ID, o.ID)
	})
}
