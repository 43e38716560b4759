package refund

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Idempotency of creating requests, on every surface.
//
// A surface that creates something (an order, a refund, a webhook
// endpoint) and receives an Idempotency-Key calls ClaimIdempotent (or
// BeginIdempotent, which looks the key up first) with a hash of the whole
// request, runs the request with the context of the returned Claim, and
// hands its answer to CompleteIdempotent. The first
// answer is stored and every retry with the same key and request gets it
// byte for byte, refusals included, as Stripe does. The object a request
// creates is linked to the key in the transaction that creates it
// (linkClaim), so a retry after a crash between that commit and the stored
// answer finds the object instead of creating a second one.

// Claim is one request's hold on an idempotency key.
//
// A fresh key is claimed lazily: neither ClaimIdempotent nor
// BeginIdempotent writes, and the key's row is inserted by the request's
// first write transaction, ahead of
// anything else in it (write), so the key and the request's first effects
// commit together or not at all; a concurrent request with the same key
// finds the row at its own first write and is refused as in use. A request
// that never writes (refused before any effect) stores its answer in
// CompleteIdempotent's one transaction. This spares every creating request
// a transaction of its own for the claim.
type Claim struct {
	merchantID, key, hash string
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
	// secret: the answer shows a secret (a webhook signing secret, new or
	// rotated). A node that seals secrets stores it sealed (sealReply): in
	// the clear it would lie in the key's row for IdempotencyTTL.
	secret atomic.Bool
	// The key's row: held means it is this request's (taken over in
	// BeginIdempotent, or inserted by a committed write); unsure that a
	// write carrying the insert failed in a way that may have committed,
	// so the row may be this request's or another's: left alone.
	held, unsure bool
	// rec is the key's row as this request last wrote it, so that linking
	// and completing need not read it back. Its Version is what the row
	// must still hold for this request's next write to go in
	// (Tx.UpdateIdempotency): once a retry has taken the key over, the
	// request's writes change nothing.
	rec *IdempotencyRecord
	// stored: the answer went in with the refund's last write (WithReply).
	stored bool
	// lookedBusy: a wait for the order's refunds in flight looked the
	// key up once (awaitInFlight).
	lookedBusy bool
}

type replyKey struct{}

// WithReply tells the core how the request in ctx answers the refund it
// creates: render must give exactly what the surface then writes. The
// answer is then stored with the request's idempotency key in the
// transaction that records the refund's outcome, instead of in a
// transaction of its own after it.
func WithReply(ctx context.Context, render func(*Refund) Reply) context.Context {
	return context.WithValue(ctx, replyKey{}, render)
}

// storeReply stores, in tx, the answer the request in ctx gives for r, when
// its surface said how it renders it (WithReply) and the request holds its
// key. It reports whether it did; the caller marks the claim stored once
// tx has committed.
func (s *Service) storeReply(ctx context.Context, tx Tx, r *Refund) (bool, error) {
	render, _ := ctx.Value(replyKey{}).(func(*Refund) Reply)
	c := claimFrom(ctx, r.MerchantID)
	if render == nil || c == nil || c.rec == nil || c.unsure {
		return false, nil
	}
	reply := render(r)
	if !keepable(reply) {
		return false, nil
	}
	rec, err := c.record(ctx, tx)
	if err != nil {
		return false, err
	}
	now := s.now()
	rec.LockedUntil, rec.Reply, rec.CompletedAt = now, reply, &now
	if err := tx.UpdateIdempotency(ctx, rec); err != nil {
		return false, err
	}
	c.rec = rec
	return true, nil
}

// markStored records that the answer of the request in ctx is stored.
func markStored(ctx context.Context, merchantID string) {
	if c := claimFrom(ctx, merchantID); c != nil {
		c.stored = true
	}
}

// maxReplyBytes bounds an answer kept for replay, as the surfaces do.
const maxReplyBytes = 1 << 20

// keepable reports whether reply may stand as its key's answer. A server
// error may not recur, so a retry runs again; a refusal of the caller
// says who asked, not what the request does: kept, a key without the
// scope would lock the key's rightful request out for IdempotencyTTL.
func keepable(reply Reply) bool {
	return reply.Status > 0 && reply.Status < 500 && len(reply.Body) <= maxReplyBytes && !RefusesCaller(reply.Status)
}

// RefusesCaller reports whether an HTTP status refuses the caller rather
// than the request: every surface answers EUnauthorized and EForbidden
// with 401 and 403. Such an answer is never a key's, nor replaced by it.
func RefusesCaller(status int) bool { return status == 401 || status == 403 }

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

