package refund

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
)

// API keys look like rk_<12 hex prefix>_<32 hex secret>. The prefix is
// stored in clear to find the key and to show in logs; the whole key is
// stored only as a SHA-256 hash (the secret has 128 bits of entropy, so a
// slow hash adds nothing).
const (
	keyPrefixLen = len("rk_") + 12
	keyLen       = keyPrefixLen + 1 + 32
)

// KeyPrefix returns the visible prefix of a raw key, or "" if it is not
// shaped like one. Safe to log.
func KeyPrefix(raw string) string {
	if len(raw) != keyLen || !strings.HasPrefix(raw, "rk_") || raw[keyPrefixLen] != '_' ||
		!isLowerHex(raw[3:keyPrefixLen]) || !isLowerHex(raw[keyPrefixLen+1:]) {
		return ""
	}
	return raw[:keyPrefixLen]
}

// isLowerHex reports whether s is lower-case hex, as every key newKey
// makes: anything else is no key, and must not reach the store, where
// PostgreSQL refuses a NUL or invalid UTF-8 with an error, not a miss.
func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func hashKey(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

func (s *Service) newKey() (raw string, err error) {
	b := make([]byte, 22)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", err
	}
	h := hex.EncodeToString(b)
	return "rk_" + h[:12] + "_" + h[12:44], nil
}

// MerchantInput describes a new merchant.
type MerchantInput struct {
	Name, CR, Freelancer, Email, Mobile, AccountNo, VATNumber string
	TimeZone                                                  string // IANA name; "" is DefaultTimeZone
}

var (
	digitsRE = regexp.MustCompile(`^[0-9]+$`)
	mobileRE = regexp.MustCompile(`^\+?[0-9]{7,15}$`)
)

func (in MerchantInput) validate() error {
	switch {
	case strings.TrimSpace(in.Name) == "":
		return Errorf(EInvalidRequest, "name", "name is required (at most 200 characters)")
	case CheckText("name", in.Name, 200) != nil:
		return CheckText("name", in.Name, 200)
	case in.CR != "" && (!digitsRE.MatchString(in.CR) || len(in.CR) > 20):
		return Errorf(EInvalidRequest, "cr", "cr must be digits (at most 20)")
	case in.Email != "" && !validEmail(in.Email):
		return Errorf(EInvalidRequest, "email", "email is not a valid address")
	case in.Mobile != "" && !mobileRE.MatchString(in.Mobile):
		return Errorf(EInvalidRequest, "mobile", "mobile must be 7 to 15 digits, optionally after +")
	case in.VATNumber != "" && (!digitsRE.MatchString(in.VATNumber) || len(in.VATNumber) != 15):
		return Errorf(EInvalidRequest, "vat_number", "vat_number must be 15 digits")
	case CheckText("freelancer", in.Freelancer, 40) != nil:
		return CheckText("freelancer", in.Freelancer, 40)
	case CheckText("account_no", in.AccountNo, 40) != nil:
		return CheckText("account_no", in.AccountNo, 40)
	case in.TimeZone != "":
		if _, err := LoadZone(in.TimeZone); err != nil {
			return err
		}
	}
	return nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254
}

// CreateMerchant creates a merchant and its first API key with every
// merchant scope. The raw key is returned once and never stored.
func (s *Service) CreateMerchant(ctx context.Context, in MerchantInput) (*Merchant, string, error) {
	if err := in.validate(); err != nil {
		return nil, "", err
	}
	m := &Merchant{ID: s.cfg.NewID("mer"), Name: in.Name, CR: in.CR, Freelancer: in.Freelancer,
		Email: in.Email, Mobile: in.Mobile, AccountNo: in.AccountNo, VATNumber: in.VATNumber, TimeZone: in.TimeZone}
	if m.TimeZone == "" {
		m.TimeZone = DefaultTimeZone
	}
	var raw string
	err := s.write(ctx, func(tx Tx) error {
		m.CreatedAt = s.now()
		if err := tx.CreateMerchant(ctx, m); err != nil {
			return err
		}
		var err error
		_, raw, err = s.createKey(ctx, tx, m.ID, "", MerchantScopes)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	s.keys.drop(KeyPrefix(raw)) // see createKey
	return m, raw, nil
}

// GetMerchant returns a merchant by id.
func (s *Service) GetMerchant(ctx context.Context, id string) (*Merchant, error) {
	var m *Merchant
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		m, err = tx.GetMerchant(ctx, id)
		return err
	})
	return m, err
}

