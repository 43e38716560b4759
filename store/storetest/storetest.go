// Package storetest is the one conformance suite every refund.Store
// implementation must pass, unchanged: store/sqlite and store/postgres both
// call Run from their tests. Every rule about money that the store keeps
// (the guarded reservation above all) is a test here first.
//
// The suite speaks only the refund.Store and refund.Tx interfaces: no SQL,
// no driver, no backend-specific behaviour. It imports only the standard
// library, refund and processor (for the benchmarks' approving processor).
// Ids come from a deterministic generator (so they sort by creation, as
// real UUIDv7 ids do) and times are fixed; nothing sleeps.
// Times in the suite are whole microseconds, the precision PostgreSQL keeps.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// t0 is the suite's "now". Everything happens at fixed offsets from it.
var t0 = time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)

// test is one named conformance check.
type test struct {
	name string
	run  func(t *testing.T, f *fixture)
}

// Run runs the conformance suite. newStore must return a fresh, migrated,
// empty store for each call (its own file or schema) and arrange for it to
// be closed when t ends; each check gets its own store, so checks run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) refund.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Store", storeTests},
		{"Merchant", merchantTests},
		{"Partner", partnerTests},
		{"APIKey", apiKeyTests},
		{"Order", orderTests},
		{"Balances", balanceTests},
		{"Refund", refundTests},
		{"Claim", claimTests},
		{"Idempotency", idempotencyTests},
		{"List", listTests},
		{"Time", timeTests},
		{"Webhook", webhookTests},
		{"Audit", auditTests},
		{"Stats", statsTests},
		{"Invoice", invoiceTests},
		{"User", userTests},
		{"Discrepancy", discrepancyTests},
		{"Adjustment", adjustmentTests},
		{"Processor", processorTests},
		{"OwnWrites", ownWriteTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, &fixture{t: t, ctx: t.Context(), store: newStore(t), n: new(atomic.Int64)})
				})
			}
		})
	}
}

// fixture is one check's store with its id generator.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	store refund.Store
	n     *atomic.Int64
}

// sub returns f for the subtest t: the same store and ids, but failures
// reported on t.
func (f *fixture) sub(t *testing.T) *fixture {
	return &fixture{t: t, ctx: t.Context(), store: f.store, n: f.n}
}

// id returns prefix_NNNNNNNNNN: unique in the fixture and increasing, so
// that id order is creation order, as with refundd's UUIDv7 ids.
func (f *fixture) id(prefix string) string {
	return fmt.Sprintf("%s_%010d", prefix, f.n.Add(1))
}

func (f *fixture) update(fn func(tx refund.Tx) error) error {
	return f.store.Update(f.ctx, fn)
}

func (f *fixture) view(fn func(tx refund.Tx) error) error {
	return f.store.View(f.ctx, fn)
}

func (f *fixture) mustUpdate(fn func(tx refund.Tx) error) {
	f.t.Helper()
	if err := f.update(fn); err != nil {
		f.t.Fatalf("Update: %v", err)
	}
}

func (f *fixture) mustView(fn func(tx refund.Tx) error) {
	f.t.Helper()
	if err := f.view(fn); err != nil {
		f.t.Fatalf("View: %v", err)
	}
}

func (f *fixture) mustCreateMerchant(mods ...func(*refund.Merchant)) *refund.Merchant {
	f.t.Helper()
	m := &refund.Merchant{ID: f.id("mer"), Name: "Merchant", CreatedAt: t0}
	for _, mod := range mods {
		mod(m)
	}
	f.mustUpdate(func(tx refund.Tx) error { return tx.CreateMerchant(f.ctx, m) })
	return m
}

// newOrder returns an order of merchantID for 300.00 SAR, captured in
// full by one capture transaction, unless mods say otherwise. A mod that
// sets Transactions replaces the capture.
func (f *fixture) newOrder(merchantID string, mods ...func(*refund.Order)) *refund.Order {
	id := f.id("ord")
	o := &refund.Order{ID: id, MerchantID: merchantID, Reference: "REF-" + id, Currency: "SAR",
		Amount: 30000, CapturedAmount: 30000, PaymentMethod: "card", CreatedAt: t0, UpdatedAt: t0}
	for _, mod := range mods {
		mod(o)
	}
	if o.Transactions == nil {
		o.Transactions = []refund.Transaction{{ID: f.id("txn"), OrderID: o.ID, Seq: 1, Type: refund.TxCapture,
			Status: refund.TxSucceeded, Amount: o.CapturedAmount, ResponseCode: "00", Message: "Approved", CreatedAt: t0}}
	}
	return o
}

