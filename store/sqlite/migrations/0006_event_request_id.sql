-- The id of the API request that caused an event, sent with its webhook
-- deliveries as X-Request-Id ('' for events of background work).
ALTER TABLE events ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
