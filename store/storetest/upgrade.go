package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/refundd/refundd/refund"
)

// Upgrades. Each store's test writes, at every earlier schema version, the
// rows a version-1 installation holds (in that version's columns) and then
// opens the store, which migrates it to the latest version; CheckUpgraded
// then holds the result to what those rows promised. The rows:
//
//	merchant mer_old with API key UpgradeKey (scopes: all);
//	order ord_old (SAR, captured 10000, refunded 3000, pending 2000) with
//	its capture txn_old;
//	refunds re_old_s (3000, succeeded), re_old_p (2000, processing, due
//	now: its node died) and re_old_f (1000, failed), numbered 1, 2, 3 from
//	version 3 on, each with its transitions.
const (
	UpgradeKey = "rk_0123456789ab_0123456789abcdef0123456789abcdef"
	// UpgradeKeySHA256 is the hex SHA-256 the key is stored as.
	UpgradeKeySHA256 = "c3f8fdd93f2342118fd25d2139f28b4e16c84c605544199ab59eaa8a2a4ad9dd"
	// UpgradeScopes are the key's scopes, as api_keys.scopes holds them.
	UpgradeScopes = "orders:write orders:read refunds:write refunds:read"
	upgradeOrder  = "ord_old"
)

// UpgradeDialect is how a store writes the upgrade rows: the literals of
// its times and of the key's hash and scopes, and the columns only it has.
type UpgradeDialect struct {
	Day, Later   string // 2025-01-01 and one minute later
	Finished     string // a finished refund's next_attempt_at
	Hash, Scopes string // UpgradeKeySHA256 and UpgradeScopes as api_keys holds them
	// Numbered: refunds.number (version 3 on) is written, not numbered by
	// the store itself.
	Numbered bool
	// LockedUntil: idempotency_keys.locked_until must be written.
	LockedUntil bool
}

// UpgradeRows are the upgrade rows in the columns of version v, as d
// writes them: idempotency_keys.refund_id became object_id in 0007,
// refunds.number came in 0003.
func UpgradeRows(v int, d UpgradeDialect) string {
	object := "refund_id"
	if v >= 7 {
		object = "object_id"
	}
	numberCol, n1, n2, n3 := "", "", "", ""
	if d.Numbered && v >= 3 {
		numberCol, n1, n2, n3 = ", number", ", 1", ", 2", ", 3"
	}
	lockedCol, locked := "", ""
	if d.LockedUntil {
		lockedCol, locked = ", locked_until", ", "+d.Day
	}
	r := strings.NewReplacer("{day}", d.Day, "{later}", d.Later, "{finished}", d.Finished, "{number}", numberCol,
		"{n1}", n1, "{n2}", n2, "{n3}", n3, "{object}", object, "{lockedCol}", lockedCol, "{locked}", locked,
		"{hash}", d.Hash, "{scopes}", d.Scopes)
	return r.Replace(`
INSERT INTO merchants (id, app_id, name, created_at) VALUES ('mer_old', 1, 'Old Souq', {day});
INSERT INTO api_keys (id, prefix, hash, merchant_id, scopes, created_at) VALUES ('key_old', 'rk_0123456789ab', {hash}, 'mer_old', {scopes}, {day});
INSERT INTO orders (id, merchant_id, reference, currency, amount, captured_amount, refunded_amount, pending_refund_amount, payment_method, refund_count, created_at, updated_at)
    VALUES ('ord_old', 'mer_old', 'OLD-1', 'SAR', 10000, 10000, 3000, 2000, 'card', 3, {day}, {day});
INSERT INTO transactions (id, order_id, seq, type, status, amount, refunded_amount, pending_amount, created_at)
    VALUES ('txn_old', 'ord_old', 1, 'capture', 'succeeded', 10000, 3000, 2000, {day});
INSERT INTO refunds (id, merchant_id, order_id, seq, amount, currency, status, capture_id, surface, attempts, next_attempt_at, version, created_at, updated_at{number}) VALUES
    ('re_old_s', 'mer_old', 'ord_old', 1, 3000, 'SAR', 'succeeded', 'txn_old', 'native', 1, {finished}, 3, {day}, {later}{n1}),
    ('re_old_p', 'mer_old', 'ord_old', 2, 2000, 'SAR', 'processing', 'txn_old', 'native', 1, {later}, 2, {day}, {day}{n2}),
    ('re_old_f', 'mer_old', 'ord_old', 3, 1000, 'SAR', 'failed', 'txn_old', 'native', 1, {finished}, 3, {day}, {later}{n3});
INSERT INTO refund_transitions (refund_id, from_status, to_status, cause, at) VALUES
    ('re_old_s', '', 'pending', 'created', {day}), ('re_old_s', 'pending', 'processing', 'submitted', {day}),
    ('re_old_s', 'processing', 'succeeded', 'approved', {later}),
    ('re_old_p', '', 'pending', 'created', {day}), ('re_old_p', 'pending', 'processing', 'submitted', {day}),
    ('re_old_f', '', 'pending', 'created', {day}), ('re_old_f', 'pending', 'processing', 'submitted', {day}),
    ('re_old_f', 'processing', 'failed', 'declined', {later});
INSERT INTO idempotency_keys (merchant_id, idempotency_key, request_hash, {object}{lockedCol}, created_at, expires_at, completed_at)
    VALUES ('mer_old', 'old-key', 'h', 're_old_s'{locked}, {day}, {later}, {later});
`)
}

