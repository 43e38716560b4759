package storetest

import (
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

func (f *fixture) newAccount(merchantID, name string, def bool) *refund.ProcessorAccount {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	return &refund.ProcessorAccount{ID: f.id("pa"), MerchantID: merchantID, Name: name, Kind: "sgate",
		URL: "https://sgate.example/api", Credential: "k1:c2VhbGVk", Options: map[string]string{"region": "sa"},
		Default: def, CreatedAt: now, UpdatedAt: now}
}

var processorTests = []test{
	{"CreateGetList", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		other := f.mustCreateMerchant()
		a := f.newAccount(m.ID, "main", true)
		b := f.newAccount(m.ID, "backup", false)
		c := f.newAccount(other.ID, "main", true) // names are per merchant
		f.mustUpdate(func(tx refund.Tx) error {
			for _, x := range []*refund.ProcessorAccount{a, b, c} {
				if err := tx.CreateProcessorAccount(f.ctx, x); err != nil {
					return err
				}
			}
			return nil
		})
		f.mustView(func(tx refund.Tx) error {
			for _, key := range []string{a.ID, "main"} {
				got, err := tx.GetProcessorAccount(f.ctx, m.ID, key)
				if err != nil {
					return err
				}
				wantSame(t, "GetProcessorAccount "+key, got, a)
			}
			def, err := tx.DefaultProcessorAccount(f.ctx, m.ID)
			if err != nil {
				return err
			}
			wantSame(t, "DefaultProcessorAccount", def, a)
			list, err := tx.ListProcessorAccounts(f.ctx, m.ID)
			if err != nil {
				return err
			}
			wantSame(t, "ListProcessorAccounts", list, []*refund.ProcessorAccount{b, a})
			all, err := tx.ListProcessorAccounts(f.ctx, "")
			if err != nil {
				return err
			}
			if len(all) != 3 {
				t.Errorf("ListProcessorAccounts(all) = %d accounts, want 3", len(all))
			}
			_, err = tx.GetProcessorAccount(f.ctx, other.ID, b.ID)
			wantCode(t, err, refund.EProcessorAccountNotFound)
			return nil
		})
	}},
	{"IDBeforeName", func(t *testing.T, f *fixture) {
		// An order names its account by id; an account whose name is
		// another's id (the service refuses such names, not the store)
		// must not be the one found by that id, whichever came first.
		m := f.mustCreateMerchant()
		a := f.newAccount(m.ID, "main", false)
		named := f.newAccount(m.ID, a.ID, false)
		f.mustUpdate(func(tx refund.Tx) error {
			if err := tx.CreateProcessorAccount(f.ctx, named); err != nil {
				return err
			}
			return tx.CreateProcessorAccount(f.ctx, a)
		})
		f.mustView(func(tx refund.Tx) error {
			got, err := tx.GetProcessorAccount(f.ctx, m.ID, a.ID)
			if err == nil {
				wantSame(t, "GetProcessorAccount by the id another account is named", got, a)
			}
			return err
		})
	}},
	{"NameTaken", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateProcessorAccount(f.ctx, f.newAccount(m.ID, "main", false)) })
		err := f.update(func(tx refund.Tx) error { return tx.CreateProcessorAccount(f.ctx, f.newAccount(m.ID, "main", false)) })
		wantCode(t, err, refund.EConflict)
	}},
	{"OneDefault", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		a, b := f.newAccount(m.ID, "a", true), f.newAccount(m.ID, "b", true)
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateProcessorAccount(f.ctx, a) })
		f.mustView(func(tx refund.Tx) error {
			_, err := tx.DefaultProcessorAccount(f.ctx, f.mustCreateMerchant().ID)
			wantCode(t, err, refund.EProcessorAccountNotFound)
			return nil
		})
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateProcessorAccount(f.ctx, b) })
		f.mustView(func(tx refund.Tx) error {
			def, err := tx.DefaultProcessorAccount(f.ctx, m.ID)
			if err == nil && def.ID != b.ID {
				t.Errorf("default = %s, want the newer default %s", def.Name, b.Name)
			}
			return err
		})
	}},
	{"RotateCredential", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		a := f.newAccount(m.ID, "main", false)
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateProcessorAccount(f.ctx, a) })
		a.Credential, a.UpdatedAt = "k2:bmV3", a.UpdatedAt.Add(time.Hour)
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateProcessorAccountCredential(f.ctx, a) })
		f.mustView(func(tx refund.Tx) error {
			got, err := tx.GetProcessorAccount(f.ctx, m.ID, a.ID)
			if err == nil {
				wantSame(t, "after rotation", got, a)
			}
			return err
		})
	}},
	{"OrdersAndRefundsKeepTheRoute", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		a := f.newAccount(m.ID, "main", false)
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateProcessorAccount(f.ctx, a) })
		o := f.mustCreateOrder(m.ID, func(o *refund.Order) { o.ProcessorAccountID, o.ProcessorOrderID = a.ID, "INV-77" })
		got := f.mustGetOrder(o.ID)
		if got.ProcessorAccountID != a.ID || got.ProcessorOrderID != "INV-77" {
			t.Fatalf("order route = %q %q, want %q INV-77", got.ProcessorAccountID, got.ProcessorOrderID, a.ID)
		}
		r := f.mustCreateRefund(o)
		r.ProcessorReference, r.UpdatedAt = "rf_123", r.UpdatedAt.Add(time.Second)
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, r) })
		if got := f.mustGetRefund(r.ID); got.ProcessorReference != "rf_123" {
			t.Fatalf("ProcessorReference = %q, want rf_123", got.ProcessorReference)
		}
		// An open refund keeps the account.
		err := f.update(func(tx refund.Tx) error { return tx.DeleteProcessorAccount(f.ctx, m.ID, a.ID) })
		wantCode(t, err, refund.EConflict)
		r.Status = refund.StatusSucceeded
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, r) })
		f.mustUpdate(func(tx refund.Tx) error { return tx.DeleteProcessorAccount(f.ctx, m.ID, a.ID) })
		err = f.update(func(tx refund.Tx) error { return tx.DeleteProcessorAccount(f.ctx, m.ID, a.ID) })
		wantCode(t, err, refund.EProcessorAccountNotFound)
	}},
}
