package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultWebhookTolerance is how far a delivery's webhook-timestamp may be
// from the receiver's clock, either way, as the Standard Webhooks
// libraries allow: older is a replay, newer a forged or broken clock.
const DefaultWebhookTolerance = 5 * time.Minute

// minWebhookKey is the shortest signing key taken: refundd's secrets have
// 32 random bytes, the spec asks for 24 to 64, and "whsec_" alone is the
// empty key, with which anyone could sign.
const minWebhookKey = 24

// maxWebhookBody bounds what VerifyRequest reads of a delivery.
const maxWebhookBody = 1 << 20

// ErrWebhookSignature is the error every failed webhook verification
// wraps (errors.Is): missing headers, a timestamp outside the tolerance,
// no signature made with any of the secrets. A receiver answers such a
// delivery 4xx and does not act on it.
var ErrWebhookSignature = errors.New("client: webhook verification failed")

// WebhookVerifier checks the Standard Webhooks signature of refundd's
// deliveries (webhook-id, webhook-timestamp, webhook-signature): an
// HMAC-SHA256 of "id.timestamp.body" under an endpoint's whsec_ secret. It
// takes several secrets, so a receiver can hold the old and the new one
// while it switches after a rotation; a delivery signed by any of them is
// accepted, and webhook-signature may carry several space-separated
// signatures (refundd sends "v1,<new> v1,<old>" during a rotation's
// overlap). Signatures are compared in constant time.
//
// The webhook-id stays the same across retries of an event: deduplicate on
// it, since delivery is at least once. A WebhookVerifier is safe for
// concurrent use once its fields are set.
type WebhookVerifier struct {
	// Tolerance is how far webhook-timestamp may be from Now, either way
	// (DefaultWebhookTolerance when 0).
	Tolerance time.Duration
	// Now is the receiver's clock (time.Now when nil).
	Now func() time.Time

	keys [][]byte
}

// NewWebhookVerifier returns a verifier for deliveries signed with any of
// secrets (each "whsec_" and the base64 of the key, as refundd shows it;
// the prefix may be left off). A secret that does not decode, or whose key
// is shorter than 24 bytes, is an error.
func NewWebhookVerifier(secrets ...string) (*WebhookVerifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("client: a webhook verifier needs at least one secret")
	}
	v := &WebhookVerifier{}
	for i, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "whsec_"))
		switch {
		case err != nil:
			return nil, fmt.Errorf("client: webhook secret %d is not whsec_ and base64", i+1)
		case len(key) < minWebhookKey:
			return nil, fmt.Errorf("client: webhook secret %d has a %d-byte key; at least %d are needed", i+1, len(key), minWebhookKey)
		}
		v.keys = append(v.keys, key)
	}
	return v, nil
}

// Verify checks that payload (the request body exactly as received, before
// any JSON decoding) and the headers h were signed with one of the
// verifier's secrets within the tolerance. It returns nil or an error
// wrapping ErrWebhookSignature.
func (v *WebhookVerifier) Verify(payload []byte, h http.Header) error {
	id := h.Get("webhook-id")
	ts := h.Get("webhook-timestamp")
	sigs := h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: missing webhook-id, webhook-timestamp or webhook-signature", ErrWebhookSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp %q is not whole seconds", ErrWebhookSignature, ts)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tolerance := v.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	// Compared in seconds, so a timestamp far out cannot overflow a Duration.
	off := now().Unix() - sec
	switch limit := int64(tolerance / time.Second); {
	case off > limit:
		return fmt.Errorf("%w: webhook-timestamp is older than the tolerance (a replay?)", ErrWebhookSignature)
	case off < -limit:
		return fmt.Errorf("%w: webhook-timestamp is in the future", ErrWebhookSignature)
	}
	macs := make([][]byte, len(v.keys))
	for i, key := range v.keys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(payload)
		macs[i] = m.Sum(nil)
	}
	ok := false
	for _, sig := range strings.Fields(sigs) {
		version, b64, found := strings.Cut(sig, ",")
		if !found || version != "v1" { // other versions (v1a: asymmetric) are not refundd's
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		for _, want := range macs {
			// Every pair is compared, so the time taken says nothing of
			// which (or whether one) matched.
			ok = hmac.Equal(got, want) || ok
		}
	}
	if !ok {
		return fmt.Errorf("%w: no v1 signature made with the endpoint's secret", ErrWebhookSignature)
	}
	return nil
}

// VerifyEvent verifies a delivery (see Verify) and decodes its body, the
// event as GET /v1/events/{id} shows it.
func (v *WebhookVerifier) VerifyEvent(payload []byte, h http.Header) (*Event, error) {
	if err := v.Verify(payload, h); err != nil {
		return nil, err
	}
	var e Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("client: a verified webhook body is not an event: %w", err)
	}
	return &e, nil
}

// VerifyRequest reads a delivery's body (up to 1 MiB) from r, verifies it
// and decodes the event, for an http.Handler:
//
//	e, err := v.VerifyRequest(r)
//	if errors.Is(err, client.ErrWebhookSignature) { w.WriteHeader(401); return }
func (v *WebhookVerifier) VerifyRequest(r *http.Request) (*Event, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		return nil, fmt.Errorf("client: reading the webhook body: %w", err)
	}
	if len(body) > maxWebhookBody {
		return nil, fmt.Errorf("client: the webhook body is over %d bytes", maxWebhookBody)
	}
	return v.VerifyEvent(body, r.Header)
}