// CreatePartner creates a partner linked to existing merchants, with a
// partner key.
func (s *Service) CreatePartner(ctx context.Context, name string, merchantIDs []string) (*Partner, string, error) {
	if strings.TrimSpace(name) == "" {
		return nil, "", Errorf(EInvalidRequest, "name", "name is required (at most 200 characters)")
	}
	if err := CheckText("name", name, 200); err != nil {
		return nil, "", err
	}
	if len(merchantIDs) == 0 {
		return nil, "", Errorf(EInvalidRequest, "merchant", "a partner needs at least one merchant")
	}
	p := &Partner{ID: s.cfg.NewID("ptn"), Name: name, MerchantIDs: merchantIDs}
	var raw string
	err := s.write(ctx, func(tx Tx) error {
		for _, id := range merchantIDs {
			if _, err := tx.GetMerchant(ctx, id); err != nil {
				return err
			}
		}
		p.CreatedAt = s.now()
		if err := tx.CreatePartner(ctx, p); err != nil {
			return err
		}
		var err error
		_, raw, err = s.createKey(ctx, tx, "", p.ID, []string{ScopePartner})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	s.keys.drop(KeyPrefix(raw)) // see createKey
	return p, raw, nil
}

// CreateKey issues a new key for a merchant or a partner.
func (s *Service) CreateKey(ctx context.Context, merchantID, partnerID string, scopes []string) (*APIKey, string, error) {
	if (merchantID == "") == (partnerID == "") {
		return nil, "", Errorf(EInvalidRequest, "merchant", "a key belongs to exactly one merchant or partner")
	}
	if len(scopes) == 0 {
		scopes = MerchantScopes
		if partnerID != "" {
			scopes = []string{ScopePartner}
		}
	}
	for _, sc := range scopes {
		if !validScope(sc, partnerID != "") {
			return nil, "", Errorf(EInvalidRequest, "scope", "unknown scope %q", sc)
		}
	}
	var k *APIKey
	var raw string
	err := s.write(ctx, func(tx Tx) (err error) {
		if merchantID != "" {
			_, err = tx.GetMerchant(ctx, merchantID)
		} else {
			_, err = tx.GetPartner(ctx, partnerID)
		}
		if err != nil {
			return err
		}
		k, raw, err = s.createKey(ctx, tx, merchantID, partnerID, scopes)
		return err
	})
	if err == nil {
		s.keys.drop(k.Prefix) // see createKey
	}
	return k, raw, err
}

func validScope(sc string, partner bool) bool {
	if partner {
		return sc == ScopePartner
	}
	for _, m := range MerchantScopes {
		if sc == m {
			return true
		}
	}
	return false
}

// createKey makes a key in tx. Its caller drops the key's prefix from this
// node's cache once tx committed (the store tells other nodes), so that a
// prefix cached as unknown before cannot refuse the new key.
func (s *Service) createKey(ctx context.Context, tx Tx, merchantID, partnerID string, scopes []string) (*APIKey, string, error) {
	raw, err := s.newKey()
	if err != nil {
		return nil, "", err
	}
	k := &APIKey{ID: s.cfg.NewID("key"), Prefix: KeyPrefix(raw), Hash: hashKey(raw),
		MerchantID: merchantID, PartnerID: partnerID, Scopes: scopes, CreatedAt: s.now()}
	if err := tx.CreateAPIKey(ctx, k); err != nil {
		return nil, "", err
	}
	// Keys are made by the operator (CLI, demo): the actor is admin.
	if err := s.audit(ctx, tx, Principal{MerchantID: merchantID}, "api_key.create", "api_key", k.ID, "", "active", "", k.CreatedAt); err != nil {
		return nil, "", err
	}
	return k, raw, nil
}

// ListKeys lists every key (hashes included; callers show prefixes only).
func (s *Service) ListKeys(ctx context.Context) ([]*APIKey, error) {
	var ks []*APIKey
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		ks, err = tx.ListAPIKeys(ctx)
		return err
	})
	return ks, err
}

