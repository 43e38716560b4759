package storetest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

func (f *fixture) mustCreateEndpoint(merchantID string, mods ...func(*refund.WebhookEndpoint)) *refund.WebhookEndpoint {
	f.t.Helper()
	e := &refund.WebhookEndpoint{ID: f.id("we"), MerchantID: merchantID, URL: "https://merchant.example/hooks",
		Description: "ops", Events: []string{refund.EventRefundSucceeded, refund.EventRefundFailed},
		SigningSecrets: refund.SigningSecrets{Secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}, CreatedAt: t0, UpdatedAt: t0}
	for _, mod := range mods {
		mod(e)
	}
	f.mustUpdate(func(tx refund.Tx) error { return tx.CreateWebhookEndpoint(f.ctx, e) })
	return e
}

func (f *fixture) mustCreateEvent(merchantID, typ, refundID string, at time.Time) *refund.Event {
	f.t.Helper()
	e := &refund.Event{ID: f.id("evt"), MerchantID: merchantID, Type: typ, RefundID: refundID, OrderID: "ord_x",
		Data: []byte(`{"id":"` + refundID + `"}`), RequestID: "req_" + refundID, CreatedAt: at}
	f.mustUpdate(func(tx refund.Tx) error { return tx.InsertEvent(f.ctx, e) })
	return e
}

func (f *fixture) mustCreateDelivery(ev *refund.Event, endpointID string, due time.Time) *refund.Delivery {
	f.t.Helper()
	d := &refund.Delivery{ID: f.id("wd"), MerchantID: ev.MerchantID, EventID: ev.ID, EndpointID: endpointID,
		URL: "https://merchant.example/hooks", Status: refund.DeliveryPending, NextAttemptAt: due, Version: 1,
		CreatedAt: t0, UpdatedAt: t0}
	f.mustUpdate(func(tx refund.Tx) error { return tx.InsertDelivery(f.ctx, d) })
	return d
}

func (f *fixture) claimDeliveries(now time.Time, n int) []*refund.Delivery {
	f.t.Helper()
	var ds []*refund.Delivery
	f.mustUpdate(func(tx refund.Tx) (err error) {
		ds, err = tx.ClaimDueDeliveries(f.ctx, now, time.Minute, n, refund.TargetCap{})
		return err
	})
	return ds
}

