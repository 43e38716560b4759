//go:build race

package sim

// The race detector slows the embedded SQLite engine about tenfold: under
// it the simulation runs fewer seeds, and .ci/run runs the full count in a
// second pass without it.
const raceEnabled = true
