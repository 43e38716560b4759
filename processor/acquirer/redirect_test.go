package acquirer_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/acquirer"
)

// TestClient_DoesNotFollowRedirects: an answer that points elsewhere is
// no answer of the acquirer's. Followed, a 307 or 308 replays the
// submission (its key, amount and card) to wherever it points, which may
// execute it, and a redirected status lookup reads another server's
// "never executed" as the acquirer's, which makes a resubmission look
// safe. Both the connector's own HTTP client and one the caller passes
// (as refundd serve --processor URL does) must refuse them.
func TestClient_DoesNotFollowRedirects(t *testing.T) {
	for _, client := range []struct {
		name string
		hc   func() *http.Client
	}{
		{"OwnClient", func() *http.Client { return nil }},
		{"CallersClient", func() *http.Client {
			return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
		}},
	} {
		for _, tc := range []struct {
			name   string
			status int
			lookup bool // a status lookup, not a submission
		}{
			{"SubmitTemporaryRedirect", http.StatusTemporaryRedirect, false},
			{"SubmitPermanentRedirect", http.StatusPermanentRedirect, false},
			{"SubmitSeeOther", http.StatusSeeOther, false},
			{"StatusFound", http.StatusFound, true},
			{"StatusTemporaryRedirect", http.StatusTemporaryRedirect, true},
		} {
			t.Run(client.name+"/"+tc.name, func(t *testing.T) {
				other := startService(t, nil) // another acquirer: it would execute what it is sent
				var hits atomic.Int32
				target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					other.Handler().ServeHTTP(w, r)
				}))
				defer target.Close()
				redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, target.URL+r.URL.Path, tc.status)
				}))
				defer redirecting.Close()
				c, err := acquirer.New(redirecting.URL, client.hc())
				if err != nil {
					t.Fatal(err)
				}
				req := request("ref_1", "4444", 1005)
				var res processor.Result
				if tc.lookup {
					res, err = c.StatusOf(t.Context(), req)
				} else {
					res, err = c.Refund(t.Context(), req)
				}
				if err == nil || errors.Is(err, processor.ErrNotFound) {
					t.Errorf("answered %+v, %v; a redirect is an unknown outcome", res, err)
				}
				if n := hits.Load(); n != 0 {
					t.Errorf("the redirect was followed: its target got %d request(s)", n)
				}
				if ex := other.acq.Executed(); len(ex) != 0 {
					t.Errorf("the redirect's target executed %+v", ex)
				}
			})
		}
	}
}