// RevokeKey revokes a key; it stops working on the next request.
func (s *Service) RevokeKey(ctx context.Context, id string) error {
	var prefix string
	err := s.write(ctx, func(tx Tx) error {
		keys, err := tx.ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		merchantID := ""
		for _, k := range keys {
			if k.ID == id {
				merchantID, prefix = k.MerchantID, k.Prefix
			}
		}
		if err := tx.RevokeAPIKey(ctx, id, s.now()); err != nil {
			return err
		}
		return s.audit(ctx, tx, Principal{MerchantID: merchantID}, "api_key.revoke", "api_key", id, "active", "revoked", "", s.now())
	})
	if err == nil {
		s.keys.drop(prefix)
	}
	return err
}

// Authenticate resolves a raw API key to its principal. Every failure is
// the same EUnauthorized, so a caller learns nothing about which keys exist.
func (s *Service) Authenticate(ctx context.Context, raw string) (Principal, error) {
	unauthorized := Errorf(EUnauthorized, "", "invalid API key")
	prefix := KeyPrefix(raw)
	if prefix == "" {
		return Principal{}, unauthorized
	}
	started := time.Now()
	now := s.cfg.Now()
	source := sourceOf(RequestFrom(ctx).IP)
	k, cached, drops := s.keys.get(prefix, now, s.cfg.KeyCacheTTL)
	if !cached {
		// Only a read can cost the store: a source that failed too often
		// waits before it may cause another. A key this node read as
		// valid before (its entry ran out) is exempt: one read per
		// KeyCacheTTL per real key, and refused, every valid key behind
		// an address someone floods with made-up ones (a proxy) would be
		// refused within a TTL.
		if !s.keys.knownValid(prefix, hashKey(raw)) {
			if err := s.sources.allow(source, now); err != nil {
				return Principal{}, err
			}
		}
		err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
			k, err = tx.GetAPIKeyByPrefix(ctx, prefix)
			return err
		})
		if ErrorCode(err) == EKeyNotFound {
			k, err = nil, nil
		}
		if err != nil {
			return Principal{}, err
		}
		if s.cfg.KeyCacheTTL > 0 {
			s.keys.put(prefix, k, now, drops)
		}
	}
	traceSince(ctx, "auth", started)
	if k == nil || subtle.ConstantTimeCompare(k.Hash, hashKey(raw)) != 1 || k.RevokedAt != nil {
		if !cached {
			// Spent only by a failure that cost a read: a client repeating
			// a revoked or unknown key (one read per KeyCacheTTL) never
			// runs out, so it cannot lock out the valid keys of others
			// behind the same address (a proxy); made-up keys do.
			s.sources.fail(source, now)
		}
		return Principal{}, unauthorized
	}
	if err := s.limits.take(k.ID, s.cfg.Now()); err != nil {
		return Principal{}, err
	}
	return Principal{MerchantID: k.MerchantID, PartnerID: k.PartnerID, KeyID: k.ID, KeyPrefix: k.Prefix, Scopes: k.Scopes}, nil
}

// partnerActingScopes is what a partner may do for a merchant linked to
// it: find the merchant's orders and refund them (the Paylink seed).
var partnerActingScopes = []string{ScopeOrdersRead, ScopeRefundsWrite, ScopeRefundsRead}

// maxSharing is how many merchants linked to one partner ActForMerchant
// tells apart by the order when they share a value; more are refused.
const maxSharing = 20

