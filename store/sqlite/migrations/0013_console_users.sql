-- 0013_console_users: console users with their own sign-in (argon2id
-- password hashes, optional TOTP, lockout), and their sessions, kept in the
-- database so any node serves any user.

CREATE TABLE console_users (
    id            TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    email         TEXT NOT NULL UNIQUE, -- lower case
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'refunder', 'approver', 'admin')),
    password_hash TEXT NOT NULL,
    totp_secret   TEXT NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX console_users_merchant ON console_users (merchant_id, created_at);

-- Only the SHA-256 of a session id is stored: the table holds nothing a
-- cookie could be made from.
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES console_users (id),
    merchant_id TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
