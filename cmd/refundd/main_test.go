package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/credential"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// runCLI runs one refundd command and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
}

func TestCLI_AdminCommands(t *testing.T) {
	t.Parallel()
	db := "sqlite:" + filepath.Join(t.TempDir(), "cli.db")

	code, out, errOut := runCLI(t, "migrate", "--db", db)
	if code != 0 || !strings.Contains(out, "migrated") {
		t.Fatalf("migrate: code %d, out %q, err %q", code, out, errOut)
	}

	code, out, errOut = runCLI(t, "merchant", "create", "--db", db, "--name", "Souq", "--cr", "1010101010",
		"--email", "ops@souq.example", "--mobile", "+966500000001", "--account-no", "ACC-1", "--vat-number", "300000000000003")
	if code != 0 {
		t.Fatalf("merchant create: code %d, err %q", code, errOut)
	}
	var mc struct {
		Merchant map[string]json.RawMessage `json:"merchant"`
		APIKey   string                     `json:"api_key"`
	}
	mustJSON(t, out, &mc)
	var appID int64
	if err := json.Unmarshal(mc.Merchant["app_id"], &appID); err != nil || appID < 1 {
		t.Fatalf("app_id must be a positive integer, got %s", mc.Merchant["app_id"])
	}
	var merchantID string
	json.Unmarshal(mc.Merchant["id"], &merchantID)
	if merchantID == "" || !strings.HasPrefix(mc.APIKey, "rk_") {
		t.Fatalf("merchant create printed %s", out)
	}

	// A merchant starts in Saudi time; set-time-zone moves it (the name is
	// checked against the zone database inside the binary).
	var zone string
	json.Unmarshal(mc.Merchant["time_zone"], &zone)
	if zone != "Asia/Riyadh" {
		t.Fatalf("a new merchant's time zone: %q, want Asia/Riyadh", zone)
	}
	code, out, errOut = runCLI(t, "merchant", "set-time-zone", "--db", db, "--merchant", merchantID, "--zone", "Asia/Kuwait")
	if code != 0 || !strings.Contains(out, `"time_zone": "Asia/Kuwait"`) || !strings.Contains(out, merchantID) {
		t.Fatalf("merchant set-time-zone: code %d, out %s, err %s", code, out, errOut)
	}
	for _, tc := range []struct {
		name, merchant, zone string
		code                 int
		msg                  string
	}{
		{"ErrNotAZone", merchantID, "Asia/Atlantis", 2, "Asia/Atlantis"},
		{"ErrLocal", merchantID, "Local", 2, "IANA"},
		{"ErrNoZone", merchantID, "", 2, "--zone"},
		{"ErrUnknownMerchant", "mer_missing", "Asia/Dubai", 1, "not found"},
	} {
		if code, _, errOut := runCLI(t, "merchant", "set-time-zone", "--db", db, "--merchant", tc.merchant, "--zone", tc.zone); code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("set-time-zone %s: want exit %d mentioning %q, got %d: %s", tc.name, tc.code, tc.msg, code, errOut)
		}
	}

	// The refund policy: thresholds per currency, an age, an expiry; a bad
	// currency is refused and changes nothing.
	code, out, errOut = runCLI(t, "policy", "set", "--db", db, "--merchant", merchantID, "--threshold", "SAR=50000",
		"--threshold", "kwd=20000", "--expiry", "48h")
	if code != 0 || !strings.Contains(out, `"SAR": 50000`) || !strings.Contains(out, `"KWD": 20000`) || !strings.Contains(out, `"approval_expiry_seconds": 172800`) {
		t.Fatalf("policy set: code %d, out %s, err %s", code, out, errOut)
	}
	if code, _, errOut = runCLI(t, "policy", "set", "--db", db, "--merchant", merchantID, "--threshold", "XXY=1"); code != 1 || !strings.Contains(errOut, "XXY") {
		t.Fatalf("a bad currency: code %d, err %s", code, errOut)
	}
	if code, out, _ = runCLI(t, "policy", "get", "--db", db, "--merchant", merchantID); code != 0 || !strings.Contains(out, `"SAR": 50000`) {
		t.Fatalf("policy get: code %d, out %s", code, out)
	}
	// Naming one currency changes that one: SAR's threshold stays when
	// JPY's is set (it used to be dropped, and large SAR refunds went out
	// without a second person); CUR=none removes one, none all.
	for _, tc := range []struct {
		threshold string
		want      []string
		gone      []string
	}{
		{"JPY=5000", []string{`"SAR": 50000`, `"KWD": 20000`, `"JPY": 5000`}, nil},
		{"kwd=none", []string{`"SAR": 50000`, `"JPY": 5000`}, []string{"KWD"}},
		{"none", nil, []string{"SAR", "JPY", "KWD"}},
	} {
		code, out, errOut = runCLI(t, "policy", "set", "--db", db, "--merchant", merchantID, "--threshold", tc.threshold)
		for _, w := range tc.want {
			if code != 0 || !strings.Contains(out, w) {
				t.Fatalf("--threshold %s: code %d, out %s, err %s; want %s", tc.threshold, code, out, errOut, w)
			}
		}
		for _, g := range tc.gone {
			if strings.Contains(out, g) {
				t.Fatalf("--threshold %s: %s, want no %s", tc.threshold, out, g)
			}
		}
	}
	if code, _, errOut = runCLI(t, "policy", "set", "--db", db, "--merchant", merchantID, "--threshold", "=5"); code != 2 && code != 1 {
		t.Fatalf("--threshold =5: code %d, err %s", code, errOut)
	}
	// A value given is applied or refused, never dropped: --older-than-days
	// -5 and --expiry 0 printed the policy unchanged with exit 0, and the
	// operator took it as set. Left out, each keeps what the policy has.
	for _, args := range [][]string{{"--older-than-days", "-5"}, {"--expiry", "0s"}} {
		code, out, errOut = runCLI(t, append([]string{"policy", "set", "--db", db, "--merchant", merchantID}, args...)...)
		if code != 1 || out != "" || !strings.Contains(errOut, strings.ReplaceAll(strings.TrimPrefix(args[0], "--"), "-", "_")) {
			t.Fatalf("policy set %s: code %d, out %s, err %s", args, code, out, errOut)
		}
	}
	code, out, errOut = runCLI(t, "policy", "set", "--db", db, "--merchant", merchantID, "--older-than-days", "0")
	if code != 0 || !strings.Contains(out, `"older_than_days": 0`) || !strings.Contains(out, `"approval_expiry_seconds": 172800`) {
		t.Fatalf("policy set --older-than-days 0: code %d, out %s, err %s", code, out, errOut)
	}

	// A second merchant gets the next app id: Techrar clients address
	// merchants by it.
	_, out, _ = runCLI(t, "merchant", "create", "--db", db, "--name", "Other")
	var mc2 struct {
		Merchant struct {
			AppID int64 `json:"app_id"`
		} `json:"merchant"`
	}
	mustJSON(t, out, &mc2)
	if mc2.Merchant.AppID != appID+1 {
		t.Fatalf("second app_id: want %d, got %d", appID+1, mc2.Merchant.AppID)
	}
	if code, out, errOut = runCLI(t, "merchant", "create", "--db", db, "--name", "Doha Store", "--time-zone", "Asia/Qatar"); code != 0 || !strings.Contains(out, `"time_zone": "Asia/Qatar"`) {
		t.Fatalf("merchant create --time-zone: code %d, out %s, err %s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, "partner", "create", "--db", db, "--name", "Platform", "--merchant", merchantID)
	if code != 0 {
		t.Fatalf("partner create: code %d, err %q", code, errOut)
	}
	var pc struct {
		Partner struct {
			ID          string   `json:"id"`
			MerchantIDs []string `json:"merchant_ids"`
		} `json:"partner"`
		APIKey string `json:"api_key"`
	}
	mustJSON(t, out, &pc)
	if pc.Partner.ID == "" || len(pc.Partner.MerchantIDs) != 1 || pc.Partner.MerchantIDs[0] != merchantID || pc.APIKey == "" {
		t.Fatalf("partner create printed %s", out)
	}

	code, out, errOut = runCLI(t, "key", "create", "--db", db, "--merchant", merchantID, "--scope", "refunds:read")
	if code != 0 {
		t.Fatalf("key create: code %d, err %q", code, errOut)
	}
	var kc struct {
		Key struct {
			ID     string   `json:"id"`
			Prefix string   `json:"prefix"`
			Scopes []string `json:"scopes"`
		} `json:"key"`
		APIKey string `json:"api_key"`
	}
	mustJSON(t, out, &kc)
	if kc.Key.ID == "" || !strings.HasPrefix(kc.APIKey, kc.Key.Prefix) || len(kc.Key.Scopes) != 1 || kc.Key.Scopes[0] != "refunds:read" {
		t.Fatalf("key create printed %s", out)
	}

	code, out, _ = runCLI(t, "key", "list", "--db", db)
	if code != 0 || !strings.Contains(out, kc.Key.ID) {
		t.Fatalf("key list: code %d, out %s", code, out)
	}
	if strings.Contains(out, kc.APIKey) || strings.Contains(out, mc.APIKey) {
		t.Fatal("key list must not print secrets")
	}

	code, out, _ = runCLI(t, "key", "revoke", "--db", db, kc.Key.ID)
	if code != 0 || !strings.Contains(out, `"revoked": true`) {
		t.Fatalf("key revoke: code %d, out %s", code, out)
	}
	_, out, _ = runCLI(t, "key", "list", "--db", db)
	var keys []struct {
		ID        string  `json:"id"`
		RevokedAt *string `json:"revoked_at"`
	}
	mustJSON(t, out, &keys)
	for _, k := range keys {
		if k.ID == kc.Key.ID && k.RevokedAt == nil {
			t.Fatalf("revoked key listed without revoked_at: %s", out)
		}
	}
}

func TestCLI_Errors(t *testing.T) {
	t.Parallel()
	db := sqlitetest.URL(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"NoCommand", nil, 2, "Usage"},
		{"UnknownCommand", []string{"frobnicate"}, 2, "unknown command"},
		{"UnknownFlag", []string{"merchant", "create", "--db", db, "--nope"}, 2, "nope"},
		{"MerchantWithoutName", []string{"merchant", "create", "--db", db}, 1, "name"},
		{"PartnerUnknownMerchant", []string{"partner", "create", "--db", db, "--name", "P", "--merchant", "mer_missing"}, 1, "not found"},
		{"KeyWithoutOwner", []string{"key", "create", "--db", db}, 2, "--merchant ID or --partner ID"},
		{"KeyWithTwoOwners", []string{"key", "create", "--db", db, "--merchant", "mer_x", "--partner", "ptn_x"}, 2, "--merchant ID or --partner ID"},
		{"RevokeUnknownKey", []string{"key", "revoke", "--db", db, "key_missing"}, 1, "not found"},
		{"RevokeNeedsID", []string{"key", "revoke", "--db", db}, 2, "KEY_ID"},
		{"BadDatabaseURL", []string{"migrate", "--db", "mysql://x"}, 1, "unknown database URL"},
		{"ZeroMaxAttempts", []string{"serve", "--db", db, "--max-attempts", "0"}, 2, "--max-attempts"},
		{"NegativeRetryBackoff", []string{"serve", "--db", db, "--retry-backoff", "-1s"}, 2, "--retry-backoff"},
		{"ZeroReviewPoll", []string{"serve", "--db", db, "--review-poll", "0s"}, 2, "--review-poll"},
		{"BadMetricsAllow", []string{"serve", "--db", db, "--metrics-allow", "everyone"}, 2, "--metrics-allow"},
		{"BadTrustedProxies", []string{"serve", "--db", db, "--trusted-proxies", "10.0.0.5,the-balancer"}, 2, "--trusted-proxies"},
		{"TrustedProxiesWithHostBits", []string{"serve", "--db", db, "--trusted-proxies", "10.0.0.5/24"}, 2, "--trusted-proxies"},
		{"TrustedProxiesIPv4AsIPv6", []string{"serve", "--db", db, "--trusted-proxies", "::ffff:10.0.0.0/104"}, 2, "--trusted-proxies"},
		{"SweepAgesNotIncreasing", []string{"serve", "--db", db, "--sweep-ages", "24h,1h"}, 2, "--sweep-ages"},
		{"LateRateAboveOne", []string{"sandbox", "serve", "--late-rate", "1.5"}, 2, "--late-rate"},
		{"NegativeLateMS", []string{"sandbox", "serve", "--late-ms", "-1"}, 2, "--late-ms"},
		{"NegativeSettleDelay", []string{"sandbox", "serve", "--settle-delay", "-1s"}, 2, "--settle-delay"},
		{"UnknownLogFormat", []string{"sandbox", "serve", "--log", "xml"}, 2, "--log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("want exit %d mentioning %q, got %d: %s", tc.code, tc.msg, code, errOut)
			}
		})
	}
}

