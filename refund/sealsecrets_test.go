package refund_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/vault"
	"github.com/refundd/refundd/webhook"
)

// testKeyring is a keyring sealing with key (a byte repeated) and opening
// with previous too.
func testKeyring(t *testing.T, key byte, previous ...byte) *vault.Keyring {
	t.Helper()
	var prev [][]byte
	for _, b := range previous {
		prev = append(prev, bytes.Repeat([]byte{b}, vault.KeySize))
	}
	k, err := vault.New(bytes.Repeat([]byte{key}, vault.KeySize), prev...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func withSealer(s refund.Sealer) func(*refund.Config) {
	return func(c *refund.Config) { c.Sealer = s }
}

// storedEndpoint reads an endpoint's row as the store holds it.
func (h *harness) storedEndpoint(id string) *refund.WebhookEndpoint {
	h.t.Helper()
	var e *refund.WebhookEndpoint
	if err := h.st.View(h.ctx, func(tx refund.Tx) (err error) {
		e, err = tx.GetWebhookEndpoint(h.ctx, h.p.MerchantID, id)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return e
}

func (h *harness) storedNotifySecret() *refund.NotifySecret {
	h.t.Helper()
	var n *refund.NotifySecret
	if err := h.st.View(h.ctx, func(tx refund.Tx) (err error) {
		n, err = tx.GetNotifySecret(h.ctx, h.p.MerchantID)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) writeEndpoint(e *refund.WebhookEndpoint) {
	h.t.Helper()
	if err := h.st.Update(h.ctx, func(tx refund.Tx) error { return tx.UpdateWebhookEndpoint(h.ctx, e) }); err != nil {
		h.t.Fatal(err)
	}
}

// claimTest queues a test event for endpoint id on svc and claims the
// due deliveries there, as a dispatcher on that node does.
func (h *harness) claimTest(svc *refund.Service, id string) []refund.DeliveryJob {
	h.t.Helper()
	if _, err := svc.TestWebhookEndpoint(h.ctx, h.p, id); err != nil {
		h.t.Fatal(err)
	}
	jobs, err := svc.ClaimDeliveries(h.ctx, time.Minute, 10, refund.TargetCap{})
	if err != nil {
		h.t.Fatal(err)
	}
	return jobs
}

// verifies signs a job as the dispatcher does and checks that a receiver
// holding each of secrets verifies it (Standard Webhooks).
func verifies(t *testing.T, job refund.DeliveryJob, secrets ...string) {
	t.Helper()
	// Signed at the wall clock's now: receivers check the signature's
	// time against theirs.
	hdr, err := webhook.SignAll(job.Secrets, job.Event.ID, time.Now(), job.Payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(job.Payload, hdr); err != nil {
			t.Errorf("a receiver holding %.10s... does not verify the delivery: %v", secret, err)
		}
	}
}

// sealedHolds checks that a stored secret is sealed and does not show
// the secret it holds.
func sealedHolds(t *testing.T, what, stored, secret string) {
	t.Helper()
	if !strings.HasPrefix(stored, "sealed:") || strings.Contains(stored, strings.TrimPrefix(secret, "whsec_")) {
		t.Errorf("%s is stored as %q: want it sealed, not the secret", what, stored)
	}
}

// With a secret key, webhook signing secrets are stored sealed (the
// current, the previous during a rotation's overlap, the notify secret),
// shown in the clear once, and still sign deliveries receivers verify.
func TestSealSecrets_WebhookSecretsStoredSealed(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withSealer(testKeyring(t, 1)))
		e, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/a")})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.Secret, "whsec_") {
			t.Fatalf("created endpoint shows %q: want its whsec_ secret once", e.Secret)
		}
		first := e.Secret
		sealedHolds(t, "the endpoint's secret", h.storedEndpoint(e.ID).Secret, first)
		jobs := h.claimTest(h.svc, e.ID)
		if len(jobs) != 1 {
			t.Fatalf("claimed %d deliveries, want 1", len(jobs))
		}
		verifies(t, jobs[0], first)

		rot, err := h.svc.RotateWebhookEndpointSecret(h.ctx, h.p, e.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		second := rot.Secret
		if !strings.HasPrefix(second, "whsec_") || second == first {
			t.Fatalf("rotation shows %q: want a new whsec_ secret", second)
		}
		stored := h.storedEndpoint(e.ID)
		sealedHolds(t, "the rotated secret", stored.Secret, second)
		sealedHolds(t, "the previous secret", stored.PreviousSecret, first)
		h.clk.Advance(2 * time.Minute) // past the first delivery's lease
		jobs = h.claimTest(h.svc, e.ID)
		if len(jobs) != 2 {
			t.Fatalf("claimed %d deliveries, want 2 (the first again, the second test)", len(jobs))
		}
		for _, j := range jobs {
			verifies(t, j, first, second)
		}

		n, err := h.svc.RotateNotifySecret(h.ctx, h.p, nil)
		if err != nil {
			t.Fatal(err)
		}
		sealedHolds(t, "the notify secret", h.storedNotifySecret().Secret, n.Secret)
	})
}

// A sealed secret is bound to its row and field: copied to another
// endpoint, or into its own row's previous secret, it does not open, and
// nothing is signed with it (the delivery is left for a node that can).
func TestSealSecrets_CopiedSecretDoesNotOpen(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withSealer(testKeyring(t, 1)))
		a, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/a")})
		if err != nil {
			t.Fatal(err)
		}
		b, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/b")})
		if err != nil {
			t.Fatal(err)
		}
		sb := h.storedEndpoint(b.ID)
		sb.Secret = h.storedEndpoint(a.ID).Secret
		h.writeEndpoint(sb)
		if jobs := h.claimTest(h.svc, b.ID); len(jobs) != 0 {
			t.Fatalf("another endpoint's sealed secret signed %d deliveries", len(jobs))
		}

		sa := h.storedEndpoint(a.ID)
		sa.PreviousSecret, sa.PreviousSecretUntil = sa.Secret, h.clk.Now().Add(time.Hour)
		h.writeEndpoint(sa)
		if jobs := h.claimTest(h.svc, a.ID); len(jobs) != 0 {
			t.Fatalf("the secret copied to the previous secret's field signed %d deliveries", len(jobs))
		}
	})
}

