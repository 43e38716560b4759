package refund

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Console users: a merchant's staff, each with their own sign-in and a
// role, so that the audit trail names a person and a refund's approver is
// a different person from its maker.

// Roles of console users, each a set of scopes.
const (
	RoleViewer   = "viewer"   // reads orders, refunds, invoices
	RoleRefunder = "refunder" // and refunds
	RoleApprover = "approver" // and approves or rejects others' refunds
	RoleAdmin    = "admin"    // everything a merchant key can do
)

// RoleScopes are the scopes each role carries.
var RoleScopes = map[string][]string{
	RoleViewer:   {ScopeOrdersRead, ScopeRefundsRead},
	RoleRefunder: {ScopeOrdersRead, ScopeRefundsRead, ScopeRefundsWrite},
	RoleApprover: {ScopeOrdersRead, ScopeRefundsRead, ScopeRefundsApprove},
	RoleAdmin:    MerchantScopes,
}

// Sign-in limits: after MaxFailedSignIns wrong passwords (or codes) in a
// row from one address, the account is locked for LockoutFor from that
// address (see SignIn).
const (
	MaxFailedSignIns = 5
	LockoutFor       = 15 * time.Minute
)

// Console sessions end after SessionIdle without use, and SessionMaxAge
// after sign-in in any case. A session's last use is recorded at most
// every SessionTouchEvery (ConsoleSessionOf).
const (
	SessionIdle       = 8 * time.Hour
	SessionMaxAge     = 24 * time.Hour
	SessionTouchEvery = time.Minute
)

