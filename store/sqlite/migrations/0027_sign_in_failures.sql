-- 0027_sign_in_failures: failed console sign-ins, counted per account and
-- client address rather than per account, so that whoever knows an email
-- address can lock only their own attempts out, not its owner. The
-- account is the SHA-256 of the email as typed (lower case), whether or
-- not a user has it: an unknown address costs and answers the same, and
-- the table keeps no typed address. console_users.failed_logins and
-- locked_until are no longer used.
CREATE TABLE sign_in_failures (
    account      TEXT NOT NULL,
    source       TEXT NOT NULL, -- the client's address; IPv6: its /64
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account, source)
);
CREATE INDEX sign_in_failures_updated ON sign_in_failures (updated_at);
