package refund

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event types. Every one is written to the outbox in the transaction that
// makes the change it reports.
const (
	EventRefundCreated   = "refund.created"
	EventRefundSucceeded = "refund.succeeded"
	EventRefundFailed    = "refund.failed"
	EventRefundCanceled  = "refund.canceled"
	EventRefundReversed  = "refund.reversed"
	// EventRefundRequiresReview: the processor has not settled the refund
	// after the last attempt; its amount stays reserved.
	EventRefundRequiresReview = "refund.requires_review"
	// EventRefundDiscrepancy: the processor executed a refund refundd
	// could not record as succeeded (see GET /v1/discrepancies).
	EventRefundDiscrepancy = "refund.discrepancy"
	EventWebhookTest       = "webhook.test"
)

// EventTypes lists the types an endpoint may subscribe to.
var EventTypes = []string{EventRefundCreated, EventRefundSucceeded, EventRefundFailed, EventRefundCanceled,
	EventRefundReversed, EventRefundRequiresReview, EventRefundDiscrepancy, EventOrderVoided, EventOrderChargedBack,
	EventOrderChargebackApplied, EventOrderVoidApplied, EventRefundRequiresApproval, EventRefundApproved, EventRefundRejected}

// MaxWebhookEndpoints bounds a merchant's endpoints: each event fans out to
// all of them inside the refund's transaction.
const MaxWebhookEndpoints = 16

