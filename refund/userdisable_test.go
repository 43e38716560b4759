package refund_test

import (
	"testing"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
)

// TestUser_SetDisabledToTheSameState: enabling a user who is active (or
// disabling one who is disabled) changes nothing, so it neither signs the
// user out of the console nor writes the audit trail; enabling a disabled
// user, and disabling an active one, do both.
func TestUser_SetDisabledToTheSameState(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, func(c *refund.Config) { c.Credentials = credential.Argon2{} })
		const email, pw = "ops@souq.example", "correct horse battery staple"
		u, err := h.svc.CreateUser(h.ctx, refund.UserInput{MerchantID: h.p.MerchantID, Email: email, Role: refund.RoleViewer, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		sid, _, _, err := h.svc.SignIn(h.ctx, email, pw, "")
		if err != nil {
			t.Fatal(err)
		}
		audited := func() int {
			t.Helper()
			page, err := h.svc.ListAudit(h.ctx, h.p, refund.AuditFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range page.Data {
				if e.Action == "user.enable" || e.Action == "user.disable" {
					n++
				}
			}
			return n
		}
		if got, err := h.svc.SetUserDisabled(h.ctx, u.ID, false); err != nil || got.Disabled {
			t.Fatalf("enable an active user: %+v, %v", got, err)
		}
		if _, _, err := h.svc.ConsoleSessionOf(h.ctx, sid); err != nil {
			t.Fatalf("enabling an active user signed them out: %v", err)
		}
		if n := audited(); n != 0 {
			t.Fatalf("enabling an active user wrote %d audit entries", n)
		}
		if _, err := h.svc.SetUserDisabled(h.ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.svc.ConsoleSessionOf(h.ctx, sid); refund.ErrorCode(err) != refund.ENotFound {
			t.Fatalf("a disabled user's session: %v, want it gone", err)
		}
		if _, err := h.svc.SetUserDisabled(h.ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if n := audited(); n != 2 {
			t.Fatalf("disable and enable wrote %d audit entries, want 2", n)
		}
	})
}
