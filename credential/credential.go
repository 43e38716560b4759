// Package credential hashes and checks console users' credentials:
// passwords with argon2id (golang.org/x/crypto/argon2) in the PHC string
// format, and TOTP second-factor codes (github.com/pquerna/otp). It
// implements refund.Credentials.
package credential

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/argon2"

	"github.com/refundd/refundd/refund"
)

// The argon2id cost: OWASP's recommended minimum (19 MiB, 2 passes, one
// lane), about 30 ms a password on the machines refundd runs on.
const (
	memoryKiB = 19 * 1024
	passes    = 2
	lanes     = 1
	keyLen    = 32
	saltLen   = 16
)

// Argon2 is the one implementation of refund.Credentials.
type Argon2 struct{}

// hashing bounds the hashes computed at once. Each takes its parameters'
// memory (19 MiB here, up to 1 GiB for a hash with other parameters),
// and sign-ins from many addresses at once, each under its address's
// budget, would otherwise take memory without limit; past the bound a
// sign-in waits its turn, or gives it up when its caller goes away.
var hashing = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// idKey is argon2.IDKey, at most cap(hashing) at a time; ctx's error
// when ctx ends first.
func idKey(ctx context.Context, password, salt []byte, t, m uint32, p uint8, n uint32) ([]byte, error) {
	select {
	case hashing <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-hashing }()
	if onHash != nil {
		onHash()
	}
	return argon2.IDKey(password, salt, t, m, p, n), nil
}

// onHash, set by tests, runs inside the bound.
var onHash func()

var _ refund.Credentials = Argon2{}

// HashPassword returns password's argon2id hash with a random salt:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func (Argon2) HashPassword(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum, err := idKey(ctx, []byte(password), salt, passes, memoryKiB, lanes, keyLen)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, lanes,
		b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// VerifyPassword recomputes the hash with the parameters hash names and
// compares in constant time; a hash it cannot read matches nothing.
func (Argon2) VerifyPassword(ctx context.Context, password, hash string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got, err := idKey(ctx, []byte(password), salt, t, m, p, uint32(len(want)))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// totpOpts are the usual authenticator-app settings: 6 digits, 30 s,
// one step of clock skew either way.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// VerifyTOTP reports whether code is valid for secret at now, within one
// step of clock skew either way, and the time step it is the code of.
func (Argon2) VerifyTOTP(code, secret string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != int(totpOpts.Digits) {
		return 0, false
	}
	period := int64(totpOpts.Period)
	step := now.Unix() / period
	for _, s := range []int64{step - 1, step, step + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*period, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// NewTOTP returns a new secret and the otpauth:// URL an authenticator
// app scans.
func (Argon2) NewTOTP(account string) (string, string, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: "refundd", AccountName: account})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// Code is the TOTP code of secret at t (tests, and a CLI check).
func Code(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}
