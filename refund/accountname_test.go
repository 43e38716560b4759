package refund_test

import (
	"fmt"
	"testing"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// TestProcessorAccount_NameTakenForAnID: an order names its account by
// id, and the store finds an account by id or, failing that, by name. An
// account named like an account id (a removed account's) would then be
// found by the old orders of the removed one and execute their refunds.
// Such names are refused when the account is added, 400 invalid_request
// naming the field; names that merely start like one are not.
func TestProcessorAccount_NameTakenForAnID(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		procs := map[string]*instantProcessor{} // by account URL
		h := newHarnessOn(t, open, &instantProcessor{}, func(c *refund.Config) {
			c.Sealer = plainSealer{}
			c.Connect = func(a processor.Account) (processor.Processor, error) {
				if procs[a.URL] == nil {
					procs[a.URL] = &instantProcessor{}
				}
				return procs[a.URL], nil
			}
		})
		add := func(name, url string) (*refund.ProcessorAccount, error) {
			return h.svc.AddProcessorAccount(h.ctx, h.p.MerchantID, refund.ProcessorAccountInput{Name: name, Kind: "acquirer",
				URL: url, Credential: "tok"})
		}
		old, err := add("old", "https://old.example.com")
		if err != nil {
			t.Fatal(err)
		}
		o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: 10000, PaymentMethod: "card",
			Processor: "old", ProcessorOrderID: "pay_old"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4000)})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, refund.StatusSucceeded)
		if _, err := h.svc.RemoveProcessorAccount(h.ctx, h.p.MerchantID, old.ID); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			name, account string
			refused       bool
		}{
			{"RemovedAccountsID", old.ID, true},
			{"IDShaped", "pa_01936f0c-7b7e-7c41-9d7a-1f2b3c4d5e6f", true},
			{"IDPrefixOnly", "pa_", true},
			{"StartsWithPaOK", "paylink-main", false},
			{"DashOK", "pa-main", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				url := "https://" + tc.name + ".example.com"
				a, err := add(tc.account, url)
				if !tc.refused {
					if err != nil {
						t.Fatalf("name %q refused: %v", tc.account, err)
					}
					return
				}
				if refund.ErrorCode(err) != refund.EInvalidRequest || refund.ErrorParam(err) != "name" {
					// Show what the account would have done: the old
					// order's next refund goes to it.
					msg := ""
					if r2, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](1000)}); err == nil && procs[url] != nil {
						msg = fmt.Sprintf("; the removed account's order's refund %s then went to it: %s, executed %v", r2.ID, r2.Status, procs[url].executed)
					}
					t.Fatalf("account %s named %q was added (%v), want invalid_request on name%s", a.ID, tc.account, err, msg)
				}
			})
		}
	})
}
