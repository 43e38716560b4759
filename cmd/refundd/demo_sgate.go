package main

import (
	"fmt"
	"io"
)

// The SGate dialect (seed 002): decimal amounts in the order's currency.
func init() {
	demoSections = append(demoSections, func(w io.Writer, url string, d *demoData) {
		fmt.Fprintf(w, `
Try the SGate dialect (seed 002: decimal amounts in the order's currency):

  # refund 10.50 SAR of ORD-1001: status success, id <refundd order id>_R<n>; the same merchantRefundId replays it
  curl -s -X POST %[1]s/orders/ORD-1001/refunds -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"amount":"10.50","reason":"damaged item","merchantRefundId":"demo-sgate-1"}'

  # KWD prints with its 3 decimals: 1.25 KWD answers "amount": 1.250
  curl -s -X POST %[1]s/orders/ORD-KW-3002/refunds -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"amount":"1.25","reason":"late delivery"}'

  # every refund of ORD-1001, whichever surface made it, as SGate refund objects (poll a pending one the same way)
  curl -s %[1]s/orders/ORD-1001/refunds -H 'Authorization: Bearer %[2]s'
`, url, d.key)
	})
}
