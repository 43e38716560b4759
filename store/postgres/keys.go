package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// keysChannel carries the prefix of every API key created or revoked.
const keysChannel = "refundd_api_keys"

// WatchKeys listens on its own connection for key creations and
// revocations (NOTIFY in the creating or revoking transaction) and reports
// each prefix; after every (re)start of the listener it reports "" first,
// since changes made while it was not listening were missed. It returns when ctx ends.
func (s *Store) WatchKeys(ctx context.Context, changed func(prefix string)) {
	for ctx.Err() == nil {
		s.listenKeys(ctx, changed)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second): // reconnect, without hammering a database that is down
		}
	}
}

func (s *Store) listenKeys(ctx context.Context, changed func(prefix string)) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+keysChannel); err != nil {
		return
	}
	changed("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		changed(n.Payload)
	}
}