var webhookTests = []test{
	{"EndpointRoundTrip", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		e := f.mustCreateEndpoint(m.ID)
		all := f.mustCreateEndpoint(m.ID, func(e *refund.WebhookEndpoint) { e.Events = nil })
		var got *refund.WebhookEndpoint
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.GetWebhookEndpoint(f.ctx, m.ID, e.ID)
			return err
		})
		wantSame(t, "GetWebhookEndpoint", got, e)

		e.URL, e.Description, e.Events, e.Disabled, e.UpdatedAt = "https://new.example/h", "", []string{refund.EventRefundCreated}, true, t0.Add(time.Hour)
		// A rotation keeps the old secret for an overlap.
		e.Secret, e.PreviousSecret, e.PreviousSecretUntil = "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQ=", e.Secret, t0.Add(25*time.Hour)
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateWebhookEndpoint(f.ctx, e) })
		var list []*refund.WebhookEndpoint
		f.mustView(func(tx refund.Tx) (err error) {
			list, err = tx.ListWebhookEndpoints(f.ctx, m.ID)
			return err
		})
		wantSame(t, "ListWebhookEndpoints", list, []*refund.WebhookEndpoint{e, all})
	}},
	{"EndpointNotFoundAcrossMerchants", func(t *testing.T, f *fixture) {
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		e := f.mustCreateEndpoint(m.ID)
		f.mustView(func(tx refund.Tx) error {
			_, err := tx.GetWebhookEndpoint(f.ctx, other.ID, e.ID)
			wantCode(t, err, refund.EWebhookEndpointNotFound)
			list, err := tx.ListWebhookEndpoints(f.ctx, other.ID)
			if err != nil || len(list) != 0 {
				t.Fatalf("other merchant lists %d endpoints (err %v)", len(list), err)
			}
			return nil
		})
		foreign := *e
		foreign.MerchantID = other.ID
		wantCode(t, f.update(func(tx refund.Tx) error { return tx.UpdateWebhookEndpoint(f.ctx, &foreign) }), refund.EWebhookEndpointNotFound)
		wantCode(t, f.update(func(tx refund.Tx) error { return tx.DeleteWebhookEndpoint(f.ctx, other.ID, e.ID) }), refund.EWebhookEndpointNotFound)
		wantCode(t, f.update(func(tx refund.Tx) error { return tx.DeleteWebhookEndpoint(f.ctx, m.ID, "we_missing") }), refund.EWebhookEndpointNotFound)
	}},
	{"DeleteEndpointTakesItsDeliveries", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		e := f.mustCreateEndpoint(m.ID)
		ev := f.mustCreateEvent(m.ID, refund.EventRefundSucceeded, "re_1", t0)
		d := f.mustCreateDelivery(ev, e.ID, t0)
		f.mustCreateDelivery(ev, "", t0) // a notify-URL delivery stays
		f.mustUpdate(func(tx refund.Tx) error {
			return tx.InsertDeliveryAttempt(f.ctx, &refund.DeliveryAttempt{ID: f.id("wa"), DeliveryID: d.ID, MerchantID: m.ID,
				EndpointID: e.ID, EventID: ev.ID, EventType: ev.Type, URL: d.URL, Attempt: 1, StatusCode: 500, At: t0})
		})
		f.mustUpdate(func(tx refund.Tx) error { return tx.DeleteWebhookEndpoint(f.ctx, m.ID, e.ID) })
		if ds := f.claimDeliveries(t0, 10); len(ds) != 1 || ds[0].EndpointID != "" {
			t.Fatalf("after delete, due deliveries: %+v", ds)
		}
		f.mustView(func(tx refund.Tx) error {
			as, err := tx.ListDeliveryAttempts(f.ctx, refund.AttemptFilter{MerchantID: m.ID, EndpointID: e.ID, Limit: 10})
			if err != nil || len(as) != 0 {
				t.Fatalf("attempts of a deleted endpoint: %d (err %v)", len(as), err)
			}
			return nil
		})
	}},
	{"EventsFilterAndPage", func(t *testing.T, f *fixture) {
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		e1 := f.mustCreateEvent(m.ID, refund.EventRefundCreated, "re_1", t0)
		e2 := f.mustCreateEvent(m.ID, refund.EventRefundSucceeded, "re_1", t0.Add(time.Second))
		e3 := f.mustCreateEvent(m.ID, refund.EventRefundCreated, "re_2", t0.Add(2*time.Second))
		f.mustCreateEvent(other.ID, refund.EventRefundCreated, "re_3", t0)
		for _, tc := range []struct {
			name string
			f    refund.EventFilter
			want []*refund.Event
		}{
			{"All", refund.EventFilter{MerchantID: m.ID}, []*refund.Event{e3, e2, e1}},
			{"Type", refund.EventFilter{MerchantID: m.ID, Type: refund.EventRefundCreated}, []*refund.Event{e3, e1}},
			{"Refund", refund.EventFilter{MerchantID: m.ID, RefundID: "re_1"}, []*refund.Event{e2, e1}},
			{"Cursor", refund.EventFilter{MerchantID: m.ID, Cursor: e3.ID, Limit: 1}, []*refund.Event{e2}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got []*refund.Event
				f.sub(t).mustView(func(tx refund.Tx) (err error) {
					got, err = tx.ListEvents(f.ctx, tc.f)
					return err
				})
				wantSame(t, "ListEvents", got, tc.want)
			})
		}
		f.mustView(func(tx refund.Tx) error {
			_, err := tx.GetEvent(f.ctx, other.ID, e1.ID)
			wantCode(t, err, refund.EEventNotFound)
			got, err := tx.GetEvent(f.ctx, "", e1.ID)
			if err != nil {
				return err
			}
			wantSame(t, "GetEvent", got, e1)
			return nil
		})
	}},
	{"ClaimLeasesAndFences", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		e := f.mustCreateEndpoint(m.ID)
		ev := f.mustCreateEvent(m.ID, refund.EventRefundSucceeded, "re_1", t0)
		d1 := f.mustCreateDelivery(ev, e.ID, t0)
		d2 := f.mustCreateDelivery(ev, "", t0.Add(time.Second))
		f.mustCreateDelivery(ev, e.ID, t0.Add(time.Hour)) // not due

		got := f.claimDeliveries(t0.Add(time.Second), 10)
		if len(got) != 2 || got[0].ID != d1.ID || got[1].ID != d2.ID {
			t.Fatalf("claimed %+v, want d1 and d2 in due order", got)
		}
		if got[0].Version != d1.Version+1 || !got[0].NextAttemptAt.Equal(t0.Add(time.Second+time.Minute)) {
			t.Fatalf("claim did not lease: %+v", got[0])
		}
		if again := f.claimDeliveries(t0.Add(30*time.Second), 10); len(again) != 0 {
			t.Fatalf("leased deliveries claimed again: %+v", again)
		}

		// The lease holder records; a stale copy is fenced off.
		done := *got[0]
		done.Status, done.Attempts, done.LastStatus, done.UpdatedAt = refund.DeliverySucceeded, 1, 200, t0.Add(2*time.Second)
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateDelivery(f.ctx, &done) })
		stale := *got[0]
		stale.Status = refund.DeliveryFailed
		wantCode(t, f.update(func(tx refund.Tx) error { return tx.UpdateDelivery(f.ctx, &stale) }), refund.EConflict)

		// After the lease only the unfinished one comes back.
		back := f.claimDeliveries(t0.Add(2*time.Hour), 10)
		if len(back) != 2 || back[0].ID != d2.ID {
			t.Fatalf("after the lease: %+v", back)
		}
		if back[0].Status != refund.DeliveryPending || back[0].EndpointID != "" {
			t.Fatalf("notify-URL delivery round trip: %+v", back[0])
		}
	}},
	// A slow receiver holds at most per.Max of a dispatcher's slots: a
	// claim takes no more than that per target, and a target at its cap,
	// or reaching it within the claim, does not use up the claim's limit,
	// so the others' deliveries come out even when the slow one's are due
	// first.
	{"ClaimCapsPerTarget", func(t *testing.T, f *fixture) {
		for _, tc := range []struct {
			name     string
			limit    int
			inFlight map[string]int // "slow", "fast", "notify"
			want     []string       // targets claimed, in due order
		}{
			{"NoCap", 3, nil, []string{"slow", "slow", "slow"}},
			{"TwoEach", 10, map[string]int{}, []string{"slow", "slow", "fast", "fast", "notify", "notify"}},
			{"SlowAtCap", 2, map[string]int{"slow": 2}, []string{"fast", "fast"}},
			{"SlowOneInFlight", 10, map[string]int{"slow": 1, "notify": 2}, []string{"slow", "fast", "fast"}},
			// The rows passed over once slow reaches its cap within the
			// claim leave room for the next target's.
			{"SlowReachesCap", 3, map[string]int{}, []string{"slow", "slow", "fast"}},
			{"SlowOneFromCap", 2, map[string]int{"slow": 1}, []string{"slow", "fast"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := f.mustCreateMerchant()
				slow, fast := f.mustCreateEndpoint(m.ID), f.mustCreateEndpoint(m.ID)
				ev := f.mustCreateEvent(m.ID, refund.EventRefundSucceeded, "re_1", t0)
				name := map[string]string{slow.ID: "slow", fast.ID: "fast", "notify:" + m.ID: "notify"}
				at := t0.Add(-time.Hour)
				for _, ep := range []string{slow.ID, slow.ID, slow.ID, slow.ID, fast.ID, fast.ID, fast.ID, "", "", ""} {
					at = at.Add(time.Second)
					f.mustCreateDelivery(ev, ep, at)
				}
				per := refund.TargetCap{}
				if tc.inFlight != nil {
					per.Max, per.InFlight = 2, map[string]int{}
					for target, id := range map[string]string{"slow": slow.ID, "fast": fast.ID, "notify": "notify:" + m.ID} {
						per.InFlight[id] = tc.inFlight[target]
					}
				}
				var ds []*refund.Delivery
				f.mustUpdate(func(tx refund.Tx) (err error) {
					ds, err = tx.ClaimDueDeliveries(f.ctx, t0, time.Minute, tc.limit, per)
					return err
				})
				var got []string
				for i, d := range ds {
					got = append(got, name[d.Target()])
					if i > 0 && d.ID < ds[i-1].ID || d.Version != 2 {
						t.Errorf("claimed %+v out of due order or not leased", d)
					}
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("claimed %v, want %v", got, tc.want)
				}
				// What the cap left behind is still due.
				f.mustUpdate(func(tx refund.Tx) (err error) {
					ds, err = tx.ClaimDueDeliveries(f.ctx, t0, time.Minute, 100, refund.TargetCap{})
					return err
				})
				if len(ds)+len(got) != 10 {
					t.Fatalf("after the capped claim %d were due, want %d", len(ds), 10-len(got))
				}
			})
		}
	}},
	// One merchant's receivers together hold at most per.MerchantMax
	// slots, however many endpoints it has: a claim takes no more of its
	// deliveries than that, and passing over the rest does not use up the
	// limit, so another merchant's come out though due later.
	{"ClaimCapsPerMerchant", func(t *testing.T, f *fixture) {
		for _, tc := range []struct {
			name     string
			limit    int
			inFlight int      // the busy merchant's deliveries in flight
			want     []string // targets claimed, in due order
		}{
			{"Room", 10, 0, []string{"a", "a", "b", "b", "other", "other"}},
			{"OneInFlight", 10, 1, []string{"a", "a", "b", "other", "other"}},
			{"LimitNotUsedUp", 3, 2, []string{"a", "a", "other"}},
			{"AtCap", 10, 4, []string{"other", "other"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				busy, other := f.mustCreateMerchant(), f.mustCreateMerchant()
				a, b, o := f.mustCreateEndpoint(busy.ID), f.mustCreateEndpoint(busy.ID), f.mustCreateEndpoint(other.ID)
				ev := f.mustCreateEvent(busy.ID, refund.EventRefundSucceeded, "re_1", t0)
				evOther := f.mustCreateEvent(other.ID, refund.EventRefundSucceeded, "re_2", t0)
				name := map[string]string{a.ID: "a", b.ID: "b", "notify:" + busy.ID: "notify", o.ID: "other"}
				at := t0.Add(-time.Hour)
				for _, ep := range []string{a.ID, a.ID, a.ID, b.ID, b.ID, "", ""} {
					at = at.Add(time.Second)
					f.mustCreateDelivery(ev, ep, at)
				}
				for range 2 {
					at = at.Add(time.Second)
					f.mustCreateDelivery(evOther, o.ID, at)
				}
				per := refund.TargetCap{Max: 2, InFlight: map[string]int{}, MerchantMax: 4,
					MerchantInFlight: map[string]int{busy.ID: tc.inFlight}}
				var ds []*refund.Delivery
				f.mustUpdate(func(tx refund.Tx) (err error) {
					ds, err = tx.ClaimDueDeliveries(f.ctx, t0, time.Minute, tc.limit, per)
					return err
				})
				var got []string
				for _, d := range ds {
					got = append(got, name[d.Target()])
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("claimed %v, want %v", got, tc.want)
				}
				// What the cap left behind is still due (and is cleared
				// for the next case).
				f.mustUpdate(func(tx refund.Tx) (err error) {
					ds, err = tx.ClaimDueDeliveries(f.ctx, t0, time.Minute, 100, refund.TargetCap{})
					return err
				})
				if len(ds)+len(got) != 9 {
					t.Fatalf("after the capped claim %d were due, want %d", len(ds), 9-len(got))
				}
			})
		}
	}},
	// A claim reads again for what its caps passed over; a lease of 0
	// leaves what it took due, and the claim still takes each delivery
	// once and ends.
	{"ClaimWithoutLeaseTakesEachOnce", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		ev := f.mustCreateEvent(m.ID, refund.EventRefundSucceeded, "re_1", t0)
		for range 3 {
			f.mustCreateDelivery(ev, "", t0)
		}
		per := refund.TargetCap{Max: 5, InFlight: map[string]int{}}
		var ds []*refund.Delivery
		f.mustUpdate(func(tx refund.Tx) (err error) {
			ds, err = tx.ClaimDueDeliveries(f.ctx, t0, 0, 10, per)
			return err
		})
		seen := map[string]bool{}
		for _, d := range ds {
			seen[d.ID] = true
		}
		if len(ds) != 3 || len(seen) != 3 {
			t.Fatalf("claimed %d deliveries, %d distinct; want the 3 once each", len(ds), len(seen))
		}
		if ds := f.claimDeliveries(t0, 100); len(ds) != 3 { // leased, out of the next tests' way
			t.Fatalf("after the claim without a lease %d were due, want 3", len(ds))
		}
	}},
	{"ConcurrentClaimsNeverShare", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		ev := f.mustCreateEvent(m.ID, refund.EventRefundSucceeded, "re_1", t0)
		for range 40 {
			f.mustCreateDelivery(ev, "", t0)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					var ds []*refund.Delivery
					err := f.update(func(tx refund.Tx) (err error) {
						ds, err = tx.ClaimDueDeliveries(f.ctx, t0, time.Minute, 3, refund.TargetCap{})
						return err
					})
					if err != nil {
						t.Error(err)
						return
					}
					if len(ds) == 0 {
						return
					}
					mu.Lock()
					for _, d := range ds {
						seen[d.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 40 {
			t.Fatalf("claimed %d distinct deliveries, want 40", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("delivery %s claimed %d times", id, n)
			}
		}
	}},
	{"AttemptLog", func(t *testing.T, f *fixture) {
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		e := f.mustCreateEndpoint(m.ID)
		ev := f.mustCreateEvent(m.ID, refund.EventRefundSucceeded, "re_1", t0)
		d := f.mustCreateDelivery(ev, e.ID, t0)
		next := t0.Add(time.Minute)
		a1 := &refund.DeliveryAttempt{ID: f.id("wa"), DeliveryID: d.ID, MerchantID: m.ID, EndpointID: e.ID, EventID: ev.ID,
			EventType: ev.Type, URL: d.URL, Attempt: 1, StatusCode: 0, LatencyMS: 10000, Error: "timeout", At: t0, NextRetryAt: &next}
		a2 := &refund.DeliveryAttempt{ID: f.id("wa"), DeliveryID: d.ID, MerchantID: m.ID, EndpointID: e.ID, EventID: ev.ID,
			EventType: ev.Type, URL: d.URL, Attempt: 2, StatusCode: 204, LatencyMS: 35, At: next}
		f.mustUpdate(func(tx refund.Tx) error {
			if err := tx.InsertDeliveryAttempt(f.ctx, a1); err != nil {
				return err
			}
			return tx.InsertDeliveryAttempt(f.ctx, a2)
		})
		f.mustView(func(tx refund.Tx) error {
			got, err := tx.ListDeliveryAttempts(f.ctx, refund.AttemptFilter{MerchantID: m.ID, EndpointID: e.ID, Limit: 10})
			if err != nil {
				return err
			}
			wantSame(t, "ListDeliveryAttempts", got, []*refund.DeliveryAttempt{a2, a1})
			got, err = tx.ListDeliveryAttempts(f.ctx, refund.AttemptFilter{MerchantID: m.ID, EndpointID: e.ID, Cursor: a2.ID, Limit: 10})
			if err != nil {
				return err
			}
			wantSame(t, "ListDeliveryAttempts(cursor)", got, []*refund.DeliveryAttempt{a1})
			got, err = tx.ListDeliveryAttempts(f.ctx, refund.AttemptFilter{MerchantID: other.ID, EndpointID: e.ID, Limit: 10})
			if err != nil || len(got) != 0 {
				t.Fatalf("another merchant reads the log: %d rows (err %v)", len(got), err)
			}
			return nil
		})
	}},
	{"NotifySecret", func(t *testing.T, f *fixture) {
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		f.mustView(func(tx refund.Tx) error {
			_, err := tx.GetNotifySecret(f.ctx, m.ID)
			wantCode(t, err, refund.ENotFound)
			return nil
		})
		first := &refund.NotifySecret{MerchantID: m.ID, SigningSecrets: refund.SigningSecrets{Secret: "whsec_Zmlyc3Q="}, UpdatedAt: t0}
		// A rotation keeps the old secret for an overlap; the next one
		// without an overlap drops it.
		rotated := &refund.NotifySecret{MerchantID: m.ID, SigningSecrets: refund.SigningSecrets{Secret: "whsec_c2Vjb25k",
			PreviousSecret: first.Secret, PreviousSecretUntil: t0.Add(25 * time.Hour)}, UpdatedAt: t0.Add(time.Hour)}
		dropped := &refund.NotifySecret{MerchantID: m.ID, SigningSecrets: refund.SigningSecrets{Secret: "whsec_dGhpcmQ="},
			UpdatedAt: t0.Add(2 * time.Hour)}
		was := ""
		for _, want := range []*refund.NotifySecret{first, rotated, dropped} {
			// Written over what is not (or no longer) there: refused,
			// and nothing changes.
			stale := &refund.NotifySecret{MerchantID: m.ID, SigningSecrets: refund.SigningSecrets{Secret: "whsec_c3RhbGU="}, UpdatedAt: t0}
			for _, wrong := range []string{"whsec_bm90IHRoaXM=", ""} {
				if wrong == was {
					continue
				}
				f.mustUpdate(func(tx refund.Tx) error {
					wantCode(t, tx.PutNotifySecret(f.ctx, stale, wrong), refund.EConflict)
					return nil
				})
			}
			f.mustUpdate(func(tx refund.Tx) error { return tx.PutNotifySecret(f.ctx, want, was) })
			was = want.Secret
			f.mustView(func(tx refund.Tx) error {
				got, err := tx.GetNotifySecret(f.ctx, m.ID)
				if err != nil {
					return err
				}
				wantSame(t, "GetNotifySecret", got, want)
				_, err = tx.GetNotifySecret(f.ctx, other.ID)
				wantCode(t, err, refund.ENotFound)
				return nil
			})
		}
	}},
	// A claim told which sealed secrets its claimer opens
	// (TargetCap.Sealed) leaves out, unleased, the deliveries signed by a
	// secret sealed under another key: an endpoint's or a notify secret's,
	// current or previous while its overlap lasts.
	{"ClaimLeavesOutSecretsItCannotOpen", func(t *testing.T, f *fixture) {
		const clear, held, prev, other = "whsec_Y2xlYXI=", "sealed:k1:AAAA", "sealed:k0:BBBB", "sealed:k2:CCCC"
		m := f.mustCreateMerchant()
		ev := f.mustCreateEvent(m.ID, refund.EventRefundSucceeded, "re_1", t0)
		names := map[string]string{} // delivery id -> case
		endpoint := func(name, secret, previous string, until time.Time) {
			e := f.mustCreateEndpoint(m.ID, func(e *refund.WebhookEndpoint) {
				e.SigningSecrets = refund.SigningSecrets{Secret: secret, PreviousSecret: previous, PreviousSecretUntil: until}
			})
			names[f.mustCreateDelivery(ev, e.ID, t0).ID] = name
		}
		notify := func(name, secret, previous string, until time.Time) {
			mm := f.mustCreateMerchant()
			n := &refund.NotifySecret{MerchantID: mm.ID, SigningSecrets: refund.SigningSecrets{Secret: secret,
				PreviousSecret: previous, PreviousSecretUntil: until}, UpdatedAt: t0}
			f.mustUpdate(func(tx refund.Tx) error { return tx.PutNotifySecret(f.ctx, n, "") })
			names[f.mustCreateDelivery(f.mustCreateEvent(mm.ID, refund.EventRefundSucceeded, "re_1", t0), "", t0).ID] = name
		}
		endpoint("Clear", clear, "", time.Time{})
		endpoint("Held", held, "", time.Time{})
		endpoint("HeldPreviousKey", prev, "", time.Time{})
		endpoint("Other", other, "", time.Time{})
		endpoint("OtherPreviousInOverlap", held, other, t0.Add(time.Hour))
		endpoint("OtherPreviousOverlapOver", held, other, t0)
		endpoint("ClearPreviousInOverlap", held, clear, t0.Add(time.Hour))
		notify("NotifyClear", clear, "", time.Time{})
		notify("NotifyHeld", held, clear, t0.Add(time.Hour))
		notify("NotifyOther", other, "", time.Time{})
		notify("NotifyOtherPreviousInOverlap", clear, other, t0.Add(time.Hour))
		claim := func(sealed *refund.SealedSecrets, lease time.Duration) []string {
			var ds []*refund.Delivery
			f.mustUpdate(func(tx refund.Tx) (err error) {
				ds, err = tx.ClaimDueDeliveries(f.ctx, t0, lease, 100, refund.TargetCap{Sealed: sealed})
				return err
			})
			var got []string
			for _, d := range ds {
				got = append(got, names[d.ID])
			}
			slices.Sort(got)
			return got
		}
		for _, tc := range []struct {
			name   string
			sealed *refund.SealedSecrets
			want   []string
		}{
			{"NotTold", nil, []string{"Clear", "ClearPreviousInOverlap", "Held", "HeldPreviousKey", "NotifyClear", "NotifyHeld",
				"NotifyOther", "NotifyOtherPreviousInOverlap", "Other", "OtherPreviousInOverlap", "OtherPreviousOverlapOver"}},
			{"Keys", &refund.SealedSecrets{Prefix: "sealed:", Opens: []string{"sealed:k1:", "sealed:k0:"}},
				[]string{"Clear", "ClearPreviousInOverlap", "Held", "HeldPreviousKey", "NotifyClear", "NotifyHeld", "OtherPreviousOverlapOver"}},
			{"NoKey", &refund.SealedSecrets{Prefix: "sealed:"}, []string{"Clear", "NotifyClear"}},
		} {
			// A lease of 0 leaves each case's claim due for the next.
			if got := claim(tc.sealed, 0); !slices.Equal(got, tc.want) {
				t.Errorf("%s: claimed %v, want %v", tc.name, got, tc.want)
			}
		}
		// What a claim leaves out it does not lease: due for the others.
		claim(&refund.SealedSecrets{Prefix: "sealed:"}, time.Minute)
		want := []string{"ClearPreviousInOverlap", "Held", "HeldPreviousKey", "NotifyHeld", "NotifyOther",
			"NotifyOtherPreviousInOverlap", "Other", "OtherPreviousInOverlap", "OtherPreviousOverlapOver"}
		if got := claim(nil, time.Minute); !slices.Equal(got, want) {
			t.Errorf("after a claim without the keys, due: %v, want %v", got, want)
		}
	}},
	{"ListAllSecretsPages", func(t *testing.T, f *fixture) {
		// SealSecrets reads every merchant's endpoints and notify secrets
		// a page at a time, after the last id of the page before.
		var eps []*refund.WebhookEndpoint
		var ns []*refund.NotifySecret
		for range 3 {
			m := f.mustCreateMerchant()
			eps = append(eps, f.mustCreateEndpoint(m.ID), f.mustCreateEndpoint(m.ID))
			n := &refund.NotifySecret{MerchantID: m.ID, SigningSecrets: refund.SigningSecrets{Secret: "whsec_bm90aWZ5",
				PreviousSecret: "whsec_b2xk", PreviousSecretUntil: t0.Add(time.Hour)}, UpdatedAt: t0}
			f.mustUpdate(func(tx refund.Tx) error { return tx.PutNotifySecret(f.ctx, n, "") })
			ns = append(ns, n)
		}
		slices.SortFunc(eps, func(a, b *refund.WebhookEndpoint) int { return strings.Compare(a.ID, b.ID) })
		slices.SortFunc(ns, func(a, b *refund.NotifySecret) int { return strings.Compare(a.MerchantID, b.MerchantID) })
		f.mustView(func(tx refund.Tx) error {
			var got []*refund.WebhookEndpoint
			for after := ""; ; {
				page, err := tx.ListAllWebhookEndpoints(f.ctx, after, 4)
				if err != nil {
					return err
				}
				got = append(got, page...)
				if len(page) < 4 {
					break
				}
				after = page[len(page)-1].ID
			}
			wantSame(t, "ListAllWebhookEndpoints", got, eps)
			var gotNs []*refund.NotifySecret
			for after := ""; ; {
				page, err := tx.ListNotifySecrets(f.ctx, after, 2)
				if err != nil {
					return err
				}
				gotNs = append(gotNs, page...)
				if len(page) < 2 {
					break
				}
				after = page[len(page)-1].MerchantID
			}
			wantSame(t, "ListNotifySecrets", gotNs, ns)
			return nil
		})
	}},
}