// User is a console user of one merchant.
type User struct {
	ID           string
	MerchantID   string
	Email        string // lower case; unique across the installation
	Role         string
	PasswordHash string // argon2id, PHC string format (Credentials)
	// TOTPSecret is the second factor's secret (base32); "" when it is
	// off. It and TOTPPending are sealed as stored when the node has a
	// secret key (Config.Sealer), each bound to the user and its field.
	TOTPSecret string
	// TOTPPending is a new second-factor secret given out (StartTOTP) and
	// not yet confirmed with a code from it (ConfirmTOTP); sign-in goes
	// on with TOTPSecret meanwhile. "" when none waits.
	TOTPPending string
	Disabled    bool
	// FailedLogins and LockedUntil are no longer used: failed sign-ins
	// are counted per account and address (UserTx.FailSignIn).
	FailedLogins int
	LockedUntil  time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ConsoleSession is a signed-in console user, stored so any node serves
// it. Only the SHA-256 of the session id is stored.
type ConsoleSession struct {
	IDHash     string
	UserID     string
	MerchantID string
	CSRF       string
	// Language is the console language the user chose ("ar", "en"); ""
	// until they choose one (the browser's Accept-Language decides).
	Language  string
	CreatedAt time.Time
	SeenAt    time.Time
}

// UserTx is the console-user part of a transaction.
type UserTx interface {
	// CreateUser returns EConflict when the email is taken.
	CreateUser(ctx context.Context, u *User) error
	// GetUser and GetUserByEmail return ENotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByEmail(ctx context.Context, email string) (*User, error)
	// UpdateUser writes Role, PasswordHash, TOTPSecret, TOTPPending,
	// Disabled, FailedLogins, LockedUntil and UpdatedAt.
	UpdateUser(ctx context.Context, u *User) error
	// SealUserTOTP writes a user's TOTPSecret and TOTPPending, and nothing
	// else, in place of wasSecret and wasPending: one guarded statement,
	// EConflict when they are no longer so (changed or deleted meanwhile).
	// Only they are written, so a change of anything else meanwhile (a
	// disable, a password reset) stands.
	SealUserTOTP(ctx context.Context, id, secret, pending, wasSecret, wasPending string) error
	// ListUsers returns a merchant's users ("": every merchant's), oldest first.
	ListUsers(ctx context.Context, merchantID string) ([]*User, error)
	CreateConsoleSession(ctx context.Context, s *ConsoleSession) error
	// GetConsoleSession returns ENotFound.
	GetConsoleSession(ctx context.Context, idHash string) (*ConsoleSession, error)
	TouchConsoleSession(ctx context.Context, idHash string, seen time.Time) error
	DeleteConsoleSession(ctx context.Context, idHash string) error
	// DeleteUserSessions ends every session of a user.
	DeleteUserSessions(ctx context.Context, userID string) error
	// SetConsoleSessionLanguage records the session's language; ENotFound
	// when there is no such session.
	SetConsoleSessionLanguage(ctx context.Context, idHash, language string) error
	// FailSignIn counts a sign-in attempt on account (the SHA-256 of an
	// email address, a user's or not) from source (a client address) in
	// one statement: the max-th in a row resets the count and locks that
	// pair until lockUntil; an attempt while the pair is locked is not
	// counted. It returns the pair's lock after the count (zero: not
	// locked). Other sources' attempts on account are not affected.
	FailSignIn(ctx context.Context, account, source string, max int, lockUntil, now time.Time) (time.Time, error)
	// ClearSignInFailures forgets the attempts on account from each of
	// sources, or from every source when sources is nil.
	ClearSignInFailures(ctx context.Context, account string, sources []string) error
	// DeleteStaleSignInFailures deletes up to limit records last counted
	// before before whose lock (if any) ended by now, and returns how many.
	DeleteStaleSignInFailures(ctx context.Context, before, now time.Time, limit int) (int, error)
	// UseTOTPStep records step as the user's last second-factor time step
	// if it is later than the recorded one, in one statement, and returns
	// EConflict when it is not (that code, or a later one, signed in
	// already) or there is no such user.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
}

// Credentials hashes and checks passwords and second-factor codes; package
// credential implements it (argon2id, TOTP).
type Credentials interface {
	// HashPassword hashes password; a caller that goes away while the
	// hash waits its turn gets ctx's error.
	HashPassword(ctx context.Context, password string) (string, error)
	// VerifyPassword reports whether password matches hash, in constant
	// time; false, unchecked, when ctx ends while it waits its turn.
	VerifyPassword(ctx context.Context, password, hash string) bool
	// VerifyTOTP reports whether code is valid for secret at now, and the
	// time step it belongs to (a code is accepted once: SignIn keeps the
	// last step used).
	VerifyTOTP(code, secret string, now time.Time) (step int64, ok bool)
	// NewTOTP returns a new secret and its otpauth:// URL for an
	// authenticator app.
	NewTOTP(account string) (secret, url string, err error)
}

// UserInput creates a user.
type UserInput struct {
	MerchantID, Email, Role, Password string
}

func validPassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < 12 || n > 256 { // characters: six Arabic letters are twelve bytes
		return Errorf(EInvalidRequest, "password", "a password is 12 to 256 characters")
	}
	return nil
}

// CreateUser adds a console user (an operator's command).
func (s *Service) CreateUser(ctx context.Context, in UserInput) (*User, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return nil, Errorf(EInvalidRequest, "email", "%q is not an email address", in.Email)
	}
	if _, ok := RoleScopes[in.Role]; !ok {
		return nil, Errorf(EInvalidRequest, "role", "role must be viewer, refunder, approver or admin")
	}
	if err := validPassword(in.Password); err != nil {
		return nil, err
	}
	if s.cfg.Credentials == nil {
		return nil, Errorf(EInternal, "", "no credentials configured")
	}
	hash, err := s.cfg.Credentials.HashPassword(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &User{ID: s.cfg.NewID("usr"), MerchantID: in.MerchantID, Email: email, Role: in.Role, PasswordHash: hash,
		CreatedAt: now, UpdatedAt: now}
	err = s.write(ctx, func(tx Tx) error {
		if _, err := tx.GetMerchant(ctx, in.MerchantID); err != nil {
			return err
		}
		return tx.CreateUser(ctx, u)
	})
	return u, err
}

// ListUsers lists a merchant's users ("": all).
func (s *Service) ListUsers(ctx context.Context, merchantID string) ([]*User, error) {
	var out []*User
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		out, err = tx.ListUsers(ctx, merchantID)
		return err
	})
	return out, err
}

