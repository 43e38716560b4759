package main

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// keyFlags are the secret key flags every command that opens sealed
// processor credentials takes.
type keyFlags struct {
	file, previous string
	// seal is --seal-secrets (server.Config.SealSecrets).
	seal bool
}

func (k *keyFlags) config(cfg *server.Config) {
	cfg.SecretKey = os.Getenv("REFUNDD_SECRET_KEY")
	if k.file != "" {
		cfg.SecretKey = "" // the flag wins over the environment
	}
	cfg.SecretKeyFile, cfg.PreviousSecretKeyFile, cfg.SealSecrets = k.file, k.previous, k.seal
}

func withKeyedService(ctx context.Context, db string, k keyFlags, fn func(*refund.Service) error) error {
	cfg := server.Config{DB: db, WorkerInterval: -1}
	k.config(&cfg)
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Stop(context.Background())
	return fn(srv.Service)
}

// runProcessorAdd adds a processor account. The credential comes from an
// environment variable or a file, never from the command line (which
// other users of the machine can read in the process list).
func runProcessorAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("processor add", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "merchant id")
	name := fs.String("name", "", "the account's name, which orders give as \"processor\"")
	kind := fs.String("kind", "", "gateway, sgate, upayments, paylink, techrar, stripe or acquirer")
	url := fs.String("url", "", "the processor API's base URL")
	credEnv := fs.String("credential-env", "", "environment variable holding the credential")
	credFile := fs.String("credential-file", "", "file holding the credential (trailing newline dropped)")
	def := fs.Bool("default", false, "orders of the merchant that name no account go here")
	var opts multi
	fs.Var(&opts, "option", "the kind's option or a limit, key=value (repeatable)")
	var k keyFlags
	fs.StringVar(&k.file, "secret-key-file", env("REFUNDD_SECRET_KEY_FILE", ""), "the node's secret key (or REFUNDD_SECRET_KEY)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var cred string
	switch {
	case *credEnv != "" && *credFile != "":
		return usageError("give the credential once: --credential-env or --credential-file")
	case *credEnv != "":
		v, ok := os.LookupEnv(*credEnv)
		if !ok || v == "" {
			return usageError("--credential-env: " + *credEnv + " is not set")
		}
		cred = v
	case *credFile != "":
		b, err := os.ReadFile(*credFile)
		if err != nil {
			return err
		}
		cred = strings.TrimRight(string(b), "\r\n")
	}
	options := map[string]string{}
	for _, o := range opts {
		key, v, ok := strings.Cut(o, "=")
		if !ok || key == "" {
			return usageError("--option takes key=value")
		}
		options[key] = v
	}
	return withKeyedService(ctx, *db, k, func(svc *refund.Service) error {
		a, err := svc.AddProcessorAccount(ctx, *merchant, refund.ProcessorAccountInput{Name: *name, Kind: *kind, URL: *url,
			Credential: cred, Options: options, Default: *def})
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"processor": api.ProcessorOut(a)})
	})
}

func runProcessorList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("processor list", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "merchant id")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *merchant == "" {
		return usageError("--merchant is required")
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		as, err := svc.ProcessorAccounts(ctx, *merchant)
		if err != nil {
			return err
		}
		out := []any{}
		for _, a := range as {
			out = append(out, api.ProcessorOut(a))
		}
		return printJSON(stdout, map[string]any{"processors": out})
	})
}

func runProcessorRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("processor remove", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "merchant id")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("processor remove takes one account name or id")
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		a, err := svc.RemoveProcessorAccount(ctx, *merchant, fs.Arg(0))
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"removed": api.ProcessorOut(a)})
	})
}

// runProcessorRotateKey re-seals every credential under the new key: run it
// with the new key as --secret-key-file and the old one as
// --previous-secret-key-file, then start the nodes with the new key.
func runProcessorRotateKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("processor rotate-key", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	var k keyFlags
	fs.StringVar(&k.file, "secret-key-file", "", "the new secret key")
	fs.StringVar(&k.previous, "previous-secret-key-file", "", "the key the credentials are sealed with now")
	fs.BoolVar(&k.seal, "seal-secrets", envBool("REFUNDD_SEAL_SECRETS"),
		"after the credentials, re-seal webhook and TOTP secrets under the new key (and seal clear ones), as the nodes' --seal-secrets does")
	if err := parse(fs, args); err != nil {
		return err
	}
	if k.file == "" || k.previous == "" {
		return usageError("rotate-key needs --secret-key-file (new) and --previous-secret-key-file (old)")
	}
	return withKeyedService(ctx, *db, k, func(svc *refund.Service) error {
		n, err := svc.RotateSecrets(ctx)
		if err != nil {
			return err
		}
		// Webhook and TOTP secrets after the credentials, and only with
		// --seal-secrets (nothing otherwise), as a node with the new key
		// would at its start.
		m, err := svc.SealSecrets(ctx)
		if err != nil {
			return err
		}
		n += m
		return printJSON(stdout, map[string]any{"resealed": n})
	})
}