// BeginIdempotent claims key for a request of p identified by hash, a
// request that needs scope. It answers a Claim whose Replay is the stored
// first answer, or a fresh Claim (run the request with WithClaim, then
// CompleteIdempotent), or EForbidden (p lacks scope: nothing is looked up),
// EIdempotencyKeyReused (the key was used for another request) or
// EIdempotencyKeyInUse (the first request with it is still running). A
// key whose first request died without an answer is taken over once its
// lease has run out.
func (s *Service) BeginIdempotent(ctx context.Context, p Principal, scope, key, hash string) (*Claim, error) {
	c, err := s.ClaimIdempotent(p, scope, key, hash)
	if err != nil {
		return nil, err
	}
	looked := time.Now()
	rec, err := s.cfg.Store.LookupIdempotency(ctx, p.MerchantID, key)
	traceSince(ctx, "idem_lookup", looked)
	if ErrorCode(err) == ENotFound {
		rec, err = nil, nil
	}
	switch {
	case err != nil:
		return nil, err
	case rec == nil:
		return c, nil // claimed by the request's first write (see Claim)
	}
	if done, err := s.check(c, rec, s.now()); err != nil {
		return nil, err
	} else if done {
		return c, nil
	}
	// The first request died before it answered: this one carries on,
	// and finds through the link whatever that one created.
	err = s.tracedUpdate(ctx, "idem_begin", func(tx Tx) error {
		rec, err := tx.GetIdempotency(ctx, p.MerchantID, key)
		if err != nil {
			if ErrorCode(err) == ENotFound { // expired and swept meanwhile
				return Errorf(EIdempotencyKeyInUse, "Idempotency-Key", "Initial request is still processing.")
			}
			return err
		}
		now := s.now()
		if done, err := s.check(c, rec, now); done || err != nil {
			return err
		}
		c.objectID = rec.ObjectID
		rec.LockedUntil = now.Add(s.cfg.Lease)
		c.rec = rec
		// Another retry that read the row too and wrote first has it:
		// this one is refused as in use.
		return tx.UpdateIdempotency(ctx, rec)
	})
	if err != nil {
		return nil, err
	}
	c.held = c.Replay == nil
	return c, nil
}

// ClaimIdempotent is BeginIdempotent without its lookup, for a surface
// that holds back the request's answer until it knows whose the key is:
// the request runs at once, and its first write inserts the key's row or
// finds it taken (EIdempotencyKeyInUse) and changes nothing. Once the
// request has run, an answer whose claim is not Written (refused before
// any write, or its write found the key taken) must be settled through
// BeginIdempotent, which looks the key up: no row, and the held answer is
// the key's first; otherwise answer as BeginIdempotent says (a replay, a
// refusal, or a claim taken over from a request that died, to run the
// request again with). A fresh key, the common case, so costs no lookup.
//
// scope is what the request needs, and p must hold it before anything
// else: the request hash leaves out who asks (any key of the merchant may
// retry), so a key without the scope would otherwise be replayed the
// answer of one with it.
func (s *Service) ClaimIdempotent(p Principal, scope, key, hash string) (*Claim, error) {
	if err := require(p, scope); err != nil {
		return nil, err
	}
	if !validKey(key) {
		return nil, Errorf(EInvalidRequest, "Idempotency-Key", "Idempotency-Key must be 1-%d printable ASCII characters", MaxIdempotencyKeyLen)
	}
	return &Claim{merchantID: p.MerchantID, key: key, hash: hash}, nil
}

// Written reports whether the key's row is this request's, or may be (a
// write that carried its insert may have committed): its answer is then
// the key's, whatever it is.
func (c *Claim) Written() bool { return c.held || c.unsure }

// keyReusedMessage answers a key sent again with another request: a retry
// repeats the first request exactly, and another request takes a key of
// its own.
const keyReusedMessage = "this Idempotency-Key was used with a different request: send a new Idempotency-Key for a new request (a retry repeats the first request exactly)"

// check judges a key's existing row for the request holding c: done with
// c.Replay set (answer it again), an error (another request's key, the
// first request still running, or its answer sealed and this node unable
// to open it: ESecretKeyUnavailable), or neither (the first request died:
// take the key over).
func (s *Service) check(c *Claim, rec *IdempotencyRecord, now time.Time) (bool, error) {
	switch {
	case rec.RequestHash != c.hash:
		return true, Errorf(EIdempotencyKeyReused, "Idempotency-Key", keyReusedMessage)
	case rec.Reply.Status != 0 && keepable(rec.Reply):
		// (A 401 or 403 stored before they were refused storage is
		// passed over: the key is taken over as if its request had died.)
		reply, err := s.openReply(rec, rec.Reply)
		if err != nil {
			return true, err
		}
		c.Replay = &reply
		return true, nil
	case now.Before(rec.LockedUntil):
		return true, Errorf(EIdempotencyKeyInUse, "Idempotency-Key", "Initial request is still processing.")
	}
	return false, nil
}

