package refund_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// wordyProcessor answers every submission with a message longer than
// refundd keeps, in Arabic, and a NUL: in an error (the outcome unknown,
// or the attempt not sent), or in a decline.
type wordyProcessor struct{ notExecuted, declined bool }

// wordy is 401 bytes: cut at 300, it would end in half a letter.
var wordy = "x" + strings.Repeat("ع", 200)

func (p wordyProcessor) Refund(context.Context, processor.Request) (processor.Result, error) {
	if p.declined {
		return processor.Result{Status: processor.Declined, ResponseCode: "05\x00", Message: "\x00" + wordy}, nil
	}
	return processor.Result{}, &processor.TransientError{Code: "timeout\x00", Message: "\x00" + wordy, NotExecuted: p.notExecuted}
}

func (wordyProcessor) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNotFound
}

// TestLongProcessorMessageIsKeptWhole: a processor's message longer than
// what a refund keeps is cut between letters, never inside one: cut
// inside, it is not UTF-8, PostgreSQL refuses to store it, and the
// refund's outcome (an unknown one, an attempt not sent, a decline) is
// never recorded; a NUL is dropped for the same reason.
func TestLongProcessorMessageIsKeptWhole(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		for _, p := range []wordyProcessor{{}, {notExecuted: true}, {declined: true}} {
			h := newHarnessOn(t, open, p, nil)
			o := h.order(10_000)
			r := h.mustRefund(o, 1_000)
			got := h.refund(r.ID)
			want := refund.StatusProcessing // outcome unknown
			switch {
			case p.declined:
				want = refund.StatusFailed
			case p.notExecuted:
				want = refund.StatusPending // the attempt given back
			}
			if got.Status != want || !utf8.ValidString(got.FailureMessage) || !strings.HasPrefix(wordy, got.FailureMessage) || len(got.FailureMessage) < 290 {
				t.Fatalf("%+v: %s (want %s), message %q", p, got.Status, want, got.FailureMessage)
			}
			if p.declined && got.FailureCode != "05" {
				t.Fatalf("declined with code %q", got.FailureCode)
			}
		}
	})
}

// TestPasswordLengthInCharacters: a console password's 12 to 256 are
// characters: six Arabic letters (twelve bytes) are too short.
func TestPasswordLengthInCharacters(t *testing.T) {
	h := newHarness(t, wordyProcessor{}, func(c *refund.Config) { c.Credentials = credential.Argon2{} })
	for i, tc := range []struct {
		password string
		ok       bool
	}{
		{strings.Repeat("ع", 6), false},
		{strings.Repeat("a", 11), false},
		{strings.Repeat("ع", 12), true},
		{strings.Repeat("ع", 256), true},
		{strings.Repeat("ع", 257), false},
	} {
		_, err := h.svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: fmt.Sprintf("u%d@souq.example", i),
			Role: refund.RoleRefunder, Password: tc.password})
		if (err == nil) != tc.ok || err != nil && refund.ErrorCode(err) != refund.EInvalidRequest {
			t.Errorf("a password of %d characters (%d bytes): %v", len([]rune(tc.password)), len(tc.password), err)
		}
	}
}

// doorProcessor loses the answer to every submission, and refuses its
// credentials to every lookup.
type doorProcessor struct{}

func (doorProcessor) Refund(context.Context, processor.Request) (processor.Result, error) {
	return processor.Result{}, &processor.TransientError{Code: "timeout", Message: "no answer"}
}

func (doorProcessor) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{Status: processor.Declined, ResponseCode: processor.CodeAuthFailed, Message: "bad key"}, nil
}

