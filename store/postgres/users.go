package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

const userColumns = `id, merchant_id, email, role, password_hash, totp_secret, totp_pending, disabled, failed_logins, locked_until, created_at, updated_at`

func scanUser(s scanner) (*refund.User, error) {
	var u refund.User
	var locked *time.Time
	if err := s.Scan(&u.ID, &u.MerchantID, &u.Email, &u.Role, &u.PasswordHash, &u.TOTPSecret, &u.TOTPPending, &u.Disabled, &u.FailedLogins,
		&locked, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return nil, err
	}
	if locked != nil {
		u.LockedUntil = *locked
	}
	return &u, nil
}

// CreateUser returns EConflict when the email is taken; ON CONFLICT keeps
// the transaction usable.
func (t *tx) CreateUser(ctx context.Context, u *refund.User) error {
	n, err := t.exec(ctx, "create user", `INSERT INTO console_users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (email) DO NOTHING`,
		u.ID, u.MerchantID, u.Email, u.Role, u.PasswordHash, u.TOTPSecret, u.TOTPPending, u.Disabled, u.FailedLogins, nullTime(u.LockedUntil),
		u.CreatedAt, u.UpdatedAt)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EConflict, "email", "a console user with this email exists")
	}
	return nil
}

func (t *tx) getUser(ctx context.Context, where string, arg any) (*refund.User, error) {
	u, err := scanUser(t.q.QueryRow(ctx, `SELECT `+userColumns+` FROM console_users WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no such user")
	}
	if err != nil {
		return nil, t.fail("get user", err)
	}
	return u, nil
}

// GetUser returns ENotFound. Inside Update it locks the user's row until
// the transaction ends: a change writes the whole row back (UpdateUser),
// so two at once would each undo the other, a disable among them.
func (t *tx) GetUser(ctx context.Context, id string) (*refund.User, error) {
	if t.write {
		return t.getUser(ctx, "id = $1 FOR NO KEY UPDATE", id)
	}
	return t.getUser(ctx, "id = $1", id)
}

// GetUserByEmail returns ENotFound.
func (t *tx) GetUserByEmail(ctx context.Context, email string) (*refund.User, error) {
	return t.getUser(ctx, "email = $1", email)
}

// UpdateUser writes what may change of a user.
func (t *tx) UpdateUser(ctx context.Context, u *refund.User) error {
	n, err := t.exec(ctx, "update user", `UPDATE console_users SET role = $1, password_hash = $2, totp_secret = $3, totp_pending = $4, disabled = $5,
		failed_logins = $6, locked_until = $7, updated_at = $8 WHERE id = $9`,
		u.Role, u.PasswordHash, u.TOTPSecret, u.TOTPPending, u.Disabled, u.FailedLogins, nullTime(u.LockedUntil), u.UpdatedAt, u.ID)
	if err == nil && n == 0 {
		return refund.Errorf(refund.ENotFound, "", "no such user")
	}
	return err
}

// SealUserTOTP writes a user's TOTP secrets if they are still as read;
// EConflict otherwise.
func (t *tx) SealUserTOTP(ctx context.Context, id, secret, pending, wasSecret, wasPending string) error {
	n, err := t.exec(ctx, "seal user totp", `UPDATE console_users SET totp_secret = $1, totp_pending = $2
		WHERE id = $3 AND totp_secret = $4 AND totp_pending = $5`, secret, pending, id, wasSecret, wasPending)
	if err == nil && n == 0 {
		return refund.Errorf(refund.EConflict, "", "the user's TOTP secrets changed meanwhile")
	}
	return err
}

// ListUsers returns a merchant's users ("": all), oldest first.
func (t *tx) ListUsers(ctx context.Context, merchantID string) ([]*refund.User, error) {
	return queryAll(ctx, t, "list users", `SELECT `+userColumns+` FROM console_users WHERE $1 = '' OR merchant_id = $1
		ORDER BY created_at, id`, scanUser, merchantID)
}

// CreateConsoleSession stores a session.
func (t *tx) CreateConsoleSession(ctx context.Context, s *refund.ConsoleSession) error {
	_, err := t.exec(ctx, "create console session", `INSERT INTO console_sessions (id_hash, user_id, merchant_id, csrf, language, created_at, seen_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, s.IDHash, s.UserID, s.MerchantID, s.CSRF, s.Language, s.CreatedAt, s.SeenAt)
	return err
}

// GetConsoleSession returns ENotFound.
func (t *tx) GetConsoleSession(ctx context.Context, idHash string) (*refund.ConsoleSession, error) {
	s := refund.ConsoleSession{IDHash: idHash}
	err := t.q.QueryRow(ctx, `SELECT user_id, merchant_id, csrf, language, created_at, seen_at FROM console_sessions WHERE id_hash = $1`,
		idHash).Scan(&s.UserID, &s.MerchantID, &s.CSRF, &s.Language, &s.CreatedAt, &s.SeenAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no such session")
	}
	if err != nil {
		return nil, t.fail("get console session", err)
	}
	return &s, nil
}

// TouchConsoleSession marks a session used.
func (t *tx) TouchConsoleSession(ctx context.Context, idHash string, seen time.Time) error {
	_, err := t.exec(ctx, "touch console session", `UPDATE console_sessions SET seen_at = $1 WHERE id_hash = $2`, seen, idHash)
	return err
}

// SetConsoleSessionLanguage returns ENotFound.
func (t *tx) SetConsoleSessionLanguage(ctx context.Context, idHash, language string) error {
	n, err := t.exec(ctx, "set console session language", `UPDATE console_sessions SET language = $1 WHERE id_hash = $2`, language, idHash)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.ENotFound, "", "no such session")
	}
	return nil
}

