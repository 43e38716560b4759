package refund_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/processor"
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

// withSealer is a node that seals webhook and TOTP secrets
// (Config.SealSecrets); withKeyOnly one that has the key, opens sealed
// secrets and writes clear ones, as in a rolling upgrade.
func withSealer(s refund.Sealer) func(*refund.Config) {
	return func(c *refund.Config) { c.Sealer, c.SealSecrets = s, true }
}

func withKeyOnly(s refund.Sealer) func(*refund.Config) {
	return func(c *refund.Config) { c.Credentials, c.Sealer = credential.Argon2{}, s }
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
// nothing is signed with it: the current secret's delivery is handed out
// unsignable, for the dispatcher to count as a failed attempt (below);
// the previous secret's is dropped, the current one signing alone.
func TestSealSecrets_CopiedSecretDoesNotOpen(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withSealer(testKeyring(t, 1)))
		a, b := h.copiedSecret()
		if jobs := h.claimTest(h.svc, b.ID); len(jobs) != 1 || jobs[0].Unsignable == "" || len(jobs[0].Secrets) != 0 {
			t.Fatalf("another endpoint's sealed secret: %d jobs (%+v); want one unsignable, with no secret", len(jobs), jobs)
		}
		// Sealed under a key this node holds, it opens on no node: an
		// internal error, not "unavailable, try again" for ever.
		_, err := h.svc.RotateWebhookEndpointSecret(h.ctx, h.p, b.ID, nil)
		if refund.ErrorCode(err) != refund.EInternal || !errors.Is(err, refund.ErrSecretNotOpened) || refund.RetryAfter(err) != 0 {
			t.Fatalf("rotating the copied secret: %v (code %s, retry after %s); want an internal error", err, refund.ErrorCode(err), refund.RetryAfter(err))
		}

		sa := h.storedEndpoint(a.ID)
		sa.PreviousSecret, sa.PreviousSecretUntil = sa.Secret, h.clk.Now().Add(time.Hour)
		h.writeEndpoint(sa)
		// The previous secret will never open: the current one signs
		// alone at once (it waited for the overlap to end, for nothing).
		if jobs := h.claimTest(h.svc, a.ID); len(jobs) != 1 || jobs[0].Unsignable != "" || len(jobs[0].Secrets) != 1 {
			t.Fatalf("with the previous secret copied into its field: %d jobs (%+v); want a's signed with the current secret alone", len(jobs), jobs)
		} else {
			verifies(t, jobs[0], a.Secret)
		}
		h.clk.Advance(time.Hour) // the overlap ends, and the leases
		jobs := h.claimTest(h.svc, a.ID)
		if len(jobs) != 3 {
			t.Fatalf("claimed %d deliveries past the overlap, want 3 (b's again, a's two)", len(jobs))
		}
		for _, j := range jobs {
			if j.Delivery.EndpointID == a.ID && j.Unsignable == "" {
				verifies(t, j, a.Secret)
			} else if j.Delivery.EndpointID == a.ID || j.Unsignable == "" {
				t.Errorf("endpoint %s's delivery: unsignable %q; want a's signed, b's unsignable", j.Delivery.EndpointID, j.Unsignable)
			}
		}
	})
}

