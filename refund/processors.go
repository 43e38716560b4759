package refund

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/refundd/refundd/processor"
)

// ProcessorAccount is a merchant's account at another processor, which
// refundd calls as a client (a connector) to execute the refunds of the
// orders routed to it.
type ProcessorAccount struct {
	ID         string
	MerchantID string
	Name       string // unique per merchant; what an order names
	Kind       string // which connector: gateway, sgate, upayments, paylink, techrar, stripe, acquirer
	URL        string // the API's base URL
	// Credential is sealed (Config.Sealer): never the secret itself.
	Credential string
	Options    map[string]string
	Default    bool // the merchant's orders that name no account go here
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Sealer encrypts secrets at rest: processor credentials, webhook signing
// secrets, TOTP secrets. aad binds a sealed value to its owner, so one
// copied to another account (or another URL), row or field does not open.
type Sealer interface {
	Seal(plaintext, aad []byte) (string, error)
	// Open opens a value sealed by the current key or a previous one.
	Open(sealed string, aad []byte) ([]byte, error)
	// Current reports whether sealed was sealed by the current key.
	Current(sealed string) bool
	// Prefixes lists what a value sealed by each of its keys starts with:
	// one that starts with none of them does not open. A prefix names its
	// key's material (not a label another key could share): a value with
	// it that does not open opens on no node.
	Prefixes() []string
}

// Connect builds the connector for an account (package processor/connector
// holds the kinds). It must not call the processor: it runs when an
// account is added, to check it, and on the refund path.
type Connect func(processor.Account) (processor.Processor, error)

// ProcessorAccountInput is a new processor account.
type ProcessorAccountInput struct {
	Name, Kind, URL string
	Credential      string // the secret itself; sealed before it is stored
	Options         map[string]string
	Default         bool
}

var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// accountIDPrefix starts every account id (pa_<uuidv7>). An order names
// its account by id and Tx.GetProcessorAccount finds an account by id or,
// failing that, by name, so a name that starts like an id could be taken
// for one: an account named after a removed account's id would be found
// by that account's orders and execute their refunds. Names starting with
// it are refused.
const accountIDPrefix = accountIDKind + "_"

// accountIDKind is the kind NewID is given for an account's id.
const accountIDKind = "pa"

// sealOwner is what a sealed credential is bound to: the account, its
// kind and where it is sent. Moving a sealed credential to another row,
// or pointing the row at another URL in the database, makes it unusable.
func sealOwner(a *ProcessorAccount) []byte {
	return []byte("refundd/processor-account\x00" + a.ID + "\x00" + a.MerchantID + "\x00" + a.Kind + "\x00" + a.URL)
}

// CheckProcessorURL accepts an http(s) URL with a host and without
// credentials, query or fragment: the credential travels sealed, never in
// the URL.
func CheckProcessorURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return Errorf(EInvalidRequest, "url", "url must be an http or https URL")
	case u.User != nil:
		return Errorf(EInvalidRequest, "url", "url must not carry credentials; pass them with --credential-env or --credential-file")
	case u.RawQuery != "" || u.Fragment != "":
		return Errorf(EInvalidRequest, "url", "url must not have a query or fragment")
	}
	return nil
}