// UpgradeFromEveryVersion checks, for every schema version from 1 to
// latest-1, a store upgraded from it: at gives a store's schema at version
// v holding UpgradeRows, opened and so migrated to the latest. The
// versions are checked in parallel, so at must give each a store of its
// own.
func UpgradeFromEveryVersion(t *testing.T, latest int, at func(t *testing.T, v int) refund.Store) {
	t.Helper()
	for v := 1; v < latest; v++ {
		t.Run(fmt.Sprintf("From%04d", v), func(t *testing.T) {
			t.Parallel() // each version has a store of its own
			CheckUpgraded(t, at(t, v))
		})
	}
}

// CheckUpgraded checks a store migrated from an earlier version holding
// the upgrade rows: the refunds and the order read as written, the order's
// reservation still guards it, the refund whose node died is finished by
// a worker pass, and a new refund takes a number of its own.
func CheckUpgraded(t *testing.T, st refund.Store) {
	t.Helper()
	ctx := context.Background()
	svc, _ := newService(t, st, approver{}, nil)
	p, err := svc.Authenticate(ctx, UpgradeKey)
	if err != nil {
		t.Fatalf("the key made before the upgrade: %v", err)
	}
	numbers := map[int64]string{}
	for _, want := range []struct {
		id     string
		status refund.Status
		amount int64
	}{{"re_old_s", refund.StatusSucceeded, 3000}, {"re_old_p", refund.StatusProcessing, 2000}, {"re_old_f", refund.StatusFailed, 1000}} {
		r, err := svc.GetRefund(ctx, p, want.id)
		if err != nil || r.Status != want.status || r.Amount != want.amount || r.OrderID != upgradeOrder || r.Number <= 0 {
			t.Fatalf("refund %s after the upgrade: %+v, %v; want %s of %d on %s, numbered", want.id, r, err, want.status, want.amount, upgradeOrder)
		}
		if other, dup := numbers[r.Number]; dup {
			t.Fatalf("refunds %s and %s share number %d", other, r.ID, r.Number)
		}
		numbers[r.Number] = r.ID
	}
	order := func(refunded, pending int64) {
		t.Helper()
		o, err := svc.GetOrder(ctx, p, upgradeOrder)
		if err != nil || o.CapturedAmount != 10_000 || o.RefundedAmount != refunded || o.PendingRefundAmount != pending {
			t.Fatalf("order after the upgrade: %+v, %v; want captured 10000, refunded %d, pending %d", o, err, refunded, pending)
		}
	}
	order(3000, 2000)
	over := int64(5_001)
	if _, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: upgradeOrder, Amount: &over}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
		t.Fatalf("a refund of 5001 of the 5000 left: %v, want %s", err, refund.EAmountExceedsRefundable)
	}
	if _, err := svc.ProcessDue(ctx, 10, 1); err != nil {
		t.Fatal(err)
	}
	if r, err := svc.GetRefund(ctx, p, "re_old_p"); err != nil || r.Status != refund.StatusSucceeded {
		t.Fatalf("the refund whose node died, after a worker pass: %+v, %v; want succeeded", r, err)
	}
	order(5000, 0)
	rest := int64(5_000)
	r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: upgradeOrder, Amount: &rest})
	if err != nil || r.Status != refund.StatusSucceeded {
		t.Fatalf("a refund of the 5000 left: %+v, %v", r, err)
	}
	if other, dup := numbers[r.Number]; dup || r.Number <= 0 {
		t.Fatalf("the new refund took number %d of %s", r.Number, other)
	}
	order(10_000, 0)
}
