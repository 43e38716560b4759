// Command refundd is the refund engine: server, demo, migrations and admin
// commands. This file only parses flags and wires packages together.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	// The zone database inside the binary: merchants' time zones load on a
	// machine without /usr/share/zoneinfo (a distroless image).
	_ "time/tzdata"

	"github.com/refundd/refundd/dialect/paylink"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `refundd: a self-hosted refund engine

Usage:
  refundd serve    [--addr HOST:PORT] [--db URL] [--processor sandbox|URL] [--rate-limit N] (--help: all flags)
  refundd demo     [--addr HOST:PORT] [--db URL]
  refundd migrate  --db URL
  refundd bench    [--db URL | --target URL --key KEY] [--shape spread|hot] [--clients N | --rate R]
                   [--duration D] [--surface native|gateway|sgate|upayments|paylink|techrar] [--ceiling] [--json]
                   (--target with paylink: --partner ID:KEY --lookup KEY/VALUE; with techrar: --app-id N)
  refundd merchant create --db URL --name N [--cr X] [--email E] [--mobile M] [--account-no A] [--vat-number V] [--time-zone Z]
  refundd merchant set-time-zone --db URL --merchant ID --zone Asia/Kuwait
  refundd partner  create --db URL --name N --merchant ID [--merchant ID ...]
  refundd key      create --db URL (--merchant ID | --partner ID) [--scope S ...]
  refundd key      list   --db URL
  refundd key      revoke --db URL KEY_ID
  refundd user     create --db URL --merchant ID --email E --role viewer|refunder|approver|admin --password-env VAR
  refundd user     list   --db URL [--merchant ID]
  refundd user     disable|enable --db URL USER_ID
  refundd user     totp   --db URL [--code CODE] USER_ID
                   (without --code: a new secret's otpauth:// URL; with a code from it: the second factor on)
  refundd user     reset-password --db URL --password-env VAR USER_ID
  refundd policy   get    --db URL --merchant ID
  refundd policy   set    --db URL --merchant ID [--threshold SAR=50000 ...] [--older-than-days N] [--expiry 72h]
  refundd invoice-config get --db URL --merchant ID
  refundd invoice-config set --db URL --merchant ID [--serial-prefix P] [--seller-name N] [--vat-number V]
                         [--seller-crn CRN] [--seller-street S --seller-building-number B --seller-district D
                          --seller-city C --seller-postal-code P] [--zatca-enabled=true|false]
  refundd processor add  --db URL --merchant ID --name N --kind KIND --url BASE_URL
                         [--credential-env VAR | --credential-file FILE] [--option key=value ...] [--default]
  refundd processor list --db URL --merchant ID
  refundd processor remove --db URL --merchant ID NAME_OR_ID
  refundd processor rotate-key --db URL --secret-key-file NEW --previous-secret-key-file OLD [--seal-secrets]
  refundd sandbox serve  [--addr HOST:PORT] [--db sqlite:PATH] [--latency-ms N] [--error-rate R] [--drop-rate R]
                         [--late-rate R --late-ms N] [--void=false] [--idempotent=false] [--notify-url URL --notify-secret S] [--anomaly-rate R]
  refundd refunds  import --url URL --key KEY FILE.csv [--out RESULT.csv] [--concurrency N]
                   (FILE.csv columns: order_reference or order_id, amount as a decimal, reason, merchant_reference;
                   KEY needs the scopes orders:read and refunds:write)
  refundd refunds  export --url URL --key KEY [--from DATE] [--to DATE] [--out FILE.csv]
  refundd reconcile --url URL --key KEY REPORT.csv [--json] [--out RESULT.csv] [--map column=HEADER ...]
                    [--settlement-lag 27h] [--processor NAME] [--from DATE --to DATE]
                    [--exit-code] (exit status 3, not 0, when it ran and flagged rows: discrepancies found,
                    or the report's rows carry no dates: missing refunds not looked for)

Environment: REFUNDD_ADDR, REFUNDD_DB, REFUNDD_PROCESSOR (sandbox, or the URL of a sandbox service),
REFUNDD_TOKEN_SECRET (--token-secret: signs Paylink partner tokens; the same on every node),
REFUNDD_SECRET_KEY or REFUNDD_SECRET_KEY_FILE (--secret-key-file: seals processor credentials),
REFUNDD_SEAL_SECRETS=true (--seal-secrets: seals webhook and TOTP secrets too, once every node runs this version),
REFUNDD_RATE_LIMIT (--rate-limit), REFUNDD_LOG (--log), REFUNDD_METRICS_ALLOW (--metrics-allow),
REFUNDD_TRUSTED_PROXIES (--trusted-proxies),
REFUNDD_PUBLIC_URL (--public-url), REFUNDD_ZATCA_KEY_FILE (--zatca-key-file),
REFUNDD_PROCESSOR_WEBHOOK_SECRET (--processor-webhook-secret), REFUNDD_WEBHOOK_ALLOW_PRIVATE=true,
REFUNDD_SERVER_TIMING=true, OTEL_EXPORTER_OTLP_ENDPOINT (--otel-endpoint),
REFUNDD_URL and REFUNDD_KEY (refunds import/export, reconcile).

Exit status: 0 done, 1 failed, 2 usage error, 3 reconcile --exit-code found discrepancies (flagged rows)
or read a report without dates.
`

