package main

import (
	"fmt"
	"io"
)

// The gateway dialect (seed 001): integer minor units, the reply is the
// whole order.
func init() {
	demoSections = append(demoSections, func(w io.Writer, url string, d *demoData) {
		o := d.order("ORD-1001")
		fmt.Fprintf(w, `
Try the gateway dialect (seed 001: amounts in minor units, the reply is the whole order):

  # refund 5.00 SAR of ORD-1001's capture: 200 with the order, its capture and the approved refund transaction
  curl -s -X POST %[1]s/v1/orders/ORD-1001/refund -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"amount":500,"transaction_id":"%[3]s"}'

  # KWD has 3 decimals: 1005 fils is 1.005 KWD, exactly
  curl -s -X POST %[1]s/v1/orders/ORD-KW-3002/refund -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"amount":1005}'
`, url, d.key, o.Transactions[0].ID)
	})
}