// WebhookEndpoint is a merchant URL that receives signed events.
type WebhookEndpoint struct {
	ID          string
	MerchantID  string
	URL         string
	Description string
	Events      []string // subscribed types; empty means all
	// SigningSecrets sign its deliveries; the secret is shown to the
	// merchant only when the endpoint is created or its secret rotated.
	SigningSecrets
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SigningSecrets are the secrets that sign deliveries to one target.
type SigningSecrets struct {
	// Secret signs deliveries (Standard Webhooks, "whsec_" + base64). As
	// stored (what the store reads and writes) it is sealed when the node
	// has a secret key (Config.Sealer), bound to its row and field; the
	// Service opens it to sign and to show it once.
	Secret string
	// PreviousSecret is the secret before the last rotation; until
	// PreviousSecretUntil deliveries carry a signature with it too, so
	// the receiver can switch secrets without refusing one.
	PreviousSecret      string
	PreviousSecretUntil time.Time // zero when there is no previous secret
}

// Secrets returns the secrets that sign a delivery at now: the current
// one, and the previous one during its overlap.
func (k *SigningSecrets) Secrets(now time.Time) []string {
	if k.PreviousSecret != "" && now.Before(k.PreviousSecretUntil) {
		return []string{k.Secret, k.PreviousSecret}
	}
	return []string{k.Secret}
}

// rotate makes secret the current one at now and keeps the old one
// signing for keep; 0 drops it at once. A rotation during an overlap
// ends the older secret's.
func (k *SigningSecrets) rotate(secret string, now time.Time, keep time.Duration) {
	k.PreviousSecret, k.PreviousSecretUntil = "", time.Time{}
	if keep > 0 && k.Secret != "" {
		k.PreviousSecret, k.PreviousSecretUntil = k.Secret, now.Add(keep)
	}
	k.Secret = secret
}

// Wants reports whether the endpoint subscribes to an event type. Test
// events go only to the endpoint they were made for.
func (e *WebhookEndpoint) Wants(typ string) bool {
	if e.Disabled || typ == EventWebhookTest {
		return false
	}
	return len(e.Events) == 0 || slices.Contains(e.Events, typ)
}

// PendingDelivery is a pending delivery and its event's type.
type PendingDelivery struct {
	Delivery  *Delivery
	EventType string
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"   // not yet accepted; retried
	DeliverySucceeded DeliveryStatus = "succeeded" // the receiver answered 2xx
	DeliveryFailed    DeliveryStatus = "failed"    // retries exhausted
)

// Delivery is one event on its way to one URL: a merchant endpoint, or a
// refund's notify URL (EndpointID "").
type Delivery struct {
	ID            string
	MerchantID    string
	EventID       string
	EndpointID    string
	URL           string
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt time.Time
	LastStatus    int // HTTP status of the last attempt, 0 when none arrived
	LastError     string
	Version       int
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Target names where a delivery goes, for the dispatcher's per-target
// concurrency cap: its endpoint, or for a notify URL the merchant's
// notify URLs as one (they are set per refund, so a merchant could have
// any number of them, all at one slow host).
func (d *Delivery) Target() string {
	if d.EndpointID != "" {
		return d.EndpointID
	}
	return "notify:" + d.MerchantID
}

// TargetCap bounds what one claim of deliveries takes per target
// (Delivery.Target) and per merchant, so that a slow or dead receiver
// holds at most Max of a dispatcher's slots, and one merchant's receivers
// together at most MerchantMax, and the others keep sending. 0: no bound.
type TargetCap struct {
	Max int
	// InFlight counts the deliveries the claimer is sending now, per
	// target; they count against Max.
	InFlight    map[string]int
	MerchantMax int
	// MerchantInFlight counts them per merchant, against MerchantMax.
	MerchantInFlight map[string]int
	// Sealed, when set, leaves out the deliveries whose target's signing
	// secret the claimer cannot open (see SealedSecrets). ClaimDeliveries
	// sets it.
	Sealed *SealedSecrets
}

// SealedSecrets tells a claim of deliveries which sealed signing secrets
// the claimer opens. A delivery is left out, neither leased nor counted
// against the claim's limit or caps, when a secret that signs it (its
// endpoint's, or for a notify URL its merchant's notify secret: the
// current one, or the previous one while its overlap lasts, until after
// the claim's now) starts with Prefix and with none of Opens: sealed under
// a key the claimer does not hold, it would only be leased away from the
// nodes that can send it.
type SealedSecrets struct {
	Prefix string
	Opens  []string // empty on a node without the secret key
}

// MerchantShare is the part of a dispatcher's slots one merchant's
// deliveries may hold at once, 1/MerchantShare (16 of the default 32).
// Each endpoint is capped on its own, but a merchant may have
// MaxWebhookEndpoints of them: without this bound, 8 dead ones at 4 each
// would hold all 32 slots and every other merchant's deliveries would
// wait for their timeouts.
const MerchantShare = 2

// CapCount counts the deliveries one claim takes against a TargetCap, on
// top of those in flight.
type CapCount struct {
	cap       TargetCap
	taken     map[string]int
	merchants map[string]int
}

// Count starts a claim's count.
func (c TargetCap) Count() *CapCount {
	return &CapCount{cap: c, taken: map[string]int{}, merchants: map[string]int{}}
}

// Full lists the targets at Max, counting what the claim took: a claim
// reads no more of their deliveries.
func (c *CapCount) Full() []string { return full(c.cap.Max, c.cap.InFlight, c.taken) }

// FullMerchants lists the merchants at MerchantMax, as Full does targets.
func (c *CapCount) FullMerchants() []string {
	return full(c.cap.MerchantMax, c.cap.MerchantInFlight, c.merchants)
}

// full lists, sorted, the keys whose in flight and taken reach most.
func full(most int, inFlight, taken map[string]int) []string {
	var keys []string
	if most <= 0 {
		return nil
	}
	for k, n := range inFlight {
		if n+taken[k] >= most {
			keys = append(keys, k)
		}
	}
	for k, n := range taken {
		if _, ok := inFlight[k]; !ok && n >= most {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Take reports whether the claim may take d without passing Max or
// MerchantMax, and counts it if so.
func (c *CapCount) Take(d *Delivery) bool {
	t, m := d.Target(), d.MerchantID
	if c.cap.Max > 0 && c.cap.InFlight[t]+c.taken[t] >= c.cap.Max ||
		c.cap.MerchantMax > 0 && c.cap.MerchantInFlight[m]+c.merchants[m] >= c.cap.MerchantMax {
		return false
	}
	c.taken[t]++
	c.merchants[m]++
	return true
}

// DeliveryAttempt is one row of an endpoint's delivery log.
type DeliveryAttempt struct {
	ID          string
	DeliveryID  string
	MerchantID  string
	EndpointID  string
	EventID     string
	EventType   string
	URL         string
	Attempt     int
	StatusCode  int // 0 when no HTTP answer arrived
	LatencyMS   int64
	Error       string
	At          time.Time
	NextRetryAt *time.Time // nil when the delivery succeeded or gave up
}

// EventFilter selects a merchant's events, newest first.
type EventFilter struct {
	MerchantID string
	Type       string
	RefundID   string
	Cursor     string
	Limit      int
}

// AttemptFilter selects a merchant's delivery log, newest first.
type AttemptFilter struct {
	MerchantID string
	EndpointID string
	Cursor     string
	Limit      int
}

// WebhookTx is the part of a transaction that keeps endpoints, the event
// outbox and deliveries.
type WebhookTx interface {
	// CreateWebhookEndpoint inserts e.
	CreateWebhookEndpoint(ctx context.Context, e *WebhookEndpoint) error
	// GetWebhookEndpoint returns EWebhookEndpointNotFound, also for
	// another merchant's endpoint.
	GetWebhookEndpoint(ctx context.Context, merchantID, id string) (*WebhookEndpoint, error)
	// ListWebhookEndpoints returns all of a merchant's endpoints, oldest first.
	ListWebhookEndpoints(ctx context.Context, merchantID string) ([]*WebhookEndpoint, error)
	// ListAllWebhookEndpoints returns up to limit endpoints of every
	// merchant whose ids sort after afterID, by id (SealSecrets' pages).
	ListAllWebhookEndpoints(ctx context.Context, afterID string, limit int) ([]*WebhookEndpoint, error)
	// UpdateWebhookEndpoint writes URL, description, events, disabled,
	// the secrets and updated_at. Returns EWebhookEndpointNotFound.
	UpdateWebhookEndpoint(ctx context.Context, e *WebhookEndpoint) error
	// DeleteWebhookEndpoint removes the endpoint with its deliveries and
	// log. Returns EWebhookEndpointNotFound.
	DeleteWebhookEndpoint(ctx context.Context, merchantID, id string) error

	// GetEvent returns EEventNotFound; merchantID "" matches any.
	GetEvent(ctx context.Context, merchantID, id string) (*Event, error)
	// ListEvents returns events newest first (by id).
	ListEvents(ctx context.Context, f EventFilter) ([]*Event, error)

	// InsertDelivery inserts d.
	InsertDelivery(ctx context.Context, d *Delivery) error
	// ClaimDueDeliveries returns up to limit pending deliveries whose
	// NextAttemptAt <= now, earliest first, within per (each one
	// per.Count().Take allows, in due order), and moves their
	// NextAttemptAt to now+lease (bumping Version), so no other dispatcher
	// sends them meanwhile. Deliveries passed over for the caps do not
	// count against limit: while others are due, the claim takes limit.
	// Backends with row locks skip rows locked by other claimers.
	ClaimDueDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int, per TargetCap) ([]*Delivery, error)
	// ListPendingDeliveries returns an endpoint's pending deliveries, with
	// their events' types, oldest first. Backends with row locks lock
	// them (waiting for a claim under way), so the caller's updates
	// fence a dispatcher that claims them after.
	ListPendingDeliveries(ctx context.Context, merchantID, endpointID string) ([]PendingDelivery, error)
	// UpdateDelivery writes d if its stored version is still d.Version,
	// then bumps d.Version. Returns EConflict otherwise.
	UpdateDelivery(ctx context.Context, d *Delivery) error
	// InsertDeliveryAttempt appends to the delivery log.
	InsertDeliveryAttempt(ctx context.Context, a *DeliveryAttempt) error
	// ListDeliveryAttempts returns log rows newest first (by id).
	ListDeliveryAttempts(ctx context.Context, f AttemptFilter) ([]*DeliveryAttempt, error)

	// GetNotifySecret returns the secrets that sign a merchant's
	// notify-URL deliveries, or ENotFound.
	GetNotifySecret(ctx context.Context, merchantID string) (*NotifySecret, error)
	// ListNotifySecrets returns up to limit merchants' notify secrets
	// whose merchant ids sort after afterMerchantID, by merchant id.
	ListNotifySecrets(ctx context.Context, afterMerchantID string, limit int) ([]*NotifySecret, error)
	// PutNotifySecret writes n in place of the secrets whose current one
	// was read as was ("": the merchant had none). EConflict when that is
	// no longer so (another rotation, or a first notify delivery, wrote
	// them meanwhile): the caller reads them again, never writes over a
	// secret someone was given.
	PutNotifySecret(ctx context.Context, n *NotifySecret, was string) error
}

// NotifySecret signs the deliveries to a merchant's refunds' notify URLs:
// one per merchant, made on first use (fanOut) and rotated through
// RotateNotifySecret.
type NotifySecret struct {
	MerchantID string
	SigningSecrets
	UpdatedAt time.Time
}

// newWebhookSecret returns a Standard Webhooks secret: "whsec_" and 32
// random bytes in base64.
func (s *Service) newWebhookSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}

// checkTargetURL validates a webhook or notify URL: absolute http(s), and
// allowed by the configured target policy (private addresses are refused
// unless the deployment allows them).
func (s *Service) checkTargetURL(ctx context.Context, param, raw string) error {
	u, err := url.Parse(raw)
	// u.Host is ":8080" for http://:8080/, which Go dials as this node:
	// the host name itself must be there.
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || len(raw) > 2000 || u.User != nil {
		return Errorf(EInvalidRequest, param, "%s must be an absolute http(s) URL without credentials", param)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return Errorf(EInvalidRequest, param, "%s has no valid port (1-65535)", param)
		}
	}
	if s.cfg.CheckTarget != nil {
		if err := s.cfg.CheckTarget(ctx, raw); err != nil {
			return Errorf(EInvalidRequest, param, "%s is not an allowed target: %v", param, err)
		}
	}
	return nil
}

// WebhookEndpointInput creates or changes an endpoint; nil fields are left
// as they are on update.
type WebhookEndpointInput struct {
	URL         *string
	Description *string
	Events      *[]string
	Disabled    *bool
}

func (s *Service) applyEndpointInput(ctx context.Context, e *WebhookEndpoint, in WebhookEndpointInput) error {
	if in.URL != nil {
		if err := s.checkTargetURL(ctx, "url", *in.URL); err != nil {
			return err
		}
		e.URL = *in.URL
	}
	if in.Description != nil {
		if err := CheckText("description", *in.Description, 500); err != nil {
			return err
		}
		e.Description = *in.Description
	}
	if in.Events != nil {
		if len(*in.Events) == 0 {
			// Read as every event (as a left-out events is on create), an
			// empty list sent to stop deliveries would have sent them all.
			return Errorf(EInvalidRequest, "events", `events must name at least one event type, or ["*"] for every event; to stop deliveries, set disabled`)
		}
		evs := []string{}
		for i, t := range *in.Events {
			if t == "*" {
				evs = nil
				break
			}
			if !slices.Contains(EventTypes, t) {
				return Errorf(EInvalidRequest, "events["+itoa(i)+"]", "unknown event type %q (one of %s, or *)", t, strings.Join(EventTypes, ", "))
			}
			if !slices.Contains(evs, t) {
				evs = append(evs, t)
			}
		}
		e.Events = evs
	}
	if in.Disabled != nil {
		e.Disabled = *in.Disabled
	}
	return nil
}

// CreateWebhookEndpoint registers a URL for the caller's events. The
// returned endpoint carries its secret; it is not shown again.
func (s *Service) CreateWebhookEndpoint(ctx context.Context, p Principal, in WebhookEndpointInput) (_ *WebhookEndpoint, err error) {
	defer func() { noteTransient(ctx, err) }()
	if err := require(p, ScopeWebhooksWrite); err != nil {
		return nil, err
	}
	if in.URL == nil {
		return nil, Errorf(EInvalidRequest, "url", "url is required")
	}
	now := s.now()
	e := &WebhookEndpoint{ID: s.cfg.NewID("we"), MerchantID: p.MerchantID, CreatedAt: now, UpdatedAt: now}
	if err := s.applyEndpointInput(ctx, e, in); err != nil {
		return nil, err
	}
	secret, err := s.newWebhookSecret()
	if err != nil {
		return nil, err
	}
	e.Secret = secret
	owner := func(f string) []byte { return endpointOwner(e, f) }
	stored := *e
	if stored.SigningSecrets, err = s.sealSigning(e.SigningSecrets, owner); err != nil {
		return nil, err
	}
	err = s.write(ctx, func(tx Tx) error {
		if id := claimedObject(ctx, p.MerchantID); id != "" {
			// An earlier run of this very request created it.
			prev, err := tx.GetWebhookEndpoint(ctx, p.MerchantID, id)
			if err == nil {
				e = prev
			}
			return err
		}
		// Counted under the merchant's lock: two creates counting at once
		// both found room for one and passed the cap.
		if err := tx.LockMerchant(ctx, p.MerchantID); err != nil {
			return err
		}
		eps, err := tx.ListWebhookEndpoints(ctx, p.MerchantID)
		if err != nil {
			return err
		}
		if len(eps) >= MaxWebhookEndpoints {
			return Errorf(EInvalidRequest, "", "a merchant may have at most %d webhook endpoints", MaxWebhookEndpoints)
		}
		if err := tx.CreateWebhookEndpoint(ctx, &stored); err != nil {
			return err
		}
		if err := s.linkClaim(ctx, tx, p.MerchantID, e.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, "webhook_endpoint.create", "webhook_endpoint", e.ID, "", endpointState(e), "", now)
	})
	if err != nil {
		return nil, err
	}
	// Shown once: the earlier run's endpoint is read as stored.
	if e.SigningSecrets, err = s.openSigning(e.SigningSecrets, owner); err != nil {
		return nil, err
	}
	answersSecret(ctx, p.MerchantID)
	return e, nil
}

// GetWebhookEndpoint returns one of the caller's endpoints.
func (s *Service) GetWebhookEndpoint(ctx context.Context, p Principal, id string) (*WebhookEndpoint, error) {
	if err := require(p, ScopeWebhooksWrite); err != nil {
		return nil, err
	}
	var e *WebhookEndpoint
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		e, err = tx.GetWebhookEndpoint(ctx, p.MerchantID, id)
		return err
	})
	return e, err
}

