package main

import (
	"context"
	"flag"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/refund"
)

// operator acts for a merchant from the command line: audited as admin.
func operator(merchantID string) refund.Principal {
	return refund.Principal{MerchantID: merchantID, Scopes: []string{refund.ScopeRefundsRead, refund.ScopeSettingsWrite}}
}

func policyJSON(p *refund.RefundPolicy) map[string]any {
	t := p.ApprovalThreshold
	if t == nil {
		t = map[string]int64{}
	}
	return map[string]any{"refund_policy": map[string]any{"merchant_id": p.MerchantID, "approval_threshold": t,
		"older_than_days": p.OlderThanDays, "approval_expiry_seconds": int64(p.ApprovalExpiry / time.Second)}}
}

func runPolicyGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy get", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "merchant id")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		p, err := svc.GetRefundPolicy(ctx, operator(*merchant))
		if err != nil {
			return err
		}
		return printJSON(stdout, policyJSON(p))
	})
}

// runPolicySet changes what its flags name: --threshold CUR=MINOR sets
// that currency's threshold and keeps the others (repeatable; CUR=none
// removes one, --threshold none all before the others named),
// --older-than-days N, --expiry DURATION. Naming one currency must not
// drop another's: a merchant's large SAR refunds would go out without a
// second person. The core applies them in the policy's own transaction.
func runPolicySet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("policy set", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "merchant id")
	var thresholds multi
	fs.Var(&thresholds, "threshold", "approval threshold CURRENCY=MINOR_UNITS, e.g. SAR=50000, kept beside the other currencies' (repeatable; SAR=none removes one, none all)")
	older := fs.Int("older-than-days", 0, "every refund of an order older than this many days waits for approval (0: off; left out: unchanged)")
	expiry := fs.Duration("expiry", 0, "how long a refund waits for approval before it is canceled (e.g. 72h; left out: unchanged)")
	if err := parse(fs, args); err != nil {
		return err
	}
	// A flag given is passed on, for the core to apply or refuse (a
	// negative age, an expiry of 0); only one left out keeps the policy's.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var in refund.RefundPolicyInput
	for _, t := range thresholds {
		if t == "none" {
			in.ApprovalThreshold = &map[string]int64{}
			continue
		}
		cur, v, ok := strings.Cut(t, "=")
		if !ok || cur == "" {
			return usageError("--threshold takes CURRENCY=MINOR_UNITS, e.g. SAR=50000")
		}
		if in.Thresholds == nil {
			in.Thresholds = map[string]*int64{}
		}
		if v == "none" {
			in.Thresholds[strings.ToUpper(cur)] = nil
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return usageError("--threshold takes CURRENCY=MINOR_UNITS, e.g. SAR=50000")
		}
		in.Thresholds[strings.ToUpper(cur)] = &n
	}
	if given["older-than-days"] {
		in.OlderThanDays = older
	}
	if given["expiry"] {
		in.ApprovalExpiry = expiry
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		p, err := svc.PutRefundPolicy(ctx, operator(*merchant), in)
		if err != nil {
			return err
		}
		return printJSON(stdout, policyJSON(p))
	})
}
