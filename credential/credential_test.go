package credential_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/credential"
)

func TestPassword(t *testing.T) {
	var c credential.Argon2
	h, err := c.HashPassword(context.Background(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := c.HashPassword(context.Background(), "correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || h == h2 {
		t.Fatalf("hash %q (salted: %v)", h, h != h2)
	}
	for _, tc := range []struct {
		pw, hash string
		ok       bool
	}{
		{"correct horse battery", h, true},
		{"correct horse batterY", h, false},
		{"", h, false},
		{"correct horse battery", strings.Replace(h, "t=2", "t=3", 1), false},
		{"correct horse battery", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", false},
		{"correct horse battery", "not a hash", false},
		{"correct horse battery", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$aGFzaA", false},
	} {
		if got := c.VerifyPassword(context.Background(), tc.pw, tc.hash); got != tc.ok {
			t.Errorf("VerifyPassword(%q, %q) = %v", tc.pw, tc.hash, got)
		}
	}
}

func TestTOTP(t *testing.T) {
	var c credential.Argon2
	secret, url, err := c.NewTOTP("ops@souq.example")
	if err != nil || !strings.HasPrefix(url, "otpauth://totp/refundd:ops@souq.example?") {
		t.Fatalf("%q %v", url, err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	code, err := credential.Code(secret, now)
	if err != nil {
		t.Fatal(err)
	}
	// Accepted within one step either way, always as the step it is the
	// code of (SignIn takes each step once).
	want := now.Unix() / 30
	for _, at := range []time.Time{now.Add(-30 * time.Second), now, now.Add(30 * time.Second)} {
		if step, ok := c.VerifyTOTP(code, secret, at); !ok || step != want {
			t.Fatalf("at %v: step %d %v, want %d true", at.Sub(now), step, ok, want)
		}
	}
	if step, ok := c.VerifyTOTP(" "+code+"\n", secret, now); !ok || step != want {
		t.Fatal("a code with spaces around it is refused")
	}
	for _, bad := range []struct {
		code string
		at   time.Time
	}{{code, now.Add(5 * time.Minute)}, {code, now.Add(-time.Minute)}, {"000000x", now}, {code[:5], now}, {"", now}} {
		if _, ok := c.VerifyTOTP(bad.code, secret, bad.at); ok {
			t.Fatalf("%q at %v is accepted", bad.code, bad.at.Sub(now))
		}
	}
}