// TestLookupRefusedAtTheDoorReleasesNothing: a lookup refused for the
// caller's credentials says nothing of the refund, whose submission may
// have run: it stays reserved, where it was recorded declined and its
// amount released for another refund.
func TestLookupRefusedAtTheDoorReleasesNothing(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, doorProcessor{}, nil)
		o := h.order(10_000)
		r := h.mustRefund(o, 4_000)
		h.drive(2)
		got, order := h.refund(r.ID), h.getOrder(o.ID)
		if got.Status == refund.StatusFailed || order.PendingRefundAmount != 4_000 {
			t.Fatalf("after lookups refused at the door: %s, order pending %d", got.Status, order.PendingRefundAmount)
		}
	})
}

// TestNotifiedAuthFailedDeclineFails: a processor's notification that a
// refund failed is its word about the refund, whatever its code: one with
// auth_failed fails it as any other, where only a lookup's or a void's
// refusal of refundd's own credentials says nothing of the refund.
func TestNotifiedAuthFailedDeclineFails(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, wordyProcessor{}, nil)
		o := h.order(10_000)
		r := h.mustRefund(o, 4_000)
		out, err := h.svc.ApplyNotification(h.ctx, refund.Notification{ID: "msg_1", Type: refund.NotifyRefundFailed, RefundID: r.ID,
			ResponseCode: processor.CodeAuthFailed, Message: "cardholder authentication failed"})
		if err != nil {
			t.Fatal(err)
		}
		got, order := h.refund(r.ID), h.getOrder(o.ID)
		if !out.Applied || got.Status != refund.StatusFailed || order.PendingRefundAmount != 0 {
			t.Fatalf("after a refund.failed notification (auth_failed): %+v, refund %s, order pending %d", out, got.Status, order.PendingRefundAmount)
		}
	})
}

// TestNotifiedMessageIsStorable: a processor's notification carries its
// own text, as an answer does: with a NUL in it, PostgreSQL refused the
// refund's update, and the decline it reported was never recorded.
func TestNotifiedMessageIsStorable(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, wordyProcessor{}, nil)
		o := h.order(10_000)
		r := h.mustRefund(o, 4_000)
		_, err := h.svc.ApplyNotification(h.ctx, refund.Notification{ID: "msg_1", Type: refund.NotifyRefundFailed, RefundID: r.ID,
			ResponseCode: "05\x00", Message: "\x00" + wordy})
		got := h.refund(r.ID)
		if err != nil || got.Status != refund.StatusFailed || got.FailureCode != "05" || !strings.HasPrefix(wordy, got.FailureMessage) || len(got.FailureMessage) < 290 {
			t.Fatalf("a refund.failed notification with a NUL: %v; refund %s, code %q, message %q", err, got.Status, got.FailureCode, got.FailureMessage)
		}
	})
}

// mustRefund refunds amount of o, failing the test on an error.
func (h *harness) mustRefund(o *refund.Order, amount int64) *refund.Refund {
	h.t.Helper()
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// garbledRefProcessor accepts every refund for later, under a reference
// holding a NUL, and answers every lookup executed, recording the
// reference it was asked by.
type garbledRefProcessor struct{ askedBy *[]string }

func (garbledRefProcessor) Refund(context.Context, processor.Request) (processor.Result, error) {
	return processor.Result{Status: processor.Pending, Reference: "rf-77\x00"}, nil
}

func (garbledRefProcessor) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNotFound
}

func (p garbledRefProcessor) StatusOf(_ context.Context, req processor.Request) (processor.Result, error) {
	*p.askedBy = append(*p.askedBy, req.Reference)
	return processor.Result{Status: processor.Approved, ResponseCode: "00"}, nil
}

// TestGarbledReferenceIsNotAskedFor: a processor's reference that is not
// text as sent (a NUL) is not kept cleaned into another id, which a later
// lookup would ask for; the lookup goes without it.
func TestGarbledReferenceIsNotAskedFor(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		var asked []string
		h := newHarnessOn(t, open, garbledRefProcessor{askedBy: &asked}, nil)
		r := h.mustRefund(h.order(10_000), 1_000)
		if got := h.refund(r.ID); got.ProcessorReference != "" {
			t.Fatalf("kept reference %q", got.ProcessorReference)
		}
		synced, err := h.svc.SyncRefund(h.ctx, h.p, r.ID)
		if err != nil || synced.Status != refund.StatusSucceeded {
			t.Fatalf("sync: %+v, %v", synced, err)
		}
		for _, ref := range asked {
			if ref != "" {
				t.Fatalf("looked up by %q, an id the processor never gave", ref)
			}
		}
		if len(asked) == 0 {
			t.Fatal("never looked up: the check checks nothing")
		}
	})
}

