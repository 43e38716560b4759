package server_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRequestIDIsOursUnlessPlain: an X-Request-Id is the caller's to choose
// but the server's to keep (logs, audit trail, events, webhook and
// acquirer headers). One that is not 1-64 visible ASCII characters is
// replaced by a fresh id, so that it can never refuse the request it came
// with: PostgreSQL cannot store a byte sequence that is not UTF-8, and
// answered every write carrying one 400 invalid_request, naming no field,
// where SQLite took it.
func TestRequestIDIsOursUnlessPlain(t *testing.T) {
	t.Parallel()
	for _, db := range []struct {
		name  string
		start func(t *testing.T) *testServer
	}{
		{"SQLite", func(t *testing.T) *testServer { return mustStart(t) }},
		{"PostgreSQL", func(t *testing.T) *testServer { return mustStart(t, onDB(pgSchema(t, 4))) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			s := db.start(t)
			order := s.mustOrder(cardOrder("4444", 10_000))
			for _, tc := range []struct {
				name, id string
				kept     bool
			}{
				{"Plain", "req_from-the-proxy.42", true},
				{"Longest", strings.Repeat("a", 64), true},
				{"TooLong", strings.Repeat("a", 65), false},
				{"NotUTF8", "req_\xff\xfe", false},
				{"CutUTF8", "caf\xc3", false},
				{"NotASCII", "req_é", false},
				{"Space", "req 1", false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					req, err := http.NewRequest("POST", s.URL()+"/v1/refunds",
						bytes.NewReader([]byte(`{"order_id":"`+order+`","amount":100}`)))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Authorization", "Bearer "+s.key)
					req.Header.Set("Content-Type", "application/json")
					req.Header["X-Request-Id"] = []string{tc.id}
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusCreated {
						t.Fatalf("refund with X-Request-Id %q: %d %s, want 201", tc.id, res.StatusCode, body)
					}
					got := res.Header.Get("X-Request-Id")
					if tc.kept && got != tc.id {
						t.Fatalf("X-Request-Id %q answered as %q, want it echoed", tc.id, got)
					}
					if !tc.kept && (got == tc.id || !strings.HasPrefix(got, "req_")) {
						t.Fatalf("X-Request-Id %q answered as %q, want a fresh req_ id", tc.id, got)
					}
				})
			}
		})
	}
}