// ListWebhookEndpoints returns the caller's endpoints, oldest first.
func (s *Service) ListWebhookEndpoints(ctx context.Context, p Principal) ([]*WebhookEndpoint, error) {
	if err := require(p, ScopeWebhooksWrite); err != nil {
		return nil, err
	}
	var eps []*WebhookEndpoint
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		eps, err = tx.ListWebhookEndpoints(ctx, p.MerchantID)
		return err
	})
	return eps, err
}

// UpdateWebhookEndpoint changes the given fields of an endpoint.
func (s *Service) UpdateWebhookEndpoint(ctx context.Context, p Principal, id string, in WebhookEndpointInput) (*WebhookEndpoint, error) {
	if err := require(p, ScopeWebhooksWrite); err != nil {
		return nil, err
	}
	var e *WebhookEndpoint
	err := s.write(ctx, func(tx Tx) (err error) {
		if e, err = tx.GetWebhookEndpoint(ctx, p.MerchantID, id); err != nil {
			return err
		}
		before := endpointState(e)
		if err := s.applyEndpointInput(ctx, e, in); err != nil {
			return err
		}
		e.UpdatedAt = s.now()
		if err := tx.UpdateWebhookEndpoint(ctx, e); err != nil {
			return err
		}
		if in.Disabled != nil || in.Events != nil {
			if err := s.failUnwanted(ctx, tx, e, e.UpdatedAt); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, p, "webhook_endpoint.update", "webhook_endpoint", e.ID, before, endpointState(e), "", e.UpdatedAt)
	})
	return e, err
}