// run executes one command; it returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	if subs, ok := groups[cmd]; ok {
		if len(rest) == 0 || !slices.Contains(subs, rest[0]) {
			return groupHelp(cmd, subs, rest, stdout, stderr)
		}
		cmd, rest = cmd+" "+rest[0], rest[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "demo":
		err = runDemo(ctx, rest, stdout, stderr)
	case "migrate":
		err = runMigrate(ctx, rest, stdout, stderr)
	case "bench":
		err = runBench(ctx, rest, stdout, stderr)
	case "merchant create":
		err = runMerchantCreate(ctx, rest, stdout, stderr)
	case "merchant set-time-zone":
		err = runMerchantSetTimeZone(ctx, rest, stdout, stderr)
	case "partner create":
		err = runPartnerCreate(ctx, rest, stdout, stderr)
	case "key create":
		err = runKeyCreate(ctx, rest, stdout, stderr)
	case "key list":
		err = runKeyList(ctx, rest, stdout, stderr)
	case "key revoke":
		err = runKeyRevoke(ctx, rest, stdout, stderr)
	case "user create":
		err = runUserCreate(ctx, rest, stdout, stderr)
	case "user list":
		err = runUserList(ctx, rest, stdout, stderr)
	case "user disable", "user enable", "user reset-password", "user totp":
		err = runUserChange(ctx, strings.TrimPrefix(cmd, "user "), rest, stdout, stderr)
	case "policy get":
		err = runPolicyGet(ctx, rest, stdout, stderr)
	case "policy set":
		err = runPolicySet(ctx, rest, stdout, stderr)
	case "invoice-config get":
		err = runInvoiceConfigGet(ctx, rest, stdout, stderr)
	case "invoice-config set":
		err = runInvoiceConfigSet(ctx, rest, stdout, stderr)
	case "processor add":
		err = runProcessorAdd(ctx, rest, stdout, stderr)
	case "processor list":
		err = runProcessorList(ctx, rest, stdout, stderr)
	case "processor remove":
		err = runProcessorRemove(ctx, rest, stdout, stderr)
	case "processor rotate-key":
		err = runProcessorRotateKey(ctx, rest, stdout, stderr)
	case "sandbox serve":
		err = runSandboxServe(ctx, rest, stdout, stderr)
	case "refunds import":
		err = runRefundsImport(ctx, rest, stdout, stderr)
	case "refunds export":
		err = runRefundsExport(ctx, rest, stdout, stderr)
	case "reconcile":
		err = runReconcile(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "refundd: unknown command %q\n\n%s", strings.Join(args, " "), usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		var usageErr usageError
		fmt.Fprintf(stderr, "refundd: %s\n", errorText(cmd, err))
		if errors.As(err, &usageErr) {
			return 2
		}
		if errors.As(err, new(foundError)) {
			return 3
		}
		return 1
	}
	return 0
}

// groups are the commands that take a subcommand, and their subcommands.
var groups = map[string][]string{
	"merchant":       {"create", "set-time-zone"},
	"partner":        {"create"},
	"key":            {"create", "list", "revoke"},
	"user":           {"create", "list", "disable", "enable", "reset-password", "totp"},
	"policy":         {"get", "set"},
	"invoice-config": {"get", "set"},
	"processor":      {"add", "list", "remove", "rotate-key"},
	"sandbox":        {"serve"},
	"refunds":        {"import", "export"},
}

