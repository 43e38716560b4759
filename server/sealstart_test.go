package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// storedEndpoint reads an endpoint's row from the database at url, as
// a dump would show it.
func storedEndpoint(t *testing.T, url, merchantID, id string) *refund.WebhookEndpoint {
	t.Helper()
	ctx := context.Background()
	st, err := server.OpenStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var e *refund.WebhookEndpoint
	if err := st.View(ctx, func(tx refund.Tx) (err error) {
		e, err = tx.GetWebhookEndpoint(ctx, merchantID, id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSecretKey_StartSealsClearWebhookSecrets: a webhook secret a node
// without the secret key stored in the clear stays so when a node with the
// key but without SealSecrets starts (older nodes may still run beside
// it), and is sealed when a node told to seal starts on the database
// (before it serves), and that node goes on rotating it with the old
// secret kept for the overlap.
func TestSecretKey_StartSealsClearWebhookSecrets(t *testing.T) {
	url := pgSchema(t, 0)
	keyless := mustStart(t, onDB(url))
	r := keyless.do("POST", "/v1/webhook_endpoints", keyless.key, map[string]any{"url": "https://hooks.example.com/a"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id, secret := r.str("id"), r.str("secret")
	if got := storedEndpoint(t, url, keyless.mer.ID, id).Secret; got != secret {
		t.Fatalf("a node without the key stored %q: want the secret as before", got)
	}
	mustStart(t, onDB(url), func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
	if got := storedEndpoint(t, url, keyless.mer.ID, id).Secret; got != secret {
		t.Fatalf("after a node with the key but without SealSecrets started the secret is stored as %q: want it left clear", got)
	}
	keyed := mustStart(t, onDB(url), func(c *server.Config) { c.SecretKey, c.SealSecrets = strings.Repeat("5f1d3c0a", 8), true })
	stored := storedEndpoint(t, url, keyless.mer.ID, id).Secret
	if !strings.HasPrefix(stored, "sealed:") || strings.Contains(stored, strings.TrimPrefix(secret, "whsec_")) {
		t.Fatalf("after a node with the key started the secret is stored as %q: want it sealed", stored)
	}
	rot := keyed.do("POST", "/v1/webhook_endpoints/"+id+"/rotate_secret", keyless.key, nil)
	if rot.status != http.StatusOK || !strings.HasPrefix(rot.str("secret"), "whsec_") {
		t.Fatalf("rotate on the node with the key: %d %s", rot.status, rot.raw)
	}
	if e := storedEndpoint(t, url, keyless.mer.ID, id); !strings.HasPrefix(e.PreviousSecret, "sealed:") || e.PreviousSecretUntil.IsZero() {
		t.Fatalf("after the rotation the previous secret is stored as %q until %v: want it sealed, kept for the overlap", e.PreviousSecret, e.PreviousSecretUntil)
	}
}

// TestIdempotency_SecretRepliesNotStored: an answer that shows a webhook
// signing secret (an endpoint created, its secret rotated, the notify
// secret rotated) is not stored with its Idempotency-Key, where it would
// lie in the clear for a day: the key's row holds no secret, and a retry
// runs again, finds what the first run did through the key, and answers
// the same secret without creating or rotating anything twice. On both
// a node that seals and one that does not.
func TestIdempotency_SecretRepliesNotStored(t *testing.T) {
	for name, opt := range map[string]serverOpt{
		"Clear":  func(c *server.Config) {},
		"Sealed": func(c *server.Config) { c.SecretKey, c.SealSecrets = strings.Repeat("5f1d3c0a", 8), true },
	} {
		t.Run(name, func(t *testing.T) {
			s := mustStart(t, opt)
			stored := func(key string) refund.Reply {
				t.Helper()
				ctx := context.Background()
				var rec *refund.IdempotencyRecord
				if err := s.Store.View(ctx, func(tx refund.Tx) (err error) {
					rec, err = tx.GetIdempotency(ctx, s.mer.ID, key)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return rec.Reply
			}
			twice := func(path, key string, body any, want int) {
				t.Helper()
				first := s.do("POST", path, s.key, body, "Idempotency-Key", key)
				secret := first.str("secret")
				if first.status != want || !strings.HasPrefix(secret, "whsec_") {
					t.Fatalf("POST %s: %d %s", path, first.status, first.raw)
				}
				if got := stored(key); strings.Contains(string(got.Body), strings.TrimPrefix(secret, "whsec_")) {
					t.Fatalf("POST %s: the key's row stores %s: want no secret", path, got.Body)
				}
				again := s.do("POST", path, s.key, body, "Idempotency-Key", key)
				// Run again (not replayed), finding the first run's work.
				if again.status != want || again.str("secret") != secret || again.str("id") != first.str("id") ||
					again.header.Get("Idempotent-Replayed") != "" {
					t.Fatalf("POST %s again: %d %s; want the first answer's secret %s", path, again.status, again.raw, secret)
				}
				if got := stored(key); strings.Contains(string(got.Body), strings.TrimPrefix(secret, "whsec_")) {
					t.Fatalf("POST %s again: the key's row stores %s: want no secret", path, got.Body)
				}
			}
			twice("/v1/webhook_endpoints", "create-1", map[string]any{"url": "https://hooks.example.com/a"}, http.StatusCreated)
			list := s.do("GET", "/v1/webhook_endpoints", s.key, nil)
			data, _ := list.body["data"].([]any)
			if len(data) != 1 {
				t.Fatalf("endpoints after a create and its retry: %s; want one", list.raw)
			}
			id := data[0].(map[string]any)["id"].(string)
			twice("/v1/webhook_endpoints/"+id+"/rotate_secret", "rotate-1", map[string]any{"expire_previous_in": 60}, http.StatusOK)
			twice("/v1/notify_secret", "notify-1", map[string]any{"expire_previous_in": 60}, http.StatusOK)
		})
	}
}

// TestSecretKey_RotationWithoutTheKey: a node without the secret key asked
// to rotate a sealed secret keeping it for an overlap answers 503
// secret_key_unavailable (the node's problem, as a processor account
// there answers processor_unavailable), not 500; without an overlap it
// rotates.
func TestSecretKey_RotationWithoutTheKey(t *testing.T) {
	url := pgSchema(t, 0)
	keyed := mustStart(t, onDB(url), func(c *server.Config) { c.SecretKey, c.SealSecrets = strings.Repeat("5f1d3c0a", 8), true })
	r := keyed.do("POST", "/v1/webhook_endpoints", keyed.key, map[string]any{"url": "https://hooks.example.com/a"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	keyless := mustStart(t, onDB(url))
	path := "/v1/webhook_endpoints/" + r.str("id") + "/rotate_secret"
	if rot := keyless.do("POST", path, keyed.key, map[string]any{"expire_previous_in": 60}); rot.status != http.StatusServiceUnavailable ||
		rot.str("error", "code") != "secret_key_unavailable" {
		t.Fatalf("rotation with an overlap on the node without the key: %d %s; want 503 secret_key_unavailable", rot.status, rot.raw)
	}
	if rot := keyless.do("POST", path, keyed.key, map[string]any{"expire_previous_in": 0}); rot.status != http.StatusOK {
		t.Fatalf("rotation without an overlap on the node without the key: %d %s", rot.status, rot.raw)
	}
}