// ChangeUser applies change to a user and saves it, and ends the user's
// sessions: after any change, whoever holds one must sign in again. The
// operator's commands use SetUserDisabled, ResetPassword, StartTOTP and
// ConfirmTOTP, which also write the audit trail.
func (s *Service) ChangeUser(ctx context.Context, id string, change func(u *User) error) (*User, error) {
	return s.changeUser(ctx, id, change, nil)
}

// errUnchanged, returned by a change given to changeUser, says the user
// is already as asked: nothing is written and the sessions stay.
var errUnchanged = errors.New("refund: user unchanged")

// changeUser is ChangeUser, running also (when not nil) in the same
// transaction.
func (s *Service) changeUser(ctx context.Context, id string, change func(u *User) error, also func(tx Tx, u *User) error) (*User, error) {
	var u *User
	err := s.write(ctx, func(tx Tx) (err error) {
		if u, err = tx.GetUser(ctx, id); err != nil {
			return err
		}
		if err := change(u); errors.Is(err, errUnchanged) {
			return nil
		} else if err != nil {
			return err
		}
		u.UpdatedAt = s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if also != nil {
			if err := also(tx, u); err != nil {
				return err
			}
		}
		return tx.DeleteUserSessions(ctx, u.ID)
	})
	return u, err
}

// SetUserDisabled disables a console user, which signs them out on every
// node at once, or enables a disabled one again (operator commands). Each
// change is audited as user.disable or user.enable, by the operator;
// asking for the state the user is in changes and records nothing.
func (s *Service) SetUserDisabled(ctx context.Context, id string, disabled bool) (*User, error) {
	state := map[bool]string{false: "active", true: "disabled"}
	action := map[bool]string{false: "user.enable", true: "user.disable"}[disabled]
	return s.changeUser(ctx, id, func(u *User) error {
		if u.Disabled == disabled {
			return errUnchanged // an enable must not sign an active user out
		}
		u.Disabled = disabled
		return nil
	}, func(tx Tx, u *User) error {
		return s.audit(ctx, tx, Principal{MerchantID: u.MerchantID}, action, "user", u.ID, state[!disabled], state[disabled], "", u.UpdatedAt)
	})
}

// ResetPassword sets a user's password and unlocks the account from every
// address.
func (s *Service) ResetPassword(ctx context.Context, id, password string) (*User, error) {
	if err := validPassword(password); err != nil {
		return nil, err
	}
	hash, err := s.cfg.Credentials.HashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	// The account's locks, from every address, end with the old password.
	return s.changeUser(ctx, id, func(u *User) error {
		u.PasswordHash, u.FailedLogins, u.LockedUntil = hash, 0, time.Time{}
		return nil
	}, func(tx Tx, u *User) error {
		if err := tx.ClearSignInFailures(ctx, hashID(u.Email), nil); err != nil {
			return err
		}
		return s.audit(ctx, tx, Principal{MerchantID: u.MerchantID}, "user.reset_password", "user", u.ID, "", "password reset", "", u.UpdatedAt)
	})
}

// StartTOTP gives a user a new second-factor secret and returns its
// otpauth:// URL, to show once. It takes effect only when ConfirmTOTP gets
// a code from it: turned on at once, a secret the user's authenticator app
// did not take (a mistyped or half-scanned one) locked them out. Until
// then the user signs in as before; a second start replaces the secret
// waiting.
func (s *Service) StartTOTP(ctx context.Context, id string) (string, error) {
	if s.cfg.Credentials == nil {
		return "", Errorf(EInternal, "", "no credentials configured")
	}
	var url string
	err := s.write(ctx, func(tx Tx) error {
		u, err := tx.GetUser(ctx, id)
		if err != nil {
			return err
		}
		secret, link, err := s.cfg.Credentials.NewTOTP(u.Email)
		if err != nil {
			return err
		}
		if u.TOTPPending, err = s.sealSecret(secret, userOwner(u, fieldTOTPPending)); err != nil {
			return err
		}
		u.UpdatedAt, url = s.now(), link
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, Principal{MerchantID: u.MerchantID}, "user.totp_start", "user", u.ID, "", "waiting for a code", "", u.UpdatedAt)
	})
	return url, err
}