// pendingDelivery is endpoint id's pending delivery as stored, nil when
// none is pending.
func (h *harness) pendingDelivery(id string) *refund.Delivery {
	h.t.Helper()
	var ds []refund.PendingDelivery
	if err := h.st.Update(h.ctx, func(tx refund.Tx) (err error) {
		ds, err = tx.ListPendingDeliveries(h.ctx, h.p.MerchantID, id)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	switch len(ds) {
	case 0:
		return nil
	case 1:
		return ds[0].Delivery
	}
	h.t.Fatalf("endpoint %s has %d pending deliveries, want at most 1", id, len(ds))
	return nil
}

// A delivery whose endpoint's current secret is sealed under a key the
// node holds and does not open (copied from another row) opens on no
// node: each claim of it on a node with the key counts a failed attempt,
// nothing sent, retried on the dispatcher's schedule and failed when the
// schedule runs out, as an endpoint answering 500 would be, each attempt's
// error naming the fix. Left due, it was claimed and not sent at every
// lease's end for ever. A node without that key still leaves it unclaimed
// and uncounted, for a node with the key. A rotation without an overlap
// fixes what comes after.
func TestSealSecrets_SecretThatOpensNowhereFailsTheDelivery(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withSealer(testKeyring(t, 1)))
		_, b := h.copiedSecret()
		schedule := []time.Duration{time.Minute, time.Hour}
		dispatch := func(svc *refund.Service) {
			t.Helper()
			rec := &receiver{}
			d := webhook.New(svc, webhook.Config{Now: h.clk.Now, Schedule: schedule, Client: &http.Client{Transport: rec}})
			if _, err := d.RunOnce(h.ctx); err != nil {
				t.Fatal(err)
			}
			if len(rec.got) != 0 {
				t.Fatalf("sent %d deliveries, want none", len(rec.got))
			}
		}
		if _, err := h.svc.TestWebhookEndpoint(h.ctx, h.p, b.ID); err != nil {
			t.Fatal(err)
		}
		queued := h.clk.Now()

		for _, node := range []*refund.Service{h.node(&instantProcessor{}, nil), h.node(&instantProcessor{}, withKeyOnly(testKeyring(t, 2)))} {
			dispatch(node)
			if d := h.pendingDelivery(b.ID); d == nil || d.Attempts != 0 || !d.NextAttemptAt.Equal(queued) || d.LastError != "" {
				t.Fatalf("a node lacking the key left %+v; want it due, unclaimed, no attempt counted", d)
			}
		}

		for i, wait := range schedule {
			at := h.clk.Now()
			dispatch(h.svc)
			d := h.pendingDelivery(b.ID)
			if d == nil || d.Attempts != i+1 || d.LastStatus != 0 {
				t.Fatalf("after claim %d: %+v; want pending, %d attempts counted", i+1, d, i+1)
			}
			// The dispatcher's jitter: 20% either way.
			if d.NextAttemptAt.Before(at.Add(wait*8/10)) || d.NextAttemptAt.After(at.Add(wait*12/10)) {
				t.Errorf("after claim %d the next attempt is at %s; want about %s later", i+1, d.NextAttemptAt, wait)
			}
			for _, want := range []string{"opens on no node", "POST /v1/webhook_endpoints/" + b.ID + "/rotate_secret", `"expire_previous_in":0`} {
				if !strings.Contains(d.LastError, want) {
					t.Errorf("after claim %d the last error is %q; want it to say %q", i+1, d.LastError, want)
				}
			}
			h.clk.Advance(wait * 2)
		}
		dispatch(h.svc)
		if d := h.pendingDelivery(b.ID); d != nil {
			t.Fatalf("past the schedule the delivery is still pending: %+v", d)
		}
		log, err := h.svc.ListDeliveryAttempts(h.ctx, h.p, b.ID, refund.AttemptFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(log.Data) != 3 || log.Data[0].Attempt != 3 || log.Data[0].NextRetryAt != nil || log.Data[0].StatusCode != 0 ||
			!strings.Contains(log.Data[0].Error, "rotate_secret") || log.Data[1].NextRetryAt == nil {
			t.Fatalf("the endpoint's log: %+v; want 3 attempts, the last given up naming the fix", log.Data)
		}
		st, err := h.svc.Stats(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(st.Deliveries, func(c refund.DeliveryCount) bool { return c.Status == refund.DeliveryFailed && c.Count == 1 }) {
			t.Errorf("deliveries by status: %+v; want the one failed", st.Deliveries)
		}

		rot, err := h.svc.RotateWebhookEndpointSecret(h.ctx, h.p, b.ID, ptr(int64(0)))
		if err != nil {
			t.Fatalf("rotating with no overlap: %v", err)
		}
		if _, err := h.svc.TestWebhookEndpoint(h.ctx, h.p, b.ID); err != nil {
			t.Fatal(err)
		}
		jobs, err := h.svc.ClaimDeliveries(h.ctx, time.Minute, 10, refund.TargetCap{})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 1 || jobs[0].Unsignable != "" {
			t.Fatalf("after the rotation claimed %+v; want the new delivery, signable", jobs)
		}
		verifies(t, jobs[0], rot.Secret)
	})
}

// A row whose sealed secret does not open (here copied from another row)
// is left as it is when a node starts, and named in SealSecrets' error
// (ErrSecretNotOpened, which the node logs and starts anyway); every other
// row is sealed all the same.
func TestSealSecrets_RowThatDoesNotOpenIsLeft(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		clear, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/clear")})
		if err != nil {
			t.Fatal(err)
		}
		keyed := h.node(&instantProcessor{}, withSealer(testKeyring(t, 1)))
		a, err := keyed.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/a")})
		if err != nil {
			t.Fatal(err)
		}
		b, err := keyed.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/b")})
		if err != nil {
			t.Fatal(err)
		}
		sb := h.storedEndpoint(b.ID)
		sb.Secret = h.storedEndpoint(a.ID).Secret
		h.writeEndpoint(sb)

		rotating := h.node(&instantProcessor{}, withSealer(testKeyring(t, 2, 1)))
		n, err := rotating.SealSecrets(h.ctx)
		if !errors.Is(err, refund.ErrSecretNotOpened) || !strings.Contains(err.Error(), b.ID) {
			t.Fatalf("SealSecrets: %v; want ErrSecretNotOpened naming %s", err, b.ID)
		}
		if n != 2 {
			t.Fatalf("SealSecrets sealed %d rows, want 2 (the clear one, a's)", n)
		}
		if got := h.storedEndpoint(b.ID).Secret; got != sb.Secret {
			t.Fatalf("the row that does not open was written: %q", got)
		}
		sealedHolds(t, "the clear endpoint's secret", h.storedEndpoint(clear.ID).Secret, clear.Secret)
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
		// Without an overlap the old secret is not needed: a leaked one
		// is replaced from any node (stored in the clear there, sealed
		// when a node with the key starts).
		zero := int64(0)
		rot, err := keyless.RotateWebhookEndpointSecret(h.ctx, h.p, e.ID, &zero)
		if err != nil {
			t.Fatalf("rotation without an overlap on a node without the key: %v", err)
		}
		if stored := h.storedEndpoint(e.ID); stored.Secret != rot.Secret || stored.PreviousSecret != "" {
			t.Fatalf("after the rotation without an overlap the endpoint holds %q, %q", stored.Secret, stored.PreviousSecret)
		}
		e.Secret = rot.Secret
		jobs := h.claimTest(h.svc, e.ID)
		if len(jobs) != 2 {
			t.Fatalf("the node with the key claimed %d deliveries, want 2 (the one left, the new one)", len(jobs))
		}
		for _, j := range jobs {
			verifies(t, j, e.Secret)
		}
	})
}