// failUnwanted marks e's pending deliveries that e no longer takes
// (disabled, or no longer subscribed to their type) failed at once, each
// with an entry in the endpoint's log saying why, in the transaction that
// changed e: turned back on or subscribed again during a retry wait, the
// endpoint must not get what the merchant was told had stopped. A test
// event is still sent, as the merchant asked for it there. A delivery
// whose attempt is under way is marked too; that attempt's record then
// finds it changed and is dropped.
func (s *Service) failUnwanted(ctx context.Context, tx Tx, e *WebhookEndpoint, now time.Time) error {
	pending, err := tx.ListPendingDeliveries(ctx, e.MerchantID, e.ID)
	if err != nil {
		return err
	}
	for _, p := range pending {
		if p.EventType == EventWebhookTest || e.Wants(p.EventType) {
			continue
		}
		why := "not sent: the endpoint no longer subscribes to " + p.EventType
		if e.Disabled {
			why = "not sent: the endpoint is disabled"
		}
		if err := s.failUnsent(ctx, tx, p.Delivery, p.EventType, e.URL, why, now); err != nil {
			return err
		}
	}
	return nil
}

// failUnsent marks d failed without sending it, and says why in the
// endpoint's log (an entry without a status code), so the merchant sees
// why the event stopped.
func (s *Service) failUnsent(ctx context.Context, tx Tx, d *Delivery, eventType, url, why string, now time.Time) error {
	d.Status, d.LastError, d.UpdatedAt = DeliveryFailed, why, now
	if err := tx.UpdateDelivery(ctx, d); err != nil {
		return err
	}
	return tx.InsertDeliveryAttempt(ctx, &DeliveryAttempt{ID: s.cfg.NewID("wa"), DeliveryID: d.ID,
		MerchantID: d.MerchantID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: eventType,
		URL: url, Attempt: d.Attempts, Error: why, At: now})
}

// StatusGone is the answer (HTTP 410 Gone) with which a receiver says its
// endpoint is no more: Standard Webhooks asks senders to disable it.
const StatusGone = 410

