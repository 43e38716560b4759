package credential

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// TestHashesAreBounded: sign-ins at once compute at most cap(hashing)
// hashes at a time (each holds its parameters' memory); the others wait
// their turn, and every one is answered, but one whose caller has gone
// gives its turn up.
func TestHashesAreBounded(t *testing.T) {
	bound := cap(hashing)
	var (
		inFlight, most atomic.Int64
		// Room for every sign-in's signal: a fixed size hung the test
		// on a machine with more than 32 CPUs (3*bound sign-ins, bound
		// read, the rest blocked on a full channel inside the bound).
		entered = make(chan struct{}, 3*bound)
		release = make(chan struct{})
	)
	onHash = func() {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		entered <- struct{}{}
		<-release
		inFlight.Add(-1)
	}
	defer func() { onHash = nil }()
	// Cheap parameters (8 KiB, one pass): the bound is tested, not the answer.
	const hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$TaWyH0NVsZ8VmU/w8WWE7U1x/Nc5KxE3yAC/mKfPb+U"
	var wg sync.WaitGroup
	for range 3 * bound {
		wg.Go(func() { Argon2{}.VerifyPassword(context.Background(), "pw", hash) })
	}
	for range bound {
		<-entered
	}
	if n, held := inFlight.Load(), len(hashing); n != int64(bound) || held != bound {
		t.Fatalf("%d hashes running, %d slots held; want %d of each", n, held, bound)
	}
	// A sign-in whose caller went away gives up its turn: no hash, no match.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if (Argon2{}).VerifyPassword(gone, "pw", hash) {
		t.Fatal("a sign-in whose caller went away matched")
	}
	if _, err := (Argon2{}).HashPassword(gone, "pw"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a hash whose caller went away: %v, want context.Canceled", err)
	}
	close(release)
	wg.Wait()
	if m := most.Load(); m > int64(bound) {
		t.Fatalf("%d hashes ran at once; at most %d may", m, bound)
	}
	if len(entered) != 2*bound {
		t.Fatalf("%d of %d waiting sign-ins were hashed", len(entered), 2*bound)
	}
}