// ConfirmTOTP turns on the second factor StartTOTP gave a user, given a
// code from it, in place of any earlier one, and ends the user's
// sessions. The code is used up: it cannot sign in too. Without a secret
// waiting, or with a code that is not from it, nothing changes
// (EInvalidRequest).
func (s *Service) ConfirmTOTP(ctx context.Context, id, code string) (*User, error) {
	if s.cfg.Credentials == nil {
		return nil, Errorf(EInternal, "", "no credentials configured")
	}
	var step int64
	var before string
	return s.changeUser(ctx, id, func(u *User) error {
		if u.TOTPPending == "" {
			return Errorf(EInvalidRequest, "code", "no second factor is waiting for a code: start one first, and confirm it with a code from the new secret")
		}
		pending, err := s.openSecret(u.TOTPPending, userOwner(u, fieldTOTPPending))
		if err != nil {
			return err
		}
		var ok bool
		if step, ok = s.cfg.Credentials.VerifyTOTP(code, pending, s.now()); !ok {
			return Errorf(EInvalidRequest, "code", "the code is not from the new secret (or not of now): nothing changed; "+
				"check that the authenticator app took the latest URL and that its clock is right, then try a new code")
		}
		before = map[bool]string{true: "on", false: "off"}[u.TOTPSecret != ""]
		// Sealed again: bound to the pending field, it would not open
		// as the secret.
		if u.TOTPSecret, err = s.sealSecret(pending, userOwner(u, fieldTOTPSecret)); err != nil {
			return err
		}
		u.TOTPPending = ""
		return nil
	}, func(tx Tx, u *User) error {
		// A step already taken (a sign-in with the old secret this
		// half-minute) cannot sign in again anyway.
		if err := tx.UseTOTPStep(ctx, u.ID, step); err != nil && ErrorCode(err) != EConflict {
			return err
		}
		return s.audit(ctx, tx, Principal{MerchantID: u.MerchantID}, "user.totp", "user", u.ID, before, "on", "", u.UpdatedAt)
	})
}

// UserPrincipal is who a user acts as: their merchant, their role's scopes.
func UserPrincipal(u *User) Principal {
	return Principal{MerchantID: u.MerchantID, UserID: u.ID, UserEmail: u.Email, Scopes: slices.Clone(RoleScopes[u.Role])}
}

