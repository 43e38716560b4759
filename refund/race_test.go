//go:build race

package refund_test

// raceEnabled: the race detector slows the embedded SQLite engine, the
// invoicer's signing and every store call about tenfold, so the money
// properties (TestProperty_*) walk a prefix of their random orders under
// it; .ci/run walks them all without it.
const raceEnabled = true