// Without a secret key nothing changes: secrets are stored in the clear,
// as before, and sign; SealSecrets does nothing. A node with the key then
// seals them when it starts (SealSecrets), and they sign as before.
func TestSealSecrets_ClearSecretsSealedAtStart(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		e, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/a")})
		if err != nil {
			t.Fatal(err)
		}
		first := e.Secret
		rot, err := h.svc.RotateWebhookEndpointSecret(h.ctx, h.p, e.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := h.svc.RotateNotifySecret(h.ctx, h.p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if stored := h.storedEndpoint(e.ID); stored.Secret != rot.Secret || stored.PreviousSecret != first {
			t.Fatalf("without a key the endpoint's secrets are stored as %q, %q: want them as they were shown", stored.Secret, stored.PreviousSecret)
		}
		if got, err := h.svc.SealSecrets(h.ctx); err != nil || got != 0 {
			t.Fatalf("SealSecrets without a key = %d, %v; want 0, nil", got, err)
		}
		if stored := h.storedNotifySecret(); stored.Secret != n.Secret {
			t.Fatalf("without a key the notify secret is stored as %q: want %q", stored.Secret, n.Secret)
		}
		jobs := h.claimTest(h.svc, e.ID)
		if len(jobs) != 1 {
			t.Fatalf("claimed %d deliveries, want 1", len(jobs))
		}
		verifies(t, jobs[0], first, rot.Secret)

		keyed := h.node(&instantProcessor{}, withSealer(testKeyring(t, 1)))
		// Before the node with the key started: clear rows still sign.
		h.clk.Advance(2 * time.Minute)
		if jobs := h.claimTest(keyed, e.ID); len(jobs) != 2 {
			t.Fatalf("a node with the key claimed %d deliveries of clear secrets, want 2", len(jobs))
		}
		if got, err := keyed.SealSecrets(h.ctx); err != nil || got != 2 {
			t.Fatalf("SealSecrets = %d, %v; want 2 rows (the endpoint, the notify secret)", got, err)
		}
		stored := h.storedEndpoint(e.ID)
		sealedHolds(t, "the endpoint's secret", stored.Secret, rot.Secret)
		sealedHolds(t, "the previous secret", stored.PreviousSecret, first)
		sealedHolds(t, "the notify secret", h.storedNotifySecret().Secret, n.Secret)
		if got, err := keyed.SealSecrets(h.ctx); err != nil || got != 0 {
			t.Fatalf("SealSecrets again = %d, %v; want 0, nil", got, err)
		}
		h.clk.Advance(2 * time.Minute)
		jobs = h.claimTest(keyed, e.ID)
		if len(jobs) != 3 {
			t.Fatalf("claimed %d deliveries, want 3", len(jobs))
		}
		for _, j := range jobs {
			verifies(t, j, first, rot.Secret)
		}
	})
}

