package refund_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/postgres/pgtest"
)

type policyChangeKey struct{}

// policyReadStore runs during, once armed, inside the first write
// transaction whose ctx carries policyChangeKey, just after it read the
// merchant's refund policy.
type policyReadStore struct {
	refund.Store
	during atomic.Pointer[func()]
}

func (s *policyReadStore) Update(ctx context.Context, fn func(refund.Tx) error) error {
	if ctx.Value(policyChangeKey{}) == nil {
		return s.Store.Update(ctx, fn)
	}
	return s.Store.Update(ctx, func(tx refund.Tx) error { return fn(policyReadTx{tx, s}) })
}

type policyReadTx struct {
	refund.Tx
	s *policyReadStore
}

func (tx policyReadTx) GetRefundPolicy(ctx context.Context, merchantID string) (*refund.RefundPolicy, error) {
	p, err := tx.Tx.GetRefundPolicy(ctx, merchantID)
	if during := tx.s.during.Swap(nil); during != nil {
		(*during)()
	}
	return p, err
}

// Two operators change a merchant's refund policy at once on two nodes,
// each one currency's threshold (refundd policy set --threshold, which
// keeps the other currencies'). Each read the policy, changed its
// currency and wrote the whole policy back: on PostgreSQL (READ
// COMMITTED) the change that committed second wrote the policy as it was
// before the first, and the first one's threshold was gone. A BHD refund
// of 300.000 over the 200.000 just set then went to the processor
// without a second person. The change now holds the merchant's row from
// before its read: the other waits, and changes the policy the first left.
// (SQLite runs one writer at a time: the second reads after the first.)
func TestRefundPolicy_ConcurrentChangesKeepEachOther(t *testing.T) {
	url := pgtest.URL(t, 8)
	b := make([]byte, 6)
	rand.Read(b)
	app := "refundd_policy_" + hex.EncodeToString(b)
	ctx := context.Background()
	a := &policyReadStore{Store: openPostgresURL(t, url)}
	other := openPostgresURL(t, url+"&application_name="+app)
	var n atomic.Int64
	newID := func(p string) string { return fmt.Sprintf("%s_%012d", p, n.Add(1)) }
	proc := &instantProcessor{}
	var svcs [2]*refund.Service
	for i, st := range []refund.Store{a, other} {
		svc, err := refund.NewService(refund.Config{Store: st, Processor: proc, NewID: newID})
		if err != nil {
			t.Fatal(err)
		}
		svcs[i] = svc
	}
	_, key, err := svcs[0].CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	var ps [2]refund.Principal
	for i, svc := range svcs {
		if ps[i], err = svc.Authenticate(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	sar := map[string]int64{"SAR": 50_000}
	if _, err := svcs[0].PutRefundPolicy(ctx, ps[0], refund.RefundPolicyInput{ApprovalThreshold: &sar}); err != nil {
		t.Fatal(err)
	}

	watch, err := pgx.Connect(ctx, pgtest.BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	var otherErr error
	changed := make(chan struct{})
	during := func() {
		go func() {
			defer close(changed)
			_, otherErr = svcs[1].PutRefundPolicy(ctx, ps[1], refund.RefundPolicyInput{Thresholds: map[string]*int64{"BHD": ptr[int64](200_000)}})
		}()
		// Until the other change has committed, or waits for a lock.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var waits bool
			if err := watch.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
				WHERE application_name = $1 AND wait_event_type = 'Lock')`, app).Scan(&waits); err != nil {
				t.Error(err)
				return
			}
			if waits {
				return
			}
			select {
			case <-changed:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Error("the other change neither committed nor waited for a lock")
				return
			}
		}
	}
	a.during.Store(&during)
	if _, err := svcs[0].PutRefundPolicy(context.WithValue(ctx, policyChangeKey{}, true), ps[0],
		refund.RefundPolicyInput{Thresholds: map[string]*int64{"KWD": ptr[int64](20_000)}}); err != nil {
		t.Fatal(err)
	}
	<-changed
	if a.during.Load() != nil {
		t.Fatal("the change never read the policy")
	}
	if otherErr != nil {
		t.Fatal(otherErr)
	}
	pol, err := svcs[0].GetRefundPolicy(ctx, ps[0])
	if err != nil {
		t.Fatal(err)
	}
	for cur, want := range map[string]int64{"SAR": 50_000, "KWD": 20_000, "BHD": 200_000} {
		if got, ok := pol.ApprovalThreshold[cur]; !ok || got != want {
			t.Errorf("%s threshold %d (set %v), want %d: %v", cur, got, ok, want, pol.ApprovalThreshold)
		}
	}
	o, err := svcs[0].CreateOrder(ctx, ps[0], refund.OrderInput{Currency: "BHD", Amount: 500_000})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svcs[0].CreateRefund(ctx, ps[0], refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](300_000)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != refund.StatusRequiresApproval {
		t.Errorf("a 300.000 BHD refund over the 200.000 threshold is %s, want requires_approval", r.Status)
	}
}
