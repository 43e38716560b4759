package refund

import (
	"context"
	"sync/atomic"
)

// Idempotency of creating requests, on every surface.
//
// A surface that creates something (an order, a refund, a webhook
// endpoint) and receives an Idempotency-Key calls BeginIdempotent with a
// hash of the whole request, runs the request with the context of the
// returned Claim, and hands its answer to CompleteIdempotent. The first
// answer is stored and every retry with the same key and request gets it
// byte for byte, refusals included, as Stripe does. The object a request
// creates is linked to the key in the transaction that creates it
// (linkClaim), so a retry after a crash between that commit and the stored
// answer finds the object instead of creating a second one.

// Claim is one request's hold on an idempotency key.
type Claim struct {
	merchantID, key string
	// Replay is the stored first answer when the key was used before with
	// the same request: the surface writes it and does nothing else.
	Replay *Reply
	// objectID is what an earlier, interrupted run of the same request
	// created ("" if nothing).
	objectID string
	// transient: the request met a condition that passes (a refund of the
	// order still in flight, a concurrent change, the processor
	// unavailable). Its answer is not kept: a retry must run again.
	transient atomic.Bool
}

type claimKey struct{}

// WithClaim returns ctx carrying c, for the request that holds it.
func WithClaim(ctx context.Context, c *Claim) context.Context {
	if c == nil || c.Replay != nil {
		return ctx
	}
	return context.WithValue(ctx, claimKey{}, c)
}

func claimFrom(ctx context.Context, merchantID string) *Claim {
	c, _ := ctx.Value(claimKey{}).(*Claim)
	if c == nil || c.merchantID != merchantID {
		return nil
	}
	return c
}

// MaxIdempotencyKeyLen bounds an Idempotency-Key.
const MaxIdempotencyKeyLen = 255

// validKey reports whether key is 1-255 printable ASCII characters.
func validKey(key string) bool {
	if key == "" || len(key) > MaxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// BeginIdempotent claims key for a request of p identified by hash. It
// answers a Claim whose Replay is the stored first answer, or a fresh
// Claim (run the request with WithClaim, then CompleteIdempotent), or
// EIdempotencyKeyReused (the key was used for another request) or
// EIdempotencyKeyInUse (the first request with it is still running). A
// key whose first request died without an answer is taken over once its
// lease has run out.
func (s *Service) BeginIdempotent(ctx context.Context, p Principal, key, hash string) (*Claim, error) {
	if !validKey(key) {
		return nil, Errorf(EInvalidRequest, "Idempotency-Key", "Idempotency-Key must be 1-%d printable ASCII characters", MaxIdempotencyKeyLen)
	}
	if p.MerchantID == "" {
		return nil, Errorf(EForbidden, "", "this key does not act for a merchant")
	}
	c := &Claim{merchantID: p.MerchantID, key: key}
	err := s.tracedUpdate(ctx, "idem_begin", func(tx Tx) error {
		now := s.now()
		rec, err := tx.GetIdempotency(ctx, p.MerchantID, key)
		switch {
		case ErrorCode(err) == ENotFound:
			return tx.InsertIdempotency(ctx, &IdempotencyRecord{MerchantID: p.MerchantID, Key: key, RequestHash: hash,
				LockedUntil: now.Add(s.cfg.Lease), CreatedAt: now, ExpiresAt: now.Add(s.cfg.IdempotencyTTL)})
		case err != nil:
			return err
		case rec.RequestHash != hash:
			return Errorf(EIdempotencyKeyReused, "Idempotency-Key", "this Idempotency-Key was used with a different request")
		case rec.Reply.Status != 0:
			reply := rec.Reply
			c.Replay = &reply
			return nil
		case now.Before(rec.LockedUntil):
			return Errorf(EIdempotencyKeyInUse, "Idempotency-Key", "Initial request is still processing.")
		}
		// The first request died before it answered: this one carries on,
		// and finds through the link whatever that one created.
		c.objectID = rec.ObjectID
		rec.LockedUntil = now.Add(s.cfg.Lease)
		return tx.UpdateIdempotency(ctx, rec)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CompleteIdempotent stores the first answer of the request holding c. A
// server error (5xx), a Reply with Status 0 (too large to keep), or the
// answer to a passing condition (noteTransient) is not stored: the key is released so that a retry runs again and finds,
// through the link, anything the first run created. A failure to store is
// only logged: the answer has gone out already.
func (s *Service) CompleteIdempotent(ctx context.Context, c *Claim, reply Reply) {
	if c == nil || c.Replay != nil {
		return
	}
	// The answer has gone out: store it even if the caller hung up since
	// (the statements too), or a retry would find the key still locked.
	ctx = context.WithoutCancel(ctx)
	err := s.tracedUpdate(ctx, "idem_complete", func(tx Tx) error {
		rec, err := tx.GetIdempotency(ctx, c.merchantID, c.key)
		if err != nil {
			return err
		}
		now := s.now()
		rec.LockedUntil = now
		if reply.Status > 0 && reply.Status < 500 && !c.transient.Load() {
			rec.Reply, rec.CompletedAt = reply, &now
		}
		return tx.UpdateIdempotency(ctx, rec)
	})
	if err != nil {
		s.log.Warn("could not store the answer of an idempotent request; a retry will run it again", "err", err)
	}
}

// noteTransient marks ctx's claim when err is a condition that passes, so
// that its answer (whatever status the surface gives it: the gateway says
// 400 "Initial request is still processing.") is not replayed. Creating
// methods defer it with their error.
func noteTransient(ctx context.Context, err error) {
	switch ErrorCode(err) {
	case ERefundInProgressOnOrder, EConflict, EIdempotencyKeyInUse, ERateLimited, EProcessorUnavailable, EInternal:
		if c, _ := ctx.Value(claimKey{}).(*Claim); c != nil {
			c.transient.Store(true)
		}
	}
}

// linkClaim records, in the creating transaction tx, that the request
// holding ctx's claim created objectID.
func (s *Service) linkClaim(ctx context.Context, tx Tx, merchantID, objectID string) error {
	c := claimFrom(ctx, merchantID)
	if c == nil {
		return nil
	}
	rec, err := tx.GetIdempotency(ctx, c.merchantID, c.key)
	if err != nil {
		return err
	}
	rec.ObjectID = objectID
	return tx.UpdateIdempotency(ctx, rec)
}

// claimedObject returns what an interrupted earlier run of the request
// holding ctx's claim created, or "".
func claimedObject(ctx context.Context, merchantID string) string {
	if c := claimFrom(ctx, merchantID); c != nil {
		return c.objectID
	}
	return ""
}
