package refund_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
)

// Console users, each signed in several times (tabs, devices), use the
// console at once through two PostgreSQL nodes. Every request (here: a
// minute after the session's last) marks its session used in a write,
// which the store's group commit runs in one
// transaction with the other Updates that came with it. That write read
// the session's user with GetUser, which holds the user's row until the
// batch commits: two batches taking two users' rows in turn deadlocked,
// each request waiting a second for PostgreSQL to break it and its whole
// batch (refunds too) run again. The user is read before the write now,
// which holds only the session's row.
func TestConsoleSessionOf_UsersAtOnceDoNotDeadlock(t *testing.T) {
	url := postgresSchema(t)
	stores := [2]refund.Store{openPostgresURL(t, url), openPostgresURL(t, url)}
	creds := func(c *refund.Config) { c.Credentials = credential.Argon2{} }
	h := newHarnessOn(t, func(*testing.T) refund.Store { return stores[0] }, &instantProcessor{}, creds)
	other := h.node(&instantProcessor{}, func(c *refund.Config) { creds(c); c.Store = stores[1] })
	svcs := [2]*refund.Service{h.svc, other}
	var sessions []string
	for i := range 3 {
		email := fmt.Sprintf("ops%d@souq.example", i)
		if _, err := h.svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: email, Role: refund.RoleViewer,
			Password: sealPassword}); err != nil {
			t.Fatal(err)
		}
		for range 6 {
			id, _, _, err := h.svc.SignIn(h.ctx, email, sealPassword, "")
			if err != nil {
				t.Fatal(err)
			}
			sessions = append(sessions, id)
		}
	}
	retries := func() (n uint64) {
		for _, st := range stores {
			n += st.(interface{ Counts() refund.StoreCounts }).Counts().Retries
		}
		return n
	}
	before := retries()
	// Each request moves the shared clock past SessionTouchEvery, so that
	// every one writes; 18 sessions x 20 requests move it 6 hours, within
	// SessionIdle even for a session whose goroutine waits for all others.
	var wg sync.WaitGroup
	for i, id := range sessions { // one request at a time per session, as each waits for its answer
		wg.Go(func() {
			for n := range 20 {
				h.clk.Advance(refund.SessionTouchEvery + time.Second)
				if _, _, err := svcs[(i+n)%2].ConsoleSessionOf(h.ctx, id); err != nil {
					t.Errorf("session %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := retries() - before; n != 0 {
		t.Errorf("%d batches ran again (deadlocks): the requests of different users' sessions waited on each other", n)
	}
}
