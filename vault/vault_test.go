package vault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/refundd/refundd/vault"
)

func key(t *testing.T) []byte {
	t.Helper()
	s, err := vault.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := vault.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k1, k2 := key(t), key(t)
	ring, err := vault.New(k1)
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("account-1")
	sealed, err := ring.Seal([]byte("sk_live_secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "sk_live") {
		t.Fatalf("sealed value shows the secret: %s", sealed)
	}
	again, _ := ring.Seal([]byte("sk_live_secret"), aad)
	if again == sealed {
		t.Fatal("two seals of one secret are equal: the nonce is not random")
	}
	tests := []struct {
		name    string
		ring    []([]byte)
		sealed  string
		aad     string
		wantErr bool
		unknown bool
	}{
		{"same key", [][]byte{k1}, sealed, "account-1", false, false},
		{"other account", [][]byte{k1}, sealed, "account-2", true, false},
		{"altered", [][]byte{k1}, sealed[:len(sealed)-4] + "AAAA", "account-1", true, false},
		{"other key", [][]byte{k2}, sealed, "account-1", true, true},
		{"rotated: old key as previous", [][]byte{k2, k1}, sealed, "account-1", false, false},
		{"not sealed", [][]byte{k1}, "plain", "account-1", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := vault.New(tc.ring[0], tc.ring[1:]...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Open(tc.sealed, []byte(tc.aad))
			if (err != nil) != tc.wantErr {
				t.Fatalf("Open err = %v, want error %v", err, tc.wantErr)
			}
			if tc.unknown != errors.Is(err, vault.ErrUnknownKey) {
				t.Fatalf("Open err = %v, unknown key %v", err, tc.unknown)
			}
			if err == nil && string(got) != "sk_live_secret" {
				t.Fatalf("Open = %q", got)
			}
		})
	}
	rotated, _ := vault.New(k2, k1)
	if rotated.Current(sealed) {
		t.Fatal("a value sealed by the previous key reported current")
	}
	resealed, _ := rotated.Seal([]byte("x"), aad)
	if !rotated.Current(resealed) {
		t.Fatal("a value sealed by the current key reported not current")
	}
}

func TestParseKey(t *testing.T) {
	for _, s := range []string{"", "abc", strings.Repeat("a", 63), strings.Repeat("zz", 32)} {
		if _, err := vault.ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
	if _, err := vault.ParseKey(strings.Repeat("ab", 32) + "\n"); err != nil {
		t.Errorf("hex key refused: %v", err)
	}
	if _, err := vault.ParseKey("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="); err != nil {
		t.Errorf("base64 key refused: %v", err)
	}
}