// ActForMerchant returns the principal with which partner p acts for the
// merchant whose field (cr, freelancer, mobile, email, accountNo) equals
// value. p must carry the partner scope and the prefix of a partner key
// that is still valid, so revoking the key stops its tokens at once.
//
// A partner acts only for merchants linked to it: a merchant that does not
// exist and one linked only to others are the same EMerchantNotFound, so a
// partner learns nothing about other partners' merchants.
//
// Linked merchants may share the value (one owner's shops, which share a
// cr, an email or a mobile, and maybe every value a partner can name).
// Then order, what the partner's request calls the order (refundd's order
// id or the merchant's reference; "" when it names none), decides: the one
// of them that holds such an order is the merchant. The value then names
// one order of one merchant, as refundd's order id always does; taking the
// first merchant would refund another shop's order of that number, and
// refusing would leave shops that share every value beyond the partner's
// reach. Several holding it is EInvalidRequest, none EOrderNotFound.
//
// Returns EForbidden when p is not a partner, EUnauthorized when its key
// is gone, EInvalidRequest for an unknown field, ERateLimited when the key
// is over its rate.
func (s *Service) ActForMerchant(ctx context.Context, p Principal, field, value, order string) (Principal, error) {
	if p.PartnerID == "" || !p.Has(ScopePartner) {
		return Principal{}, Errorf(EForbidden, "", "only a partner may act for a merchant")
	}
	if err := CheckLookup(field, value); err != nil {
		return Principal{}, err
	}
	notFound := Errorf(EMerchantNotFound, field, "no merchant linked to this partner has %s %q", field, value)
	var k *APIKey
	var m *Merchant
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		k, err = tx.GetAPIKeyByPrefix(ctx, p.KeyPrefix)
		if ErrorCode(err) == EKeyNotFound || (err == nil && (k.PartnerID != p.PartnerID || k.RevokedAt != nil)) {
			return Errorf(EUnauthorized, "", "the partner key behind this credential is no longer valid")
		}
		if err != nil {
			return err
		}
		partner, err := tx.GetPartner(ctx, p.PartnerID)
		if err != nil {
			return err
		}
		ms, err := tx.FindMerchants(ctx, field, value, partner.ID, maxSharing+1)
		if err != nil {
			return err
		}
		for _, c := range ms {
			if !slices.Contains(partner.MerchantIDs, c.ID) {
				return notFound
			}
		}
		switch {
		case len(ms) == 0:
			return notFound
		case len(ms) == 1:
			m = ms[0]
			return nil
		}
		// Linked merchants share the value: the order says which.
		if len(ms) > maxSharing || order == "" {
			return Errorf(EInvalidRequest, field, "more than one merchant linked to this partner has %s %q: "+
				"name the merchant by another field, such as accountNo", field, value)
		}
		if err := CheckLookup("order_id", order); err != nil {
			return err
		}
		var holders []*Merchant
		for _, c := range ms {
			_, err := findOrder(ctx, tx, c.ID, order)
			switch {
			case ErrorCode(err) == EOrderNotFound:
			case err != nil:
				return err
			default:
				holders = append(holders, c)
			}
		}
		switch len(holders) {
		case 0:
			return Errorf(EOrderNotFound, "order_id", "no merchant linked to this partner with %s %q has order %q", field, value, order)
		case 1:
			m = holders[0]
			return nil
		}
		return Errorf(EInvalidRequest, field, "more than one merchant linked to this partner has %s %q and an order %q: "+
			"name the merchant by another field, such as accountNo", field, value, order)
	})
	if err != nil {
		return Principal{}, err
	}
	// A token spends the rate of the key that obtained it.
	if err := s.limits.take(k.ID, s.cfg.Now()); err != nil {
		return Principal{}, err
	}
	return Principal{MerchantID: m.ID, PartnerID: p.PartnerID, KeyID: k.ID, KeyPrefix: k.Prefix, Scopes: partnerActingScopes}, nil
}