// groupHelp answers a group without a subcommand it has: its lines of the
// usage, on stdout for --help (`refundd key --help`, which
// docs/operations.md tells the reader to try), else on stderr with exit 2.
func groupHelp(group string, subs, rest []string, stdout, stderr io.Writer) int {
	help := "Usage:\n" + synopsis(group) + "\n`refundd " + group + " COMMAND --help` lists a command's flags.\n"
	names := strings.Join(subs[:len(subs)-1], ", ") + " or " + subs[len(subs)-1]
	if len(subs) == 1 {
		names = subs[0]
	}
	switch {
	case len(rest) > 0 && (rest[0] == "--help" || rest[0] == "-help" || rest[0] == "-h" || rest[0] == "help"):
		fmt.Fprint(stdout, help)
		return 0
	case len(rest) == 0:
		fmt.Fprintf(stderr, "refundd %s needs a command: %s\n\n%s", group, names, help)
	default:
		fmt.Fprintf(stderr, "refundd: unknown command %q (%s takes %s)\n\n%s", group+" "+rest[0], group, names, help)
	}
	return 2
}

type usageError string

func (e usageError) Error() string { return string(e) }

// foundError ends a command that ran to its end and found what a person
// must look at (reconcile's flagged rows): exit 3, so that a script or
// cron tells it from a clean run (0), a failure (1) and a usage error (2).
type foundError string

func (e foundError) Error() string { return string(e) }

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envFloat reads a number from the environment; an unset or unreadable
// variable gives def (serveFlags.check refuses an unreadable one).
func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return v
	}
	return def
}

// boolVars are the environment variables that give a boolean flag its
// default, and the flag; serveFlags.check refuses one that is no boolean
// unless the flag is given.
var boolVars = map[string]string{"REFUNDD_WEBHOOK_ALLOW_PRIVATE": "webhook-allow-private", "REFUNDD_SERVER_TIMING": "server-timing"}

// envBool reads a boolean (true, false, 1, 0, ...) from the environment;
// an unset or unreadable variable gives false.
func envBool(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		// The command's usage line first: what is not a flag (the file to
		// import, the key to revoke) is only there.
		fmt.Fprintf(stderr, "Usage of %s:\n%s\n", name, synopsis(name))
		fs.PrintDefaults()
	}
	return fs
}

// synopsis is the command's lines of the usage text: those naming it
// (`user totp` shares its line with disable and enable), and their continuations.
func synopsis(name string) string {
	words := strings.Fields(name)
	var b strings.Builder
	in := false
	for line := range strings.Lines(usage) {
		f := strings.Fields(line)
		switch {
		case len(f) > len(words) && f[0] == "refundd":
			in = true
			for i, w := range words {
				if !slices.Contains(strings.Split(f[i+1], "|"), w) {
					in = false
				}
			}
		case len(f) == 0 || !strings.HasPrefix(line, "   "):
			in = false
		}
		if in {
			b.WriteString(line)
		}
	}
	return b.String()
}

// parse parses a command that takes flags only. A word left over is
// refused: the flag package stops at it, so an unquoted name's second word
// would drop every flag behind it (a key's --scope) and the command would
// run without them.
func parse(fs *flag.FlagSet, args []string) error {
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected argument %q: %s takes flags only (quote a value with spaces)", fs.Arg(0), fs.Name()))
	}
	return nil
}

// parseArgs parses the flags of a command that takes arguments too.
func parseArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err.Error())
	}
	return nil
}

type serveFlags struct {
	addr, db, processor string
	processorTimeout    time.Duration
	lease               time.Duration
	maxInFlight         int
	settleDelay         time.Duration
	logFormat           string
	webhookAllowPrivate bool
	rateLimit           float64
	rateBurst           int
	otelEndpoint        string
	serverTiming        bool
	tokenSecret         string
	maxAttempts         int
	retryBackoff        time.Duration
	reviewPoll          time.Duration
	processorSecret     string
	sweepAges           string
	metricsAllow        string
	trustedProxies      string
	publicURL           string
	zatcaKeyFile        string
	secretKey           keyFlags
}

