package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
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

// TestSecretKey_SealSecretsWithoutTheKeyRefused: --seal-secrets without a
// secret key is refused at start, as --previous-secret-key-file alone is:
// ignored, the operator who asked for sealed secrets would find them
// stored in the clear.
func TestSecretKey_SealSecretsWithoutTheKeyRefused(t *testing.T) {
	_, err := server.Open(context.Background(), server.Config{DB: "sqlite:" + filepath.Join(t.TempDir(), "x.db"), SealSecrets: true})
	if err == nil || !strings.Contains(err.Error(), "--seal-secrets needs the secret key") {
		t.Fatalf("Open with --seal-secrets and no key: %v; want it refused", err)
	}
}

// storedReply reads the answer stored with an Idempotency-Key from the
// database at url, as a dump would show it.
func storedReply(t *testing.T, url, merchantID, key string) refund.Reply {
	t.Helper()
	ctx := context.Background()
	st, err := server.OpenStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var rec *refund.IdempotencyRecord
	if err := st.View(ctx, func(tx refund.Tx) (err error) {
		rec, err = tx.GetIdempotency(ctx, merchantID, key)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return rec.Reply
}

// storedSecrets is every webhook signing secret the database at url holds
// for the merchant, as stored.
func storedSecrets(t *testing.T, url, merchantID string) []refund.SigningSecrets {
	t.Helper()
	ctx := context.Background()
	st, err := server.OpenStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []refund.SigningSecrets
	if err := st.View(ctx, func(tx refund.Tx) error {
		es, err := tx.ListWebhookEndpoints(ctx, merchantID)
		if err != nil {
			return err
		}
		for _, e := range es {
			out = append(out, e.SigningSecrets)
		}
		k, err := tx.GetNotifySecret(ctx, merchantID)
		if err == nil {
			out = append(out, k.SigningSecrets)
		} else if refund.ErrorCode(err) != refund.ENotFound {
			return err
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIdempotency_SecretRepliesSealed: on a node that seals secrets, an
// answer that shows a webhook signing secret (an endpoint created, its
// secret rotated, the notify secret rotated) is stored with its
// Idempotency-Key sealed, not in the clear; a retry there is replayed the
// first answer byte for byte; a node without the key, or with another
// key, answers the retry 503 secret_key_unavailable and changes nothing.
// On both stores.
func TestIdempotency_SecretRepliesSealed(t *testing.T) {
	const key = "5f1d3c0a5f1d3c0a5f1d3c0a5f1d3c0a5f1d3c0a5f1d3c0a5f1d3c0a5f1d3c0a"
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"SQLite", func(t *testing.T) string { return sqlitetest.URL(t) }},
		{"PostgreSQL", func(t *testing.T) string { return pgSchema(t, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			keyed := mustStart(t, onDB(url), func(c *server.Config) { c.SecretKey, c.SealSecrets = key, true })
			others := map[string]*testServer{
				"without the key":  mustStart(t, onDB(url)),
				"with another key": mustStart(t, onDB(url), func(c *server.Config) { c.SecretKey = strings.Repeat("0b", 32) }),
			}
			twice := func(path, idemKey string, body any, want int) reply {
				t.Helper()
				first := keyed.do("POST", path, keyed.key, body, "Idempotency-Key", idemKey)
				secret := first.str("secret")
				if first.status != want || !strings.HasPrefix(secret, "whsec_") {
					t.Fatalf("POST %s: %d %s", path, first.status, first.raw)
				}
				if got := storedReply(t, url, keyed.mer.ID, idemKey); got.Status != want ||
					strings.Contains(string(got.Body), "whsec_") || strings.Contains(string(got.Body), strings.TrimPrefix(secret, "whsec_")) {
					t.Fatalf("POST %s: the key's row stores %d %q: want the answer, sealed", path, got.Status, got.Body)
				}
				secrets := storedSecrets(t, url, keyed.mer.ID)
				for name, other := range others {
					r := other.do("POST", path, keyed.key, body, "Idempotency-Key", idemKey)
					if r.status != http.StatusServiceUnavailable || r.str("error", "code") != "secret_key_unavailable" {
						t.Fatalf("POST %s again on a node %s: %d %s; want 503 secret_key_unavailable", path, name, r.status, r.raw)
					}
				}
				if got := storedSecrets(t, url, keyed.mer.ID); !reflect.DeepEqual(got, secrets) {
					t.Fatalf("POST %s again on nodes that cannot open its answer: secrets %+v, were %+v; want nothing changed", path, got, secrets)
				}
				again := keyed.do("POST", path, keyed.key, body, "Idempotency-Key", idemKey)
				if again.status != first.status || again.raw != first.raw ||
					again.header.Get("Content-Type") != first.header.Get("Content-Type") || again.header.Get("Idempotent-Replayed") != "true" {
					t.Fatalf("POST %s again: %d %s; want the first answer replayed: %d %s", path, again.status, again.raw, first.status, first.raw)
				}
				return first
			}
			id := twice("/v1/webhook_endpoints", "create-1", map[string]any{"url": "https://hooks.example.com/a"}, http.StatusCreated).str("id")
			twice("/v1/webhook_endpoints/"+id+"/rotate_secret", "rotate-1", map[string]any{"expire_previous_in": 60}, http.StatusOK)
			twice("/v1/notify_secret", "notify-1", map[string]any{"expire_previous_in": 60}, http.StatusOK)
			if list := keyed.do("GET", "/v1/webhook_endpoints", keyed.key, nil); len(list.get("data").([]any)) != 1 {
				t.Fatalf("endpoints after a create and its retries: %s; want one", list.raw)
			}
		})
	}
}

// TestSecretKey_WrongKeySealsNothing: a node started with --seal-secrets
// and a key that sealed none of the stored sealed secrets (a wrong key)
// starts, but seals nothing: the clear secrets stay clear for the nodes
// with the right key to seal, and what it makes itself is stored clear.
// On both stores.
func TestSecretKey_WrongKeySealsNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"SQLite", func(t *testing.T) string { return sqlitetest.URL(t) }},
		{"PostgreSQL", func(t *testing.T) string { return pgSchema(t, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			right := mustStart(t, onDB(url), func(c *server.Config) { c.SecretKey, c.SealSecrets = strings.Repeat("5f1d3c0a", 8), true })
			if r := right.do("POST", "/v1/webhook_endpoints", right.key, map[string]any{"url": "https://hooks.example.com/sealed"}); r.status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.status, r.raw)
			}
			keyless := mustStart(t, onDB(url))
			r := keyless.do("POST", "/v1/webhook_endpoints", right.key, map[string]any{"url": "https://hooks.example.com/clear"})
			if r.status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.status, r.raw)
			}
			wrong := mustStart(t, onDB(url), func(c *server.Config) { c.SecretKey, c.SealSecrets = strings.Repeat("0b", 32), true })
			if got := storedEndpoint(t, url, right.mer.ID, r.str("id")).Secret; got != r.str("secret") {
				t.Fatalf("after a node with a wrong key started the clear secret is stored as %q: want it left clear", got)
			}
			made := wrong.do("POST", "/v1/webhook_endpoints", right.key, map[string]any{"url": "https://hooks.example.com/new"})
			if made.status != http.StatusCreated {
				t.Fatalf("create on the node with a wrong key: %d %s", made.status, made.raw)
			}
			if got := storedEndpoint(t, url, right.mer.ID, made.str("id")).Secret; got != made.str("secret") {
				t.Fatalf("the node with a wrong key stored its new secret as %q: want it clear", got)
			}
		})
	}
}