// DeleteWebhookEndpoint removes an endpoint; its deliveries, pending or
// not, and their attempts go too (the schema cascades).
func (s *Service) DeleteWebhookEndpoint(ctx context.Context, p Principal, id string) error {
	if err := require(p, ScopeWebhooksWrite); err != nil {
		return err
	}
	return s.write(ctx, func(tx Tx) error {
		e, err := tx.GetWebhookEndpoint(ctx, p.MerchantID, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteWebhookEndpoint(ctx, p.MerchantID, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, "webhook_endpoint.delete", "webhook_endpoint", id, endpointState(e), "deleted", "", s.now())
	})
}

// MaxSecretOverlap bounds how long a rotated-out secret still signs
// deliveries; DefaultSecretOverlap is the overlap when none is asked.
const (
	MaxSecretOverlap     = 7 * 24 * time.Hour
	DefaultSecretOverlap = 24 * time.Hour
)

// secretRotation is what a rotation rotates: load reads it in the
// rotation's transaction and returns its secrets and the id its
// Idempotency-Key is linked to; save writes it back, rotated at now, and
// audits the rotation.
type secretRotation struct {
	load func(tx Tx) (*SigningSecrets, string, error)
	save func(tx Tx, now time.Time) error
	// owner binds the loaded row's sealed secrets (secretOwner).
	owner func(field string) []byte
}

// rotateSecret gives rot a new secret. For overlapSeconds (0 to
// MaxSecretOverlap; nil: DefaultSecretOverlap) deliveries are signed with
// the old secret as well, so the receiver keeps verifying while it
// switches; 0 drops the old secret at once (a leaked one). Seconds, as
// asked: the range is checked before they become a Duration, which could
// overflow.
func (s *Service) rotateSecret(ctx context.Context, p Principal, overlapSeconds *int64, rot secretRotation) (err error) {
	// A conflict (rotations racing past maxRotationReads) is worth a
	// retry: not kept as the Idempotency-Key's answer.
	defer func() {
		noteTransient(ctx, err)
		if err == nil {
			answersSecret(ctx, p.MerchantID) // the answer shows the new secret
		}
	}()
	if err := require(p, ScopeWebhooksWrite); err != nil {
		return err
	}
	keep := DefaultSecretOverlap
	if overlapSeconds != nil {
		if *overlapSeconds < 0 || *overlapSeconds > int64(MaxSecretOverlap/time.Second) {
			return Errorf(EInvalidRequest, "expire_previous_in", "expire_previous_in must be 0 to %d seconds", int64(MaxSecretOverlap/time.Second))
		}
		keep = time.Duration(*overlapSeconds) * time.Second
	}
	secret, err := s.newWebhookSecret()
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx Tx) error {
		for range maxRotationReads {
			k, id, err := rot.load(tx)
			if err != nil {
				return err
			}
			if claimedObject(ctx, p.MerchantID) == id {
				// An earlier run of this very request rotated it and died
				// before its answer: rotating again would drop the secret the
				// receiver holds from the overlap for one it never saw.
				k.Secret, err = s.openSecret(k.Secret, rot.owner(fieldSecret))
				return err
			}
			// The current secret is opened only to be kept for the
			// overlap (sealed again for the previous secret's field); the
			// previous one is dropped unopened. Without an overlap nothing
			// is opened: a leaked secret can always be replaced.
			plain := SigningSecrets{Secret: k.Secret}
			if keep > 0 {
				if plain.Secret, err = s.openSecret(k.Secret, rot.owner(fieldSecret)); err != nil {
					return err
				}
			}
			now := s.now()
			plain.rotate(secret, now, keep)
			if *k, err = s.sealSigning(plain, rot.owner); err != nil {
				return err
			}
			err = rot.save(tx, now)
			if errors.Is(err, errSecretsChanged) {
				continue // rotate what the other writer left
			}
			if err != nil {
				return err
			}
			*k = plain // the new secret, shown once
			return s.linkClaim(ctx, tx, p.MerchantID, id)
		}
		return Errorf(EConflict, "", "the secret was rotated concurrently; try again")
	})
}

// errSecretsChanged is a rotation's save finding the secrets changed
// since its load; maxRotationReads bounds how often it reads them again.
var errSecretsChanged = errors.New("signing secrets changed since they were read")

const maxRotationReads = 5

