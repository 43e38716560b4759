package bench

import (
	"reflect"
	"testing"
	"time"
)

func TestParseServerTiming(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         []phase
	}{
		{"OK", "auth;dur=0.125, reserve_queue;dur=2, total;dur=3.5",
			[]phase{{"auth", 125 * time.Microsecond}, {"reserve_queue", 2 * time.Millisecond}, {"total", 3500 * time.Microsecond}}},
		{"OtherParams", `cache;desc="Cache Read";dur=23.2, miss`, []phase{{"cache", 23200 * time.Microsecond}}},
		{"Empty", "", nil},
		{"BadDurations", "a;dur=x, b;dur=-1, c", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseServerTiming(tc.header); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseServerTiming(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

// A phase some refunds did not meet counts as zero for them; what the
// phases leave of the server's total and of the whole become their own
// rows, so the means add up to the whole's.
func TestPhaseStats(t *testing.T) {
	ms := func(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }
	traces := []trace{
		{phases: []phase{{"a", ms(1)}, {"b", ms(2)}, {"total", ms(4)}}, whole: ms(5)},
		{phases: []phase{{"a", ms(3)}, {"c", ms(1)}, {"a", ms(1)}, {"total", ms(6)}}, whole: ms(10)},
		{phases: []phase{{"a", ms(9)}}, whole: ms(99)}, // no total: not counted
	}
	got := phaseStats(traces)
	want := []PhaseStat{
		{Phase: "a", P50: 1, P99: 4, Mean: 2.5, Share: 2.5 / 7.5},
		{Phase: "b", P50: 0, P99: 2, Mean: 1, Share: 1 / 7.5},
		{Phase: "c", P50: 0, P99: 1, Mean: 0.5, Share: 0.5 / 7.5},
		{Phase: PhaseServerOther, P50: 1, P99: 1, Mean: 1, Share: 1 / 7.5},
		{Phase: PhaseClient, P50: 1, P99: 4, Mean: 2.5, Share: 2.5 / 7.5},
		{Phase: PhaseWhole, P50: 5, P99: 10, Mean: 7.5, Share: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("phaseStats =\n%+v\nwant\n%+v", got, want)
	}
	if phaseStats(traces[2:]) != nil {
		t.Error("traces without a server total make a table")
	}
}
