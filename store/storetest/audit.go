package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

var auditTests = []test{
	{"RoundTripAndFilters", func(t *testing.T, f *fixture) {
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		entry := func(merchant, action, object string, at time.Time) *refund.AuditEntry {
			return &refund.AuditEntry{ID: f.id("aud"), MerchantID: merchant, Action: action, ObjectType: "refund",
				ObjectID: object, Actor: "merchant", KeyPrefix: "rk_0123456789ab", Surface: "native",
				RequestID: "req_1", IP: "203.0.113.7", Before: "pending", After: "canceled", At: at}
		}
		all := []*refund.AuditEntry{
			entry(m.ID, "refund.create", "re_1", t0),
			entry(other.ID, "refund.create", "re_x", t0),
			entry(m.ID, "refund.cancel", "re_1", t0.Add(time.Second)),
			entry(m.ID, "refund.create", "re_2", t0.Add(2*time.Second)),
		}
		f.mustUpdate(func(tx refund.Tx) error {
			for _, e := range all {
				if err := tx.InsertAudit(f.ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		ids := func(es []*refund.AuditEntry) []string {
			var out []string
			for _, e := range es {
				out = append(out, e.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name   string
			filter refund.AuditFilter
			want   []*refund.AuditEntry
		}{
			{"Merchant", refund.AuditFilter{MerchantID: m.ID, Limit: 10}, []*refund.AuditEntry{all[3], all[2], all[0]}},
			{"Object", refund.AuditFilter{MerchantID: m.ID, ObjectID: "re_1", Limit: 10}, []*refund.AuditEntry{all[2], all[0]}},
			{"Action", refund.AuditFilter{MerchantID: m.ID, Action: "refund.create", Limit: 10}, []*refund.AuditEntry{all[3], all[0]}},
			{"Cursor", refund.AuditFilter{MerchantID: m.ID, Cursor: all[3].ID, Limit: 1}, []*refund.AuditEntry{all[2]}},
			{"OtherMerchantsNeverShow", refund.AuditFilter{MerchantID: other.ID, ObjectID: "re_1", Limit: 10}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got []*refund.AuditEntry
				f.sub(t).mustView(func(tx refund.Tx) (err error) {
					got, err = tx.ListAudit(f.ctx, tc.filter)
					return err
				})
				if g, w := ids(got), ids(tc.want); !slices.Equal(g, w) {
					t.Fatalf("ListAudit = %v, want %v", g, w)
				}
				for i := range got {
					if *got[i] != *tc.want[i] {
						t.Fatalf("entry %d = %+v, want %+v", i, *got[i], *tc.want[i])
					}
				}
			})
		}
	}},
	{"RolledBackChangeLeavesNoEntry", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		err := f.update(func(tx refund.Tx) error {
			if err := tx.InsertAudit(f.ctx, &refund.AuditEntry{ID: f.id("aud"), MerchantID: m.ID, Action: "refund.create",
				ObjectType: "refund", ObjectID: "re_1", At: t0}); err != nil {
				return err
			}
			return refund.Errorf(refund.EAmountExceedsRefundable, "amount", "the change failed after the entry")
		})
		if refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
			t.Fatalf("Update = %v", err)
		}
		f.mustView(func(tx refund.Tx) error {
			got, err := tx.ListAudit(f.ctx, refund.AuditFilter{MerchantID: m.ID, Limit: 10})
			if err == nil && len(got) != 0 {
				t.Fatalf("a rolled-back change left %d audit entries", len(got))
			}
			return err
		})
	}},
}