// RotateWebhookEndpointSecret gives an endpoint a new secret and returns
// the endpoint with it (shown only now); the old one goes on signing for
// overlapSeconds (see rotateSecret).
func (s *Service) RotateWebhookEndpointSecret(ctx context.Context, p Principal, id string, overlapSeconds *int64) (*WebhookEndpoint, error) {
	var e *WebhookEndpoint
	err := s.rotateSecret(ctx, p, overlapSeconds, secretRotation{
		load: func(tx Tx) (_ *SigningSecrets, _ string, err error) {
			if e, err = tx.GetWebhookEndpoint(ctx, p.MerchantID, id); err != nil {
				return nil, "", err
			}
			return &e.SigningSecrets, e.ID, nil
		},
		save: func(tx Tx, now time.Time) error {
			e.UpdatedAt = now
			if err := tx.UpdateWebhookEndpoint(ctx, e); err != nil {
				return err
			}
			return s.audit(ctx, tx, p, "webhook_endpoint.rotate_secret", "webhook_endpoint", e.ID, endpointState(e), endpointState(e), "", now)
		},
		owner: func(f string) []byte { return endpointOwner(e, f) },
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// TestWebhookEndpoint queues a webhook.test event for one endpoint.
func (s *Service) TestWebhookEndpoint(ctx context.Context, p Principal, id string) (*Event, error) {
	if err := require(p, ScopeWebhooksWrite); err != nil {
		return nil, err
	}
	now := s.now()
	ev := &Event{ID: s.cfg.NewID("evt"), MerchantID: p.MerchantID, Type: EventWebhookTest, CreatedAt: now,
		RequestID: RequestFrom(ctx).ID,
		Data:      []byte(`{"object":"webhook_test","message":"a test event sent on request"}`)}
	err := s.write(ctx, func(tx Tx) error {
		e, err := tx.GetWebhookEndpoint(ctx, p.MerchantID, id)
		if err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, ev); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, p, "webhook_endpoint.test", "webhook_endpoint", e.ID, endpointState(e), endpointState(e), "", now); err != nil {
			return err
		}
		return tx.InsertDelivery(ctx, s.newDelivery(ev, e.ID, e.URL, now))
	})
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// RotateNotifySecret gives the caller's notify-URL deliveries a new
// secret and returns it (shown only now); the old one goes on signing for
// overlapSeconds (see rotateSecret).
func (s *Service) RotateNotifySecret(ctx context.Context, p Principal, overlapSeconds *int64) (*NotifySecret, error) {
	var n *NotifySecret
	var was string // the current secret as loaded, "" for none
	err := s.rotateSecret(ctx, p, overlapSeconds, secretRotation{
		load: func(tx Tx) (_ *SigningSecrets, _ string, err error) {
			n, err = tx.GetNotifySecret(ctx, p.MerchantID)
			if ErrorCode(err) == ENotFound {
				n, err = &NotifySecret{MerchantID: p.MerchantID}, nil // none made yet: none to keep
			}
			if err != nil {
				return nil, "", err
			}
			was = n.Secret
			return &n.SigningSecrets, p.MerchantID, nil
		},
		save: func(tx Tx, now time.Time) error {
			n.UpdatedAt = now
			// Not locked when read: a rotation on another node, or the
			// first notify delivery making the secret, may have committed
			// since. Written over, the secret it gave would sign nothing.
			if err := tx.PutNotifySecret(ctx, n, was); ErrorCode(err) == EConflict {
				return errSecretsChanged
			} else if err != nil {
				return err
			}
			return s.audit(ctx, tx, p, "notify_secret.rotate", "notify_secret", p.MerchantID, "", "rotated", "", now)
		},
		owner: func(f string) []byte { return notifyOwner(p.MerchantID, f) },
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// ListEvents returns the caller's events, newest first.
func (s *Service) ListEvents(ctx context.Context, p Principal, f EventFilter) (Page[*Event], error) {
	if err := require(p, ScopeRefundsRead); err != nil {
		return Page[*Event]{}, err
	}
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return Page[*Event]{}, err
	}
	if f.Type != "" && f.Type != EventWebhookTest && !slices.Contains(EventTypes, f.Type) {
		return Page[*Event]{}, Errorf(EInvalidRequest, "type", "unknown event type %q", f.Type)
	}
	f.MerchantID, f.Limit = p.MerchantID, limit+1
	var rows []*Event
	err = s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		rows, err = tx.ListEvents(ctx, f)
		return err
	})
	if err != nil {
		return Page[*Event]{}, err
	}
	return paginate(rows, limit, func(e *Event) string { return e.ID }), nil
}

// GetEvent returns one of the caller's events.
func (s *Service) GetEvent(ctx context.Context, p Principal, id string) (*Event, error) {
	if err := require(p, ScopeRefundsRead); err != nil {
		return nil, err
	}
	var e *Event
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		e, err = tx.GetEvent(ctx, p.MerchantID, id)
		return err
	})
	return e, err
}

// ListDeliveryAttempts returns an endpoint's delivery log, newest first.
func (s *Service) ListDeliveryAttempts(ctx context.Context, p Principal, endpointID string, f AttemptFilter) (Page[*DeliveryAttempt], error) {
	if err := require(p, ScopeWebhooksWrite); err != nil {
		return Page[*DeliveryAttempt]{}, err
	}
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return Page[*DeliveryAttempt]{}, err
	}
	f.MerchantID, f.EndpointID, f.Limit = p.MerchantID, endpointID, limit+1
	var rows []*DeliveryAttempt
	err = s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		if _, err := tx.GetWebhookEndpoint(ctx, p.MerchantID, endpointID); err != nil {
			return err
		}
		rows, err = tx.ListDeliveryAttempts(ctx, f)
		return err
	})
	if err != nil {
		return Page[*DeliveryAttempt]{}, err
	}
	return paginate(rows, limit, func(a *DeliveryAttempt) string { return a.ID }), nil
}

func (s *Service) newDelivery(ev *Event, endpointID, url string, now time.Time) *Delivery {
	return &Delivery{ID: s.cfg.NewID("wd"), MerchantID: ev.MerchantID, EventID: ev.ID, EndpointID: endpointID,
		URL: url, Status: DeliveryPending, NextAttemptAt: now, Version: 1, CreatedAt: now, UpdatedAt: now}
}

