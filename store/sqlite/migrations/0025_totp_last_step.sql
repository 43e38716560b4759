-- 0025_totp_last_step: the time step of the last second-factor code that
-- signed a user in. A code is accepted once (RFC 6238, 5.2): a sign-in
-- takes the step only if it is later than this one, in one statement.
ALTER TABLE console_users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