// write is Store.Update for every write of the core. When ctx carries a
// claim whose row is not written yet, the row goes in first, in the same
// transaction (see Claim).
func (s *Service) write(ctx context.Context, fn func(tx Tx) error) error {
	c, _ := ctx.Value(claimKey{}).(*Claim)
	if c == nil || c.unsure {
		return s.cfg.Store.Update(ctx, fn)
	}
	saved := c.rec // what a rolled-back linkClaim must not leave behind
	if c.held {
		err := s.cfg.Store.Update(ctx, func(tx Tx) error {
			// A store may run fn again after rolling an attempt back
			// (SQLite's group commit does when another caller's failure
			// loses the batch): each attempt starts from what committed.
			c.rec = saved
			return fn(tx)
		})
		if err != nil {
			// Rolled back, or committed with its answer lost: then the
			// row has moved past saved's version, and this request's
			// later writes of it change nothing.
			c.rec = saved
		}
		return err
	}
	err := s.cfg.Store.Update(ctx, func(tx Tx) error {
		now := s.now()
		rec := &IdempotencyRecord{MerchantID: c.merchantID, Key: c.key, RequestHash: c.hash,
			LockedUntil: now.Add(s.cfg.Lease), CreatedAt: now, ExpiresAt: now.Add(s.cfg.IdempotencyTTL)}
		if err := tx.InsertIdempotency(ctx, rec); err != nil {
			return err
		}
		c.rec = rec
		return fn(tx)
	})
	var re *Error
	if err != nil {
		c.rec = saved
	}
	switch {
	case err == nil:
		c.held = true
	case !errors.As(err, &re) || re.Code == EInternal:
		// Possibly committed (a commit whose answer was lost): whose the
		// row is cannot be told any more.
		c.unsure = true
	}
	return err
}

// CompleteIdempotent stores the first answer of the request holding c. A
// server error (5xx), a refusal of the caller (401, 403), a Reply with
// Status 0 (too large to keep), or the answer to a passing condition
// (noteTransient) is not stored: the key is released so that a retry runs again and finds,
// through the link, anything the first run created. A failure to store is
// only logged: the answer has gone out already.
func (s *Service) CompleteIdempotent(ctx context.Context, c *Claim, reply Reply) {
	if c == nil || c.Replay != nil || c.stored {
		return
	}
	// The answer has gone out: store it even if the caller hung up since
	// (the statements too), or a retry would find the key still locked.
	// ... and not as a write of the request itself (see write).
	ctx = context.WithValue(context.WithoutCancel(ctx), claimKey{}, (*Claim)(nil))
	keep := keepable(reply) && !c.transient.Load()
	if keep && c.secret.Load() {
		sealed, err := s.sealReply(&IdempotencyRecord{MerchantID: c.merchantID, Key: c.key}, reply)
		if err != nil {
			// Not kept in the clear instead. (Sealing fails only when the
			// system's random source does.)
			s.log.Error("could not seal the answer of an idempotent request; a retry will run it again", "err", err)
			keep = false
		} else {
			reply = sealed
		}
	}
	if c.unsure || (!c.held && !keep) {
		// Nothing of this request's to release (the row, if any, may be
		// another's: its lease ends it), or nothing written and nothing
		// to keep: a retry runs afresh.
		return
	}
	err := s.tracedUpdate(ctx, "idem_complete", func(tx Tx) error {
		now := s.now()
		if !c.held {
			// Refused before any write: the key's first row is its answer.
			// Another request with the key may have written meanwhile; its
			// row stands.
			return tx.InsertIdempotency(ctx, &IdempotencyRecord{MerchantID: c.merchantID, Key: c.key, RequestHash: c.hash,
				Reply: reply, LockedUntil: now, CompletedAt: &now, CreatedAt: now, ExpiresAt: now.Add(s.cfg.IdempotencyTTL)})
		}
		rec, err := c.record(ctx, tx)
		if err != nil {
			return err
		}
		rec.LockedUntil = now
		if keep {
			rec.Reply, rec.CompletedAt = reply, &now
		}
		return tx.UpdateIdempotency(ctx, rec)
	})
	if ErrorCode(err) == EIdempotencyKeyInUse {
		// Another request with the key wrote first (the store may say so
		// from the insert or from the commit), or the key moved on since
		// this request last wrote it: a retry took it over once the lease
		// ran out, or a write of this request's committed though its
		// answer was lost. Its row stands. Logged: a lease overrun means
		// calls outlast the key's lease.
		s.log.Warn("an idempotent request's answer was not stored: its key moved on (a retry took it over after the lease, or this request's own write committed unheard)",
			"merchant", c.merchantID, "key", c.key)
		err = nil
	}
	if err != nil {
		s.log.Warn("could not store the answer of an idempotent request; a retry will run it again", "err", err)
	}
}