func (h *harness) storedUser(id string) *refund.User {
	h.t.Helper()
	var u *refund.User
	if err := h.st.View(h.ctx, func(tx refund.Tx) (err error) {
		u, err = tx.GetUser(h.ctx, id)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return u
}

func (h *harness) writeUser(u *refund.User) {
	h.t.Helper()
	if err := h.st.Update(h.ctx, func(tx refund.Tx) error { return tx.UpdateUser(h.ctx, u) }); err != nil {
		h.t.Fatal(err)
	}
}

const sealPassword = "correct horse battery staple"

// totpUser makes a console user on svc and turns their second factor on
// there (StartTOTP, ConfirmTOTP); it answers the user and the secret.
func (h *harness) totpUser(svc *refund.Service, email string) (*refund.User, string) {
	h.t.Helper()
	u, err := svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: email, Role: refund.RoleViewer, Password: sealPassword})
	if err != nil {
		h.t.Fatal(err)
	}
	link, err := svc.StartTOTP(h.ctx, u.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	l, err := url.Parse(link)
	if err != nil {
		h.t.Fatal(err)
	}
	secret := l.Query().Get("secret")
	if _, err := svc.ConfirmTOTP(h.ctx, u.ID, h.code(secret)); err != nil {
		h.t.Fatal(err)
	}
	h.clk.Advance(30 * time.Second) // the confirming code is used up
	return u, secret
}

func (h *harness) code(secret string) string {
	h.t.Helper()
	c, err := credential.Code(secret, h.clk.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// signIn signs email in on svc with a code of secret, and moves the clock
// to the next code.
func (h *harness) signIn(svc *refund.Service, email, secret string) error {
	h.t.Helper()
	_, _, _, err := svc.SignIn(h.ctx, email, sealPassword, h.code(secret))
	h.clk.Advance(30 * time.Second)
	return err
}

func withCredentials(s refund.Sealer) func(*refund.Config) {
	return func(c *refund.Config) { c.Credentials, c.Sealer, c.SealSecrets = credential.Argon2{}, s, true }
}

// A node with the key but not told to seal (Config.SealSecrets off, as
// while older nodes still run beside it) stores new and rotated secrets
// in the clear and seals nothing at start, so the older nodes can use
// them; it still opens secrets a sealing node sealed, and a rotation
// there keeps the old secret, opened, in the clear for the overlap.
func TestSealSecrets_KeyWithoutSealingWritesClear(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withKeyOnly(testKeyring(t, 1)))
		e, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/a")})
		if err != nil {
			t.Fatal(err)
		}
		if got := h.storedEndpoint(e.ID).Secret; got != e.Secret {
			t.Fatalf("the endpoint's secret is stored as %q: want it in the clear, %q", got, e.Secret)
		}
		n, err := h.svc.RotateNotifySecret(h.ctx, h.p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.storedNotifySecret().Secret; got != n.Secret {
			t.Fatalf("the notify secret is stored as %q: want it in the clear", got)
		}
		u, err := h.svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: "a@souq.example", Role: refund.RoleViewer, Password: sealPassword})
		if err != nil {
			t.Fatal(err)
		}
		link, err := h.svc.StartTOTP(h.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := url.Parse(link)
		if got := h.storedUser(u.ID).TOTPPending; got != l.Query().Get("secret") {
			t.Fatalf("the pending TOTP secret is stored as %q: want it in the clear", got)
		}
		if got, err := h.svc.SealSecrets(h.ctx); err != nil || got != 0 {
			t.Fatalf("SealSecrets on a node not told to seal = %d, %v; want 0, nil", got, err)
		}
		if got := h.storedEndpoint(e.ID).Secret; got != e.Secret {
			t.Fatalf("after SealSecrets the endpoint's secret is stored as %q: want it left clear", got)
		}

		// Sealed by a node told to seal: this one still opens it.
		sealing := h.node(&instantProcessor{}, withSealer(testKeyring(t, 1)))
		if _, err := sealing.SealSecrets(h.ctx); err != nil {
			t.Fatal(err)
		}
		sealedHolds(t, "the endpoint's secret", h.storedEndpoint(e.ID).Secret, e.Secret)
		jobs := h.claimTest(h.svc, e.ID)
		if len(jobs) != 1 {
			t.Fatalf("claimed %d deliveries, want 1", len(jobs))
		}
		verifies(t, jobs[0], e.Secret)
		rot, err := h.svc.RotateWebhookEndpointSecret(h.ctx, h.p, e.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if stored := h.storedEndpoint(e.ID); stored.Secret != rot.Secret || stored.PreviousSecret != e.Secret {
			t.Fatalf("after a rotation the secrets are stored as %q, %q: want the new and the old one in the clear", stored.Secret, stored.PreviousSecret)
		}
	})
}

// With a secret key, a user's TOTP secret is stored sealed, pending and
// confirmed (each bound to its field), and codes from it sign in. Copied
// to another user, or from the pending field to the confirmed one, it
// does not open: nobody signs in with it.
func TestSealSecrets_TOTPStoredSealed(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withCredentials(testKeyring(t, 1)))
		u, err := h.svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: "a@souq.example", Role: refund.RoleViewer, Password: sealPassword})
		if err != nil {
			t.Fatal(err)
		}
		link, err := h.svc.StartTOTP(h.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := url.Parse(link)
		pending := l.Query().Get("secret")
		if pending == "" {
			t.Fatalf("StartTOTP gave %q: want the secret in its URL, once", link)
		}
		sealedHolds(t, "the pending TOTP secret", h.storedUser(u.ID).TOTPPending, pending)
		// The pending secret moved to the confirmed field does not open.
		moved := h.storedUser(u.ID)
		moved.TOTPSecret = moved.TOTPPending
		h.writeUser(moved)
		if err := h.signIn(h.svc, "a@souq.example", pending); err == nil {
			t.Fatal("signed in with the pending secret moved to the confirmed field")
		}
		moved.TOTPSecret = ""
		h.writeUser(moved)
		if _, err := h.svc.ConfirmTOTP(h.ctx, u.ID, h.code(pending)); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(30 * time.Second)
		stored := h.storedUser(u.ID)
		sealedHolds(t, "the TOTP secret", stored.TOTPSecret, pending)
		if stored.TOTPPending != "" {
			t.Fatalf("the confirmed secret still waits: %q", stored.TOTPPending)
		}
		if err := h.signIn(h.svc, "a@souq.example", pending); err != nil {
			t.Fatalf("sign-in with a code of the sealed secret: %v", err)
		}

		// b's row given a's sealed secret: a's codes do not sign b in.
		b, bSecret := h.totpUser(h.svc, "b@souq.example")
		sb := h.storedUser(b.ID)
		sb.TOTPSecret = stored.TOTPSecret
		h.writeUser(sb)
		if err := h.signIn(h.svc, "b@souq.example", pending); err == nil {
			t.Fatal("another user's sealed TOTP secret signed b in")
		}
		if err := h.signIn(h.svc, "b@souq.example", bSecret); err == nil {
			t.Fatal("b signed in with their own secret's code though their row holds a's")
		}
	})
}

