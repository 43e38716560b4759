// Package idgen makes refundd's object ids: a short type prefix and a
// UUIDv7, so ids sort by creation time (lists page by id) and never collide
// across nodes.
package idgen

import "github.com/google/uuid"

// New returns prefix_<uuidv7>, e.g. re_01936f0c-7b7e-7c41-9d7a-1f2b3c4d5e6f.
func New(prefix string) string {
	return prefix + "_" + uuid.Must(uuid.NewV7()).String()
}