// SignIn checks a console user's email, password and (when the account has
// one) second-factor code, and opens a session stored in the database.
// Every failure, a locked account's included, does the same work (one
// read, one counted attempt, one argon2 hash) and answers the same
// EUnauthorized, so neither the answer nor its time reveals which part was
// wrong or whether the account exists.
//
// MaxFailedSignIns attempts in a row without a success lock the account
// for LockoutFor from the address they came from (IPv6: its /64) only.
// A lock on the whole account would let anyone who knows an email address
// keep its owner out for good, five guesses every quarter hour; per
// address, the guesser locks out only themselves, and the owner signs in
// from their own. Guessing from many addresses is bounded by each
// address's share, the failed-authentication limit per address across
// accounts, argon2id's cost, 12-character passwords and the second factor.
//
// The password is checked outside any transaction (argon2 takes tens of
// milliseconds), after the attempt was counted in one atomic statement.
func (s *Service) SignIn(ctx context.Context, email, password, code string) (sessionID string, sess *ConsoleSession, u *User, err error) {
	email = strings.ToLower(strings.TrimSpace(email))
	denied := Errorf(EUnauthorized, "", "wrong email, password or code, or the account is locked for a while")
	if s.cfg.Credentials == nil {
		return "", nil, nil, denied
	}
	source, account := sourceOf(RequestFrom(ctx).IP), hashID(email)
	// An address that failed too often, at any accounts, spends no more
	// argon2 time and no more database writes for a while.
	if err := s.sources.allow(source, s.cfg.Now()); err != nil {
		return "", nil, nil, err
	}
	err = s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		u, err = tx.GetUserByEmail(ctx, email)
		return err
	})
	if ErrorCode(err) == ENotFound {
		u, err = nil, nil
	}
	if err != nil {
		return "", nil, nil, err
	}
	var secret string
	if u != nil && u.TOTPSecret != "" {
		// A second factor this node cannot open is the node's problem:
		// answered before the attempt is counted and its password
		// checked, so it neither locks the user out nor tells whether the
		// password was right (only that the account has a sealed factor,
		// on a node missing its key). Never taken as the secret.
		if secret, err = s.openSecret(u.TOTPSecret, userOwner(u, fieldTOTPSecret)); err != nil {
			// Charged to the address as a failure is: the answer tells
			// that the account exists, which must not be asked for at
			// will.
			s.sources.fail(source, s.cfg.Now())
			s.log.Error("console sign-in refused: the user's TOTP secret does not open on this node", "user", u.ID, "err", err)
			return "", nil, nil, err
		}
	}
	// Every attempt is counted before its password is checked, in one
	// statement, so parallel attempts cannot check more than the limit
	// allows; a successful one clears the count below. An address no
	// user has is counted too: the same work, the same answers.
	now := s.now()
	var lockedUntil time.Time
	if err := s.write(ctx, func(tx Tx) (err error) {
		// The attempt past MaxFailedSignIns locks: the one that reaches
		// it is still checked. (Counted at MaxFailedSignIns, a fifth
		// attempt was refused unchecked, and four typos locked the user
		// out of their right password.)
		lockedUntil, err = tx.FailSignIn(ctx, account, source, MaxFailedSignIns+1, now.Add(LockoutFor), now)
		return err
	}); err != nil {
		return "", nil, nil, err
	}
	fail := func() (string, *ConsoleSession, *User, error) {
		s.sources.fail(source, s.cfg.Now())
		return "", nil, nil, denied
	}
	if u == nil || now.Before(lockedUntil) {
		_, _ = s.cfg.Credentials.HashPassword(ctx, password) // the same work as a wrong password
		return fail()
	}
	ok := s.cfg.Credentials.VerifyPassword(ctx, password, u.PasswordHash)
	var step int64
	if ok && u.TOTPSecret != "" {
		step, ok = s.cfg.Credentials.VerifyTOTP(code, secret, now)
	}
	if !ok || u.Disabled {
		return fail()
	}
	err = s.write(ctx, func(tx Tx) error {
		cur, err := tx.GetUser(ctx, u.ID)
		if err != nil {
			return err
		}
		if cur.Disabled || cur.PasswordHash != u.PasswordHash || cur.TOTPSecret != u.TOTPSecret {
			return denied // changed while the password was being checked
		}
		if cur.TOTPSecret != "" {
			// RFC 6238 5.2: a code signs in once. Whoever saw it typed
			// (a shared screen, a phishing proxy) cannot reuse it within
			// its window, nor can a parallel attempt with the same one.
			if err := tx.UseTOTPStep(ctx, cur.ID, step); ErrorCode(err) == EConflict {
				return denied
			} else if err != nil {
				return err
			}
		}
		// This attempt was counted; it succeeded.
		if err := tx.ClearSignInFailures(ctx, account, []string{source}); err != nil {
			return err
		}
		sessionID = userSessionPrefix + token() + token()
		sess = &ConsoleSession{IDHash: hashID(sessionID), UserID: cur.ID, MerchantID: cur.MerchantID, CSRF: token(), CreatedAt: now, SeenAt: now}
		if err := tx.CreateConsoleSession(ctx, sess); err != nil {
			return err
		}
		u = cur
		return s.audit(ctx, tx, UserPrincipal(cur), "user.sign_in", "user", cur.ID, "", "signed in", "console", now)
	})
	if ErrorCode(err) == EUnauthorized {
		return fail()
	}
	if err != nil {
		return "", nil, nil, err
	}
	return sessionID, sess, u, nil
}