// Without a key TOTP secrets are stored in the clear as before; a node
// with the key seals them when it starts (SealSecrets), and one given a
// new key and the previous one re-seals them, codes signing in all along.
// A node without the key refuses a sealed secret, saying why.
func TestSealSecrets_TOTPClearSealedAtStartAndResealed(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withCredentials(nil))
		u, secret := h.totpUser(h.svc, "a@souq.example")
		if got := h.storedUser(u.ID).TOTPSecret; got != secret {
			t.Fatalf("without a key the TOTP secret is stored as %q: want %q", got, secret)
		}
		if n, err := h.svc.SealSecrets(h.ctx); err != nil || n != 0 {
			t.Fatalf("SealSecrets without a key = %d, %v; want 0, nil", n, err)
		}
		if err := h.signIn(h.svc, "a@souq.example", secret); err != nil {
			t.Fatalf("sign-in without a key: %v", err)
		}

		old := h.node(&instantProcessor{}, withCredentials(testKeyring(t, 1)))
		if err := h.signIn(old, "a@souq.example", secret); err != nil {
			t.Fatalf("sign-in with a clear secret on a node with the key: %v", err)
		}
		if n, err := old.SealSecrets(h.ctx); err != nil || n != 1 {
			t.Fatalf("SealSecrets = %d, %v; want 1 user", n, err)
		}
		first := h.storedUser(u.ID).TOTPSecret
		sealedHolds(t, "the TOTP secret sealed at start", first, secret)
		if err := h.signIn(old, "a@souq.example", secret); err != nil {
			t.Fatalf("sign-in after the secret was sealed: %v", err)
		}

		if _, _, _, err := h.svc.SignIn(h.ctx, "a@souq.example", sealPassword, h.code(secret)); !errors.Is(err, refund.ErrNoSecretKey) ||
			refund.ErrorCode(err) != refund.ESecretKeyUnavailable {
			t.Fatalf("sign-in on a node without the key: %v; want ErrNoSecretKey, answered %s", err, refund.ESecretKeyUnavailable)
		}

		rotating := h.node(&instantProcessor{}, withCredentials(testKeyring(t, 2, 1)))
		if n, err := rotating.SealSecrets(h.ctx); err != nil || n != 1 {
			t.Fatalf("SealSecrets with a new key = %d, %v; want 1 user re-sealed", n, err)
		}
		if again := h.storedUser(u.ID).TOTPSecret; again == first {
			t.Fatal("the secret sealed by the previous key was not sealed again")
		}
		if err := h.signIn(old, "a@souq.example", secret); err == nil {
			t.Fatal("a node with the previous key alone signed in with a secret sealed by the new one")
		}
		newOnly := h.node(&instantProcessor{}, withCredentials(testKeyring(t, 2)))
		if err := h.signIn(newOnly, "a@souq.example", secret); err != nil {
			t.Fatalf("sign-in on a node with the new key alone: %v", err)
		}
	})
}

