package connector

import (
	"errors"
	"testing"

	"github.com/refundd/refundd/processor"
)

// Only the processor not answering (unreachable, 5xx, no reply) counts
// toward opening the circuit: its refusals and answers do not.
func TestTransportFailure(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&processor.TransientError{Code: "upstream_503"}, true},
		{errors.New("dial tcp: connection reset"), true},
		{&processor.TransientError{Code: "rate_limited"}, false},
		{&processor.TransientError{Code: "busy"}, false},
		{&processor.TransientError{Code: "reference_conflict"}, false}, // a 409: SGate answered
		{processor.ErrNotFound, false},
		{processor.ErrNoStatus, false},
	} {
		if got := transportFailure(tc.err); got != tc.want {
			t.Errorf("transportFailure(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