// fanOut queues ev for every endpoint that wants it and, for a refund's
// final state, for the refund's notify URL, in the transaction that wrote
// ev: an event is never committed without its deliveries.
func (s *Service) fanOut(ctx context.Context, tx Tx, ev *Event, notifyURL string) error {
	eps, err := tx.ListWebhookEndpoints(ctx, ev.MerchantID)
	if err != nil {
		return err
	}
	for _, e := range eps {
		if e.Wants(ev.Type) {
			if err := tx.InsertDelivery(ctx, s.newDelivery(ev, e.ID, e.URL, ev.CreatedAt)); err != nil {
				return err
			}
		}
	}
	if notifyURL == "" || ev.Type == EventRefundCreated {
		return nil
	}
	// Notify URLs are signed with a per-merchant secret, made on first use
	// and replaced through RotateNotifySecret.
	if _, err := tx.GetNotifySecret(ctx, ev.MerchantID); ErrorCode(err) == ENotFound {
		secret, err := s.newWebhookSecret()
		if err != nil {
			return err
		}
		if secret, err = s.sealSecret(secret, notifyOwner(ev.MerchantID, fieldSecret)); err != nil {
			return err
		}
		n := &NotifySecret{MerchantID: ev.MerchantID, SigningSecrets: SigningSecrets{Secret: secret}, UpdatedAt: ev.CreatedAt}
		// EConflict: another transaction (a rotation, another first use)
		// made it meanwhile; that one stands.
		if err := tx.PutNotifySecret(ctx, n, ""); err != nil && ErrorCode(err) != EConflict {
			return err
		}
	} else if err != nil {
		return err
	}
	return tx.InsertDelivery(ctx, s.newDelivery(ev, "", notifyURL, ev.CreatedAt))
}

// DeliveryJob is a claimed delivery with what is needed to send it.
type DeliveryJob struct {
	Delivery *Delivery
	Event    *Event
	// Secrets sign the delivery, one signature each: the current secret,
	// and the previous one during a rotation's overlap.
	Secrets []string
	Payload []byte // the JSON body to send
	// Unsignable, when set, is why no node can sign the delivery (its
	// signing secret opens on none) and what fixes it: the dispatcher
	// records a failed attempt with it as the error, sending nothing
	// (Secrets and Payload are empty).
	Unsignable string
}

// ClaimDeliveries leases up to limit due deliveries to the caller,
// within per (see WebhookTx.ClaimDueDeliveries). On an error it returns
// no job: the caller holds no lease and must send nothing. A delivery
// whose signing secret opens on no node is a job with Unsignable set.
func (s *Service) ClaimDeliveries(ctx context.Context, lease time.Duration, limit int, per TargetCap) ([]DeliveryJob, error) {
	var jobs []DeliveryJob
	per.Sealed = s.opens()
	err := s.write(ctx, func(tx Tx) error {
		jobs = jobs[:0]
		now := s.now()
		ds, err := tx.ClaimDueDeliveries(ctx, now, lease, limit, per)
		if err != nil {
			return err
		}
		for _, d := range ds {
			ev, err := tx.GetEvent(ctx, d.MerchantID, d.EventID)
			if err != nil {
				return err
			}
			var secrets []string
			var openErr error
			var whose, rotate string // the secret's owner, and the request that replaces it
			if d.EndpointID != "" {
				e, err := tx.GetWebhookEndpoint(ctx, d.MerchantID, d.EndpointID)
				if err != nil {
					return err
				}
				if e.Disabled && ev.Type != EventWebhookTest {
					// The merchant turned the endpoint off: nothing more
					// goes to it, retries included (a test event is sent,
					// as the merchant asked for it there).
					if err := s.failUnsent(ctx, tx, d, ev.Type, e.URL, "not sent: the endpoint is disabled", now); err != nil {
						return err
					}
					continue
				}
				// Retries follow the endpoint to its URL now, never to one
				// the merchant took away.
				d.URL = e.URL
				secrets, openErr = s.signingSecrets(e.SigningSecrets, func(f string) []byte { return endpointOwner(e, f) }, now)
				whose, rotate = "the endpoint's", "POST /v1/webhook_endpoints/"+e.ID+"/rotate_secret"
			} else {
				n, err := tx.GetNotifySecret(ctx, d.MerchantID)
				if err != nil {
					return err
				}
				secrets, openErr = s.signingSecrets(n.SigningSecrets, func(f string) []byte { return notifyOwner(d.MerchantID, f) }, now)
				whose, rotate = "the notify URLs'", "POST /v1/notify_secret"
			}
			if errors.Is(openErr, errSignsNowhere) {
				// Left for another node, it would be claimed and not sent
				// for ever, and the merchant never told: it fails as an
				// unanswered attempt does, retried and in the end given
				// up, each attempt's error saying how to fix it. A
				// rotation without an overlap opens nothing.
				s.log.Error("webhook delivery not sent: its signing secret opens on no node (altered, or copied from another row); counted as a failed attempt",
					"delivery", d.ID, "endpoint", d.EndpointID, "merchant", d.MerchantID, "err", openErr)
				jobs = append(jobs, DeliveryJob{Delivery: d, Event: ev, Unsignable: "not sent: " + whose + " signing secret as stored opens on no node " +
					"(altered, or copied from another row in the database); rotate it with no overlap: " + rotate + ` {"expire_previous_in":0}`})
				continue
			}
			if openErr != nil {
				// Sealed since the claim read it under a key this node
				// lacks, or a previous secret that opens on no node
				// while its overlap lasts: never signed with a sealed
				// text, nor held up for the others: it stays claimed
				// until its lease ends, then is due again (a node that
				// opens it sends it; once the overlap ends, this one).
				s.log.Error("webhook delivery not sent: its signing secret does not open on this node",
					"delivery", d.ID, "endpoint", d.EndpointID, "merchant", d.MerchantID, "err", openErr)
				continue
			}
			payload, err := eventPayload(ev)
			if err != nil {
				return err
			}
			jobs = append(jobs, DeliveryJob{Delivery: d, Event: ev, Secrets: secrets, Payload: payload})
		}
		return nil
	})
	if err != nil {
		// Not committed, nothing is leased: the deliveries read are still
		// due, and whoever claims them next sends them. Sent from here
		// too, each would go out twice.
		return nil, err
	}
	return jobs, nil
}