func (f *serveFlags) register(fs *flag.FlagSet, defDB string) {
	fs.StringVar(&f.addr, "addr", env("REFUNDD_ADDR", "127.0.0.1:8080"), "listen address")
	fs.StringVar(&f.db, "db", env("REFUNDD_DB", defDB), "database URL: sqlite:PATH or postgres://...")
	fs.StringVar(&f.processor, "processor", env("REFUNDD_PROCESSOR", "sandbox"), "sandbox (in-process) or the URL of an acquirer service such as refundd sandbox serve")
	fs.DurationVar(&f.processorTimeout, "processor-timeout", 10*time.Second, "deadline of one processor call")
	fs.DurationVar(&f.lease, "lease", 0, "how long a node owns a claimed refund before another takes over, longer than --processor-timeout (default processor timeout + 20s)")
	fs.IntVar(&f.maxInFlight, "max-inflight", 64, "cap on concurrent processor calls from this node")
	fs.IntVar(&f.maxAttempts, "max-attempts", 12, "processor submissions of a refund before it waits for review (requires_review)")
	fs.DurationVar(&f.retryBackoff, "retry-backoff", time.Second, "first retry delay after an unanswered submission, doubling up to 10m")
	fs.DurationVar(&f.reviewPoll, "review-poll", time.Hour, "how often a refund waiting for review is asked about in its first week (then daily); \"not executed\" voids it")
	fs.StringVar(&f.metricsAllow, "metrics-allow", env("REFUNDD_METRICS_ALLOW", "127.0.0.0/8,::1/128"),
		"networks (CIDR, comma-separated) that may read /metrics; any for everyone")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", env("REFUNDD_TRUSTED_PROXIES", ""),
		"reverse proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For names the client; none by default")
	fs.StringVar(&f.secretKey.file, "secret-key-file", env("REFUNDD_SECRET_KEY_FILE", ""),
		"32-byte key (hex or base64) that seals processor account credentials; or REFUNDD_SECRET_KEY")
	fs.StringVar(&f.secretKey.previous, "previous-secret-key-file", "",
		"the key before a rotation, to open credentials not yet re-sealed (refundd processor rotate-key)")
	fs.BoolVar(&f.secretKey.seal, "seal-secrets", envBool("REFUNDD_SEAL_SECRETS"),
		"with the secret key, store webhook and TOTP secrets sealed and seal the clear ones at start; turn it on once every node runs this version")
	fs.StringVar(&f.zatcaKeyFile, "zatca-key-file", env("REFUNDD_ZATCA_KEY_FILE", ""),
		"PEM ECDSA private key that signs invoices (ZATCA phase 2); default the published sandbox key")
	fs.StringVar(&f.publicURL, "public-url", env("REFUNDD_PUBLIC_URL", ""),
		"base URL clients reach this node at (behind a proxy: https://refunds.example.com), for URLs written into replies; default the listen address")
	fs.StringVar(&f.sweepAges, "sweep-ages", "1h,24h,168h", "ages at which a succeeded refund is asked about again, to find reversals nobody notified (off: never)")
	fs.StringVar(&f.processorSecret, "processor-webhook-secret", env("REFUNDD_PROCESSOR_WEBHOOK_SECRET", ""),
		"whsec_... secret that signs the processor's notifications (POST /v1/processor/notifications); off when empty")
	fs.DurationVar(&f.settleDelay, "settle-delay", 2*time.Second, "in-process sandbox: how long wallet (stcpay) refunds stay pending")
	fs.StringVar(&f.logFormat, "log", env("REFUNDD_LOG", "json"), "log format: json or text")
	fs.Float64Var(&f.rateLimit, "rate-limit", envFloat("REFUNDD_RATE_LIMIT", 200), "requests per second per API key on this node (0: unlimited)")
	fs.IntVar(&f.rateBurst, "rate-burst", 400, "burst allowance per API key (0: the rate, rounded up; the rate, rounded up, too when --rate-limit or REFUNDD_RATE_LIMIT is set and this is not)")
	fs.StringVar(&f.otelEndpoint, "otel-endpoint", env("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
		"OpenTelemetry: export traces to this OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318 (off when empty)")
	fs.BoolVar(&f.serverTiming, "server-timing", envBool("REFUNDD_SERVER_TIMING"),
		"answer every request with a Server-Timing header splitting its time into the refund core's phases (for refundd bench --trace; tells callers how the node spends its time)")
	fs.BoolVar(&f.webhookAllowPrivate, "webhook-allow-private", envBool("REFUNDD_WEBHOOK_ALLOW_PRIVATE"),
		"allow webhook and notify targets on loopback and private addresses")
	fs.StringVar(&f.tokenSecret, "token-secret", env("REFUNDD_TOKEN_SECRET", ""),
		"secret (32+ bytes, the same on every node) that signs Paylink partner tokens; default: random per process")
}

