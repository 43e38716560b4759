package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/refundd/refundd/refund"
)

func userJSON(u *refund.User) map[string]any {
	return map[string]any{"id": u.ID, "merchant_id": u.MerchantID, "email": u.Email, "role": u.Role,
		"totp": u.TOTPSecret != "", "totp_pending": u.TOTPPending != "", "disabled": u.Disabled, "created_at": u.CreatedAt}
}

// password reads a password from the environment variable --password-env
// names: never from the command line, where ps and shell history see it.
func password(envVar string) (string, error) {
	if envVar == "" {
		return "", usageError("--password-env names the environment variable that holds the password")
	}
	pw := os.Getenv(envVar)
	if pw == "" {
		return "", usageError("the environment variable " + envVar + " is empty")
	}
	return pw, nil
}

func runUserCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("user create", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "merchant id")
	email := fs.String("email", "", "the user's email, used to sign in")
	role := fs.String("role", "", "viewer, refunder, approver or admin")
	pwEnv := fs.String("password-env", "", "environment variable holding the password (12+ characters)")
	if err := parse(fs, args); err != nil {
		return err
	}
	pw, err := password(*pwEnv)
	if err != nil {
		return err
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		u, err := svc.CreateUser(ctx, refund.UserInput{MerchantID: *merchant, Email: *email, Role: *role, Password: pw})
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"user": userJSON(u)})
	})
}

func runUserList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("user list", stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	merchant := fs.String("merchant", "", "only this merchant's users")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withService(ctx, *db, func(svc *refund.Service) error {
		us, err := svc.ListUsers(ctx, *merchant)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(us))
		for _, u := range us {
			out = append(out, userJSON(u))
		}
		return printJSON(stdout, out)
	})
}

// runUserChange serves user disable, enable, reset-password and totp (with
// --code, its confirmation): one USER_ID
// argument each. Each registers the flags it reads, and only those, so its
// --help lists what it takes and a flag it ignores is refused.
func runUserChange(ctx context.Context, what string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("user "+what, stderr)
	db := fs.String("db", env("REFUNDD_DB", "sqlite:refundd.db"), "database URL")
	var pwEnv, code *string
	var k keyFlags
	switch what {
	case "reset-password":
		pwEnv = fs.String("password-env", "", "environment variable holding the new password (12+ characters)")
	case "totp":
		code = fs.String("code", "", "the six-digit code the user's authenticator app shows for the new secret: turns the second factor on")
		// The nodes' key: the secret is stored sealed with it, and a
		// sealed one waiting for its code opens only with it.
		fs.StringVar(&k.file, "secret-key-file", env("REFUNDD_SECRET_KEY_FILE", ""), "the nodes' secret key (or REFUNDD_SECRET_KEY), which opens a sealed TOTP secret")
		fs.BoolVar(&k.seal, "seal-secrets", envBool("REFUNDD_SEAL_SECRETS"), "store the TOTP secret sealed with the key, as the nodes' --seal-secrets does")
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("user " + what + " takes one USER_ID")
	}
	id := fs.Arg(0)
	codeGiven := false
	fs.Visit(func(f *flag.Flag) { codeGiven = codeGiven || f.Name == "code" })
	if codeGiven && *code == "" {
		// Read as no code, it would start over: a new secret in place of
		// the one the user has just scanned.
		return usageError("user totp --code needs the code the authenticator app shows; leave --code out to start with a new secret")
	}
	var pw string
	if pwEnv != nil {
		// Refused before the database is opened, as user create does.
		var err error
		if pw, err = password(*pwEnv); err != nil {
			return err
		}
	}
	return withKeyedService(ctx, *db, k, func(svc *refund.Service) error {
		switch what {
		case "disable", "enable":
			u, err := svc.SetUserDisabled(ctx, id, what == "disable")
			if err != nil {
				return err
			}
			return printJSON(stdout, map[string]any{"user": userJSON(u)})
		case "reset-password":
			u, err := svc.ResetPassword(ctx, id, pw)
			if err != nil {
				return err
			}
			return printJSON(stdout, map[string]any{"user": userJSON(u)})
		default: // totp
			if *code != "" {
				u, err := svc.ConfirmTOTP(ctx, id, *code)
				if err != nil {
					return err
				}
				return printJSON(stdout, map[string]any{"user": userJSON(u)})
			}
			url, err := svc.StartTOTP(ctx, id)
			if err != nil {
				return err
			}
			// Shown once: the user adds it to an authenticator app, and
			// the second factor is on only when a code from it comes back.
			return printJSON(stdout, map[string]any{"id": id, "totp_url": url,
				"next": "refundd user totp --db URL --code CODE " + id + " with a code the app shows for it turns it on; until then the user signs in as before"})
		}
	})
}
