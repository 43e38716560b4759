package upayments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// createRequest is the seed's create-refund request model. totalPrice is
// "float, mandatory": a JSON number written from the exact decimal.
type createRequest struct {
	OrderID              string      `json:"orderId"`
	TotalPrice           json.Number `json:"totalPrice"`
	CustomerFirstName    string      `json:"customerFirstName,omitempty"`
	CustomerEmail        string      `json:"customerEmail,omitempty"`
	CustomerMobileNumber string      `json:"customerMobileNumber,omitempty"`
	Reference            string      `json:"reference"`
}

// multivendorRequest is the per-vendor refund: the payload create-refund
// answered, cut to this refund's vendors, with their amounts.
type multivendorRequest struct {
	OrderID       string        `json:"orderId"`
	RefundPayload []vendorShare `json:"refundPayload"`
	Reference     string        `json:"reference"`
}

type vendorShare struct {
	RefundRequestID string      `json:"refundRequestId"`
	AmountToRefund  json.Number `json:"amountToRefund"`
}

// reply is every answer: {"status","message","data"}.
type reply struct {
	Status  *bool           `json:"status"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// refundData is the data of a refund answer, or of create-refund on a
// split order (isMultivendorRefund, refundPayload).
type refundData struct {
	OrderID             string        `json:"orderId"`
	RefundOrderID       string        `json:"refundOrderId"`
	RefundARN           string        `json:"refundArn"`
	IsMultivendorRefund bool          `json:"isMultivendorRefund"`
	RefundPayload       []vendorEntry `json:"refundPayload"`
}

// vendorEntry is one vendor's figures. Only what the connector uses is
// read; amountToRefund is a number or a numeric string, kept as text.
type vendorEntry struct {
	RefundRequestID string      `json:"refundRequestId"`
	IBANNumber      string      `json:"ibanNumber"`
	AmountToRefund  json.Number `json:"amountToRefund"`
}

// answer is a reply read as far as every endpoint shares it.
type answer struct {
	res  processor.Result
	err  error
	data refundData
	// done: res or err is the answer; otherwise the reply is a 2xx with
	// status true and no refund in it, for the endpoint to read.
	done bool
}

// read maps what every endpoint answers alike (see the package
// documentation for the table).
func read(r *upstream.Response) answer {
	if res, err, ok := upstream.Classify(r); ok {
		if res != nil {
			return answer{res: *res, done: true}
		}
		return answer{err: err, done: true}
	}
	var rep reply
	decErr := decodeStrict(r.Body, &rep)
	var data refundData
	dataErr := error(nil)
	if len(rep.Data) > 0 && string(rep.Data) != "null" {
		dataErr = decodeStrict(rep.Data, &data)
	}
	ok2xx := r.Status >= 200 && r.Status < 300
	if ok2xx && (decErr != nil || dataErr != nil || rep.Status == nil) {
		return answer{err: unreadable(fmt.Sprintf("HTTP %d: %v %v", r.Status, decErr, dataErr)), done: true}
	}
	if dataErr != nil {
		data = refundData{}
	}
	msg := clip(or(rep.Message, http.StatusText(r.Status)))
	switch {
	case ok2xx && *rep.Status && data.RefundOrderID != "":
		return answer{res: accepted(rep, data), data: data, done: true}
	case ok2xx && *rep.Status:
		return answer{data: data}
	case (ok2xx || r.Status == http.StatusUnprocessableEntity) && data.RefundOrderID != "":
		// The refund was made and the processor declined it.
		res := declined(declineCode(rep.Message), msg)
		res.Reference = data.RefundOrderID
		return answer{res: res, data: data, done: true}
	case ok2xx:
		return answer{res: declined("refused", msg), done: true}
	case r.Status >= 400 && r.Status < 500 && (decErr != nil || rep.Status == nil):
		// Not UPayments' answer: a proxy's page (400, 404, 405, 413 ...)
		// says nothing about a refund an earlier, unanswered attempt may
		// have made.
		return answer{err: upstream.NotTheAPIs("upayments", r.Status), done: true}
	case r.Status == http.StatusBadRequest:
		return answer{res: declined("invalid_request", msg), done: true}
	case r.Status == http.StatusNotFound:
		return answer{res: declined(processor.CodeNoSuchOrder, msg), done: true}
	case r.Status == http.StatusUnprocessableEntity:
		return answer{res: declined(processor.CodeNothingLeft, msg), done: true}
	case r.Status == http.StatusConflict || r.Status == http.StatusRequestTimeout || r.Status == http.StatusTooEarly:
		// The reference is taken by another request, or a request with it
		// (or on this order) is still running: it may have executed.
		return answer{err: &processor.TransientError{Code: "conflict",
			Message: fmt.Sprintf("upayments answered %d: %s", r.Status, msg)}, done: true}
	case r.Status >= 400 && r.Status < 500:
		return answer{res: declined(fmt.Sprintf("http_%d", r.Status), msg), done: true}
	}
	return answer{err: &processor.TransientError{Code: "unexpected_reply",
		Message: fmt.Sprintf("upayments answered HTTP %d", r.Status)}, done: true}
}

// readCreate reads create-refund's answer: a result, or, for a split
// order, the vendors' payload (never nil) with nothing refunded.
func readCreate(r *upstream.Response) (processor.Result, []vendorEntry, error) {
	a := read(r)
	if a.done {
		return a.res, nil, a.err
	}
	if !a.data.IsMultivendorRefund {
		return processor.Result{}, nil, unreadable("status true without a refund or a vendor payload")
	}
	if a.data.RefundPayload == nil {
		a.data.RefundPayload = []vendorEntry{}
	}
	return processor.Result{}, a.data.RefundPayload, nil
}

// readMultivendor reads the multi-vendor endpoint's answer. Where it lists
// what each vendor refunded, that must be what was sent: a vendor sent
// its share, every other vendor nothing (money taken from a vendor the
// refund did not name is a refund of more than was asked), and no vendor
// sent left out.
func readMultivendor(r *upstream.Response, cur money.Currency, sent []vendorShare) (processor.Result, error) {
	a := read(r)
	if !a.done {
		return processor.Result{}, unreadable("status true without a refund")
	}
	if a.err != nil || a.data.RefundOrderID == "" {
		return a.res, a.err
	}
	asked := map[string]int64{}
	for _, s := range sent {
		asked[s.RefundRequestID], _ = money.ParseDecimal(s.AmountToRefund.String(), cur)
	}
	// Summed per vendor: a vendor listed twice, its share each time, gave
	// twice its share.
	took := map[string]int64{}
	for _, e := range a.data.RefundPayload {
		if e.AmountToRefund == "" {
			continue
		}
		got, err := money.ParseDecimal(e.AmountToRefund.String(), cur)
		sum, ok := money.Add(took[e.RefundRequestID], got)
		took[e.RefundRequestID] = sum
		if err != nil || !ok {
			return processor.Result{}, &processor.TransientError{Code: "reply_mismatch",
				Message: fmt.Sprintf("upayments' refund %s took %s from vendor %s, which does not read as %s", clip(a.data.RefundOrderID),
					clip(e.AmountToRefund.String()), clip(e.RefundRequestID), cur.Code)}
		}
	}
	if len(took) > 0 {
		// An answer that states what vendors gave states it for every
		// vendor sent: one it leaves out is unconfirmed, not paid.
		for id, want := range asked {
			if _, ok := took[id]; !ok && want != 0 {
				took[id] = 0
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(took)) {
		if want := asked[id]; took[id] != want {
			return processor.Result{}, &processor.TransientError{Code: "reply_mismatch",
				Message: fmt.Sprintf("upayments' refund %s took %s from vendor %s, not %s", clip(a.data.RefundOrderID),
					money.Format(took[id], cur), clip(id), money.Format(want, cur))}
		}
	}
	return a.res, nil
}

// accepted maps status true with a refund: approved once the processor
// gave the refund's ARN, pending (accepted, not yet executed) before.
func accepted(rep reply, data refundData) processor.Result {
	res := processor.Result{Status: processor.Pending, Message: "upayments: " + clip(rep.Message),
		Reference: data.RefundOrderID, ARN: data.RefundARN}
	if data.RefundARN != "" {
		res.Status = processor.Approved
	}
	return res
}

// codeRE finds the processor's code in refundd's decline message, "the
// processor declined the refund (51): Insufficient funds".
var codeRE = regexp.MustCompile(`declined[^()]{0,80}\(([0-9A-Za-z_-]{1,16})\)`)

func declineCode(msg string) string {
	if m := codeRE.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return "declined"
}

// decodeStrict decodes one JSON value with numbers kept as text and
// nothing after it.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

func declined(code, msg string) processor.Result {
	return processor.Result{Status: processor.Declined, ResponseCode: code, Message: "upayments: " + msg}
}

func unreadable(msg string) error {
	return &processor.TransientError{Code: "unreadable_reply", Message: "upayments' reply is not the seed's: " + clip(msg)}
}

func or(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// clip bounds text taken from a reply before it is stored as a message.
func clip(s string) string {
	if len(s) > 300 {
		return strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}
