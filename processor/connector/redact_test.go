package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// lockedBuffer is a log sink several goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestConnectors_CredentialEchoNotKept: a processor (or a proxy in front
// of it) that quotes the account's credential in its refusal ("invalid
// API key sk_live_..."), the secret of Paylink's credential, or the
// bearer token the connector sent, must not put it in the refund's
// failure message, its events, the webhooks that carry them or the
// node's log: the merchant's staff, its webhook receivers and log
// readers would hold the key to the processor account.
func TestConnectors_CredentialEchoNotKept(t *testing.T) {
	const gatewayKey = "sk_live_5f1d3c0a9b8e7d6c5b4a3928"
	const paylinkSecret = "0662abb5-13c7-38ab-cd12-236e58f43766"
	const paylinkToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJBUFBfSUQifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
	paylink := map[string]string{"merchant_key": "cr", "merchant_value": "1010101010"}
	for _, tc := range []struct {
		name       string
		kind       string
		credential string
		options    map[string]string
		processor  http.HandlerFunc
		status     string // the refund's status after the call
		secrets    []string
	}{
		{"GatewayDeclineQuotesTheKey", "gateway", gatewayKey, nil, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusPaymentRequired)
			json.NewEncoder(w).Encode(map[string]string{"message": "refund refused for " + r.Header.Get("Authorization")})
		}, "failed", []string{gatewayKey}},
		{"GatewayDeclineQuotesTheKeyAtTheCut", "gateway", gatewayKey, nil, func(w http.ResponseWriter, r *http.Request) {
			// The connector keeps 300 bytes of a message: the key is cut.
			w.WriteHeader(http.StatusPaymentRequired)
			json.NewEncoder(w).Encode(map[string]string{"message": strings.Repeat("x", 270) + " key " + gatewayKey})
		}, "failed", []string{gatewayKey, gatewayKey[:12]}},
		{"GatewayInProgressQuotesTheKey", "gateway", gatewayKey, nil, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"message": "a request with key " + gatewayKey + " is still running"})
		}, "processing", []string{gatewayKey}},
		{"PaylinkAuthQuotesTheSecret", "paylink", "APP_ID_1123453311:" + paylinkSecret, paylink, func(w http.ResponseWriter, r *http.Request) {
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"message": "unknown secretKey " + body["secretKey"].(string)})
		}, "failed", []string{paylinkSecret}},
		{"PaylinkRefundQuotesTheToken", "paylink", "APP_ID_1123453311:" + paylinkSecret, paylink, func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/auth") {
				json.NewEncoder(w).Encode(map[string]string{"id_token": paylinkToken})
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"code": "invalid_token",
				"message": "the " + r.Header.Get("Authorization") + " is not valid for this merchant"})
		}, "failed", []string{paylinkSecret, paylinkToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc := httptest.NewServer(tc.processor)
			defer proc.Close()
			var hooks lockedBuffer
			receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				hooks.Write(append(b, '\n'))
			}))
			defer receiver.Close()
			var logs lockedBuffer
			a := dialecttest.Start(t, func(c *server.Config) {
				c.SecretKey, c.WebhookAllowPrivate = testSecretKey, true
				c.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			if _, err := a.Service.AddProcessorAccount(context.Background(), a.Merchant.ID, refund.ProcessorAccountInput{Name: "acct",
				Kind: tc.kind, URL: proc.URL, Credential: tc.credential, Options: tc.options}); err != nil {
				t.Fatal(err)
			}
			if ep := a.Do("POST", "/v1/webhook_endpoints", a.Key, `{"url":"`+receiver.URL+`"}`); ep.Status != 201 {
				t.Fatalf("endpoint: %s", ep.Raw)
			}
			o := a.Order(refund.OrderInput{Reference: "ECHO-1", Currency: "SAR", Amount: 5000, PaymentMethod: "card",
				Processor: "acct", ProcessorOrderID: "PAY-1"})
			rep := a.Do("POST", "/v1/refunds", a.Key, `{"order_id":"`+o.ID+`"}`)
			if rep.Status != 201 {
				t.Fatalf("refund: %s", rep.Raw)
			}
			got := a.Do("GET", "/v1/refunds/"+rep.Str("id"), a.Key, "")
			stored, err := a.Service.GetRefund(context.Background(), a.Principal, rep.Str("id"))
			if err != nil {
				t.Fatal(err)
			}
			if got.Str("status") != tc.status || stored.FailureMessage == "" {
				t.Fatalf("refund %s with message %q, want %s with the processor's message", got.Str("status"), stored.FailureMessage, tc.status)
			}
			if _, err := a.Webhooks.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			events := a.Do("GET", "/v1/events?limit=100", a.Key, "")
			for _, s := range tc.secrets {
				for where, text := range map[string]string{
					"the refund":                         got.Raw,
					"the refund's reply":                 rep.Raw,
					"the stored message (the console's)": stored.FailureMessage,
					"the events":                         events.Raw,
					"the webhooks":                       hooks.String(),
					"the log":                            logs.String(),
				} {
					if strings.Contains(text, s) {
						t.Errorf("%s holds the credential %q: %s", where, s, text)
					}
				}
			}
			if tc.status == "failed" && !strings.Contains(hooks.String(), "refund.failed") {
				t.Errorf("no refund.failed webhook was delivered: %s", hooks.String())
			}
		})
	}
}
