package server_test

import (
	"context"
	"net/http"
	"path/filepath"
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
