package paylink

import (
	"crypto/rand"
	"errors"

	"github.com/golang-jwt/jwt/v5"

	"github.com/refundd/refundd/refund"
)

// Roles a token carries. Only RolePartner may use the partner routes.
const (
	RolePartner  = "PARTNER"
	RoleMerchant = "MERCHANT"
)

// MinSecretLen is the shortest signing secret accepted: HS256 wants a key
// at least as long as its 256-bit output.
const MinSecretLen = 32

const issuer = "refundd"

// claims is what a token says: who (sub: the partner or merchant id), in
// which role, through which API key (its visible prefix, never the
// secret), and until when.
type claims struct {
	Role      string `json:"role"`
	KeyPrefix string `json:"key"`
	jwt.RegisteredClaims
}

// randomSecret makes a per-process signing secret when none is configured.
func randomSecret() []byte {
	b := make([]byte, MinSecretLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

// issue signs a token for the owner of an authenticated API key.
func (h *Handler) issue(p refund.Principal) (string, error) {
	c := claims{Role: RoleMerchant, KeyPrefix: p.KeyPrefix}
	c.Subject = p.MerchantID
	if p.PartnerID != "" {
		c.Role, c.Subject = RolePartner, p.PartnerID
	}
	now := h.cfg.Now()
	c.Issuer = issuer
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(h.cfg.TTL))
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(h.cfg.Secret)
}

// errToken says where a valid token comes from: an API key sent in a
// token's place, or a token 30 minutes old, is the usual cause.
var errToken = errors.New("invalid or expired token: get one from POST /rest/partner/v2/auth with apiId and secretKey (an API key is not a token here)")

// verify checks a token's signature (HS256 only: a token naming another
// algorithm, "none" included, is refused), issuer and expiry against the
// injected clock, and returns its claims.
func (h *Handler) verify(raw string) (*claims, error) {
	var c claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return h.cfg.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(h.cfg.Now))
	if err != nil || c.Subject == "" {
		return nil, errToken
	}
	return &c, nil
}

// principal is the caller a partner token stands for. The Service checks
// on every request that the key behind it is still valid and that the
// merchant is linked to the partner.
func (c *claims) principal() refund.Principal {
	return refund.Principal{PartnerID: c.Subject, KeyPrefix: c.KeyPrefix, Scopes: []string{refund.ScopePartner}}
}