// A node that cannot open a user's TOTP secret (no key, or not the one
// that sealed it) answers ESecretKeyUnavailable whatever the password, so
// the answer tells nothing about it, and never counts the attempt: the
// user, signing in again and again there, is not locked out and signs in
// on a node with the key. A rotation that must open the current secret
// there answers the same.
func TestSealSecrets_NodeThatCannotOpenDoesNotLockOut(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withCredentials(testKeyring(t, 1)))
		_, secret := h.totpUser(h.svc, "a@souq.example")
		e, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/a")})
		if err != nil {
			t.Fatal(err)
		}
		for name, node := range map[string]*refund.Service{
			"NoKey":    h.node(&instantProcessor{}, withCredentials(nil)),
			"WrongKey": h.node(&instantProcessor{}, withCredentials(testKeyring(t, 2))),
		} {
			for i := range refund.MaxFailedSignIns + 2 {
				for _, pw := range []string{sealPassword, "not the password at all"} {
					_, _, _, err := node.SignIn(h.ctx, "a@souq.example", pw, h.code(secret))
					if refund.ErrorCode(err) != refund.ESecretKeyUnavailable {
						t.Fatalf("%s: sign-in %d with password %q: %v; want %s", name, i, pw, err, refund.ESecretKeyUnavailable)
					}
				}
			}
			if _, err := node.RotateWebhookEndpointSecret(h.ctx, h.p, e.ID, nil); refund.ErrorCode(err) != refund.ESecretKeyUnavailable {
				t.Fatalf("%s: rotation keeping the sealed secret: %v; want %s", name, err, refund.ESecretKeyUnavailable)
			}
		}
		if err := h.signIn(h.svc, "a@souq.example", secret); err != nil {
			t.Fatalf("sign-in on the node with the key after the others refused: %v; want it signed in, not locked out", err)
		}
	})
}

