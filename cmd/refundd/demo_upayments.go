package main

import (
	"fmt"
	"io"

	"github.com/refundd/refundd/dialect/upayments"
)

// The UPayments dialect (seed 003): decimal amounts in the order's
// currency; a multi-vendor order is refunded per vendor at a second
// endpoint.
func init() {
	demoSections = append(demoSections, func(w io.Writer, url string, d *demoData) {
		mv := d.order("ORD-KW-3001")
		fmt.Fprintf(w, `
Try the UPayments dialect (seed 003: decimals in the order's currency, KWD has 3 places):

  # refund 10.000 KWD of ORD-UP-6001; the same reference and body replays the answer
  curl -s -X POST %[1]s/api/v1/create-refund -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"orderId":"ORD-UP-6001","totalPrice":"10.000","customerFirstName":"Noura","customerEmail":"noura@example.com","reference":"UP-REF-1"}'

  # a multi-vendor order: create-refund moves no money, it answers each vendor's figures and the endpoint to use
  curl -s -X POST %[1]s/api/v1/create-refund -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"orderId":"ORD-KW-3001","totalPrice":15.5}'

  # one refund split between the vendors: 10.000 KWD from vendor-a, 5.500 from vendor-b
  curl -s -X POST %[1]s/api/v1/create-multivendor-refund -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"orderId":"ORD-KW-3001","refundPayload":[{"refundRequestId":"%[3]s","amountToRefund":"10.000"},{"refundRequestId":"%[4]s","amountToRefund":5.5}],"reference":"UP-MV-1"}'
`, url, d.key, upayments.RequestID(mv.ID, "vendor-a"), upayments.RequestID(mv.ID, "vendor-b"))
	})
}
