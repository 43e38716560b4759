-- 0017_refusals: nothing on SQLite. The PostgreSQL twin adds a function
-- its pipelined checks raise in the server (store/postgres/migrations);
-- SQLite runs each statement and judges it before the next.
SELECT 1;