// A node that cannot open a user's TOTP secret tells that the account
// exists (its answer differs from a wrong email's): that answer is
// charged to the address as a failed sign-in is, so it cannot be asked
// for at will. Without the charge every attempt answered it.
func TestSealSecrets_NodeThatCannotOpenChargesTheAddress(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withCredentials(testKeyring(t, 1)))
		_, secret := h.totpUser(h.svc, "a@souq.example")
		node := h.node(&instantProcessor{}, func(c *refund.Config) {
			withCredentials(nil)(c)
			c.AuthFailureRate, c.AuthFailureBurst = 1, 3
		})
		ctx := refund.WithRequest(h.ctx, refund.RequestInfo{IP: "203.0.113.9"})
		for i := range 3 {
			if _, _, _, err := node.SignIn(ctx, "a@souq.example", sealPassword, h.code(secret)); refund.ErrorCode(err) != refund.ESecretKeyUnavailable {
				t.Fatalf("sign-in %d: %v; want %s", i, err, refund.ESecretKeyUnavailable)
			}
		}
		if _, _, _, err := node.SignIn(ctx, "a@souq.example", sealPassword, h.code(secret)); refund.ErrorCode(err) != refund.ERateLimited {
			t.Fatalf("sign-in past the address's budget: %v; want %s", err, refund.ERateLimited)
		}
	})
}

// receiver is an HTTP client's transport that answers every request 200
// and keeps what it was sent, for a dispatcher under test.
type receiver struct {
	mu   sync.Mutex
	got  []*http.Request
	body [][]byte
}

func (r *receiver) RoundTrip(req *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.got, r.body = append(r.got, req), append(r.body, b)
	r.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: req}, nil
}