// noteTransient marks ctx's claim when err is a condition that passes, so
// that its answer (whatever status the surface gives it: the gateway says
// 400 "Initial request is still processing.") is not replayed. Creating
// methods defer it with their error, naming in passing the codes that
// pass for them too.
func noteTransient(ctx context.Context, err error, passing ...string) {
	switch code := ErrorCode(err); code {
	case ERefundInProgressOnOrder, EConflict, EIdempotencyKeyInUse, ERateLimited, EProcessorUnavailable, ESecretKeyUnavailable, EInternal:
	default:
		if !slices.Contains(passing, code) {
			return
		}
	}
	if c, _ := ctx.Value(claimKey{}).(*Claim); c != nil {
		c.transient.Store(true)
	}
}

// answersSecret marks ctx's claim: the request's answer shows a secret
// (Claim.secret).
func answersSecret(ctx context.Context, merchantID string) {
	if c := claimFrom(ctx, merchantID); c != nil {
		c.secret.Store(true)
	}
}

// replyOwner binds a sealed answer to its key's row: copied to another
// key's row, or another merchant's, it does not open.
func replyOwner(rec *IdempotencyRecord) []byte {
	return secretOwner("idempotency-reply", rec.MerchantID, rec.Key)
}

// sealReply is reply as rec stores it when the node seals secrets: its
// body sealed, and its content type marked with sealedPrefix (a media
// type holds no colon, so no clear answer's is mistaken for it). On a
// node that does not seal it is reply, as before sealing.
func (s *Service) sealReply(rec *IdempotencyRecord, reply Reply) (Reply, error) {
	if !s.sealing() {
		return reply, nil
	}
	sealed, err := s.sealSecret(string(reply.Body), replyOwner(rec))
	if err != nil {
		return Reply{}, err
	}
	return Reply{Status: reply.Status, ContentType: sealedPrefix + reply.ContentType, Body: []byte(strings.TrimPrefix(sealed, sealedPrefix))}, nil
}

// openReply is the answer rec stores, byte for byte the first one. One
// sealed that this node cannot open is refused as every sealed secret it
// cannot open is (openSecret).
func (s *Service) openReply(rec *IdempotencyRecord, stored Reply) (Reply, error) {
	ct, sealed := strings.CutPrefix(stored.ContentType, sealedPrefix)
	if !sealed {
		return stored, nil
	}
	body, err := s.openSecret(sealedPrefix+string(stored.Body), replyOwner(rec))
	if err != nil {
		s.log.Error("idempotent retry refused: its stored answer shows a secret, is sealed and does not open on this node",
			"merchant", rec.MerchantID, "err", err)
		return Reply{}, err
	}
	return Reply{Status: stored.Status, ContentType: ct, Body: []byte(body)}, nil
}

// linkClaim records, in the creating transaction tx, that the request
// holding ctx's claim created objectID.
func (s *Service) linkClaim(ctx context.Context, tx Tx, merchantID, objectID string) error {
	c := claimFrom(ctx, merchantID)
	if c == nil || c.unsure {
		// Unsure, the claim's row may not be as it was read, nor this
		// request's: it writes nothing more (storeReply does the same).
		return nil
	}
	rec, err := c.record(ctx, tx)
	if err != nil {
		return err
	}
	rec.ObjectID = objectID
	if err := tx.UpdateIdempotency(ctx, rec); err != nil {
		return err
	}
	c.rec = rec
	return nil
}

// decidedBefore is refund id as an earlier run of the request holding
// ctx's claim left it, when that run decided on it (a cancel, approval,
// rejection or resolution linked it to the key) and died before its
// answer was stored: the retry that took the key over answers the refund
// as it stands. Deciding again, it would find the refund moved on and
// keep that refusal as the key's answer. ok is false otherwise.
func decidedBefore(ctx context.Context, tx Tx, merchantID, id string) (r *Refund, ok bool, err error) {
	if id == "" || claimedObject(ctx, merchantID) != id {
		return nil, false, nil
	}
	r, err = tx.GetRefund(ctx, merchantID, id)
	return r, err == nil, err
}

// record is a copy of the key's row: as this request wrote it, or read.
func (c *Claim) record(ctx context.Context, tx Tx) (*IdempotencyRecord, error) {
	if c.rec != nil {
		rec := *c.rec
		return &rec, nil
	}
	return tx.GetIdempotency(ctx, c.merchantID, c.key)
}

// claimedObject returns what an interrupted earlier run of the request
// holding ctx's claim created, or "".
func claimedObject(ctx context.Context, merchantID string) string {
	if c := claimFrom(ctx, merchantID); c != nil {
		return c.objectID
	}
	return ""
}