// TestCLI_StrayArgumentsAreRefused gives commands that take flags only a
// word more: an unquoted name's second word, and the flags after it,
// which the flag package stops at. Each must be refused with exit 2
// naming the word, and create nothing, not run without those flags.
func TestCLI_StrayArgumentsAreRefused(t *testing.T) {
	t.Parallel()
	db := sqlitetest.URL(t)
	code, out, errOut := runCLI(t, "merchant", "create", "--db", db, "--name", "Souq")
	if code != 0 {
		t.Fatalf("merchant create: code %d, err %q", code, errOut)
	}
	var mc struct {
		Merchant struct {
			ID string `json:"id"`
		} `json:"merchant"`
	}
	mustJSON(t, out, &mc)
	for _, tc := range []struct {
		name, stray string
		args        []string
	}{
		{"MerchantCreate", "Trading", []string{"merchant", "create", "--db", db, "--name", "Souq", "Trading", "--email", "ops@souq.example"}},
		{"PartnerCreate", "Platform", []string{"partner", "create", "--db", db, "--name", "Big", "Platform", "--merchant", mc.Merchant.ID}},
		// The key would have every scope: --scope behind the word is lost.
		{"KeyCreate", "read", []string{"key", "create", "--db", db, "--merchant", mc.Merchant.ID, "read", "--scope", "refunds:read"}},
		{"PolicySet", "SAR=1", []string{"policy", "set", "--db", db, "--merchant", mc.Merchant.ID, "SAR=1", "--threshold", "SAR=50000"}},
		{"Migrate", "now", []string{"migrate", "--db", db, "now"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.stray) {
				t.Fatalf("want exit 2 naming %q, got %d: out %s err %s", tc.stray, code, out, errOut)
			}
		})
	}
	// Nothing was created: the one key is the first merchant's, and the
	// policy has no threshold.
	_, out, _ = runCLI(t, "key", "list", "--db", db)
	var keys []json.RawMessage
	mustJSON(t, out, &keys)
	if len(keys) != 1 {
		t.Fatalf("refused commands created keys: %s", out)
	}
	if _, out, _ = runCLI(t, "policy", "get", "--db", db, "--merchant", mc.Merchant.ID); strings.Contains(out, "SAR") {
		t.Fatalf("a refused policy set changed the policy: %s", out)
	}
}