// check refuses flag values no default can stand in for. fs is the
// parsed flag set: a variable is checked only when its flag is not given,
// for the flag wins over the environment (as REFUNDD_LOG's bad value does
// not matter once --log is given).
func (f *serveFlags) check(fs *flag.FlagSet) error {
	if _, err := logger(f.logFormat, io.Discard); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	if v := os.Getenv("REFUNDD_RATE_LIMIT"); v != "" && !given["rate-limit"] {
		// The flag's default comes from it, where a typo would leave 200.
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return usageError(fmt.Sprintf("REFUNDD_RATE_LIMIT %q is not a number of requests per second", v))
		}
		given["rate-limit"] = true
	}
	if given["rate-limit"] && !given["rate-burst"] {
		// A rate of N is N requests a second before 429 (DESIGN.md 9):
		// the default burst of 400 belongs to the default rate of 200,
		// and let --rate-limit 5 take 400 requests before the first 429.
		f.rateBurst = 0 // the rate, rounded up
	}
	for _, name := range slices.Sorted(maps.Keys(boolVars)) {
		// A typo (yes, on) would leave the setting off without a word.
		if v := os.Getenv(name); v != "" && !given[boolVars[name]] {
			if _, err := strconv.ParseBool(v); err != nil {
				return usageError(fmt.Sprintf("%s %q is not a boolean (true or false)", name, v))
			}
		}
	}
	switch {
	case f.maxAttempts < 1:
		return usageError("--max-attempts must be at least 1")
	case f.retryBackoff <= 0:
		return usageError("--retry-backoff must be a positive duration such as 1s")
	case f.reviewPoll <= 0:
		return usageError("--review-poll must be a positive duration such as 1h")
	// The server puts its default in place of a value out of range; a
	// flag given one must not serve on what it did not say.
	case f.processorTimeout <= 0:
		return usageError("--processor-timeout must be a positive duration such as 10s")
	case f.lease < 0:
		return usageError("--lease must be a positive duration, or 0 for processor timeout + 20s")
	// A lease that ends before the call it covers could hand a refund
	// still at the processor to another node.
	case f.lease > 0 && f.lease <= f.processorTimeout:
		return usageError("--lease must be longer than --processor-timeout (" + f.processorTimeout.String() + ")")
	case f.maxInFlight < 1:
		return usageError("--max-inflight must be at least 1")
	case f.settleDelay < 0:
		return usageError("--settle-delay must not be negative")
	case !(f.rateLimit >= 0): // NaN too: it compares false with everything
		return usageError("--rate-limit must be a number, not negative (0: unlimited)")
	case f.rateBurst < 0:
		return usageError("--rate-burst must not be negative")
	// The server refuses it too, but as a failure to start (exit 1) that
	// names neither the flag nor its variable.
	case f.tokenSecret != "" && len(f.tokenSecret) < paylink.MinSecretLen:
		return usageError(fmt.Sprintf("--token-secret (REFUNDD_TOKEN_SECRET) must be at least %d bytes", paylink.MinSecretLen))
	}
	if _, err := f.proxies(); err != nil {
		return err
	}
	if _, err := f.metricsNets(); err != nil {
		return err
	}
	if f.publicURL != "" {
		u, err := url.Parse(f.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return usageError("--public-url must be an http or https base URL such as https://refunds.example.com")
		}
	}
	_, err := f.sweeps()
	return err
}

// metricsNets parses --metrics-allow.
func (f *serveFlags) metricsNets() ([]netip.Prefix, error) {
	if f.metricsAllow == "any" {
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, nil
	}
	var out []netip.Prefix
	for _, s := range strings.Split(f.metricsAllow, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, usageError("--metrics-allow must be CIDR networks such as 127.0.0.0/8,10.0.0.0/8, or any")
		}
		out = append(out, p)
	}
	return out, nil
}

