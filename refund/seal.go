package refund

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// sealedPrefix starts every secret refundd stores sealed (webhook signing
// secrets, TOTP secrets), before the Sealer's own text. Neither a clear
// Standard Webhooks secret ("whsec_" and base64) nor a clear TOTP secret
// (base32) can hold a colon, so a stored value is read as sealed or as
// clear without guessing, and a sealed one is never taken for a secret.
const sealedPrefix = "sealed:"

// isSealed reports whether a stored secret is sealed.
func isSealed(stored string) bool { return strings.HasPrefix(stored, sealedPrefix) }

// ErrNoSecretKey is a sealed secret met by a node started without the
// secret key: it cannot open it, and must not use the sealed text.
var ErrNoSecretKey = errors.New("refund: a secret is sealed at rest and this node has no secret key: " +
	"start it with REFUNDD_SECRET_KEY or --secret-key-file")

// ErrSecretNotOpened is a sealed secret the node's keys do not open:
// sealed by a key it was not given, altered, or moved from another row
// or field.
var ErrSecretNotOpened = errors.New("refund: a sealed secret does not open with this node's secret keys")

// ErrUnknownSecretKey is stored secrets sealed under keys this node holds
// neither as its current key nor as a previous one, and none under a key
// it holds: the node was given a wrong key. Sealing then would seal the
// clear secrets under a key the other nodes cannot open, so it seals
// nothing (SealSecrets).
var ErrUnknownSecretKey = errors.New("refund: stored secrets are sealed under secret keys this node was not given, " +
	"so it seals nothing (the other nodes could not open what it sealed): give it the nodes' secret key, " +
	"or the key being replaced as --previous-secret-key-file")

// secretOwner is what a sealed secret is bound to (the aad): the kind of
// row, its ids and the field. A sealed value copied to another row, or to
// another field of its own row (the previous secret's, the pending TOTP
// secret's), does not open.
func secretOwner(kind string, ids ...string) []byte {
	return []byte("refundd/" + kind + "\x00" + strings.Join(ids, "\x00"))
}

// Field names bound into a sealed secret's aad.
const (
	fieldSecret         = "secret"
	fieldPreviousSecret = "previous_secret"
	fieldTOTPSecret     = "totp_secret"
	fieldTOTPPending    = "totp_pending"
)

func endpointOwner(e *WebhookEndpoint, field string) []byte {
	return secretOwner("webhook-endpoint", e.ID, e.MerchantID, field)
}

func notifyOwner(merchantID, field string) []byte {
	return secretOwner("notify-secret", merchantID, field)
}

func userOwner(u *User, field string) []byte {
	return secretOwner("console-user", u.ID, u.MerchantID, field)
}

// sealing reports whether this node stores webhook and TOTP secrets
// sealed: it has the key and was told every node can open them
// (Config.SealSecrets).
// A node that found secrets sealed under keys it does not hold
// (ErrUnknownSecretKey) stops sealing until it restarts.
func (s *Service) sealing() bool {
	return s.cfg.Sealer != nil && s.cfg.SealSecrets && !s.sealHeld.Load()
}

// sealSecret is what to store for plain: sealed under the current key
// when the node seals (sealing), plain as before when it does not.
func (s *Service) sealSecret(plain string, owner []byte) (string, error) {
	if plain == "" || !s.sealing() {
		return plain, nil
	}
	sealed, err := s.cfg.Sealer.Seal([]byte(plain), owner)
	if err != nil {
		return "", fmt.Errorf("refund: seal a secret: %w", err)
	}
	return sealedPrefix + sealed, nil
}

// openSecret is the secret a stored value holds. A clear one (written
// before secrets were sealed, or by a node without the key) is itself;
// it is sealed when a node that seals starts (SealSecrets). One sealed
// under a key this node lacks is ESecretKeyUnavailable (a 503, as a
// processor account without the key answers), wrapping ErrNoSecretKey or
// ErrSecretNotOpened; one under a key it holds that does not open
// (altered, or copied from another row) opens on no node, and is an
// internal error wrapping ErrSecretNotOpened, as such a credential is.
func (s *Service) openSecret(stored string, owner []byte) (string, error) {
	if !isSealed(stored) {
		return stored, nil
	}
	if s.cfg.Sealer == nil {
		return "", keyUnavailable(ErrNoSecretKey)
	}
	sealed := strings.TrimPrefix(stored, sealedPrefix)
	plain, err := s.cfg.Sealer.Open(sealed, owner)
	if err != nil && s.holdsKeyOf(sealed) {
		return "", fmt.Errorf("%w: %w: %w", errOpensNowhere, ErrSecretNotOpened, err)
	}
	if err != nil {
		return "", keyUnavailable(fmt.Errorf("%w: %w", ErrSecretNotOpened, err))
	}
	return string(plain), nil
}