// A dispatcher on a node that cannot open an endpoint's sealed secret
// (without the key, or with another one) does not claim its delivery:
// it stays due, and a dispatcher on a node with the key delivers it at
// once, not a lease later. The node that cannot open it still sends what
// it can (a clear secret's delivery, due after it), the sealed one taking
// none of its claim's room.
func TestSealSecrets_NodeThatCannotOpenLeavesDeliveriesUnclaimed(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withSealer(testKeyring(t, 1)))
		sealed, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/sealed")})
		if err != nil {
			t.Fatal(err)
		}
		keyless := h.node(&instantProcessor{}, nil)
		clear, err := keyless.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/clear")})
		if err != nil {
			t.Fatal(err)
		}
		dispatch := func(svc *refund.Service) *receiver {
			t.Helper()
			rec := &receiver{}
			d := webhook.New(svc, webhook.Config{Now: h.clk.Now, Batch: 1, Client: &http.Client{Transport: rec}})
			if _, err := d.RunOnce(h.ctx); err != nil {
				t.Fatal(err)
			}
			return rec
		}
		for _, tc := range []struct {
			name string
			node *refund.Service
		}{
			{"WithoutTheKey", keyless},
			{"WithAnotherKey", h.node(&instantProcessor{}, withKeyOnly(testKeyring(t, 2)))},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, e := range []*refund.WebhookEndpoint{sealed, clear} {
					if _, err := h.svc.TestWebhookEndpoint(h.ctx, h.p, e.ID); err != nil {
						t.Fatal(err)
					}
				}
				// One delivery a claim: the sealed one is due first.
				if got := dispatch(tc.node); len(got.got) != 1 || got.got[0].URL.String() != clear.URL {
					t.Fatalf("the node that cannot open the sealed secret sent %d deliveries (%v); want the clear endpoint's alone", len(got.got), got.got)
				}
				got := dispatch(h.svc)
				if len(got.got) != 1 || got.got[0].URL.String() != sealed.URL {
					t.Fatalf("the node with the key sent %d deliveries (%v); want the sealed endpoint's at once", len(got.got), got.got)
				}
				wh, err := standardwebhooks.NewWebhook(sealed.Secret)
				if err != nil {
					t.Fatal(err)
				}
				if err := wh.VerifyIgnoringTimestamp(got.body[0], got.got[0].Header); err != nil {
					t.Fatalf("the delivery does not verify with the endpoint's secret: %v", err)
				}
			})
		}
	})
}

// A node told to seal whose keys hold none of the keys some stored
// secrets are sealed under (a wrong key, most likely) seals nothing, the
// clear secrets included, and names those keys (ErrUnknownSecretKey);
// it stores new secrets clear from then on. A node with the right key
// then seals them all.
func TestSealSecrets_UnknownKeySealsNothing(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withSealer(testKeyring(t, 1)))
		if _, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/sealed")}); err != nil {
			t.Fatal(err)
		}
		keyless := h.node(&instantProcessor{}, nil)
		clear, err := keyless.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/clear")})
		if err != nil {
			t.Fatal(err)
		}
		notify, err := keyless.RotateNotifySecret(h.ctx, h.p, nil)
		if err != nil {
			t.Fatal(err)
		}
		wrong := h.node(&instantProcessor{}, withSealer(testKeyring(t, 2)))
		n, err := wrong.SealSecrets(h.ctx)
		if !errors.Is(err, refund.ErrUnknownSecretKey) || n != 0 ||
			!strings.Contains(err.Error(), vault.KeyID(bytes.Repeat([]byte{1}, vault.KeySize))) {
			t.Fatalf("SealSecrets with a wrong key = %d, %v; want 0, ErrUnknownSecretKey naming the key that sealed", n, err)
		}
		if got := h.storedEndpoint(clear.ID).Secret; got != clear.Secret {
			t.Fatalf("the clear endpoint's secret is stored as %q after the wrong key's SealSecrets: want it left clear", got)
		}
		if got := h.storedNotifySecret().Secret; got != notify.Secret {
			t.Fatalf("the clear notify secret is stored as %q after the wrong key's SealSecrets: want it left clear", got)
		}
		made, err := wrong.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/new")})
		if err != nil {
			t.Fatal(err)
		}
		if got := h.storedEndpoint(made.ID).Secret; got != made.Secret {
			t.Fatalf("a secret the node with the wrong key made is stored as %q: want it clear", got)
		}
		if n, err := h.svc.SealSecrets(h.ctx); err != nil || n != 3 {
			t.Fatalf("SealSecrets with the right key = %d, %v; want 3 rows sealed (two endpoints, the notify secret)", n, err)
		}
		sealedHolds(t, "the clear endpoint's secret", h.storedEndpoint(clear.ID).Secret, clear.Secret)
		sealedHolds(t, "the wrong node's endpoint's secret", h.storedEndpoint(made.ID).Secret, made.Secret)
	})
}