// proxies parses --trusted-proxies: networks, or single addresses. A
// network with host bits (10.0.0.5/24) or an IPv4 one written as IPv6 is
// refused: the first trusts more than it names, the second nothing (the
// client's address is compared unmapped).
func (f *serveFlags) proxies() ([]netip.Prefix, error) {
	if strings.TrimSpace(f.trustedProxies) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, s := range strings.Split(f.trustedProxies, ",") {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if a, aerr := netip.ParseAddr(s); err != nil && aerr == nil && a.Zone() == "" {
			p, err = a.Unmap().Prefix(a.Unmap().BitLen())
		}
		if err != nil || p != p.Masked() || p.Addr().Is4In6() {
			return nil, usageError("--trusted-proxies must be the proxies' addresses or CIDR networks such as 10.0.0.5,192.168.0.0/24 (no host bits, IPv4 written as IPv4)")
		}
		out = append(out, p)
	}
	return out, nil
}

// sweeps parses --sweep-ages: increasing durations, or "off".
func (f *serveFlags) sweeps() ([]time.Duration, error) {
	if f.sweepAges == "off" {
		return []time.Duration{}, nil
	}
	var out []time.Duration
	for _, s := range strings.Split(f.sweepAges, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 || (len(out) > 0 && d <= out[len(out)-1]) {
			return nil, usageError("--sweep-ages must be increasing positive durations such as 1h,24h,168h, or off")
		}
		out = append(out, d)
	}
	return out, nil
}

// logger is the log of a --log format on w: json or text; any other
// format is refused, not taken for JSON.
func logger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	}
	return nil, usageError("--log must be json or text")
}

func (f *serveFlags) config(stderr io.Writer) server.Config {
	sweeps, _ := f.sweeps() // checked by check
	metricsNets, _ := f.metricsNets()
	proxies, _ := f.proxies()             // checked by check
	log, _ := logger(f.logFormat, stderr) // checked by check
	cfg := server.Config{Addr: f.addr, DB: f.db, Processor: f.processor, Log: log,
		ProcessorTimeout: f.processorTimeout, Lease: f.lease, MaxInFlight: f.maxInFlight, SettleDelay: f.settleDelay, WebhookAllowPrivate: f.webhookAllowPrivate,
		RateLimit: f.rateLimit, RateBurst: f.rateBurst, TracingEndpoint: f.otelEndpoint, ServerTiming: f.serverTiming,
		TokenSecret: f.tokenSecret, MaxAttempts: f.maxAttempts, RetryBackoff: f.retryBackoff, ReviewPoll: f.reviewPoll,
		ProcessorWebhookSecret: f.processorSecret, SweepAges: sweeps, MetricsAllow: metricsNets, TrustedProxies: proxies, PublicURL: f.publicURL, ZATCAKeyFile: f.zatcaKeyFile}
	f.secretKey.config(&cfg)
	return cfg
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlags("serve", stderr)
	f.register(fs, "sqlite:refundd.db")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.check(fs); err != nil {
		return err
	}
	cfg := f.config(stderr)
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		srv.Stop(context.Background())
		return err
	}
	cfg.Log.Info("refundd serving", "url", srv.URL(), "db", server.Redact(cfg.DB), "processor", cfg.Processor)
	return waitAndStop(ctx, srv, cfg.Log)
}

// waitAndStop blocks until ctx ends (SIGINT/SIGTERM), then shuts down
// gracefully: in-flight requests finish, the worker stops. The drain
// outlasts the longest refund request (server.DrainTimeout): one cut
// short goes unanswered, and its caller may send it again.
func waitAndStop(ctx context.Context, srv *server.Server, log *slog.Logger) error {
	<-ctx.Done()
	log.Info("shutting down", "drain", srv.DrainTimeout().String())
	sctx, cancel := context.WithTimeout(context.Background(), srv.DrainTimeout())
	defer cancel()
	return srv.Stop(sctx)
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := server.OpenStore(ctx, *db)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrated %s\n", server.Redact(*db))
	return st.Close()
}

