package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/refundd/refundd/client"
)

// delivery is one webhook request a receiver got.
type delivery struct {
	body   []byte
	header http.Header
}

// capture is a webhook receiver that keeps what it is sent.
type capture struct {
	mu   sync.Mutex
	got  []delivery
	URL  string
	stop func()
}

func startCapture(t *testing.T) *capture {
	t.Helper()
	c := &capture{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.got = append(c.got, delivery{body: b, header: r.Header.Clone()})
		c.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func (c *capture) last(t *testing.T) delivery {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) == 0 {
		t.Fatal("the receiver got no delivery")
	}
	return c.got[len(c.got)-1]
}

// deliverTest queues a test event to the endpoint, has the server's real
// dispatcher send it, and returns the delivery as the receiver got it.
func (f *fixture) deliverTest(t *testing.T, rcv *capture, endpointID string) (*client.Event, delivery) {
	t.Helper()
	ev, err := f.c.TestWebhookEndpoint(context.Background(), endpointID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Webhooks.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := rcv.last(t)
	if d.header.Get("Webhook-Id") != ev.ID {
		t.Fatalf("the receiver's last delivery is %s, want %s", d.header.Get("Webhook-Id"), ev.ID)
	}
	return ev, d
}

// rotate rotates the endpoint's secret with an overlap, through the API,
// and returns the new secret.
func (f *fixture) rotate(t *testing.T, endpointID string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL()+"/v1/webhook_endpoints/"+endpointID+"/rotate_secret",
		strings.NewReader(`{"expire_previous_in":3600}`))
	req.Header.Set("Authorization", "Bearer "+f.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ep client.WebhookEndpoint
	if err := json.NewDecoder(res.Body).Decode(&ep); err != nil || res.StatusCode != 200 || ep.Secret == "" {
		t.Fatalf("rotate: %d %+v %v", res.StatusCode, ep, err)
	}
	return ep.Secret
}

const otherSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // 24 bytes, no endpoint's

// TestWebhookVerifier_RefunddDeliveries verifies what refundd's own
// webhook sender delivers, through the real server and dispatcher, before
// and during a secret's rotation.
func TestWebhookVerifier_RefunddDeliveries(t *testing.T) {
	t.Parallel()
	f := mustServe(t)
	rcv := startCapture(t)
	ep, err := f.c.CreateWebhookEndpoint(context.Background(), client.CreateWebhookEndpointParams{URL: rcv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ev, d := f.deliverTest(t, rcv, ep.ID)
	sent := f.clock.Now()

	withHeader := func(k, v string) http.Header {
		h := d.header.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	for _, tc := range []struct {
		name    string
		secrets []string
		body    []byte
		header  http.Header
		now     time.Time
		tol     time.Duration
		ok      bool
	}{
		{"OK", []string{ep.Secret}, d.body, d.header, sent, 0, true},
		{"OKWithoutPrefix", []string{strings.TrimPrefix(ep.Secret, "whsec_")}, d.body, d.header, sent, 0, true},
		{"OKAmongSecrets", []string{otherSecret, ep.Secret}, d.body, d.header, sent, 0, true},
		{"OKAtTheTolerance", []string{ep.Secret}, d.body, d.header, sent.Add(5 * time.Minute), 0, true},
		{"OKAheadWithinTheTolerance", []string{ep.Secret}, d.body, d.header, sent.Add(-5 * time.Minute), 0, true},
		{"OKWithALongerTolerance", []string{ep.Secret}, d.body, d.header, sent.Add(time.Hour), 2 * time.Hour, true},
		{"ErrWrongSecret", []string{otherSecret}, d.body, d.header, sent, 0, false},
		{"ErrBodyChanged", []string{ep.Secret}, bytes.Replace(d.body, []byte("webhook.test"), []byte("refund.failed"), 1), d.header, sent, 0, false},
		{"ErrBodyReencoded", []string{ep.Secret}, append(bytes.Clone(d.body), '\n'), d.header, sent, 0, false},
		{"ErrIDChanged", []string{ep.Secret}, d.body, withHeader("Webhook-Id", "evt_other"), sent, 0, false},
		{"ErrTimestampChanged", []string{ep.Secret}, d.body, withHeader("Webhook-Timestamp", strconv.FormatInt(sent.Unix()+1, 10)), sent, 0, false},
		{"ErrTooOld", []string{ep.Secret}, d.body, d.header, sent.Add(5*time.Minute + time.Second), 0, false},
		{"ErrFromTheFuture", []string{ep.Secret}, d.body, d.header, sent.Add(-5*time.Minute - time.Second), 0, false},
		{"ErrTooOldForAShorterTolerance", []string{ep.Secret}, d.body, d.header, sent.Add(31 * time.Second), 30 * time.Second, false},
		{"ErrNoSignature", []string{ep.Secret}, d.body, withHeader("Webhook-Signature", ""), sent, 0, false},
		{"ErrNoID", []string{ep.Secret}, d.body, withHeader("Webhook-Id", ""), sent, 0, false},
		{"ErrNoTimestamp", []string{ep.Secret}, d.body, withHeader("Webhook-Timestamp", ""), sent, 0, false},
		{"ErrTimestampNotSeconds", []string{ep.Secret}, d.body, withHeader("Webhook-Timestamp", sent.Format(time.RFC3339)), sent, 0, false},
		{"ErrSignatureVersion", []string{ep.Secret}, d.body,
			withHeader("Webhook-Signature", strings.Replace(d.header.Get("Webhook-Signature"), "v1,", "v2,", 1)), sent, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := client.NewWebhookVerifier(tc.secrets...)
			if err != nil {
				t.Fatal(err)
			}
			v.Now = func() time.Time { return tc.now }
			v.Tolerance = tc.tol
			got, err := v.VerifyEvent(tc.body, tc.header)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.ok && (got.ID != ev.ID || got.Type != "webhook.test"):
				t.Fatalf("event %+v, want %s webhook.test", got, ev.ID)
			case !tc.ok && !errors.Is(err, client.ErrWebhookSignature):
				t.Fatalf("got %+v, %v; want ErrWebhookSignature", got, err)
			}
		})
	}

	// During a rotation's overlap each delivery carries both signatures;
	// a receiver holding either secret accepts it.
	newSecret := f.rotate(t, ep.ID)
	_, d = f.deliverTest(t, rcv, ep.ID)
	if n := len(strings.Fields(d.header.Get("Webhook-Signature"))); n != 2 {
		t.Fatalf("webhook-signature %q, want two signatures during the overlap", d.header.Get("Webhook-Signature"))
	}
	for _, tc := range []struct {
		name    string
		secrets []string
		ok      bool
	}{
		{"RotationOldSecret", []string{ep.Secret}, true},
		{"RotationNewSecret", []string{newSecret}, true},
		{"RotationBoth", []string{newSecret, ep.Secret}, true},
		{"ErrRotationOtherSecret", []string{otherSecret}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := client.NewWebhookVerifier(tc.secrets...)
			if err != nil {
				t.Fatal(err)
			}
			v.Now = f.clock.Now
			r := httptest.NewRequest("POST", "/hooks", bytes.NewReader(d.body))
			r.Header = d.header.Clone()
			if _, err := v.VerifyRequest(r); (err == nil) != tc.ok {
				t.Fatalf("VerifyRequest = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestWebhookVerifier_OfficialLibrary verifies signatures made by the
// Standard Webhooks reference library, alone and among others.
func TestWebhookVerifier_OfficialLibrary(t *testing.T) {
	t.Parallel()
	const secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD" // 24 bytes
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	payload := []byte(`{"id":"evt_1","object":"event","type":"refund.succeeded"}`)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign("evt_1", at, payload)
	if err != nil {
		t.Fatal(err)
	}
	other, err := standardwebhooks.NewWebhook(otherSecret)
	if err != nil {
		t.Fatal(err)
	}
	otherSig, _ := other.Sign("evt_1", at, payload)
	for _, tc := range []struct {
		name string
		sigs string
		ok   bool
	}{
		{"OK", sig, true},
		{"OKSecondOfTwo", otherSig + " " + sig, true},
		{"OKFirstOfTwo", sig + " " + otherSig, true},
		{"OKAfterAnotherVersion", "v1a,aGVsbG8= " + sig, true},
		{"OKAfterGarbage", "v1,%%% nocomma " + sig, true},
		{"ErrOtherSecretOnly", otherSig, false},
		{"ErrNotV1", strings.Replace(sig, "v1,", "v1a,", 1), false},
		{"ErrTruncated", sig[:len(sig)-4], false},
		{"ErrEmptySignature", "v1,", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := client.NewWebhookVerifier(secret)
			if err != nil {
				t.Fatal(err)
			}
			v.Now = func() time.Time { return at.Add(time.Minute) }
			h := http.Header{}
			h.Set("webhook-id", "evt_1")
			h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
			h.Set("webhook-signature", tc.sigs)
			if err := v.Verify(payload, h); (err == nil) != tc.ok {
				t.Fatalf("Verify = %v, want ok %v", err, tc.ok)
			}
			// The reference library agrees.
			lib := wh.VerifyIgnoringTimestamp(payload, h)
			if (lib == nil) != tc.ok {
				t.Fatalf("the reference library says %v, want ok %v", lib, tc.ok)
			}
		})
	}
}

func TestNewWebhookVerifier_Secrets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		secrets []string
	}{
		{"ErrNone", nil},
		{"ErrEmptyKey", []string{"whsec_"}},
		{"ErrShortKey", []string{"whsec_c2hvcnQ="}},
		{"ErrNotBase64", []string{"whsec_not base64!"}},
		{"ErrOneOfTwoBad", []string{otherSecret, "whsec_"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := client.NewWebhookVerifier(tc.secrets...); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
