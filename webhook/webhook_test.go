package webhook_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/refundd/refundd/webhook"
)

func TestSign_VerifiesWithStandardWebhooks(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	payload := []byte(`{"id":"evt_1","type":"refund.succeeded","data":{}}`)
	h, err := webhook.Sign(secret, "evt_1", time.Now(), payload)
	if err != nil {
		t.Fatal(err)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(payload, h); err != nil {
		t.Fatalf("reference library rejects our signature: %v", err)
	}
	if err := wh.Verify([]byte(`{"id":"evt_1","type":"refund.failed","data":{}}`), h); err == nil {
		t.Fatal("a changed payload verified")
	}
	if _, err := webhook.Sign("whsec_not base64!", "evt_1", time.Now(), payload); err == nil {
		t.Fatal("a malformed secret signed")
	}
}

// A secret that verifies what refundd receives must carry a key nobody
// can guess: "whsec_" alone is the empty HMAC key, with which anyone
// signs a notification that releases a refund's money.
func TestVerifier_RefusesAWeakSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		secret string
		ok     bool
	}{
		{"whsec_", false},
		{"", false},
		{"whsec_c2VjcmV0", false}, // 6 bytes
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)), false},
		{"whsec_not base64!", false},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true}, // 24 bytes
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},       // the prefix is optional, as in the library
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 64)), true},
	} {
		_, err := webhook.Verifier(tc.secret)
		if (err == nil) != tc.ok {
			t.Errorf("Verifier(%q): err %v, want ok %v", tc.secret, err, tc.ok)
		}
		if err := webhook.CheckSecret(tc.secret); (err == nil) != tc.ok {
			t.Errorf("CheckSecret(%q): err %v, want ok %v", tc.secret, err, tc.ok)
		}
	}
}

// The dial-time guard is what stops a name that resolves to a private
// address: it checks the address actually connected to.
func TestClient_RefusesPrivateAddressesUnlessAllowed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()

	_, err := webhook.NewClient(false).Get(srv.URL)
	if !errors.Is(err, webhook.ErrPrivateTarget) {
		t.Fatalf("loopback target: want ErrPrivateTarget, got %v", err)
	}
	res, err := webhook.NewClient(true).Get(srv.URL)
	if err != nil || res.StatusCode != 204 {
		t.Fatalf("allowed loopback target: %v", err)
	}
	res.Body.Close()
}

func TestClient_DoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	hit := false
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	res, err := webhook.NewClient(true).Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTemporaryRedirect || hit {
		t.Fatalf("redirect followed (status %d)", res.StatusCode)
	}
}

func TestCheckTarget(t *testing.T) {
	t.Parallel()
	check := webhook.CheckTarget(false)
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://93.184.215.14/hooks", true},
		{"https://[2606:4700::1111]/hooks", true},
		{"http://127.0.0.1/x", false},
		{"http://localhost:8080/x", false},
		{"http://api.localhost/x", false},
		{"http://10.0.0.1/x", false},
		{"http://172.16.5.4/x", false},
		{"http://192.168.0.10/x", false},
		{"http://169.254.169.254/latest/meta-data", false},
		{"http://100.64.0.1/x", false},
		{"http://0.0.0.0/x", false},
		{"http://[::1]/x", false},
		{"http://[fd00::1]/x", false},
		{"http://[fe80::1]/x", false},
		{"http://[::ffff:127.0.0.1]/x", false},
	} {
		err := check(context.Background(), tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("%s: ok=%v, got err %v", tc.url, tc.ok, err)
		}
	}
	if err := webhook.CheckTarget(true)(context.Background(), "http://127.0.0.1/x"); err != nil {
		t.Fatalf("allowed private target refused: %v", err)
	}
}

// During a secret's rotation a message carries one signature per secret
// in webhook-signature, space-separated: a receiver holding any of them
// verifies it with a Standard Webhooks library, and one holding none
// does not.
func TestSignAll_OneSignaturePerSecret(t *testing.T) {
	t.Parallel()
	const (
		old    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		cur    = "whsec_" + "c2Vjb25kLXNlY3JldC1zZWNvbmQtc2VjcmV0LXNlY29uZA=="
		absent = "whsec_" + "dGhpcmQtc2VjcmV0LXRoaXJkLXNlY3JldC10aGlyZA=="
	)
	payload := []byte(`{"id":"evt_1","type":"refund.succeeded","data":{}}`)
	for _, tc := range []struct {
		name    string
		secrets []string
		sigs    int
		valid   []string
		invalid []string
	}{
		{"One", []string{cur}, 1, []string{cur}, []string{old, absent}},
		{"Overlap", []string{cur, old}, 2, []string{cur, old}, []string{absent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := webhook.SignAll(tc.secrets, "evt_1", time.Now(), payload)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(strings.Fields(h.Get("webhook-signature"))); n != tc.sigs {
				t.Fatalf("webhook-signature %q has %d signatures, want %d", h.Get("webhook-signature"), n, tc.sigs)
			}
			for _, secret := range append(tc.valid, tc.invalid...) {
				wh, _ := standardwebhooks.NewWebhook(secret)
				if err := wh.Verify(payload, h); (err == nil) != slices.Contains(tc.valid, secret) {
					t.Errorf("secret %s…: verify err %v", secret[:12], err)
				}
			}
		})
	}
	if _, err := webhook.SignAll(nil, "evt_1", time.Now(), payload); err == nil {
		t.Fatal("signed with no secret")
	}
}
