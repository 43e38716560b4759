-- 0015_console_i18n: the PostgreSQL twin of the SQLite migration: the
-- console in the merchant's time zone and the user's language. A
-- merchant's zone is an IANA name (the console shows its dates there and
-- counts its days there); merchants made before this keep Saudi time. A
-- session's language is "" until its user chooses one. (0014 is another
-- change's number.)

ALTER TABLE merchants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'Asia/Riyadh';
ALTER TABLE console_sessions ADD COLUMN language TEXT NOT NULL DEFAULT '';