// TestCLI_ServeRefusesOutOfRangeFlags starts serve with values its flags
// cannot mean: each must exit 2 naming the flag, not serve on a default
// it put in their place (a negative --rate-limit served unlimited, a
// --max-inflight 0 served 64, --log xml served JSON).
func TestCLI_ServeRefusesOutOfRangeFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"NegativeRateLimit", []string{"--rate-limit", "-1"}},
		{"NaNRateLimit", []string{"--rate-limit", "NaN"}},
		{"NegativeRateBurst", []string{"--rate-burst", "-1"}},
		{"ZeroMaxInflight", []string{"--max-inflight", "0"}},
		{"ZeroProcessorTimeout", []string{"--processor-timeout", "0s"}},
		{"NegativeLease", []string{"--lease", "-1s"}},
		{"LeaseWithinProcessorTimeout", []string{"--lease", "5s"}},
		{"LeaseEqualToProcessorTimeout", []string{"--lease", "30s", "--processor-timeout", "30s"}},
		{"NegativeSettleDelay", []string{"--settle-delay", "-1s"}},
		{"UnknownLogFormat", []string{"--log", "xml"}},
		{"ShortTokenSecret", []string{"--token-secret", "too-short-to-sign-tokens"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errOut := &signalWriter{marker: "refundd serving", ready: make(chan struct{})}
			db := sqlitetest.URL(t)
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, tc.args...), io.Discard, errOut)
			}()
			select {
			case <-errOut.ready:
				cancel()
				<-done
				t.Fatalf("serve %v started serving; want exit 2", tc.args)
			case code := <-done:
				if code != 2 || !strings.Contains(errOut.String(), tc.args[0]) {
					t.Fatalf("want exit 2 mentioning %s, got %d: %s", tc.args[0], code, errOut.String())
				}
			}
		})
	}
}