// errOpensNowhere is a sealed secret that does not open under a key the
// node holds: a key's id names its material (vault.KeyID), so no node
// opens it. Not a transient error: what callers test for.
var errOpensNowhere = errors.New("refund: a sealed secret does not open under the key that sealed it (altered, or copied from another row)")

// holdsKeyOf says whether this node holds the key sealed was sealed under.
func (s *Service) holdsKeyOf(sealed string) bool {
	return slices.ContainsFunc(s.cfg.Sealer.Prefixes(), func(p string) bool { return strings.HasPrefix(sealed, p) })
}

// keyUnavailable is err as callers are answered: ESecretKeyUnavailable,
// its cause kept for errors.Is and the logs.
func keyUnavailable(err error) error {
	return fmt.Errorf("%w: %w", retryLater(Errorf(ESecretKeyUnavailable, "",
		"a secret this needs is sealed and this node cannot open it (it lacks the secret key that sealed it); try again later"), 0), err)
}

// stale reports whether a stored secret is to be sealed again: clear, or
// sealed under a key that is no longer the current one. Never on a node
// that does not seal.
func (s *Service) stale(stored string) bool {
	if stored == "" || !s.sealing() {
		return false
	}
	return !isSealed(stored) || !s.cfg.Sealer.Current(strings.TrimPrefix(stored, sealedPrefix))
}

// reseal is stored sealed under the current key.
func (s *Service) reseal(stored string, owner []byte) (string, error) {
	plain, err := s.openSecret(stored, owner)
	if err != nil {
		return "", err
	}
	return s.sealSecret(plain, owner)
}

// openSigning returns k's secrets in the clear, opened for owner.
func (s *Service) openSigning(k SigningSecrets, owner func(field string) []byte) (SigningSecrets, error) {
	var err error
	if k.Secret, err = s.openSecret(k.Secret, owner(fieldSecret)); err != nil {
		return SigningSecrets{}, err
	}
	if k.PreviousSecret, err = s.openSecret(k.PreviousSecret, owner(fieldPreviousSecret)); err != nil {
		return SigningSecrets{}, err
	}
	return k, nil
}

// sealSigning returns clear secrets k as they are stored for owner.
func (s *Service) sealSigning(k SigningSecrets, owner func(field string) []byte) (SigningSecrets, error) {
	var err error
	if k.Secret, err = s.sealSecret(k.Secret, owner(fieldSecret)); err != nil {
		return SigningSecrets{}, err
	}
	if k.PreviousSecret, err = s.sealSecret(k.PreviousSecret, owner(fieldPreviousSecret)); err != nil {
		return SigningSecrets{}, err
	}
	return k, nil
}

// errSignsNowhere marks a delivery's current signing secret sealed under
// a key this node holds that does not open: no node can sign the delivery.
var errSignsNowhere = errors.New("refund: the current signing secret opens on no node")

// signingSecrets returns, opened, the secrets that sign a delivery at now
// (SigningSecrets.Secrets). The current secret opening on no node is
// errSignsNowhere; the previous one's is dropped, the current one signing
// alone.
func (s *Service) signingSecrets(k SigningSecrets, owner func(field string) []byte, now time.Time) ([]string, error) {
	secrets := k.Secrets(now)
	for i, field := range []string{fieldSecret, fieldPreviousSecret}[:len(secrets)] {
		plain, err := s.openSecret(secrets[i], owner(field))
		if err != nil && i == 0 && errors.Is(err, errOpensNowhere) {
			return nil, fmt.Errorf("%w: %w", errSignsNowhere, err)
		}
		if err != nil && i == 1 && errors.Is(err, errOpensNowhere) {
			// The previous secret will never open: the current one alone
			// signs now, as it would once the overlap ends (held back
			// until then, the deliveries waited for nothing).
			s.log.Warn("a webhook's previous signing secret opens on no node; signing with the current one alone", "err", err)
			return secrets[:1], nil
		}
		if err != nil {
			return nil, err
		}
		secrets[i] = plain
	}
	return secrets, nil
}

func (k *SigningSecrets) stale(s *Service) bool {
	return s.stale(k.Secret) || s.stale(k.PreviousSecret)
}

// sealBatch bounds how many rows SealSecrets reads at once; each row it
// seals is written in its own transaction.
const sealBatch = 100

// eachStored calls each with every row list pages through, sealBatch at a
// time, each page read after the key of the last row of the one before
// (in a read of its own: each may write), until each fails.
func eachStored[T any](ctx context.Context, s *Service, list func(Tx, context.Context, string, int) ([]T, error), key func(T) string,
	each func(T) error) error {
	for after := ""; ; {
		var page []T
		if err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
			page, err = list(tx, ctx, after, sealBatch)
			return err
		}); err != nil {
			return err
		}
		for _, row := range page {
			if err := each(row); err != nil {
				return err
			}
		}
		if len(page) < sealBatch {
			return nil
		}
		after = key(page[len(page)-1])
	}
}

