package refund

import (
	"cmp"
	"fmt"
	"testing"
	"time"
)

// A key read while another key is dropped is cached: only a drop that may
// concern it (its own, every key's, or one of a prefix that shares its
// bucket) stops put. Before, any drop did, so on a database where keys
// are created elsewhere a node could go on reading a key it had just read.
func TestKeyCache_OnlyDropsThatMayConcernAKeyStopItsCaching(t *testing.T) {
	const key = "rk_0123456789ab"
	var other, sameBucket string
	for i := 0; other == "" || sameBucket == ""; i++ {
		p := fmt.Sprintf("rk_%012x", i)
		switch {
		case p == key:
		case dropBucket(p) != dropBucket(key):
			other = cmp.Or(other, p)
		default:
			sameBucket = cmp.Or(sameBucket, p)
		}
	}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, dropped string
		cached        bool
	}{
		{"AnotherKey", other, true},
		{"NoDrop", "-", true},
		{"AKeyInItsBucket", sameBucket, false},
		{"ThisKey", key, false},
		{"EveryKey", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c keyCache
			_, cached, drops := c.get(key, now, time.Hour)
			if cached {
				t.Fatal("an empty cache answered")
			}
			if tc.dropped != "-" {
				c.drop(tc.dropped)
			}
			c.put(key, &APIKey{Prefix: key}, now, drops)
			if k, cached, _ := c.get(key, now, time.Hour); cached != tc.cached || cached && k.Prefix != key {
				t.Fatalf("cached after a drop of %q: %v %+v, want %v", tc.dropped, cached, k, tc.cached)
			}
		})
	}
}