// signalWriter collects output and closes ready once marker appears.
type signalWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	ready  chan struct{}
	once   sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.marker) {
		w.once.Do(func() { close(w.ready) })
	}
	return n, err
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

var (
	curlURL    = regexp.MustCompile(`'?(http://[^\s']+)'?`)
	curlHeader = regexp.MustCompile(`-H '([^']+)'`)
	curlBody   = regexp.MustCompile(`-d '([^']+)'`)
	refundID   = regexp.MustCompile(`"id":"(re_[^"]+)"`)
	idToken    = regexp.MustCompile(`"id_token":"([^"]+)"`)
)

// TestDemo_CurlLinesWork starts `refundd demo` and runs every curl line it
// prints, as a new user would paste them.
func TestDemo_CurlLinesWork(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out := &signalWriter{marker: "Press Ctrl-C", ready: make(chan struct{})}
	done := make(chan int, 1)
	db := "sqlite:" + filepath.Join(t.TempDir(), "demo.db")
	go func() { done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--db", db}, out, io.Discard) }()
	select {
	case <-out.ready:
	case code := <-done:
		t.Fatalf("demo exited with %d: %s", code, out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not start")
	}

	// Join continuation lines, then run each curl command in order.
	text := strings.ReplaceAll(out.String(), "\\\n", " ")
	var lastRefund, lastToken, comment string
	ran := 0
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			comment = line
		}
		if !strings.HasPrefix(line, "curl ") {
			continue
		}
		line = strings.ReplaceAll(line, "REFUND_ID", lastRefund)
		line = strings.ReplaceAll(line, "Bearer TOKEN", "Bearer "+lastToken)
		method := "GET"
		if strings.Contains(line, "-X POST") {
			method = "POST"
		}
		u := curlURL.FindStringSubmatch(line)[1]
		var body io.Reader
		if m := curlBody.FindStringSubmatch(line); m != nil {
			body = strings.NewReader(m[1])
		}
		req, err := http.NewRequest(method, u, body)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range curlHeader.FindAllStringSubmatch(line, -1) {
			k, v, _ := strings.Cut(h[1], ": ")
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		ran++
		switch {
		case strings.Contains(comment, "more than is left"):
			if res.StatusCode != 422 || !strings.Contains(string(b), "amount_exceeds_refundable") {
				t.Errorf("%s\n-> %d %s (want 422 amount_exceeds_refundable)", line, res.StatusCode, b)
			}
		case strings.Contains(comment, "another merchant"):
			if res.StatusCode != 404 || !strings.Contains(string(b), "order_not_found") {
				t.Errorf("%s\n-> %d %s (want 404 order_not_found)", line, res.StatusCode, b)
			}
		case strings.Contains(comment, "cannot be expressed"):
			if res.StatusCode != 422 || !strings.Contains(string(b), "processor_unsupported") {
				t.Errorf("%s\n-> %d %s (want 422 processor_unsupported)", line, res.StatusCode, b)
			}
		case res.StatusCode >= 300:
			t.Errorf("%s\n-> %d %s", line, res.StatusCode, b)
		case strings.Contains(comment, "refund it (Paylink"):
			if !strings.Contains(string(b), `"status":"succeeded"`) {
				t.Errorf("%s\n-> %s (want the forwarded refund succeeded)", line, b)
			}
		case strings.Contains(comment, "at the processor"):
			if strings.Count(string(b), `"merchant_reference":"`+lastRefund+`"`) != 1 {
				t.Errorf("%s\n-> %s (want the forwarded refund %s once, as the merchant reference)", line, b, lastRefund)
			}
		}
		if method == "POST" && strings.HasSuffix(u, "/v1/refunds") {
			if m := refundID.FindStringSubmatch(string(b)); m != nil {
				lastRefund = m[1]
			}
		}
		if m := idToken.FindStringSubmatch(string(b)); m != nil {
			lastToken = m[1] // a token endpoint's answer, for "Bearer TOKEN"
		}
	}
	if ran < 8 {
		t.Fatalf("demo printed only %d curl lines:\n%s", ran, out.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("demo exit code %d after shutdown", code)
	}
}

// TestCLI_Users: console users are made, listed, given a second factor,
// reset and disabled from the command line; the password comes from the
// environment, never the command line, and is never printed.
func TestCLI_Users(t *testing.T) {
	db := sqlitetest.URL(t)
	code, out, errOut := runCLI(t, "merchant", "create", "--db", db, "--name", "Souq")
	if code != 0 {
		t.Fatalf("merchant create: %s", errOut)
	}
	var mc struct {
		Merchant struct{ ID string } `json:"merchant"`
	}
	mustJSON(t, out, &mc)
	t.Setenv("REFUNDD_TEST_PW", "a long enough password")
	code, out, errOut = runCLI(t, "user", "create", "--db", db, "--merchant", mc.Merchant.ID, "--email", "Ops@Souq.example",
		"--role", "approver", "--password-env", "REFUNDD_TEST_PW")
	if code != 0 || !strings.Contains(out, `"email": "ops@souq.example"`) || strings.Contains(out, "a long enough password") || strings.Contains(out, "argon2") {
		t.Fatalf("user create: %d %s %s", code, out, errOut)
	}
	var uc struct {
		User struct{ ID string } `json:"user"`
	}
	mustJSON(t, out, &uc)
	for _, bad := range [][]string{
		{"--role", "boss", "--password-env", "REFUNDD_TEST_PW", "--email", "x@souq.example"},
		{"--role", "viewer", "--password-env", "REFUNDD_TEST_PW", "--email", "ops@souq.example"}, // taken
		{"--role", "viewer", "--password-env", "NOT_SET_ANYWHERE", "--email", "y@souq.example"},
		{"--role", "viewer", "--email", "z@souq.example"},
	} {
		if code, _, _ := runCLI(t, append([]string{"user", "create", "--db", db, "--merchant", mc.Merchant.ID}, bad...)...); code == 0 {
			t.Errorf("user create %v succeeded", bad)
		}
	}
	// The second factor is on only once a code from its secret comes back.
	if code, out, _ = runCLI(t, "user", "totp", "--db", db, uc.User.ID); code != 0 || !strings.Contains(out, "otpauth://totp/refundd:ops@souq.example") {
		t.Fatalf("user totp: %d %s", code, out)
	}
	var totp struct {
		URL string `json:"totp_url"`
	}
	mustJSON(t, out, &totp)
	link, err := url.Parse(totp.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, out, _ = runCLI(t, "user", "list", "--db", db, "--merchant", mc.Merchant.ID); !strings.Contains(out, `"totp": false`) || !strings.Contains(out, `"totp_pending": true`) {
		t.Fatalf("user list after user totp, before a code: %s", out)
	}
	if code, _, errOut = runCLI(t, "user", "totp", "--db", db, "--code", "12345", uc.User.ID); code != 1 || !strings.Contains(errOut, "the code is not from the new secret") {
		t.Fatalf("user totp --code with a wrong code: %d %s", code, errOut)
	}
	// An empty --code (a shell variable not set) is a mistake, not a
	// start: the secret the user scanned must stay waiting (the
	// confirmation below takes a code from it).
	if code, out, errOut = runCLI(t, "user", "totp", "--db", db, "--code", "", uc.User.ID); code != 2 || strings.Contains(out, "otpauth://") ||
		!strings.Contains(errOut, "--code") {
		t.Fatalf("user totp --code '': %d %s %s, want a usage error", code, out, errOut)
	}
	totpCode, err := credential.Code(link.Query().Get("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = runCLI(t, "user", "totp", "--db", db, "--code", totpCode, uc.User.ID); code != 0 || !strings.Contains(out, `"totp": true`) || !strings.Contains(out, `"totp_pending": false`) {
		t.Fatalf("user totp --code: %d %s %s", code, out, errOut)
	}
	if code, out, _ = runCLI(t, "user", "reset-password", "--db", db, "--password-env", "REFUNDD_TEST_PW", uc.User.ID); code != 0 {
		t.Fatalf("user reset-password: %d %s", code, out)
	}
	if code, out, _ = runCLI(t, "user", "disable", "--db", db, uc.User.ID); code != 0 || !strings.Contains(out, `"disabled": true`) {
		t.Fatalf("user disable: %d %s", code, out)
	}
	if code, out, _ = runCLI(t, "user", "list", "--db", db, "--merchant", mc.Merchant.ID); code != 0 || !strings.Contains(out, `"totp": true`) ||
		!strings.Contains(out, `"role": "approver"`) {
		t.Fatalf("user list: %d %s", code, out)
	}
}

// TestCLI_HelpOfEveryCommand: each command's --help prints its flags
// (the administrative ones printed nothing, exit 0) and changes nothing.
func TestCLI_HelpOfEveryCommand(t *testing.T) {
	t.Parallel()
	for _, cmd := range [][]string{
		{"serve"}, {"demo"}, {"migrate"}, {"bench"}, {"merchant", "create"}, {"merchant", "set-time-zone"},
		{"partner", "create"}, {"key", "create"}, {"key", "list"}, {"key", "revoke"}, {"user", "create"}, {"user", "list"},
		{"user", "disable"}, {"user", "enable"}, {"user", "reset-password"}, {"user", "totp"}, {"policy", "get"}, {"policy", "set"},
		{"invoice-config", "get"}, {"invoice-config", "set"}, {"processor", "add"}, {"processor", "list"}, {"processor", "remove"}, {"processor", "rotate-key"},
		{"sandbox", "serve"}, {"refunds", "import"}, {"refunds", "export"}, {"reconcile"},
	} {
		name := strings.Join(cmd, " ")
		code, out, errOut := runCLI(t, append(cmd, "--help")...)
		if code != 0 || out != "" || !strings.Contains(errOut, "Usage of "+name+":") || !strings.Contains(errOut, "  -") {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q", name, code, out, errOut)
		}
		// Its usage line too, so that what is not a flag (the file to
		// import, the key to revoke) is in the help: the flags alone left
		// `refunds import --help` silent about FILE.csv and its columns.
		line := "refundd " + strings.NewReplacer("user disable", "user disable|enable", "user enable", "user disable|enable").Replace(name)
		if !strings.Contains(strings.Join(strings.Fields(errOut), " "), line) {
			t.Errorf("%s --help does not show its usage line: %s", name, errOut)
		}
	}
	// The help lists the flags the command reads, and only those: user
	// disable and totp shared reset-password's flag set, --password-env
	// included, which they ignore.
	for name, flags := range map[string][]string{"user disable": {"-db"}, "user enable": {"-db"}, "user totp": {"-code", "-db", "-seal-secrets", "-secret-key-file"},
		"user reset-password": {"-db", "-password-env"}} {
		_, _, errOut := runCLI(t, append(strings.Fields(name), "--help")...)
		var got []string
		for _, f := range regexp.MustCompile(`(?m)^  (-[a-z-]+)`).FindAllStringSubmatch(errOut, -1) {
			got = append(got, f[1])
		}
		if strings.Join(got, " ") != strings.Join(flags, " ") {
			t.Errorf("%s --help lists the flags %v, want %v: %s", name, got, flags, errOut)
		}
	}
	for name, want := range map[string]string{"refunds import": "order_reference", "key revoke": "KEY_ID", "reconcile": "REPORT.csv",
		"processor remove": "NAME_OR_ID", "user totp": "USER_ID"} {
		if _, _, errOut := runCLI(t, append(strings.Fields(name), "--help")...); !strings.Contains(errOut, want) {
			t.Errorf("%s --help does not mention %s: %s", name, want, errOut)
		}
	}
}

// TestCLI_HelpOfEveryGroup: a command with subcommands (`refundd key`)
// given --help, or nothing, or a subcommand it does not have, lists its
// subcommands' usage lines rather than calling it an unknown command:
// docs/operations.md sends the reader to `refundd <command> --help`.
func TestCLI_HelpOfEveryGroup(t *testing.T) {
	t.Parallel()
	for group, subs := range map[string][]string{
		"merchant": {"create", "set-time-zone"}, "partner": {"create"}, "key": {"create", "list", "revoke"},
		"user": {"create", "list", "disable", "reset-password", "totp"}, "policy": {"get", "set"},
		"invoice-config": {"get", "set"}, "processor": {"add", "list", "remove", "rotate-key"}, "sandbox": {"serve"}, "refunds": {"import", "export"},
	} {
		t.Run(group, func(t *testing.T) {
			t.Parallel()
			for _, help := range []string{"--help", "-h", "help"} {
				code, out, errOut := runCLI(t, group, help)
				if code != 0 || errOut != "" || strings.Contains(out, "unknown command") {
					t.Fatalf("%s %s: exit %d, stdout %q, stderr %q", group, help, code, out, errOut)
				}
				for _, sub := range subs {
					if !strings.Contains(out, "refundd "+group) || !strings.Contains(out, " "+sub) {
						t.Fatalf("%s %s does not list %s: %s", group, help, sub, out)
					}
				}
				if strings.Contains(out, "refundd serve ") {
					t.Fatalf("%s %s lists other commands too: %s", group, help, out)
				}
			}
			code, out, errOut := runCLI(t, group)
			if code != 2 || out != "" || !strings.Contains(errOut, "refundd "+group+" needs a command") || !strings.Contains(errOut, " "+subs[0]) {
				t.Fatalf("%s alone: exit %d, stdout %q, stderr %q", group, code, out, errOut)
			}
			code, out, errOut = runCLI(t, group, "frobnicate")
			if code != 2 || out != "" || !strings.Contains(errOut, `unknown command "`+group+` frobnicate"`) || !strings.Contains(errOut, " "+subs[0]) {
				t.Fatalf("%s frobnicate: exit %d, stdout %q, stderr %q", group, code, out, errOut)
			}
		})
	}
}

// TestCLI_FlagWinsOverAnUnreadableVariable: a variable only gives its
// flag's default, so one the flag overrides on the command line is not
// read, and a typo in it does not stop a serve whose flags say what to
// do: as for REFUNDD_LOG or REFUNDD_METRICS_ALLOW, the flag wins.
func TestCLI_FlagWinsOverAnUnreadableVariable(t *testing.T) {
	for _, tc := range []struct {
		name, variable, value string
		flag                  []string
	}{
		{"RateLimit", "REFUNDD_RATE_LIMIT", "50rps", []string{"--rate-limit", "50"}},
		{"RateLimitEquals", "REFUNDD_RATE_LIMIT", "50rps", []string{"--rate-limit=0"}},
		{"WebhookAllowPrivate", "REFUNDD_WEBHOOK_ALLOW_PRIVATE", "yes", []string{"--webhook-allow-private=true"}},
		{"ServerTiming", "REFUNDD_SERVER_TIMING", "on", []string{"--server-timing=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.variable, tc.value)
			db := sqlitetest.URL(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errOut := &signalWriter{marker: "refundd serving", ready: make(chan struct{})}
			done := make(chan int, 1)
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, tc.flag...)
			go func() { done <- run(ctx, args, io.Discard, errOut) }()
			select {
			case <-errOut.ready:
				cancel()
				if code := <-done; code != 0 {
					t.Fatalf("exit %d after serving: %s", code, errOut.String())
				}
			case code := <-done:
				t.Fatalf("serve %v with %s=%s: exit %d: %s; want it to serve", tc.flag, tc.variable, tc.value, code, errOut.String())
			}
		})
	}
}

// TestCLI_ServeRefusesAnUnreadableVariable: REFUNDD_RATE_LIMIT,
// REFUNDD_WEBHOOK_ALLOW_PRIVATE and REFUNDD_SERVER_TIMING give their
// flags' defaults; a value that is no number (50rps) or no boolean (yes,
// on) is refused, exit 2 naming the variable, where it served with the
// default, or with the setting off as if the variable were unset.
func TestCLI_ServeRefusesAnUnreadableVariable(t *testing.T) {
	for _, tc := range []struct{ name, variable, value string }{
		{"RateLimit", "REFUNDD_RATE_LIMIT", "50rps"},
		{"WebhookAllowPrivateYes", "REFUNDD_WEBHOOK_ALLOW_PRIVATE", "yes"},
		{"ServerTimingOn", "REFUNDD_SERVER_TIMING", "on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.variable, tc.value)
			db := sqlitetest.URL(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errOut := &signalWriter{marker: "refundd serving", ready: make(chan struct{})}
			done := make(chan int, 1)
			go func() { done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", db}, io.Discard, errOut) }()
			select {
			case <-errOut.ready:
				cancel()
				<-done
				t.Fatalf("serve started with %s=%s; want exit 2", tc.variable, tc.value)
			case code := <-done:
				if code != 2 || !strings.Contains(errOut.String(), tc.variable) {
					t.Fatalf("exit %d: %s", code, errOut.String())
				}
			}
		})
	}
}

// TestCLI_UserEnable: a console user disabled by mistake (or back from
// leave) is enabled again from the command line and signs in; disabling,
// enabling and a password reset are each in the merchant's audit trail,
// by the operator.
func TestCLI_UserEnable(t *testing.T) {
	db := sqlitetest.URL(t)
	code, out, errOut := runCLI(t, "merchant", "create", "--db", db, "--name", "Souq")
	if code != 0 {
		t.Fatalf("merchant create: %s", errOut)
	}
	var mc struct {
		Merchant struct{ ID string } `json:"merchant"`
		APIKey   string              `json:"api_key"`
	}
	mustJSON(t, out, &mc)
	t.Setenv("REFUNDD_TEST_PW", "a long enough password")
	code, out, errOut = runCLI(t, "user", "create", "--db", db, "--merchant", mc.Merchant.ID, "--email", "ops@souq.example",
		"--role", "viewer", "--password-env", "REFUNDD_TEST_PW")
	if code != 0 {
		t.Fatalf("user create: %s", errOut)
	}
	var uc struct {
		User struct{ ID string } `json:"user"`
	}
	mustJSON(t, out, &uc)
	for _, step := range []struct {
		cmd, want string
	}{{"disable", `"disabled": true`}, {"enable", `"disabled": false`}} {
		if code, out, errOut := runCLI(t, "user", step.cmd, "--db", db, uc.User.ID); code != 0 || !strings.Contains(out, step.want) {
			t.Fatalf("user %s: exit %d: %s %s", step.cmd, code, out, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "user", "reset-password", "--db", db, "--password-env", "REFUNDD_TEST_PW", uc.User.ID); code != 0 {
		t.Fatalf("user reset-password: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "user", "enable", "--db", db, "usr_missing"); code != 1 || !strings.Contains(errOut, "no such user") {
		t.Errorf("user enable of an unknown user: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "user", "enable", "--db", db); code != 2 || !strings.Contains(errOut, "USER_ID") {
		t.Errorf("user enable without USER_ID: exit %d: %s", code, errOut)
	}

	srv, err := server.Open(context.Background(), server.Config{DB: db, WorkerInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	p := refund.Principal{MerchantID: mc.Merchant.ID, Scopes: refund.MerchantScopes}
	page, err := srv.Service.ListAudit(context.Background(), p, refund.AuditFilter{ObjectID: uc.User.ID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Data {
		got = append(got, e.Action+" "+e.Before+"->"+e.After+" by "+e.Actor)
	}
	want := []string{"user.reset_password ->password reset by admin", "user.enable disabled->active by admin",
		"user.disable active->disabled by admin"} // newest first
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("the user's audit trail is %q, want %q", got, want)
	}
	if _, _, _, err := srv.Service.SignIn(context.Background(), "ops@souq.example", "a long enough password", ""); err != nil {
		t.Errorf("the enabled user cannot sign in: %v", err)
	}
}

// TestCLI_ServeRateLimitIsTheBurst: `--rate-limit N` (or REFUNDD_RATE_LIMIT)
// is N requests a second per key before 429 with Retry-After (DESIGN.md
// 9). The burst stayed at its default of 400, made for the default rate of
// 200, so a node told --rate-limit 3 let a key send 400 requests at once
// before its first 429. Now a rate set without --rate-burst bursts its
// own size; --rate-burst still wins.
func TestCLI_ServeRateLimitIsTheBurst(t *testing.T) {
	servingURL := regexp.MustCompile(`"url":"(http://[^"]+)"`)
	for _, tc := range []struct {
		name  string
		env   string
		flags []string
		burst int
	}{
		{"Flag", "", []string{"--rate-limit", "3"}, 3},
		{"Variable", "3", nil, 3},
		{"FlagAndBurst", "", []string{"--rate-limit", "3", "--rate-burst", "5"}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("REFUNDD_RATE_LIMIT", tc.env)
			}
			db := sqlitetest.URL(t)
			code, out, errOut := runCLI(t, "merchant", "create", "--db", db, "--name", "Souq")
			if code != 0 {
				t.Fatalf("merchant create: exit %d: %s", code, errOut)
			}
			var m struct {
				APIKey string `json:"api_key"`
			}
			mustJSON(t, out, &m)
			ctx, cancel := context.WithCancel(context.Background())
			errLog := &signalWriter{marker: "refundd serving", ready: make(chan struct{})}
			done := make(chan int, 1)
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--sweep-ages", "off"}, tc.flags...)
			go func() { done <- run(ctx, args, io.Discard, errLog) }()
			defer func() { cancel(); <-done }()
			select {
			case <-errLog.ready:
			case code := <-done:
				done <- code
				t.Fatalf("serve: exit %d: %s", code, errLog.String())
			}
			match := servingURL.FindStringSubmatch(errLog.String())
			if match == nil {
				t.Fatalf("no url in %s", errLog.String())
			}
			const sent = 12
			ok, limited := 0, 0
			start := time.Now()
			for range sent {
				req, _ := http.NewRequest("GET", match[1]+"/v1/orders", nil)
				req.Header.Set("Authorization", "Bearer "+m.APIKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					ok++
				case http.StatusTooManyRequests:
					limited++
					if resp.Header.Get("Retry-After") == "" {
						t.Errorf("429 without Retry-After")
					}
				default:
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			// The burst, and what the rate (3 a second) refilled meanwhile.
			most := tc.burst + int(math.Ceil(time.Since(start).Seconds()*3))
			if ok < tc.burst || ok > most || limited == 0 {
				t.Fatalf("%v: %d of %d requests answered 200, %d 429; want %d to %d answered, the rest 429",
					tc.flags, ok, sent, limited, tc.burst, most)
			}
		})
	}
}
