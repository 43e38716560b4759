package service

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestNotifier_DoesNotFollowRedirects: a notification is signed and moves
// money at the receiver; a 307 or 308 from the notify URL would replay it,
// signature and all, to wherever the redirect points. The redirect is
// the receiver's answer, a failure to retry.
func TestNotifier_DoesNotFollowRedirects(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			hits := make(chan string, 1)
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits <- r.Header.Get("webhook-signature")
			}))
			defer target.Close()
			receiver := httptest.NewServer(http.RedirectHandler(target.URL, status))
			defer receiver.Close()
			n, err := NewNotifier(receiver.URL, "whsec_"+strings.Repeat("A", 32), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := n.post(notification{id: "msg_1", body: []byte(`{"type":"refund.succeeded"}`)})
			if err != nil || got != status {
				t.Errorf("post = %d, %v; want the receiver's %d", got, err, status)
			}
			select {
			case sig := <-hits:
				t.Errorf("the redirect was followed, carrying the signature %q", sig)
			default:
			}
		})
	}
}
