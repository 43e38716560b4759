package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/refundd/refundd/refund"
)

const userColumns = `id, merchant_id, email, role, password_hash, totp_secret, totp_pending, disabled, failed_logins, locked_until, created_at, updated_at`

func scanUser(s scanner) (*refund.User, error) {
	var u refund.User
	var locked, created, updated int64
	if err := s.Scan(&u.ID, &u.MerchantID, &u.Email, &u.Role, &u.PasswordHash, &u.TOTPSecret, &u.TOTPPending, &u.Disabled, &u.FailedLogins,
		&locked, &created, &updated); err != nil {
		return nil, err
	}
	if locked != 0 {
		u.LockedUntil = fromNanos(locked)
	}
	u.CreatedAt, u.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &u, nil
}

// nanosOrZero stores a zero time as 0.
func nanosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return nanos(t)
}

// CreateUser returns EConflict when the email is taken.
func (t *tx) CreateUser(ctx context.Context, u *refund.User) error {
	_, err := t.q.ExecContext(ctx, `INSERT INTO console_users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.MerchantID, u.Email, u.Role, u.PasswordHash, u.TOTPSecret, u.TOTPPending, u.Disabled, u.FailedLogins, nanosOrZero(u.LockedUntil),
		nanos(u.CreatedAt), nanos(u.UpdatedAt))
	if isUnique(err) {
		return refund.Errorf(refund.EConflict, "email", "a console user with this email exists")
	}
	return wrapErr("create user", err)
}

func (t *tx) getUser(ctx context.Context, where string, arg any) (*refund.User, error) {
	u, err := scanUser(t.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM console_users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no such user")
	}
	return u, wrapErr("get user", err)
}

// GetUser returns ENotFound.
func (t *tx) GetUser(ctx context.Context, id string) (*refund.User, error) {
	return t.getUser(ctx, "id = ?", id)
}

// GetUserByEmail returns ENotFound.
func (t *tx) GetUserByEmail(ctx context.Context, email string) (*refund.User, error) {
	return t.getUser(ctx, "email = ?", email)
}

// UpdateUser writes what may change of a user.
func (t *tx) UpdateUser(ctx context.Context, u *refund.User) error {
	n, err := t.exec(ctx, "update user", `UPDATE console_users SET role = ?, password_hash = ?, totp_secret = ?, totp_pending = ?, disabled = ?,
		failed_logins = ?, locked_until = ?, updated_at = ? WHERE id = ?`,
		u.Role, u.PasswordHash, u.TOTPSecret, u.TOTPPending, u.Disabled, u.FailedLogins, nanosOrZero(u.LockedUntil), nanos(u.UpdatedAt), u.ID)
	if err == nil && n == 0 {
		return refund.Errorf(refund.ENotFound, "", "no such user")
	}
	return err
}

// SealUserTOTP writes a user's TOTP secrets if they are still as read;
// EConflict otherwise.
func (t *tx) SealUserTOTP(ctx context.Context, id, secret, pending, wasSecret, wasPending string) error {
	n, err := t.exec(ctx, "seal user totp", `UPDATE console_users SET totp_secret = ?, totp_pending = ?
		WHERE id = ? AND totp_secret = ? AND totp_pending = ?`, secret, pending, id, wasSecret, wasPending)
	if err == nil && n == 0 {
		return refund.Errorf(refund.EConflict, "", "the user's TOTP secrets changed meanwhile")
	}
	return err
}

// ListUsers returns a merchant's users ("": all), oldest first.
func (t *tx) ListUsers(ctx context.Context, merchantID string) ([]*refund.User, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+userColumns+` FROM console_users WHERE ? = '' OR merchant_id = ?
		ORDER BY created_at, id`, merchantID, merchantID)
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	var out []*refund.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("list users", err)
		}
		out = append(out, u)
	}
	return out, wrapErr("list users", rows.Err())
}

// CreateConsoleSession stores a session.
func (t *tx) CreateConsoleSession(ctx context.Context, s *refund.ConsoleSession) error {
	_, err := t.exec(ctx, "create console session", `INSERT INTO console_sessions (id_hash, user_id, merchant_id, csrf, language, created_at, seen_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, s.IDHash, s.UserID, s.MerchantID, s.CSRF, s.Language, nanos(s.CreatedAt), nanos(s.SeenAt))
	return err
}

// GetConsoleSession returns ENotFound.
func (t *tx) GetConsoleSession(ctx context.Context, idHash string) (*refund.ConsoleSession, error) {
	s := refund.ConsoleSession{IDHash: idHash}
	var created, seen int64
	err := t.q.QueryRowContext(ctx, `SELECT user_id, merchant_id, csrf, language, created_at, seen_at FROM console_sessions WHERE id_hash = ?`,
		idHash).Scan(&s.UserID, &s.MerchantID, &s.CSRF, &s.Language, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no such session")
	}
	if err != nil {
		return nil, wrap("get console session", err)
	}
	s.CreatedAt, s.SeenAt = fromNanos(created), fromNanos(seen)
	return &s, nil
}

// TouchConsoleSession marks a session used.
func (t *tx) TouchConsoleSession(ctx context.Context, idHash string, seen time.Time) error {
	_, err := t.exec(ctx, "touch console session", `UPDATE console_sessions SET seen_at = ? WHERE id_hash = ?`, nanos(seen), idHash)
	return err
}

// SetConsoleSessionLanguage returns ENotFound.
func (t *tx) SetConsoleSessionLanguage(ctx context.Context, idHash, language string) error {
	n, err := t.exec(ctx, "set console session language", `UPDATE console_sessions SET language = ? WHERE id_hash = ?`, language, idHash)
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
	_, err := t.exec(ctx, "delete console session", `DELETE FROM console_sessions WHERE id_hash = ?`, idHash)
	return err
}

// DeleteUserSessions ends every session of a user.
func (t *tx) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, "delete user sessions", `DELETE FROM console_sessions WHERE user_id = ?`, userID)
	return err
}