// SealSecrets seals, under the current key, every webhook signing secret
// and TOTP secret stored in the clear (written before secrets were sealed,
// or by a node without the key) or sealed under a previous key. A node
// with the secret key and Config.SealSecrets runs it when it starts;
// otherwise it does nothing. Each row is read again and written in its own transaction, so
// a rotation or a sign-in meanwhile is never written over. It answers how
// many rows it sealed. A row whose sealed secret does not open
// (ErrSecretNotOpened) is left as it is, the others sealed, and named in
// the error: one such row must not keep a node from starting. When stored
// secrets are sealed under keys the node holds neither as its current nor
// as a previous one, and none under a key it holds (a wrong key: its
// keys sealed nothing here), it seals nothing, and stores new secrets
// clear from then on (as a node without SealSecrets): it answers
// ErrUnknownSecretKey, naming those keys. A few rows under a key the
// node lacks beside others under its own (one sealed by a node still on
// the old key during a rotation) are rows that do not open, as above:
// they do not stop the whole installation sealing.
func (s *Service) SealSecrets(ctx context.Context) (int, error) {
	if !s.sealing() {
		return 0, nil
	}
	known, unknown, err := s.sealedUnder(ctx)
	if err != nil {
		return 0, err
	}
	if len(unknown) > 0 && known == 0 {
		s.sealHeld.Store(true)
		ids := slices.Sorted(maps.Keys(unknown))
		names := make([]string, len(ids))
		for i, id := range ids {
			names[i] = fmt.Sprintf("key %s (%d secrets)", id, unknown[id])
		}
		return 0, fmt.Errorf("%w: %s", ErrUnknownSecretKey, strings.Join(names, ", "))
	}
	n := 0
	var unopened []error
	// left keeps a row's ErrSecretNotOpened for the end; any other error
	// (the store's) ends the run.
	left := func(err error, row string) error {
		if err == nil {
			return nil
		}
		err = fmt.Errorf("refund: seal the secrets of %s: %w", row, err)
		if errors.Is(err, ErrSecretNotOpened) {
			unopened = append(unopened, err)
			return nil
		}
		return err
	}
	err = eachStored(ctx, s, Tx.ListAllWebhookEndpoints, func(e *WebhookEndpoint) string { return e.ID }, func(e *WebhookEndpoint) error {
		if !e.stale(s) {
			return nil
		}
		sealed, err := s.sealEndpoint(ctx, e.MerchantID, e.ID)
		if err := left(err, "webhook endpoint "+e.ID); err != nil {
			return err
		}
		n += sealed
		return nil
	})
	if err != nil {
		return n, err
	}
	err = eachStored(ctx, s, Tx.ListNotifySecrets, func(k *NotifySecret) string { return k.MerchantID }, func(k *NotifySecret) error {
		if !k.stale(s) {
			return nil
		}
		sealed, err := s.sealNotifySecret(ctx, k.MerchantID)
		if err := left(err, "merchant "+k.MerchantID+"'s notify URLs"); err != nil {
			return err
		}
		n += sealed
		return nil
	})
	if err != nil {
		return n, err
	}
	users, err := s.sealUsers(ctx, left)
	if err != nil {
		return n + users, err
	}
	return n + users, errors.Join(unopened...)
}

// sealedUnder counts the stored webhook and TOTP secrets and processor
// credentials sealed under the keys this node holds (known: one of Sealer.Prefixes), and those sealed
// under keys it does not hold by key id (unknown: what the sealed text
// names before its first colon).
func (s *Service) sealedUnder(ctx context.Context) (known int, unknown map[string]int, err error) {
	held := s.opens().Opens
	unknown = map[string]int{}
	count := func(stored ...string) {
		for _, v := range stored {
			if !isSealed(v) {
				continue
			}
			if slices.ContainsFunc(held, func(p string) bool { return strings.HasPrefix(v, p) }) {
				known++
				continue
			}
			id, _, _ := strings.Cut(strings.TrimPrefix(v, sealedPrefix), ":")
			unknown[id]++
		}
	}
	if err := eachStored(ctx, s, Tx.ListAllWebhookEndpoints, func(e *WebhookEndpoint) string { return e.ID }, func(e *WebhookEndpoint) error {
		count(e.Secret, e.PreviousSecret)
		return nil
	}); err != nil {
		return 0, nil, err
	}
	if err := eachStored(ctx, s, Tx.ListNotifySecrets, func(k *NotifySecret) string { return k.MerchantID }, func(k *NotifySecret) error {
		count(k.Secret, k.PreviousSecret)
		return nil
	}); err != nil {
		return 0, nil, err
	}
	var us []*User
	if err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		us, err = tx.ListUsers(ctx, "")
		return err
	}); err != nil {
		return 0, nil, err
	}
	for _, u := range us {
		count(u.TOTPSecret, u.TOTPPending)
	}
	// Processor accounts' credentials are always sealed (without
	// sealedPrefix): where no webhook or TOTP secret is sealed yet (the
	// first node to seal them), they alone tell a wrong key.
	var as []*ProcessorAccount
	if err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		as, err = tx.ListProcessorAccounts(ctx, "")
		return err
	}); err != nil {
		return 0, nil, err
	}
	for _, a := range as {
		if a.Credential != "" {
			count(sealedPrefix + a.Credential)
		}
	}
	return known, unknown, nil
}