// After the secret key changes, a node given the new key and the previous
// one re-seals what the previous key sealed when it starts; a node with
// the new key alone then signs with them.
func TestSealSecrets_PreviousKeyResealed(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withSealer(testKeyring(t, 1)))
		e, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/a")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.RotateNotifySecret(h.ctx, h.p, nil); err != nil {
			t.Fatal(err)
		}
		before := h.storedEndpoint(e.ID).Secret
		newOnly := h.node(&instantProcessor{}, withSealer(testKeyring(t, 2)))
		if jobs := h.claimTest(newOnly, e.ID); len(jobs) != 0 {
			t.Fatalf("a node without the key that sealed it signed %d deliveries", len(jobs))
		}
		rotating := h.node(&instantProcessor{}, withSealer(testKeyring(t, 2, 1)))
		if got, err := rotating.SealSecrets(h.ctx); err != nil || got != 2 {
			t.Fatalf("SealSecrets = %d, %v; want 2 rows re-sealed", got, err)
		}
		after := h.storedEndpoint(e.ID).Secret
		sealedHolds(t, "the re-sealed secret", after, e.Secret)
		if after == before {
			t.Fatal("the secret sealed by the previous key was not sealed again")
		}
		h.clk.Advance(2 * time.Minute)
		jobs := h.claimTest(newOnly, e.ID)
		if len(jobs) != 2 {
			t.Fatalf("a node with the new key alone claimed %d deliveries, want 2", len(jobs))
		}
		for _, j := range jobs {
			verifies(t, j, e.Secret)
		}
	})
}

// A node without the secret key never signs with a sealed secret's text:
// the delivery waits for a node with the key, and a rotation, which must
// keep the current secret, fails saying the key is needed.
func TestSealSecrets_NodeWithoutKeyRefusesSealed(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withSealer(testKeyring(t, 1)))
		e, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/a")})
		if err != nil {
			t.Fatal(err)
		}
		keyless := h.node(&instantProcessor{}, nil)
		if jobs := h.claimTest(keyless, e.ID); len(jobs) != 0 {
			t.Fatalf("a node without the key signed %d deliveries with a sealed secret", len(jobs))
		}
		if _, err := keyless.RotateWebhookEndpointSecret(h.ctx, h.p, e.ID, nil); !errors.Is(err, refund.ErrNoSecretKey) {
			t.Fatalf("rotation without the key: %v; want ErrNoSecretKey", err)
		}
		h.clk.Advance(2 * time.Minute)
		jobs := h.claimTest(h.svc, e.ID)
		if len(jobs) != 2 {
			t.Fatalf("the node with the key claimed %d deliveries, want 2 (the one left, the new one)", len(jobs))
		}
		for _, j := range jobs {
			verifies(t, j, e.Secret)
		}
	})
}