// FailSignIn counts an attempt on (account, source) in one statement;
// every expression of the update reads the row as it was.
func (t *tx) FailSignIn(ctx context.Context, account, source string, max int, lockUntil, now time.Time) (time.Time, error) {
	var locked int64
	err := t.q.QueryRowContext(ctx, `INSERT INTO sign_in_failures (account, source, failures, locked_until, updated_at)
		VALUES (?1, ?2, CASE WHEN 1 >= ?3 THEN 0 ELSE 1 END, CASE WHEN 1 >= ?3 THEN ?4 ELSE 0 END, ?5)
		ON CONFLICT (account, source) DO UPDATE SET
		failures = CASE WHEN locked_until > ?5 THEN failures WHEN failures + 1 >= ?3 THEN 0 ELSE failures + 1 END,
		locked_until = CASE WHEN locked_until > ?5 THEN locked_until WHEN failures + 1 >= ?3 THEN ?4 ELSE locked_until END,
		updated_at = ?5
		RETURNING locked_until`, account, source, max, nanos(lockUntil), nanos(now)).Scan(&locked)
	if err != nil {
		return time.Time{}, wrap("fail sign-in", err)
	}
	if locked == 0 {
		return time.Time{}, nil
	}
	return fromNanos(locked), nil
}

// ClearSignInFailures forgets account's attempts from sources (nil: all).
func (t *tx) ClearSignInFailures(ctx context.Context, account string, sources []string) error {
	if sources == nil {
		_, err := t.exec(ctx, "clear sign-in failures", `DELETE FROM sign_in_failures WHERE account = ?`, account)
		return err
	}
	for _, src := range sources {
		if _, err := t.exec(ctx, "clear sign-in failures", `DELETE FROM sign_in_failures WHERE account = ? AND source = ?`, account, src); err != nil {
			return err
		}
	}
	return nil
}

// DeleteStaleSignInFailures deletes up to limit records counted before
// before and not locked at now.
func (t *tx) DeleteStaleSignInFailures(ctx context.Context, before, now time.Time, limit int) (int, error) {
	n, err := t.exec(ctx, "delete stale sign-in failures", `DELETE FROM sign_in_failures WHERE rowid IN
		(SELECT rowid FROM sign_in_failures WHERE updated_at < ? AND locked_until <= ? LIMIT `+strconv.Itoa(limit)+`)`, nanos(before), nanos(now))
	return int(n), err
}

// UseTOTPStep takes step as the user's last second-factor step if it is
// later, in one statement, so two sign-ins with one code cannot both pass.
func (t *tx) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	n, err := t.exec(ctx, "use totp step", `UPDATE console_users SET totp_last_step = ?1 WHERE id = ?2 AND totp_last_step < ?1`, step, userID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EConflict, "code", "this second-factor code was used already")
	}
	return nil
}