// A key rotation as connectors.md describes it: rotate-key re-seals
// everything under the new key, and a node still running on the old key
// seals a new secret under it before it restarts. A node then started
// with the new key alone holds the key most secrets are sealed under: it
// is not a wrong key. It seals the clear secrets and what it makes, and
// leaves the one row it cannot open, named (ErrSecretNotOpened), as a
// row that does not open always was; it does not stop sealing for the
// whole installation.
func TestSealSecrets_RowUnderRetiredKeyDoesNotStopSealing(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, withSealer(testKeyring(t, 1)))
		if _, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/a")}); err != nil {
			t.Fatal(err)
		}
		rotating := h.node(&instantProcessor{}, withSealer(testKeyring(t, 2, 1)))
		if n, err := rotating.SealSecrets(h.ctx); err != nil || n != 1 {
			t.Fatalf("SealSecrets with both keys = %d, %v; want 1", n, err)
		}
		// Still running on the old key: it seals a new secret under it.
		old, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/old")})
		if err != nil {
			t.Fatal(err)
		}
		keyless := h.node(&instantProcessor{}, nil)
		clear, err := keyless.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/clear")})
		if err != nil {
			t.Fatal(err)
		}
		newOnly := h.node(&instantProcessor{}, withSealer(testKeyring(t, 2)))
		n, err := newOnly.SealSecrets(h.ctx)
		if errors.Is(err, refund.ErrUnknownSecretKey) || !errors.Is(err, refund.ErrSecretNotOpened) || !strings.Contains(err.Error(), old.ID) || n != 1 {
			t.Fatalf("SealSecrets with the new key = %d, %v; want 1 row sealed and ErrSecretNotOpened naming %s", n, err, old.ID)
		}
		sealedHolds(t, "the clear endpoint's secret", h.storedEndpoint(clear.ID).Secret, clear.Secret)
		made, err := newOnly.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/new")})
		if err != nil {
			t.Fatal(err)
		}
		sealedHolds(t, "a secret the node with the new key made", h.storedEndpoint(made.ID).Secret, made.Secret)
	})
}

// The first time an installation turns --seal-secrets on, no webhook or
// TOTP secret is sealed yet, but its processor accounts' credentials are,
// under the nodes' key. A node given a wrong key holds none of the keys
// they are sealed under: it seals nothing (ErrUnknownSecretKey) rather
// than seal every clear secret under a key the other nodes cannot open.
func TestSealSecrets_WrongKeyFirstToSealSealsNothing(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, func(c *refund.Config) {
			c.Sealer = testKeyring(t, 1)
			c.Connect = func(processor.Account) (processor.Processor, error) { return &instantProcessor{}, nil }
		})
		if _, err := h.svc.AddProcessorAccount(h.ctx, h.p.MerchantID, refund.ProcessorAccountInput{Name: "acq", Kind: "acquirer",
			URL: "https://acq.example.com", Credential: "sk_live_1"}); err != nil {
			t.Fatal(err)
		}
		clear, err := h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/clear")})
		if err != nil {
			t.Fatal(err)
		}
		wrong := h.node(&instantProcessor{}, withSealer(testKeyring(t, 2)))
		n, err := wrong.SealSecrets(h.ctx)
		if !errors.Is(err, refund.ErrUnknownSecretKey) || n != 0 ||
			!strings.Contains(err.Error(), vault.KeyID(bytes.Repeat([]byte{1}, vault.KeySize))) {
			t.Fatalf("SealSecrets with a wrong key = %d, %v; want 0, ErrUnknownSecretKey naming the credentials' key", n, err)
		}
		if got := h.storedEndpoint(clear.ID).Secret; got != clear.Secret {
			t.Fatalf("the clear endpoint's secret is stored as %q after the wrong key's SealSecrets: want it left clear", got)
		}
		right := h.node(&instantProcessor{}, withSealer(testKeyring(t, 1)))
		if n, err := right.SealSecrets(h.ctx); err != nil || n != 1 {
			t.Fatalf("SealSecrets with the right key = %d, %v; want 1", n, err)
		}
	})
}

// copiedSecret creates endpoints a and b and stores a's sealed secret as
// b's, where it does not open (sealed for a's row).
func (h *harness) copiedSecret() (a, b *refund.WebhookEndpoint) {
	h.t.Helper()
	var err error
	if a, err = h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/a")}); err != nil {
		h.t.Fatal(err)
	}
	if b, err = h.svc.CreateWebhookEndpoint(h.ctx, h.p, refund.WebhookEndpointInput{URL: ptr("https://hooks.example.com/b")}); err != nil {
		h.t.Fatal(err)
	}
	sb := h.storedEndpoint(b.ID)
	sb.Secret = h.storedEndpoint(a.ID).Secret
	h.writeEndpoint(sb)
	return a, b
}