// DeleteConsoleSession ends a session.
func (t *tx) DeleteConsoleSession(ctx context.Context, idHash string) error {
	_, err := t.exec(ctx, "delete console session", `DELETE FROM console_sessions WHERE id_hash = $1`, idHash)
	return err
}

// DeleteUserSessions ends every session of a user.
func (t *tx) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, "delete user sessions", `DELETE FROM console_sessions WHERE user_id = $1`, userID)
	return err
}

// FailSignIn counts an attempt on (account, source) in one statement,
// under the row's lock (the insert's conflict takes it), so parallel
// attempts each count.
func (t *tx) FailSignIn(ctx context.Context, account, source string, max int, lockUntil, now time.Time) (time.Time, error) {
	var locked *time.Time
	err := t.q.QueryRow(ctx, `INSERT INTO sign_in_failures AS f (account, source, failures, locked_until, updated_at)
		VALUES ($1, $2, CASE WHEN 1 >= $3::int THEN 0 ELSE 1 END, CASE WHEN 1 >= $3::int THEN $4::timestamptz END, $5)
		ON CONFLICT (account, source) DO UPDATE SET
		failures = CASE WHEN f.locked_until > $5 THEN f.failures WHEN f.failures + 1 >= $3::int THEN 0 ELSE f.failures + 1 END,
		locked_until = CASE WHEN f.locked_until > $5 THEN f.locked_until WHEN f.failures + 1 >= $3::int THEN $4::timestamptz ELSE f.locked_until END,
		updated_at = $5
		RETURNING locked_until`, account, source, max, lockUntil, now).Scan(&locked)
	if err != nil {
		return time.Time{}, t.fail("fail sign-in", err)
	}
	if locked == nil {
		return time.Time{}, nil
	}
	return *locked, nil
}

// ClearSignInFailures forgets account's attempts from sources (nil: all).
func (t *tx) ClearSignInFailures(ctx context.Context, account string, sources []string) error {
	if sources == nil {
		_, err := t.exec(ctx, "clear sign-in failures", `DELETE FROM sign_in_failures WHERE account = $1`, account)
		return err
	}
	_, err := t.exec(ctx, "clear sign-in failures", `DELETE FROM sign_in_failures WHERE account = $1 AND source = ANY($2)`, account, sources)
	return err
}

// DeleteStaleSignInFailures deletes up to limit records counted before
// before and not locked at now.
func (t *tx) DeleteStaleSignInFailures(ctx context.Context, before, now time.Time, limit int) (int, error) {
	n, err := t.exec(ctx, "delete stale sign-in failures", `DELETE FROM sign_in_failures WHERE (account, source) IN
		(SELECT account, source FROM sign_in_failures WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until <= $2) LIMIT $3)`,
		before, now, limit)
	return int(n), err
}

// UseTOTPStep takes step as the user's last second-factor step if it is
// later, in one statement, so two sign-ins with one code cannot both pass.
func (t *tx) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	n, err := t.exec(ctx, "use totp step", `UPDATE console_users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, userID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EConflict, "code", "this second-factor code was used already")
	}
	return nil
}
