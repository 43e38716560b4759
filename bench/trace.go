package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// parseServerTiming reads a Server-Timing header (name;dur=ms, ...) into
// phases, in its order; a "total" entry is kept as the server's whole. It
// answers nil when the header holds no durations.
func parseServerTiming(h string) []phase {
	var out []phase
	for _, entry := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(entry), ";")
		if name == "" {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || k != "dur" {
				continue
			}
			ms, err := strconv.ParseFloat(v, 64)
			if err != nil || ms < 0 {
				continue
			}
			out = append(out, phase{name: name, d: time.Duration(ms * float64(time.Millisecond))})
		}
	}
	return out
}

// phaseStats aggregates the traces: one row per phase the server reported
// (in the order it reported them), then the server's time outside them,
// the client's share and the whole. A phase a refund did not meet counts
// as zero for it. Nil when no trace has a server total.
func phaseStats(traces []trace) []PhaseStat {
	var names []string
	var kept []trace
	seen := map[string]bool{}
	for _, t := range traces {
		if !slices.ContainsFunc(t.phases, func(p phase) bool { return p.name == "total" }) {
			continue // the server sent no timing for this one
		}
		kept = append(kept, t)
		for _, p := range t.phases {
			if p.name != "total" && !seen[p.name] {
				seen[p.name] = true
				names = append(names, p.name)
			}
		}
	}
	if len(kept) == 0 {
		return nil
	}
	byName := map[string][]time.Duration{}
	for _, name := range names {
		byName[name] = make([]time.Duration, len(kept))
	}
	others := make([]time.Duration, len(kept))
	clients := make([]time.Duration, len(kept))
	wholes := make([]time.Duration, len(kept))
	for i, t := range kept {
		var total, sum time.Duration
		for _, p := range t.phases {
			if p.name == "total" {
				total = p.d
				continue
			}
			byName[p.name][i] += p.d
			sum += p.d
		}
		others[i] = max(total-sum, 0)
		clients[i] = max(t.whole-total, 0)
		wholes[i] = t.whole
	}
	wholeMean := mean(wholes)
	row := func(name string, ds []time.Duration) PhaseStat {
		m := mean(ds)
		slices.Sort(ds)
		st := PhaseStat{Phase: name, P50: pct(ds, 0.50), P99: pct(ds, 0.99), Mean: ms(m)}
		if wholeMean > 0 {
			st.Share = float64(m) / float64(wholeMean)
		}
		return st
	}
	var out []PhaseStat
	for _, name := range names {
		out = append(out, row(name, byName[name]))
	}
	return append(out, row(PhaseServerOther, others), row(PhaseClient, clients), row(PhaseWhole, wholes))
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// TraceTable renders a report's trace as a text table.
func TraceTable(w io.Writer, r *Report) {
	if len(r.Trace) == 0 {
		return
	}
	fmt.Fprintf(w, "where the time went (%d refunds; means add up to the whole, percentiles do not):\n", r.Refunds)
	fmt.Fprintf(w, "%-22s %9s %9s %9s %7s\n", "phase", "p50 ms", "p99 ms", "mean ms", "share")
	for _, p := range r.Trace {
		fmt.Fprintf(w, "%-22s %9.3f %9.3f %9.3f %6.1f%%\n", p.Phase, p.P50, p.P99, p.Mean, 100*p.Share)
	}
}