// ConsoleSessionOf returns the signed-in user behind a session id and marks
// the session used now; a session that expired or whose user was disabled
// is ENotFound (and deleted).
//
// A session id nobody holds costs one read, never a write: on SQLite a
// write transaction waits for, and holds up, every refund's, and anyone
// can send a made-up cookie. (Made-up ids are not refused per address
// like made-up API keys: sessions are not cached, so that would sign out
// every user behind the sender's address.)
//
// The user is read in that read, not in the write: there GetUser holds
// the user's row (on PostgreSQL) until the write's batch commits, and
// batches of several users' requests, on two committers or two nodes,
// took two users' rows in turn and deadlocked, each request waiting a
// second for PostgreSQL to break it. Every change of a user ends the
// user's sessions in its transaction, so a session the write still finds
// outlived no change committed before that read.
//
// A session used within SessionTouchEvery is not written at all: its last
// use moves by the minute, not by the request, so a page's requests cost
// reads only (a write waits for and holds up refunds' on SQLite, and one
// session's parallel requests, tabs sharing the cookie, took its row in
// turn in group-committed batches on PostgreSQL).
func (s *Service) ConsoleSessionOf(ctx context.Context, sessionID string) (*ConsoleSession, *User, error) {
	var sess, read *ConsoleSession
	var u *User
	gone := Errorf(ENotFound, "", "no such session")
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		if read, err = tx.GetConsoleSession(ctx, hashID(sessionID)); err != nil {
			return err
		}
		u, err = tx.GetUser(ctx, read.UserID)
		return err
	})
	if ErrorCode(err) == ENotFound {
		return nil, nil, gone
	}
	if err != nil {
		return nil, nil, err
	}
	if now := s.now(); !u.Disabled && !now.Before(read.SeenAt) && now.Sub(read.SeenAt) < SessionTouchEvery &&
		now.Sub(read.CreatedAt) <= SessionMaxAge {
		return read, u, nil
	}
	err = s.write(ctx, func(tx Tx) (err error) {
		now := s.now()
		if sess, err = tx.GetConsoleSession(ctx, hashID(sessionID)); err != nil {
			return err
		}
		if sess.UserID != u.ID {
			return gone
		}
		if u.Disabled || now.Sub(sess.SeenAt) > SessionIdle || now.Sub(sess.CreatedAt) > SessionMaxAge {
			if err := tx.DeleteConsoleSession(ctx, sess.IDHash); err != nil {
				return err
			}
			sess = nil
			return nil
		}
		sess.SeenAt = now
		return tx.TouchConsoleSession(ctx, sess.IDHash, now)
	})
	if err == nil && sess == nil {
		err = gone
	}
	if ErrorCode(err) == ENotFound {
		return nil, nil, gone
	}
	return sess, u, err
}

// SetSessionLanguage keeps the language a signed-in user chose in their
// session, so every node shows the console in it. The console decides
// which languages exist; here a language is only checked to be a short
// tag ("ar", "en-GB").
func (s *Service) SetSessionLanguage(ctx context.Context, sessionID, language string) error {
	if !validLanguage(language) {
		return Errorf(EInvalidRequest, "language", "a language is a tag such as ar or en")
	}
	err := s.write(ctx, func(tx Tx) error {
		return tx.SetConsoleSessionLanguage(ctx, hashID(sessionID), language)
	})
	if ErrorCode(err) == ENotFound {
		return Errorf(ENotFound, "", "no such session")
	}
	return err
}

// validLanguage accepts a BCP 47-like tag of letters and hyphens, at most
// 16 characters.
func validLanguage(tag string) bool {
	if tag == "" || len(tag) > 16 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}

// SignOut ends a console session.
func (s *Service) SignOut(ctx context.Context, sessionID string) error {
	return s.write(ctx, func(tx Tx) error { return tx.DeleteConsoleSession(ctx, hashID(sessionID)) })
}

// userSessionPrefix starts every console user's session id, which lives
// in the database; the console's key sessions, in memory, never start so
// (their ids are upper-case).
const userSessionPrefix = "u"

// IsUserSessionID reports whether a console session id is a user's (see
// SignIn), to be read from the database.
func IsUserSessionID(id string) bool { return strings.HasPrefix(id, userSessionPrefix) }

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}