func (f *fixture) mustCreateOrder(merchantID string, mods ...func(*refund.Order)) *refund.Order {
	f.t.Helper()
	o := f.newOrder(merchantID, mods...)
	f.mustUpdate(func(tx refund.Tx) error { return tx.CreateOrder(f.ctx, o) })
	return o
}

func (f *fixture) mustGetOrder(id string) *refund.Order {
	f.t.Helper()
	var o *refund.Order
	f.mustView(func(tx refund.Tx) (err error) {
		o, err = tx.GetOrder(f.ctx, "", id)
		return err
	})
	return o
}

// withItemsAndVendors gives an order two lines (2 x 50.00 and 4 x 50.00)
// and two vendor splits (200.00 and 100.00) of its 300.00.
func withItemsAndVendors(o *refund.Order) {
	o.Items = []refund.Item{
		{ID: "line-1", SKU: "SKU-1", NameEN: "Dates", NameAR: "تمر", Qty: 2, UnitAmount: 5000, TaxRate: "15", Taxable: true, Amount: 10000},
		{ID: "line-2", SKU: "SKU-2", NameEN: "Coffee", NameAR: "قهوة", Qty: 4, UnitAmount: 5000, TaxRate: "15", Taxable: false, Amount: 20000},
	}
	o.Vendors = []refund.Vendor{
		{ID: "v1", Name: "Vendor One", IBAN: "SA0380000000608010167519", Amount: 20000},
		{ID: "v2", Name: "Vendor Two", Amount: 10000},
	}
}

// captureID is the id of o's first transaction.
func captureID(o *refund.Order) string { return o.Transactions[0].ID }

// newRefund returns a pending refund of 10.00 on o, due at t0, unless mods
// say otherwise.
func (f *fixture) newRefund(o *refund.Order, mods ...func(*refund.Refund)) *refund.Refund {
	r := &refund.Refund{ID: f.id("re"), MerchantID: o.MerchantID, OrderID: o.ID, Seq: 1, Amount: 1000, Currency: o.Currency,
		Status: refund.StatusPending, CaptureID: captureID(o), Surface: "native", NextAttemptAt: t0,
		RequestHash: "hash", Version: 1, CreatedAt: t0, UpdatedAt: t0}
	for _, mod := range mods {
		mod(r)
	}
	return r
}

func (f *fixture) mustCreateRefund(o *refund.Order, mods ...func(*refund.Refund)) *refund.Refund {
	f.t.Helper()
	r := f.newRefund(o, mods...)
	f.mustUpdate(func(tx refund.Tx) error { return tx.CreateRefund(f.ctx, r) })
	return r
}

func (f *fixture) mustGetRefund(id string) *refund.Refund {
	f.t.Helper()
	var r *refund.Refund
	f.mustView(func(tx refund.Tx) (err error) {
		r, err = tx.GetRefund(f.ctx, "", id)
		return err
	})
	return r
}

// adjust runs one AdjustBalances in its own Update.
func (f *fixture) adjust(b refund.Balances, op refund.BalanceOp) error {
	return f.update(func(tx refund.Tx) error { return tx.AdjustBalances(f.ctx, b, op) })
}

func (f *fixture) mustAdjust(b refund.Balances, op refund.BalanceOp) {
	f.t.Helper()
	if err := f.adjust(b, op); err != nil {
		f.t.Fatalf("AdjustBalances(%+v, %v): %v", b, op, err)
	}
}

// wantCode fails t unless err is a *refund.Error with code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := refund.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// wantCodeParam fails t unless err is a *refund.Error with code and param.
func wantCodeParam(t testing.TB, err error, code, param string) {
	t.Helper()
	wantCode(t, err, code)
	if got := refund.ErrorParam(err); got != param {
		t.Fatalf("error param = %q (%v), want %q", got, err, param)
	}
}