// longRef is n characters no compression shortens much: PostgreSQL's index
// keeps one entry of about 2.7 kB at most, even compressed.
func longRef(n int) string {
	var b strings.Builder
	sum := sha256.Sum256(nil)
	for b.Len() < n {
		sum = sha256.Sum256(sum[:])
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}

// longRefProcessor approves every refund with the references and codes
// it holds.
type longRefProcessor struct{ res processor.Result }

func (p longRefProcessor) Refund(context.Context, processor.Request) (processor.Result, error) {
	res := p.res
	res.Status = processor.Approved
	return res, nil
}

func (longRefProcessor) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNotFound
}

// TestLongProcessorReferencesAreStorable: an ARN or RRN of a few kB in a
// processor's answer could not be recorded on PostgreSQL (its index on
// each refused the row), so an approved refund never read succeeded. One
// over MaxReportReference characters is dropped (no report names one so
// long), one of that many kept; the codes are cut to that many characters.
func TestLongProcessorReferencesAreStorable(t *testing.T) {
	max := refund.MaxReportReference
	arabic := strings.Repeat("ع", max+1) // 402 bytes, under any index's bound
	for _, tc := range []struct {
		name string
		res  processor.Result
		want refund.Refund // the ARN, RRN and codes kept
	}{
		{"KilobytesDropped", processor.Result{ResponseCode: longRef(3_000), ARN: longRef(3_000), RRN: longRef(3_001), STAN: longRef(3_002), AuthCode: longRef(3_003)},
			refund.Refund{ResponseCode: longRef(max), STAN: longRef(max), AuthCode: longRef(max)}},
		{"AtTheBoundKept", processor.Result{ResponseCode: "00", ARN: longRef(max), RRN: longRef(max)},
			refund.Refund{ResponseCode: "00", ARN: longRef(max), RRN: longRef(max)}},
		{"OneOverDropped", processor.Result{ResponseCode: "00", ARN: longRef(max + 1), RRN: "606000000123"},
			refund.Refund{ResponseCode: "00", RRN: "606000000123"}},
		{"CountedInCharacters", processor.Result{ResponseCode: arabic, ARN: arabic[:2*max], RRN: arabic},
			refund.Refund{ResponseCode: arabic[:2*max], ARN: arabic[:2*max]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, open opener) {
				h := newHarnessOn(t, open, longRefProcessor{res: tc.res}, nil)
				r := h.mustRefund(h.order(10_000), 1_000)
				got := h.refund(r.ID)
				if got.Status != refund.StatusSucceeded || got.ARN != tc.want.ARN || got.RRN != tc.want.RRN || got.ResponseCode != tc.want.ResponseCode ||
					got.STAN != tc.want.STAN || got.AuthCode != tc.want.AuthCode {
					t.Fatalf("refund %s, ARN %d characters, RRN %d, code %d, STAN %d, auth code %d; want succeeded, %d, %d, %d, %d, %d",
						got.Status, utf8.RuneCountInString(got.ARN), utf8.RuneCountInString(got.RRN), utf8.RuneCountInString(got.ResponseCode),
						len(got.STAN), len(got.AuthCode), utf8.RuneCountInString(tc.want.ARN), utf8.RuneCountInString(tc.want.RRN),
						utf8.RuneCountInString(tc.want.ResponseCode), len(tc.want.STAN), len(tc.want.AuthCode))
				}
			})
		})
	}
}
