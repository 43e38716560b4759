package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
	"github.com/refundd/refundd/server"
)

// Two refundd installations on one acquirer ledger whose refund ids
// collide: the second's refund is refused as a reused key (409), and its
// status lookup finds the first's approval of another amount under that
// key. Taken as its own, refundd recorded a refund paid that the acquirer
// never paid; it must stay unsettled, its money held, for a person.
func TestAcquirer_AnotherRefundsAnswerIsNotThisOnes(t *testing.T) {
	acq := sandbox.New(sandbox.Config{})
	svc, err := service.New(acq, service.Faults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(svc.Handler())
	t.Cleanup(ts.Close)
	onAcquirer := func(c *server.Config) { c.Processor = ts.URL }

	var ids []string
	for i, amount := range []int64{1005, 2000} {
		s := mustStart(t, onAcquirer)
		order := s.mustOrder(cardOrder("4444", 10_000))
		r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": amount})
		if r.status != http.StatusCreated {
			t.Fatalf("refund %d: %d %s", i, r.status, r.raw)
		}
		ids = append(ids, r.str("id"))
		if i == 0 {
			if r.str("status") != "succeeded" {
				t.Fatalf("first refund: %s", r.raw)
			}
			continue
		}
		if ids[1] != ids[0] {
			t.Fatalf("the two installations' refund ids differ (%s, %s): the test proves nothing", ids[0], ids[1])
		}
		for range 10 {
			s.runWorker(time.Minute)
		}
		if got := s.do("GET", "/v1/refunds/"+ids[1], s.key, nil); got.str("status") == "succeeded" {
			t.Fatalf("a refund of 20.00 the acquirer refused as a reused key is %s: %s", got.str("status"), got.raw)
		}
	}
	if ex := acq.Executed(); len(ex) != 1 || ex[0].Amount != 1005 {
		t.Fatalf("the acquirer executed %+v", ex)
	}
}
