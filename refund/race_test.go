//go:build race

package refund_test

// raceEnabled: the race detector slows the embedded SQLite engine, the
// invoicer's signing and every store call about tenfold, so the longest
// property walks a prefix of its random orders under it
// (TestProperty_PartialRefundsAddUpToTheCapture); .ci/run walks them all
// without it.
const raceEnabled = true
