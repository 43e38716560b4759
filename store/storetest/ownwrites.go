package storetest

import (
	"fmt"
	"testing"

	"github.com/refundd/refundd/refund"
)

// A transaction sees its own writes, also where a store answers a read from
// what it read earlier in the transaction (PostgreSQL reads a merchant's
// policy, webhook endpoints and invoices ahead with the order or refund a
// refund's transaction starts from): a write to one of those tables must
// be visible to the transaction's next read of it.
var ownWriteTests = []test{
	{"PolicyAfterOrderRead", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		f.mustUpdate(func(tx refund.Tx) error {
			if _, err := tx.GetOrderForRefund(f.ctx, m.ID, o.ID); err != nil {
				return err
			}
			_, err := tx.GetRefundPolicy(f.ctx, m.ID)
			wantCode(t, err, refund.ENotFound)
			p := &refund.RefundPolicy{MerchantID: m.ID, ApprovalThreshold: map[string]int64{"SAR": 100}, OlderThanDays: 7,
				ApprovalExpiry: 3600e9, UpdatedAt: t0}
			if err := tx.PutRefundPolicy(f.ctx, p); err != nil {
				return err
			}
			got, err := tx.GetRefundPolicy(f.ctx, m.ID)
			if err != nil {
				return err
			}
			if got.ApprovalThreshold["SAR"] != 100 || got.OlderThanDays != 7 {
				t.Errorf("policy after writing it = %+v", got)
			}
			// What one caller does to its copy is not what the next reads.
			got.ApprovalThreshold["SAR"] = 1
			again, err := tx.GetRefundPolicy(f.ctx, m.ID)
			if err != nil {
				return err
			}
			if again.ApprovalThreshold["SAR"] != 100 {
				t.Errorf("a caller's change to its policy leaked into the next read: %+v", again)
			}
			return nil
		})
	}},
	{"EndpointsAfterOrderAndRefundRead", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		r := f.mustCreateRefund(o)
		for _, read := range []struct {
			name string
			fn   func(tx refund.Tx) error
		}{
			{"order", func(tx refund.Tx) error { _, err := tx.GetOrderForRefund(f.ctx, m.ID, o.ID); return err }},
			{"refund", func(tx refund.Tx) error { _, err := tx.GetRefund(f.ctx, "", r.ID); return err }},
		} {
			t.Run(read.name, func(t *testing.T) {
				e := &refund.WebhookEndpoint{ID: f.id("we"), MerchantID: m.ID, URL: "https://merchant.example/hooks",
					Events: []string{refund.EventRefundSucceeded}, SigningSecrets: refund.SigningSecrets{Secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"},
					CreatedAt: t0, UpdatedAt: t0}
				count := func(tx refund.Tx, want int, enabled bool) error {
					eps, err := tx.ListWebhookEndpoints(f.ctx, m.ID)
					if err != nil {
						return err
					}
					if len(eps) != want || (want == 1 && eps[0].Disabled == enabled) {
						t.Errorf("endpoints = %d (%+v), want %d enabled=%v", len(eps), eps, want, enabled)
					}
					return nil
				}
				f.mustUpdate(func(tx refund.Tx) error {
					if err := read.fn(tx); err != nil {
						return err
					}
					if err := count(tx, 0, false); err != nil {
						return err
					}
					if err := tx.CreateWebhookEndpoint(f.ctx, e); err != nil {
						return err
					}
					if err := count(tx, 1, true); err != nil {
						return err
					}
					if err := read.fn(tx); err != nil { // read ahead again
						return err
					}
					e.Disabled = true
					if err := tx.UpdateWebhookEndpoint(f.ctx, e); err != nil {
						return err
					}
					if err := count(tx, 1, false); err != nil {
						return err
					}
					if err := read.fn(tx); err != nil {
						return err
					}
					if err := tx.DeleteWebhookEndpoint(f.ctx, m.ID, e.ID); err != nil {
						return err
					}
					return count(tx, 0, false)
				})
			})
		}
	}},
	{"InvoicesAfterOrderAndRefundRead", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors)
		r := f.mustCreateRefund(o)
		sale := refund.InvoiceFilter{MerchantID: m.ID, OrderID: o.ID, Type: refund.InvoiceSale, Limit: 1}
		note := refund.InvoiceFilter{MerchantID: m.ID, RefundID: r.ID, Type: refund.InvoiceRefund, Limit: 1}
		list := func(tx refund.Tx, filter refund.InvoiceFilter, want int) error {
			invs, err := tx.ListInvoices(f.ctx, filter)
			if err != nil {
				return err
			}
			if len(invs) != want {
				t.Errorf("invoices %+v = %d, want %d", filter, len(invs), want)
			}
			return nil
		}
		parent := newSaleInvoice(o, 1)
		f.mustUpdate(func(tx refund.Tx) error {
			if _, err := tx.GetOrderForRefund(f.ctx, m.ID, o.ID); err != nil {
				return err
			}
			if err := list(tx, sale, 0); err != nil {
				return err
			}
			if err := tx.CreateInvoice(f.ctx, parent); err != nil {
				return err
			}
			return list(tx, sale, 1)
		})
		f.mustUpdate(func(tx refund.Tx) error {
			if _, err := tx.GetRefund(f.ctx, m.ID, r.ID); err != nil {
				return err
			}
			if err := list(tx, note, 0); err != nil {
				return err
			}
			if err := tx.CreateInvoice(f.ctx, newRefundInvoice(parent, r.ID, 2)); err != nil {
				return err
			}
			return list(tx, note, 1)
		})
	}},
	{"MerchantAndInvoiceConfigAfterOrderAndRefundUpdate", func(t *testing.T, f *fixture) {
		m, o, r, _, _ := f.mustCreateCreditedOrder()
		// Each read is followed by a guarded update, which PostgreSQL's
		// reads of an invoiced order's merchant travel with.
		b := refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 100}
		for i, read := range []struct {
			name string
			fn   func(tx refund.Tx) error
		}{
			{"order", func(tx refund.Tx) error {
				if _, err := tx.GetOrderForRefund(f.ctx, m.ID, o.ID); err != nil {
					return err
				}
				_, err := tx.ReserveRefund(f.ctx, b)
				return err
			}},
			{"refund", func(tx refund.Tx) error {
				if _, err := tx.GetRefund(f.ctx, m.ID, r.ID); err != nil {
					return err
				}
				return tx.AdjustBalances(f.ctx, b, refund.Reserve)
			}},
		} {
			t.Run(read.name, func(t *testing.T) {
				zone, prefix := []string{"Asia/Kuwait", "Asia/Dubai"}[i], []string{"CN-", "RF-"}[i]
				f.mustUpdate(func(tx refund.Tx) error {
					if err := read.fn(tx); err != nil {
						return err
					}
					got, err := tx.GetMerchant(f.ctx, m.ID)
					if err != nil {
						return err
					}
					got.Name = "changed by its caller"
					if err := tx.SetMerchantTimeZone(f.ctx, m.ID, zone); err != nil {
						return err
					}
					got, err = tx.GetMerchant(f.ctx, m.ID)
					if err != nil {
						return err
					}
					if got.TimeZone != zone || got.Name != m.Name {
						t.Errorf("merchant after setting its zone = %+v, want zone %s and name %q", got, zone, m.Name)
					}
					if err := read.fn(tx); err != nil { // read ahead again
						return err
					}
					c, err := tx.GetInvoiceConfig(f.ctx, m.ID)
					if i == 0 {
						wantCode(t, err, refund.ENotFound)
					} else if err != nil {
						return err
					}
					put := &refund.InvoiceConfig{MerchantID: m.ID, SerialPrefix: prefix, SellerName: "Souq", ZATCAEnabled: true, UpdatedAt: t0}
					if err := tx.PutInvoiceConfig(f.ctx, put); err != nil {
						return err
					}
					if c, err = tx.GetInvoiceConfig(f.ctx, m.ID); err != nil {
						return err
					}
					c.SerialPrefix = "changed by its caller"
					if c, err = tx.GetInvoiceConfig(f.ctx, m.ID); err != nil {
						return err
					}
					if c.SerialPrefix != prefix || c.SellerName != "Souq" {
						t.Errorf("invoice config after writing it = %+v, want prefix %s", c, prefix)
					}
					return nil
				})
			})
		}
	}},
	// A refund's transaction reads an invoiced order's invoices with its
	// guarded update (PostgreSQL): its own later writes to them are what
	// its next reads see, and a caller's changes to what it read are not.
	{"InvoicesAfterGuardedUpdate", func(t *testing.T, f *fixture) {
		m, o, r, parent, note := f.mustCreateCreditedOrder()
		b := refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 100}
		saleF := refund.InvoiceFilter{MerchantID: m.ID, OrderID: o.ID, Type: refund.InvoiceSale, Limit: 1}
		noteF := refund.InvoiceFilter{MerchantID: m.ID, RefundID: r.ID, Type: refund.InvoiceRefund, Limit: 1}
		// Not t.Fatal: fn may run on a store's goroutine.
		one := func(tx refund.Tx, filter refund.InvoiceFilter) (*refund.Invoice, error) {
			invs, err := tx.ListInvoices(f.ctx, filter)
			if err == nil && len(invs) != 1 {
				err = fmt.Errorf("invoices %+v = %d, want 1", filter, len(invs))
			}
			if err != nil {
				return nil, err
			}
			return invs[0], nil
		}
		credited := func(inv *refund.Invoice, want int64) {
			t.Helper()
			if len(inv.Lines) != 2 || inv.Lines[0].Credited != want {
				t.Errorf("tax invoice lines = %+v, want 2 with the first credited %d", inv.Lines, want)
			}
		}
		f.mustUpdate(func(tx refund.Tx) error {
			if _, err := tx.GetOrderForRefund(f.ctx, m.ID, o.ID); err != nil {
				return err
			}
			if _, err := tx.ReserveRefund(f.ctx, b); err != nil {
				return err
			}
			got, err := one(tx, saleF)
			if err != nil {
				return err
			}
			credited(got, 0)
			got.Lines[0].Credited, got.Status = 1, refund.InvoiceVoid
			if got, err = one(tx, saleF); err != nil {
				return err
			}
			credited(got, 0)
			if got.Status != refund.InvoicePaid {
				t.Errorf("a caller's change to its invoice leaked into the next read: %+v", got)
			}
			if err := tx.AddCredited(f.ctx, parent.ID, credits(map[int64]int64{parent.Lines[0].ID: 5000}), refund.Credit{}); err != nil {
				return err
			}
			if got, err = one(tx, saleF); err != nil {
				return err
			}
			credited(got, 5000)
			return nil
		})
		f.mustUpdate(func(tx refund.Tx) error {
			if _, err := tx.GetRefund(f.ctx, m.ID, r.ID); err != nil {
				return err
			}
			if err := tx.AdjustBalances(f.ctx, b, refund.Release); err != nil {
				return err
			}
			got, err := one(tx, noteF)
			if err != nil {
				return err
			}
			if got.ID != note.ID || len(got.Lines) != 1 || got.Status != refund.InvoicePending {
				t.Errorf("credit note = %+v, want %d pending with one line", got, note.ID)
			}
			got.Status = refund.InvoicePaid
			if err := tx.UpdateInvoice(f.ctx, got); err != nil {
				return err
			}
			if got, err = one(tx, noteF); err != nil {
				return err
			}
			if got.Status != refund.InvoicePaid {
				t.Errorf("credit note after paying it = %s", got.Status)
			}
			p, err := tx.GetInvoice(f.ctx, m.ID, parent.ID)
			if err != nil {
				return err
			}
			credited(p, 5000)
			if err := tx.AddCredited(f.ctx, parent.ID, credits(map[int64]int64{parent.Lines[0].ID: 1}), refund.Credit{}); err != nil {
				return err
			}
			if p, err = tx.GetInvoice(f.ctx, m.ID, parent.ID); err != nil {
				return err
			}
			credited(p, 5001)
			return nil
		})
	}},
}

// mustCreateCreditedOrder creates a merchant's invoiced order with a
// refund and the refund's pending credit note.
func (f *fixture) mustCreateCreditedOrder() (m *refund.Merchant, o *refund.Order, r *refund.Refund, parent, note *refund.Invoice) {
	f.t.Helper()
	m = f.mustCreateMerchant()
	o = f.mustCreateOrder(m.ID, withItemsAndVendors)
	r = f.mustCreateRefund(o)
	parent = newSaleInvoice(o, 1)
	f.mustCreateInvoice(parent)
	note = newRefundInvoice(parent, r.ID, 2)
	f.mustCreateInvoice(note)
	return m, o, r, parent, note
}
