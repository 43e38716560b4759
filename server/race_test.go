//go:build race

package server_test

// raceEnabled: the race detector slows the embedded SQLite engine about
// tenfold, so the longest walks take a sample under it (TestAPIFuzz).
const raceEnabled = true
