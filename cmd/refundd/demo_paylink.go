package main

import (
	"fmt"
	"io"
)

// The Paylink partner dialect (seed 004): the partner trades its key for a
// short-lived token, then refunds what is left of a linked merchant's
// order, the merchant found by its commercial registration number.
func init() {
	demoSections = append(demoSections, func(w io.Writer, url string, d *demoData) {
		fmt.Fprintf(w, `
Try the Paylink partner API (seed 004: the partner acts for its linked merchant, found by cr %[4]s):

  # a PARTNER token (30 minutes) for the partner's id and key; put its id_token in place of TOKEN below
  curl -s -X POST %[1]s/rest/partner/v2/auth -H 'Content-Type: application/json' \
    -d '{"apiId":"%[2]s","secretKey":"%[3]s"}'

  # refund what is left of ORD-PL-5001 (450.00 SAR); id is the refund's integer id, createDatetime epoch ms
  curl -s -X POST %[1]s/rest/partner/v2/merchant/cr/%[4]s/refund -H 'Authorization: Bearer TOKEN' -H 'Content-Type: application/json' \
    -d '{"orderNumber":"ORD-PL-5001","refundReason":"Client canceled the order."}'
`, url, d.partner.ID, d.partnerKey, d.merchant.CR)
	})
}
