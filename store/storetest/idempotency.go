package storetest

import (
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

func (f *fixture) newIdempotency(merchantID, key string, mods ...func(*refund.IdempotencyRecord)) *refund.IdempotencyRecord {
	r := &refund.IdempotencyRecord{MerchantID: merchantID, Key: key, RequestHash: "hash-" + key,
		LockedUntil: t0.Add(time.Minute), CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	for _, mod := range mods {
		mod(r)
	}
	return r
}

func (f *fixture) mustInsertIdempotency(r *refund.IdempotencyRecord) {
	f.t.Helper()
	f.mustUpdate(func(tx refund.Tx) error { return tx.InsertIdempotency(f.ctx, r) })
}

// getIdempotency reads the key in a View, and checks that the lookup
// outside any transaction answers the same.
func (f *fixture) getIdempotency(merchantID, key string) (*refund.IdempotencyRecord, error) {
	f.t.Helper()
	var r *refund.IdempotencyRecord
	err := f.view(func(tx refund.Tx) (err error) {
		r, err = tx.GetIdempotency(f.ctx, merchantID, key)
		return err
	})
	looked, lerr := f.store.LookupIdempotency(f.ctx, merchantID, key)
	switch {
	case (err == nil) != (lerr == nil) || refund.ErrorCode(err) != refund.ErrorCode(lerr):
		f.t.Fatalf("LookupIdempotency: %v, GetIdempotency in a View: %v", lerr, err)
	case err == nil:
		wantSame(f.t, "LookupIdempotency", looked, r)
	}
	return r, err
}

var idempotencyTests = []test{
	{"LookupSeesOnlyCommitted", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		r := f.newIdempotency(m.ID, "key-1")
		f.mustUpdate(func(tx refund.Tx) error {
			if err := tx.InsertIdempotency(f.ctx, r); err != nil {
				return err
			}
			// A write after the insert: on PostgreSQL it sends the held
			// insert to the server, uncommitted.
			if err := tx.UpdateIdempotency(f.ctx, r); err != nil {
				return err
			}
			_, err := f.store.LookupIdempotency(f.ctx, m.ID, "key-1")
			wantCode(t, err, refund.ENotFound)
			return nil
		})
		got, err := f.store.LookupIdempotency(f.ctx, m.ID, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		wantSame(t, "LookupIdempotency after the commit", got, r)
		_, err = f.store.LookupIdempotency(f.ctx, m.ID, "key-2")
		wantCode(t, err, refund.ENotFound)
	}},
	{"OK", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		r := f.newIdempotency(m.ID, "key-1")
		f.mustInsertIdempotency(r)
		got, err := f.getIdempotency(m.ID, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		wantSame(t, "GetIdempotency", got, r)
		if got.CompletedAt != nil {
			t.Fatalf("CompletedAt = %v, want nil", got.CompletedAt)
		}
	}},
	{"Update", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		r := f.newIdempotency(m.ID, "key-1")
		f.mustInsertIdempotency(r)
		done := t0.Add(5 * time.Second)
		for _, step := range []func(){
			func() { r.ObjectID = "re_1" },
			func() { r.LockedUntil, r.CompletedAt = t0.Add(2*time.Minute), &done },
			func() {
				r.Reply = refund.Reply{Status: 422, ContentType: "application/json",
					Body: []byte(`{"error":{"code":"amount_exceeds_refundable","message":"refund exceeds the refundable 10.00 SAR"}}`)}
			},
		} {
			step()
			f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateIdempotency(f.ctx, r) })
			got, err := f.getIdempotency(m.ID, "key-1")
			if err != nil {
				t.Fatal(err)
			}
			wantSame(t, "record after UpdateIdempotency", got, r)
		}
	}},
	{"UpdateOnlyAsLastSeen", func(t *testing.T, f *fixture) {
		// Two requests read the key (one whose lease ran out, and the
		// retry taking it over): the first to write wins, and the other's
		// write changes nothing, in its own transaction or after another
		// write of its own in the same one.
		m := f.mustCreateMerchant()
		f.mustInsertIdempotency(f.newIdempotency(m.ID, "key-1"))
		late, err := f.getIdempotency(m.ID, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		retry := *late
		retry.LockedUntil = t0.Add(3 * time.Minute)
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateIdempotency(f.ctx, &retry) })
		if retry.Version != late.Version+1 {
			t.Fatalf("version after an update: %d, want %d", retry.Version, late.Version+1)
		}
		late.ObjectID, late.Reply = "re_late", refund.Reply{Status: 201, ContentType: "application/json", Body: []byte(`{}`)}
		version := late.Version
		err = f.update(func(tx refund.Tx) error { return tx.UpdateIdempotency(f.ctx, late) })
		wantCode(t, err, refund.EIdempotencyKeyInUse)
		if late.Version != version {
			t.Fatalf("the refused writer's version moved to %d, want %d", late.Version, version)
		}
		other := f.newIdempotency(m.ID, "key-2")
		f.mustInsertIdempotency(other)
		err = f.update(func(tx refund.Tx) error {
			if err := tx.UpdateIdempotency(f.ctx, other); err != nil {
				return err
			}
			return tx.UpdateIdempotency(f.ctx, late)
		})
		wantCode(t, err, refund.EIdempotencyKeyInUse)
		got, err := f.getIdempotency(m.ID, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		wantSame(t, "record after a stale update", got, &retry)
		got, err = f.getIdempotency(m.ID, "key-2")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 0 {
			t.Fatalf("key-2 at version %d after a refused transaction, want 0", got.Version)
		}
		// A write after the winner's, as the winner left it, goes in.
		retry.Reply = refund.Reply{Status: 201, ContentType: "application/json", Body: []byte(`{"by":"retry"}`)}
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateIdempotency(f.ctx, &retry) })
		got, err = f.getIdempotency(m.ID, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		wantSame(t, "record after the winner's second update", got, &retry)
		gone := f.newIdempotency(m.ID, "key-gone")
		wantCode(t, f.update(func(tx refund.Tx) error { return tx.UpdateIdempotency(f.ctx, gone) }), refund.ENotFound)
	}},
	{"ErrIdempotencyKeyInUse", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		first := f.newIdempotency(m1.ID, "key-1")
		f.mustInsertIdempotency(first)
		err := f.update(func(tx refund.Tx) error {
			return tx.InsertIdempotency(f.ctx, f.newIdempotency(m1.ID, "key-1", func(r *refund.IdempotencyRecord) { r.RequestHash = "other" }))
		})
		wantCode(t, err, refund.EIdempotencyKeyInUse)
		got, err := f.getIdempotency(m1.ID, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		wantSame(t, "first record", got, first)
		// Keys are per merchant.
		f.mustInsertIdempotency(f.newIdempotency(m2.ID, "key-1"))
	}},
	{"ErrNotFound", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		f.mustInsertIdempotency(f.newIdempotency(m1.ID, "key-1"))
		_, err := f.getIdempotency(m1.ID, "key-2")
		wantCode(t, err, refund.ENotFound)
		_, err = f.getIdempotency(m2.ID, "key-1") // another merchant's key
		wantCode(t, err, refund.ENotFound)
	}},
	{"DeleteExpired", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		expires := func(at time.Time) func(*refund.IdempotencyRecord) {
			return func(r *refund.IdempotencyRecord) { r.ExpiresAt, r.LockedUntil = at, at.Add(-23*time.Hour) }
		}
		// Expired, but taken over by a retry whose lease runs still: kept
		// (swept, a new request would insert the key afresh beside the one
		// running).
		f.mustInsertIdempotency(f.newIdempotency(m.ID, "leased", expires(t0.Add(-2*time.Hour)),
			func(r *refund.IdempotencyRecord) { r.LockedUntil = t0.Add(time.Minute) }))
		f.mustInsertIdempotency(f.newIdempotency(m.ID, "old", expires(t0.Add(-time.Hour))))
		f.mustInsertIdempotency(f.newIdempotency(m.ID, "older", expires(t0.Add(-48*time.Hour))))
		f.mustInsertIdempotency(f.newIdempotency(m.ID, "now", expires(t0)))
		f.mustInsertIdempotency(f.newIdempotency(m.ID, "fresh", expires(t0.Add(time.Hour))))
		// Up to the limit, the earliest first: "older", then "old", then
		// nothing is left to delete.
		for i, step := range []struct {
			limit, want int
			gone        string
		}{{1, 1, "older"}, {1, 1, "old"}, {10, 0, ""}} {
			var n int
			f.mustUpdate(func(tx refund.Tx) (err error) {
				n, err = tx.DeleteExpiredIdempotency(f.ctx, t0, step.limit)
				return err
			})
			if n != step.want {
				t.Fatalf("step %d: DeleteExpiredIdempotency(limit %d) = %d, want %d", i, step.limit, n, step.want)
			}
			if step.gone != "" {
				_, err := f.getIdempotency(m.ID, step.gone)
				wantCode(t, err, refund.ENotFound)
			}
		}
		for key, kept := range map[string]bool{"old": false, "older": false, "now": true, "fresh": true, "leased": true} {
			_, err := f.getIdempotency(m.ID, key)
			switch {
			case kept && err != nil:
				t.Fatalf("record %q: %v, want it kept", key, err)
			case !kept:
				wantCode(t, err, refund.ENotFound)
			}
		}
		// The deleted key can be used again.
		f.mustInsertIdempotency(f.newIdempotency(m.ID, "old"))
	}},
}