// sealEndpoint seals one endpoint's secrets, read again in the write.
func (s *Service) sealEndpoint(ctx context.Context, merchantID, id string) (int, error) {
	n := 0
	err := s.write(ctx, func(tx Tx) error {
		n = 0
		e, err := tx.GetWebhookEndpoint(ctx, merchantID, id)
		if ErrorCode(err) == EWebhookEndpointNotFound {
			return nil // deleted meanwhile
		} else if err != nil {
			return err
		}
		if !e.stale(s) {
			return nil
		}
		owner := func(f string) []byte { return endpointOwner(e, f) }
		plain, err := s.openSigning(e.SigningSecrets, owner)
		if err != nil {
			return err
		}
		if e.SigningSecrets, err = s.sealSigning(plain, owner); err != nil {
			return err
		}
		n = 1
		return tx.UpdateWebhookEndpoint(ctx, e) // updated_at kept: nothing the merchant sees changed
	})
	return n, err
}

// sealNotifySecret seals one merchant's notify secrets, written only if
// they are still as read (PutNotifySecret's guard).
func (s *Service) sealNotifySecret(ctx context.Context, merchantID string) (int, error) {
	for range maxRotationReads {
		n := 0
		err := s.write(ctx, func(tx Tx) error {
			k, err := tx.GetNotifySecret(ctx, merchantID)
			if err != nil || !k.stale(s) {
				return err
			}
			owner := func(f string) []byte { return notifyOwner(merchantID, f) }
			plain, err := s.openSigning(k.SigningSecrets, owner)
			if err != nil {
				return err
			}
			was := k.Secret
			if k.SigningSecrets, err = s.sealSigning(plain, owner); err != nil {
				return err
			}
			n = 1
			return tx.PutNotifySecret(ctx, k, was)
		})
		if ErrorCode(err) == EConflict {
			continue // rotated meanwhile: look again
		}
		return n, err
	}
	return 0, Errorf(EConflict, "", "the notify secret kept changing while it was being sealed")
}

// sealUsers seals the console users' TOTP secrets, each user read again
// and written in its own transaction (as changeUser writes users).
func (s *Service) sealUsers(ctx context.Context, left func(err error, row string) error) (int, error) {
	var us []*User
	if err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		us, err = tx.ListUsers(ctx, "")
		return err
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, u := range us {
		if !s.stale(u.TOTPSecret) && !s.stale(u.TOTPPending) {
			continue
		}
		sealed, err := s.sealUser(ctx, u.ID)
		if err := left(err, "user "+u.ID); err != nil {
			return n, err
		}
		n += sealed
	}
	return n, nil
}

// sealUser seals one user's TOTP secrets, read again in the write and
// written alone, only if still as read (SealUserTOTP): the user's other
// columns, which a disable or a password reset may change meanwhile on
// another node, are never written from this read. updated_at and the
// sessions are kept: nothing about the user changed.
func (s *Service) sealUser(ctx context.Context, id string) (int, error) {
	for range maxRotationReads {
		n := 0
		err := s.write(ctx, func(tx Tx) error {
			n = 0
			u, err := tx.GetUser(ctx, id)
			if ErrorCode(err) == ENotFound {
				return nil
			} else if err != nil || !s.stale(u.TOTPSecret) && !s.stale(u.TOTPPending) {
				return err
			}
			secret, err := s.reseal(u.TOTPSecret, userOwner(u, fieldTOTPSecret))
			if err != nil {
				return err
			}
			pending, err := s.reseal(u.TOTPPending, userOwner(u, fieldTOTPPending))
			if err != nil {
				return err
			}
			n = 1
			return tx.SealUserTOTP(ctx, u.ID, secret, pending, u.TOTPSecret, u.TOTPPending)
		})
		if ErrorCode(err) == EConflict {
			continue // changed meanwhile: look again
		}
		return n, err
	}
	return 0, Errorf(EConflict, "", "the user's TOTP secrets kept changing while they were being sealed")
}