// AddProcessorAccount adds an account for merchantID (an operator's
// command, not an API call). The connector is built once from it, so a
// wrong kind or option is refused here rather than at the first refund.
func (s *Service) AddProcessorAccount(ctx context.Context, merchantID string, in ProcessorAccountInput) (*ProcessorAccount, error) {
	switch {
	case !accountNameRE.MatchString(in.Name):
		return nil, Errorf(EInvalidRequest, "name", "name must be 1-64 letters, digits or _.- starting with a letter or digit")
	case strings.HasPrefix(in.Name, accountIDPrefix):
		return nil, Errorf(EInvalidRequest, "name", "name must not start with %q: processor account ids do, and orders name their account by id", accountIDPrefix)
	case in.Kind == "":
		return nil, Errorf(EInvalidRequest, "kind", "kind is required")
	case s.cfg.Sealer == nil || s.cfg.Connect == nil:
		return nil, Errorf(EInvalidRequest, "", "this node has no secret key: set REFUNDD_SECRET_KEY or --secret-key-file to store processor credentials")
	}
	if err := CheckProcessorURL(in.URL); err != nil {
		return nil, err
	}
	a := &ProcessorAccount{ID: s.cfg.NewID(accountIDKind), MerchantID: merchantID, Name: in.Name, Kind: in.Kind,
		URL: strings.TrimRight(in.URL, "/"), Options: in.Options, Default: in.Default}
	if a.Options == nil {
		a.Options = map[string]string{}
	}
	if _, err := s.cfg.Connect(a.account(in.Credential)); err != nil {
		return nil, Errorf(EInvalidRequest, "", "%v", err)
	}
	sealed, err := s.cfg.Sealer.Seal([]byte(in.Credential), sealOwner(a))
	if err != nil {
		return nil, err
	}
	a.Credential = sealed
	err = s.write(ctx, func(tx Tx) error {
		if _, err := tx.GetMerchant(ctx, merchantID); err != nil {
			return err
		}
		now := s.now()
		a.CreatedAt, a.UpdatedAt = now, now
		if err := tx.CreateProcessorAccount(ctx, a); err != nil {
			return err
		}
		return s.audit(ctx, tx, Principal{MerchantID: merchantID, KeyPrefix: "cli"}, "processor.add", "processor_account", a.ID, "", a.Kind+" "+a.URL, "", now)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (a *ProcessorAccount) account(credential string) processor.Account {
	return processor.Account{ID: a.ID, MerchantID: a.MerchantID, Name: a.Name, Kind: a.Kind, URL: a.URL,
		Credential: credential, Options: a.Options}
}

// ListProcessorAccounts lists the caller's processor accounts (sealed
// credentials are never part of a reply).
func (s *Service) ListProcessorAccounts(ctx context.Context, p Principal) ([]*ProcessorAccount, error) {
	if err := require(p, ScopeRefundsRead); err != nil {
		return nil, err
	}
	return s.ProcessorAccounts(ctx, p.MerchantID)
}

// ProcessorAccounts lists a merchant's accounts (the CLI's list).
func (s *Service) ProcessorAccounts(ctx context.Context, merchantID string) ([]*ProcessorAccount, error) {
	var as []*ProcessorAccount
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		as, err = tx.ListProcessorAccounts(ctx, merchantID)
		return err
	})
	return as, err
}

// RemoveProcessorAccount removes one of a merchant's accounts, by id or
// name. Refused while a refund routed to it is not final.
func (s *Service) RemoveProcessorAccount(ctx context.Context, merchantID, idOrName string) (*ProcessorAccount, error) {
	var a *ProcessorAccount
	err := s.write(ctx, func(tx Tx) (err error) {
		if a, err = tx.GetProcessorAccount(ctx, merchantID, idOrName); err != nil {
			return err
		}
		if err := tx.DeleteProcessorAccount(ctx, merchantID, a.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, Principal{MerchantID: merchantID, KeyPrefix: "cli"}, "processor.remove", "processor_account", a.ID, a.Kind+" "+a.URL, "", "", s.now())
	})
	if err == nil {
		s.connectors.forget(a.ID)
	}
	return a, err
}

// RotateSecrets re-seals every account credential not sealed by the
// current key (after the key changed, with the previous one still given to
// open them). It answers how many it re-sealed.
func (s *Service) RotateSecrets(ctx context.Context) (int, error) {
	if s.cfg.Sealer == nil {
		return 0, Errorf(EInvalidRequest, "", "this node has no secret key")
	}
	n := 0
	err := s.write(ctx, func(tx Tx) error {
		as, err := tx.ListProcessorAccounts(ctx, "")
		if err != nil {
			return err
		}
		for _, a := range as {
			if s.cfg.Sealer.Current(a.Credential) {
				continue
			}
			plain, err := s.cfg.Sealer.Open(a.Credential, sealOwner(a))
			if err != nil {
				return fmt.Errorf("refund: processor account %s (%s): %w", a.Name, a.ID, err)
			}
			if a.Credential, err = s.cfg.Sealer.Seal(plain, sealOwner(a)); err != nil {
				return err
			}
			a.UpdatedAt = s.now()
			if err := tx.UpdateProcessorAccountCredential(ctx, a); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// accountFor resolves the account an order names ("" the merchant's
// default; none: the node's processor, answered as nil).
func accountFor(ctx context.Context, tx Tx, merchantID, name string) (*ProcessorAccount, error) {
	if name != "" {
		a, err := tx.GetProcessorAccount(ctx, merchantID, name)
		if ErrorCode(err) == EProcessorAccountNotFound {
			return nil, Errorf(EProcessorAccountNotFound, "processor", "there is no processor account named %q", name)
		}
		return a, err
	}
	a, err := tx.DefaultProcessorAccount(ctx, merchantID)
	if ErrorCode(err) == EProcessorAccountNotFound {
		return nil, nil
	}
	return a, err
}

// connectorCache keeps one built connector per account, rebuilt when the
// account changes (a rotated credential), so its connection pool, token
// cache, rate limit and circuit breaker persist across refunds.
type connectorCache struct {
	mu sync.Mutex
	m  map[string]cachedConnector
}

type cachedConnector struct {
	updated time.Time
	proc    processor.Processor
}

func (c *connectorCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// connector returns the processor for account a.
func (s *Service) connector(a *ProcessorAccount) (processor.Processor, error) {
	c := &s.connectors
	c.mu.Lock()
	defer c.mu.Unlock()
	if got, ok := c.m[a.ID]; ok && got.updated.Equal(a.UpdatedAt) {
		return got.proc, nil
	}
	if s.cfg.Sealer == nil || s.cfg.Connect == nil {
		// A node started without the secret key beside nodes with it: the
		// caller may try another node, or again once this one has it.
		s.log.Error("an order routes to a processor account but this node has no secret key (REFUNDD_SECRET_KEY or --secret-key-file) or connectors", "account", a.Name)
		return nil, retryLater(Errorf(EProcessorUnavailable, "", "processor account %q cannot be used on this node now; try again later", a.Name), 0)
	}
	plain, err := s.cfg.Sealer.Open(a.Credential, sealOwner(a))
	if err != nil && !s.holdsKeyOf(a.Credential) {
		// Sealed under a key this node was not given (a wrong or stale
		// key beside nodes with the right one): the node's condition, as
		// above, not the caller's and no fault of refundd's.
		s.log.Error("an order routes to a processor account whose credential is sealed under a secret key this node was not given", "account", a.Name, "err", err)
		return nil, keyUnavailable(fmt.Errorf("refund: processor account %s: %w: %w", a.Name, ErrSecretNotOpened, err))
	}
	if err != nil {
		// Under a key this node holds, yet not opening: altered, or moved
		// from another account (the seal binds it to its own). No node
		// opens it, so no retry helps: an internal error, logged.
		return nil, fmt.Errorf("refund: processor account %s: its credential does not open under the key that sealed it (altered, or copied from another account): %w: %w", a.Name, ErrSecretNotOpened, err)
	}
	p, err := s.cfg.Connect(a.account(string(plain)))
	if err != nil {
		return nil, fmt.Errorf("refund: processor account %s: %w", a.Name, err)
	}
	if c.m == nil {
		c.m = map[string]cachedConnector{}
	}
	c.m[a.ID] = cachedConnector{updated: a.UpdatedAt, proc: p}
	return p, nil
}

// route is where one refund is executed: the processor and its
// capabilities, and the order it refunds (for the request).
type route struct {
	proc  processor.Processor
	caps  processor.Capabilities
	order *Order
	// explain words a refusal of the reservation that the store answers
	// late (Tx.ReserveRefund) as reserve words one answered at once.
	explain func(error) error
}

// processorOf answers the processor an order's refunds go to.
func (s *Service) processorOf(ctx context.Context, tx Tx, o *Order) (processor.Processor, error) {
	if o.ProcessorAccountID == "" {
		return s.cfg.Processor, nil
	}
	a, err := tx.GetProcessorAccount(ctx, o.MerchantID, o.ProcessorAccountID)
	if ErrorCode(err) == EProcessorAccountNotFound {
		// The store's words name no order; every surface shows these.
		return nil, Errorf(EProcessorAccountNotFound, "", "the processor account of order %s was removed; its refunds cannot be sent", o.ID)
	}
	if err != nil {
		return nil, err
	}
	return s.connector(a)
}

// routeOf loads r's order and the processor its refunds go to, outside
// any transaction of the caller.
func (s *Service) routeOf(ctx context.Context, r *Refund) (route, error) {
	var rt route
	defer traceSince(ctx, "route", time.Now())
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		if rt.order, err = tx.GetOrderForRefund(ctx, r.MerchantID, r.OrderID); err != nil {
			return err
		}
		rt.proc, err = s.processorOf(ctx, tx, rt.order)
		return err
	})
	if err != nil {
		return route{}, err
	}
	rt.caps = processor.CapabilitiesOf(rt.proc)
	return rt, nil
}

// canExpress refuses, before anything is reserved, a refund the order's
// processor cannot execute as asked.
func canExpress(caps processor.Capabilities, o *Order, r *Refund) error {
	switch {
	case !caps.Partial && (o.RefundedAmount != 0 || o.PendingRefundAmount != 0):
		// Advice to refund "all of what is refundable" would be wrong
		// here: the processor's one refund of the order is taken.
		return Errorf(EProcessorUnsupported, "amount",
			"this order's processor refunds whole orders only, once, and the order has a refund already (%s refunded, %s pending)",
			fmtMoney(o.RefundedAmount, o.Currency), fmtMoney(o.PendingRefundAmount, o.Currency))
	case !caps.Partial && r.Amount != o.Refundable():
		return Errorf(EProcessorUnsupported, "amount",
			"this order's processor refunds whole orders only: refund all of the %s refundable in one refund", fmtMoney(o.Refundable(), o.Currency))
	case len(r.Vendors) > 0 && !caps.Vendors:
		return Errorf(EProcessorUnsupported, "vendors", "this order's processor cannot refund vendor splits")
	case len(r.Items) > 0 && !caps.Lines:
		return Errorf(EProcessorUnsupported, "items", "this order's processor cannot refund order lines; refund an amount")
	case len(r.Items) == 0 && caps.LinesRequired:
		return Errorf(EProcessorUnsupported, "items", "this order's processor refunds order lines only: name the items")
	}
	return nil
}