// opens is what this node's claims of deliveries are told about sealed
// secrets (TargetCap.Sealed): a delivery it cannot sign is left due for
// the nodes that can, not leased by every claim here.
func (s *Service) opens() *SealedSecrets {
	f := &SealedSecrets{Prefix: sealedPrefix}
	if s.cfg.Sealer != nil {
		for _, p := range s.cfg.Sealer.Prefixes() {
			f.Opens = append(f.Opens, sealedPrefix+p)
		}
	}
	return f
}

// ReleaseDelivery hands back a claimed delivery that was not sent (the
// dispatcher is stopping): it is due again at once, with no attempt
// counted, unless it changed since the claim.
func (s *Service) ReleaseDelivery(ctx context.Context, job DeliveryJob) error {
	return s.write(ctx, func(tx Tx) error {
		d := *job.Delivery
		d.NextAttemptAt = s.now()
		err := tx.UpdateDelivery(ctx, &d)
		if ErrorCode(err) == EConflict {
			return nil // changed or deleted meanwhile: nothing to hand back
		}
		return err
	})
}

// EventBody is an event as GET /v1/events shows it and as webhooks
// deliver it: one shape (the OpenAPI document's Event schema). timestamp
// is the Standard Webhooks envelope's name for created_at.
type EventBody struct {
	ID        string          `json:"id"`
	Object    string          `json:"object"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	RefundID  *string         `json:"refund_id"`
	OrderID   *string         `json:"order_id"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// Body returns ev's public shape.
func (ev *Event) Body() EventBody {
	data := json.RawMessage(ev.Data)
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return EventBody{ID: ev.ID, Object: "event", Type: ev.Type, Timestamp: ev.CreatedAt, RefundID: orNull(ev.RefundID),
		OrderID: orNull(ev.OrderID), Data: data, CreatedAt: ev.CreatedAt}
}

// orNull is nil for "", as the API shows a value nobody set.
func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// eventPayload is the body receivers get.
func eventPayload(ev *Event) ([]byte, error) { return json.Marshal(ev.Body()) }

// DeliveryOutcome is what one attempt produced.
type DeliveryOutcome struct {
	StatusCode int
	Latency    time.Duration
	Err        string
	// NextRetry is when to try again; nil means no more tries (the
	// delivery succeeded, or the schedule is exhausted).
	NextRetry *time.Time
}

// RecordDelivery stores an attempt's outcome and logs it. A 2xx answer
// ends the delivery; otherwise it is retried at NextRetry or, without one,
// given up. Returns EConflict when the lease was lost meanwhile.
func (s *Service) RecordDelivery(ctx context.Context, job DeliveryJob, out DeliveryOutcome) error {
	return s.write(ctx, func(tx Tx) error {
		d := *job.Delivery
		now := s.now()
		d.Attempts++
		d.LastStatus, d.LastError, d.UpdatedAt = out.StatusCode, out.Err, now
		next := out.NextRetry
		switch {
		case out.StatusCode >= 200 && out.StatusCode < 300:
			d.Status, next = DeliverySucceeded, nil
		case out.StatusCode == StatusGone:
			// The receiver says the endpoint is gone: not retried, and
			// the endpoint is disabled below.
			d.Status, next = DeliveryFailed, nil
			d.LastError = "the receiver answered 410 Gone: not retried"
			if d.EndpointID != "" {
				d.LastError = "the receiver answered 410 Gone: the endpoint is disabled"
			}
		case next == nil:
			d.Status = DeliveryFailed
		default:
			d.NextAttemptAt = next.UTC().Truncate(time.Microsecond)
		}
		if err := tx.UpdateDelivery(ctx, &d); err != nil {
			return err
		}
		if err := tx.InsertDeliveryAttempt(ctx, &DeliveryAttempt{ID: s.cfg.NewID("wa"), DeliveryID: d.ID,
			MerchantID: d.MerchantID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: job.Event.Type,
			URL: d.URL, Attempt: d.Attempts, StatusCode: out.StatusCode, LatencyMS: out.Latency.Milliseconds(),
			Error: d.LastError, At: now, NextRetryAt: next}); err != nil {
			return err
		}
		if out.StatusCode == StatusGone && d.EndpointID != "" {
			return s.disableGone(ctx, tx, d, now)
		}
		return nil
	})
}

// disableGone disables the endpoint that d's receiver said is gone, and
// fails its other pending deliveries, as the merchant disabling it would;
// the merchant sees it disabled, and why in the audit trail and the log.
// An endpoint moved to another URL since d was claimed is left alone: the
// answer was about the old one.
func (s *Service) disableGone(ctx context.Context, tx Tx, d Delivery, now time.Time) error {
	e, err := tx.GetWebhookEndpoint(ctx, d.MerchantID, d.EndpointID)
	if ErrorCode(err) == EWebhookEndpointNotFound {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	if e.Disabled || e.URL != d.URL {
		return nil
	}
	before := endpointState(e)
	e.Disabled, e.UpdatedAt = true, now
	if err := tx.UpdateWebhookEndpoint(ctx, e); err != nil {
		return err
	}
	if err := s.failUnwanted(ctx, tx, e, now); err != nil {
		return err
	}
	return s.audit(ctx, tx, Principal{MerchantID: e.MerchantID, Worker: true}, "webhook_endpoint.gone", "webhook_endpoint", e.ID,
		before, endpointState(e), "", now)
}

// endpointState is an endpoint's status for the audit trail.
func endpointState(e *WebhookEndpoint) string {
	if e.Disabled {
		return "disabled"
	}
	return "enabled"
}
