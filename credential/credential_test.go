package credential_test

import (
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/credential"
)

func TestPassword(t *testing.T) {
	var c credential.Argon2
	h, err := c.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := c.HashPassword("correct horse battery")
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
		if got := c.VerifyPassword(tc.pw, tc.hash); got != tc.ok {
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
	if !c.VerifyTOTP(code, secret, now) || !c.VerifyTOTP(code, secret, now.Add(30*time.Second)) {
		t.Fatal("a fresh code is refused")
	}
	if c.VerifyTOTP(code, secret, now.Add(5*time.Minute)) || c.VerifyTOTP("000000x", secret, now) {
		t.Fatal("an old or malformed code is accepted")
	}
}
