-- 0017_refusals: a check that refuses inside the server. The store sends
-- writes nothing waits for pipelined with the transaction's next
-- statement, often its COMMIT (store/postgres/pipe.go). A check the client
-- judged on the answer would come too late: the COMMIT has run by then.
-- Checked in the statement itself, a refusal is an error, PostgreSQL skips
-- the rest of the pipeline, COMMIT included, and nothing commits.
--
-- refundd_refuse raises SQLSTATE RD001 with why as its message; the store
-- turns it into the refusal's own error. Called from the ELSE of a CASE,
-- which PostgreSQL evaluates only when reached (the function is volatile,
-- so the planner does not fold it). store/sqlite/migrations has a twin of
-- this file with nothing in it: SQLite runs each statement and judges it
-- before the next.
CREATE OR REPLACE FUNCTION refundd_refuse(why text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'RD001', MESSAGE = why;
END
$$;