// wantSame fails t unless got and want are equal once normalized: times
// compared as instants, nil and empty slices alike.
func wantSame(t testing.TB, what string, got, want any) {
	t.Helper()
	g, w := normalize(reflect.ValueOf(got)), normalize(reflect.ValueOf(want))
	if !reflect.DeepEqual(g.Interface(), w.Interface()) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g.Interface(), w.Interface())
	}
}

// wantTime fails t unless got is the instant want, in UTC.
func wantTime(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Fatalf("%s is in %v, want UTC", what, got.Location())
	}
}

var timeType = reflect.TypeFor[time.Time]()

// normalize returns a copy of v with every time.Time in UTC without a
// monotonic reading (so equal instants are DeepEqual) and every empty
// slice nil.
func normalize(v reflect.Value) reflect.Value {
	if !v.IsValid() {
		return v
	}
	if v.Type() == timeType {
		return reflect.ValueOf(v.Interface().(time.Time).UTC())
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(normalize(v.Elem()))
		return p
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if c.Field(i).CanSet() {
				c.Field(i).Set(normalize(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(normalize(v.Index(i)))
		}
		return c
	}
	return v
}

var storeTests = []test{
	// Concurrent Updates may share a transaction (group commit): each
	// still commits or rolls back alone. Half of them write and then fail,
	// one panics; the others' writes all stay, the failed ones' all go,
	// and every caller gets its own answer. Several on one order (the key
	// a grouping store may batch by) and the rest on their own.
	{"ConcurrentUpdatesStandAlone", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		hot := f.mustCreateOrder(m.ID)
		const n = 40
		errs := make([]error, n)
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			ids[i] = f.id("ord")
			ctx := f.ctx
			if i%3 == 0 {
				ctx = refund.WithOrderKey(ctx, m.ID, hot.ID)
			}
			wg.Go(func() {
				defer func() {
					if p := recover(); p != nil {
						errs[i] = fmt.Errorf("panic reached the caller: %v", p)
					}
				}()
				errs[i] = f.store.Update(ctx, func(tx refund.Tx) error {
					o := f.newOrder(m.ID, func(o *refund.Order) { o.ID, o.Reference = ids[i], "REF-"+ids[i] })
					if err := tx.CreateOrder(ctx, o); err != nil {
						return err
					}
					switch {
					case i == 7:
						panic("fn panicked after writing")
					case i%2 == 1:
						return refund.Errorf(refund.EInvalidRequest, "", "caller %d fails after writing", i)
					}
					return nil
				})
			})
		}
		wg.Wait()
		for i := range n {
			_, getErr := func() (*refund.Order, error) {
				var o *refund.Order
				err := f.view(func(tx refund.Tx) (err error) {
					o, err = tx.GetOrder(f.ctx, "", ids[i])
					return err
				})
				return o, err
			}()
			switch {
			case i%2 == 0 && (errs[i] != nil || getErr != nil):
				t.Errorf("caller %d: Update = %v, order read = %v; want committed", i, errs[i], getErr)
			case i == 7 && (errs[i] == nil || strings.Contains(errs[i].Error(), "reached the caller") || refund.ErrorCode(getErr) != refund.EOrderNotFound):
				t.Errorf("caller 7 (panicked): Update = %v, order read = %v; want an error and nothing written", errs[i], getErr)
			case i%2 == 1 && i != 7 && (refund.ErrorCode(errs[i]) != refund.EInvalidRequest || refund.ErrorCode(getErr) != refund.EOrderNotFound):
				t.Errorf("caller %d: Update = %v, order read = %v; want its own error and nothing written", i, errs[i], getErr)
			}
		}
	}},
	{"Ping", func(t *testing.T, f *fixture) {
		if err := f.store.Ping(f.ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}},
	{"ErrorsPassThrough", func(t *testing.T, f *fixture) {
		// fn's own errors come back unchanged, domain errors included.
		domain := refund.Errorf(refund.ERefundNotCancelable, "id", "too late")
		for name, run := range map[string]func(fn func(refund.Tx) error) error{"Update": f.update, "View": f.view} {
			wantCodeParam(t, run(func(refund.Tx) error { return domain }), refund.ERefundNotCancelable, "id")
			err := run(func(refund.Tx) error { return context.Canceled })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s returned %v, want fn's error", name, err)
			}
		}
	}},
}