// withService opens the database named by --db and runs fn on a service.
func withService(ctx context.Context, db string, fn func(*refund.Service) error) error {
	srv, err := server.Open(ctx, server.Config{DB: db, WorkerInterval: -1})
	if err != nil {
		return err
	}
	defer srv.Stop(context.Background())
	return fn(srv.Service)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func merchantJSON(m *refund.Merchant) map[string]any {
	return map[string]any{"id": m.ID, "object": "merchant", "app_id": m.AppID, "name": m.Name, "cr": m.CR,
		"email": m.Email, "mobile": m.Mobile, "account_no": m.AccountNo, "vat_number": m.VATNumber, "time_zone": m.TimeZone, "created_at": m.CreatedAt}
}

func keyJSON(k *refund.APIKey) map[string]any {
	j := map[string]any{"id": k.ID, "prefix": k.Prefix, "scopes": k.Scopes, "created_at": k.CreatedAt, "revoked_at": k.RevokedAt}
	if k.MerchantID != "" {
		j["merchant_id"] = k.MerchantID
	} else {
		j["partner_id"] = k.PartnerID
	}
	return j
}

func runMerchantCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("merchant create", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	var in refund.MerchantInput
	fs.StringVar(&in.Name, "name", "", "merchant name (required)")
	fs.StringVar(&in.CR, "cr", "", "commercial registration number")
	fs.StringVar(&in.Freelancer, "freelancer", "", "freelance licence number")
	fs.StringVar(&in.Email, "email", "", "email")
	fs.StringVar(&in.Mobile, "mobile", "", "mobile")
	fs.StringVar(&in.AccountNo, "account-no", "", "account number")
	fs.StringVar(&in.VATNumber, "vat-number", "", "VAT registration number (15 digits)")
	fs.StringVar(&in.TimeZone, "time-zone", refund.DefaultTimeZone, "IANA time zone the console shows dates in")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		m, key, err := svc.CreateMerchant(ctx, in)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"merchant": merchantJSON(m), "api_key": key})
	})
}

// runMerchantSetTimeZone sets the zone the console shows a merchant's
// dates in and counts its days in. The name is checked with
// time.LoadLocation against the zone database inside the binary before
// the database is opened.
func runMerchantSetTimeZone(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("merchant set-time-zone", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "merchant id (required)")
	zone := fs.String("zone", "", "IANA time zone name, e.g. Asia/Kuwait (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *merchant == "" || *zone == "" {
		return usageError("merchant set-time-zone needs --merchant ID and --zone NAME (e.g. Asia/Kuwait)")
	}
	if _, err := refund.LoadZone(*zone); err != nil {
		return usageError(fmt.Sprintf("--zone %q is not an IANA time zone name such as Asia/Riyadh or Asia/Kuwait", *zone))
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		m, err := svc.SetMerchantTimeZone(ctx, *merchant, *zone)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"merchant": merchantJSON(m)})
	})
}

func runPartnerCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("partner create", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	name := fs.String("name", "", "partner name (required)")
	var merchants multi
	fs.Var(&merchants, "merchant", "linked merchant id (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		p, key, err := svc.CreatePartner(ctx, *name, merchants)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"partner": map[string]any{"id": p.ID, "object": "partner", "name": p.Name,
			"merchant_ids": p.MerchantIDs, "created_at": p.CreatedAt}, "api_key": key})
	})
}

func runKeyCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("key create", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "merchant id")
	partner := fs.String("partner", "", "partner id")
	var scopes multi
	fs.Var(&scopes, "scope", "scope (repeatable; default: all of the owner's scopes)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*merchant == "") == (*partner == "") {
		return usageError("key create needs --merchant ID or --partner ID: a key belongs to exactly one of them")
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		k, raw, err := svc.CreateKey(ctx, *merchant, *partner, scopes)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"key": keyJSON(k), "api_key": raw})
	})
}

func runKeyList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("key list", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		ks, err := svc.ListKeys(ctx)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(ks))
		for _, k := range ks {
			out = append(out, keyJSON(k))
		}
		return printJSON(stdout, out)
	})
}

func runKeyRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("key revoke", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("key revoke takes one KEY_ID")
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		if err := svc.RevokeKey(ctx, fs.Arg(0)); err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"id": fs.Arg(0), "revoked": true})
	})
}
