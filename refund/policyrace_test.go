package refund_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/postgres/pgtest"
)

type policyChangeKey struct{}

// policyReadStore runs during, once armed, inside the first write
// transaction whose ctx carries policyChangeKey, just after it read the
// merchant's refund policy or invoice configuration.
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

func (tx policyReadTx) read() {
	if during := tx.s.during.Swap(nil); during != nil {
		(*during)()
	}
}

func (tx policyReadTx) GetRefundPolicy(ctx context.Context, merchantID string) (*refund.RefundPolicy, error) {
	p, err := tx.Tx.GetRefundPolicy(ctx, merchantID)
	tx.read()
	return p, err
}

func (tx policyReadTx) GetUser(ctx context.Context, id string) (*refund.User, error) {
	u, err := tx.Tx.GetUser(ctx, id)
	tx.read()
	return u, err
}

func (tx policyReadTx) GetInvoiceConfig(ctx context.Context, merchantID string) (*refund.InvoiceConfig, error) {
	c, err := tx.Tx.GetInvoiceConfig(ctx, merchantID)
	tx.read()
	return c, err
}

// changeAtOnce makes a merchant served by two PostgreSQL nodes, runs
// first on one, and, once first has read what it changes (the refund
// policy, the invoice configuration, a console user), second on the
// other, until second commits or waits for a lock; first then goes on.
// It answers the first node's service and principal, to check that
// neither change was lost.
func changeAtOnce(t *testing.T, setup, first, second func(context.Context, *refund.Service, refund.Principal) error) (*refund.Service, refund.Principal) {
	t.Helper()
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
		svc, err := refund.NewService(refund.Config{Store: st, Processor: proc, NewID: newID, Credentials: credential.Argon2{}})
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
	if err := setup(ctx, svcs[0], ps[0]); err != nil {
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
			otherErr = second(ctx, svcs[1], ps[1])
		}()
		// Until the other change has committed, or waits for a lock.
		waitsForLock(t, watch, app, changed)
	}
	a.during.Store(&during)
	if err := first(context.WithValue(ctx, policyChangeKey{}, true), svcs[0], ps[0]); err != nil {
		t.Fatal(err)
	}
	<-changed
	if a.during.Load() != nil {
		t.Fatal("the change never read what it changes")
	}
	if otherErr != nil {
		t.Fatal(otherErr)
	}
	return svcs[0], ps[0]
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
	threshold := func(cur string, v int64) func(context.Context, *refund.Service, refund.Principal) error {
		return func(ctx context.Context, svc *refund.Service, p refund.Principal) error {
			_, err := svc.PutRefundPolicy(ctx, p, refund.RefundPolicyInput{Thresholds: map[string]*int64{cur: &v}})
			return err
		}
	}
	svc, p := changeAtOnce(t, threshold("SAR", 50_000), threshold("KWD", 20_000), threshold("BHD", 200_000))
	ctx := context.Background()
	pol, err := svc.GetRefundPolicy(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for cur, want := range map[string]int64{"SAR": 50_000, "KWD": 20_000, "BHD": 200_000} {
		if got, ok := pol.ApprovalThreshold[cur]; !ok || got != want {
			t.Errorf("%s threshold %d (set %v), want %d: %v", cur, got, ok, want, pol.ApprovalThreshold)
		}
	}
	o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "BHD", Amount: 500_000})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](300_000)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != refund.StatusRequiresApproval {
		t.Errorf("a 300.000 BHD refund over the 200.000 threshold is %s, want requires_approval", r.Status)
	}
}

// Two operators change a merchant's invoice configuration at once on two
// nodes: one the seller's VAT number, the other turns ZATCA reporting
// off. Each wrote the whole configuration back as it read it, so on
// PostgreSQL the second undid the first (and its audit entry's "before"
// was not what it replaced). The change holds the merchant's row from
// before its read, as the refund policy's does.
func TestInvoiceConfig_ConcurrentChangesKeepEachOther(t *testing.T) {
	vat, off, prefix := "300000000000003", false, "SQ-"
	svc, p := changeAtOnce(t,
		func(ctx context.Context, svc *refund.Service, p refund.Principal) error {
			_, err := svc.UpdateInvoiceConfig(ctx, p, refund.InvoiceConfigInput{SerialPrefix: &prefix})
			return err
		},
		func(ctx context.Context, svc *refund.Service, p refund.Principal) error {
			_, err := svc.UpdateInvoiceConfig(ctx, p, refund.InvoiceConfigInput{VATNumber: &vat})
			return err
		},
		func(ctx context.Context, svc *refund.Service, p refund.Principal) error {
			_, err := svc.UpdateInvoiceConfig(ctx, p, refund.InvoiceConfigInput{ZATCAEnabled: &off})
			return err
		})
	c, err := svc.GetInvoiceConfig(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if c.VATNumber != vat || c.ZATCAEnabled || c.SerialPrefix != prefix {
		t.Errorf("invoice configuration %+v; want VAT number %s, reporting off and prefix %s", c, vat, prefix)
	}
}

// Two operators change one console user at once on two nodes: one
// disables the user (refundd user disable, say on leaving the company),
// the other changes something else of the row (its role here; a password
// reset or a second factor's start write the same way). Each read the
// user and wrote the whole row back: on PostgreSQL the change that
// committed second wrote the user as it was before the first, and a
// disable undone so left the person able to sign in, with the audit trail
// saying they were disabled. The write now holds the user's row from its
// read: the other waits, and changes the row the first left.
func TestUser_ConcurrentChangesKeepEachOther(t *testing.T) {
	var id string
	svc, _ := changeAtOnce(t,
		func(ctx context.Context, svc *refund.Service, p refund.Principal) error {
			u, err := svc.CreateUser(ctx, refund.UserInput{MerchantID: p.MerchantID, Email: "ops@souq.example", Role: refund.RoleViewer,
				Password: "correct horse battery staple"})
			if err == nil {
				id = u.ID
			}
			return err
		},
		func(ctx context.Context, svc *refund.Service, _ refund.Principal) error {
			_, err := svc.SetUserDisabled(ctx, id, true)
			return err
		},
		func(ctx context.Context, svc *refund.Service, _ refund.Principal) error {
			_, err := svc.ChangeUser(ctx, id, func(u *refund.User) error {
				u.Role = refund.RoleAdmin
				return nil
			})
			return err
		})
	us, err := svc.ListUsers(context.Background(), "")
	if err != nil || len(us) != 1 {
		t.Fatalf("users %v, %v", us, err)
	}
	if !us[0].Disabled || us[0].Role != refund.RoleAdmin {
		t.Errorf("user disabled %v, role %s; want disabled and admin", us[0].Disabled, us[0].Role)
	}
}
