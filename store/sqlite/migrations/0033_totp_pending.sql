-- 0033_totp_pending: a second-factor secret given to a console user but
-- not yet confirmed with a code from it. Sign-in keeps asking for the
-- current secret (or none) until a code proves the user's authenticator
-- app has the new one: a mistyped or half-scanned secret, turned on at
-- once, locked the user out. '' when none waits.
ALTER TABLE console_users ADD COLUMN totp_pending TEXT NOT NULL DEFAULT '';
