package server

import (
	"strings"
	"testing"
)

// TestRedact: no password a database URL carries is printed, wherever it
// stands and whatever it contains.
func TestRedact(t *testing.T) {
	for _, tc := range []struct{ db, want string }{
		{"postgres://app:s3cret@db:5432/refundd", "postgres://app:xxxxx@db:5432/refundd"},
		{"postgres://app@db/refundd?sslmode=require&password=s3cret", "postgres://app@db/refundd?sslmode=require&password=xxxxx"},
		{"postgres://db/refundd?sslpassword=s3cret", "postgres://db/refundd?sslpassword=xxxxx"},
		// A password holding a '?' its writer did not escape: the query
		// begins after the user part, not inside it.
		{"postgres://app:s3?cret@db/refundd", "postgres://app:xxxxx@db/refundd"},
		{"mysql://app:s3?cret@db/refundd?password=s3cret", "mysql://app:xxxxx@db/refundd?password=xxxxx"},
		{"sqlite:/var/lib/refundd.db", "sqlite:/var/lib/refundd.db"},
	} {
		got := Redact(tc.db)
		if strings.Contains(got, "s3") || got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.db, got, tc.want)
		}
	}
}
