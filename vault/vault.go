// Package vault seals secrets at rest with AES-256-GCM under the node's
// secret key. A sealed value names the key that sealed it (the first bytes
// of the key's SHA-256), so a node given its previous key too can open old
// values while it re-seals them under the new one (rotation).
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// KeySize is the secret key's length: 32 bytes (AES-256).
const KeySize = 32

// Keyring seals with its current key and opens with any of its keys.
type Keyring struct {
	current string
	keys    map[string]cipher.AEAD
}

// ParseKey reads a key written as 64 hex digits or as standard base64 of
// 32 bytes, surrounding white space ignored.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, errors.New("vault: a secret key is 32 bytes, written as 64 hex digits or base64")
}

// ReadKeyFile reads a key file (see ParseKey).
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// NewKey makes a random key, hex encoded with a newline, for a key file.
func NewKey() (string, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b) + "\n", nil
}

// KeyID names a key without revealing it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("refundd vault key id\x00"), key...))
	return hex.EncodeToString(sum[:4])
}

// New returns a keyring sealing with current and opening with current and
// every previous key.
func New(current []byte, previous ...[]byte) (*Keyring, error) {
	k := &Keyring{keys: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, previous...) {
		if len(key) != KeySize {
			return nil, errors.New("vault: a secret key is 32 bytes")
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := KeyID(key)
		if i == 0 {
			k.current = id
		}
		k.keys[id] = aead
	}
	return k, nil
}

// CurrentID is the id of the key that seals.
func (k *Keyring) CurrentID() string { return k.current }

// Seal encrypts plaintext bound to aad: "keyid:base64(nonce|ciphertext)".
func (k *Keyring) Seal(plaintext, aad []byte) (string, error) {
	aead := k.keys[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, plaintext, aad)
	return k.current + ":" + base64.StdEncoding.EncodeToString(out), nil
}

// ErrUnknownKey: the value was sealed by a key this keyring does not hold.
var ErrUnknownKey = errors.New("vault: sealed by a key this node does not have (give it with --previous-secret-key-file)")

// Open decrypts a sealed value with the key it names. A value sealed for
// other aad, or altered, does not open.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	id, body, ok := strings.Cut(sealed, ":")
	if !ok {
		return nil, errors.New("vault: not a sealed value")
	}
	aead, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: key %s", ErrUnknownKey, id)
	}
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("vault: not a sealed value")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		return nil, errors.New("vault: the sealed value does not open with its key (altered, or moved from another account)")
	}
	return plain, nil
}

// Prefixes lists what a value sealed by each of the keyring's keys starts
// with ("keyid:"), sorted: one that starts with none of them does not open.
func (k *Keyring) Prefixes() []string {
	ps := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ps = append(ps, id+":")
	}
	slices.Sort(ps)
	return ps
}

// Current reports whether sealed was sealed by the current key.
func (k *Keyring) Current(sealed string) bool {
	id, _, _ := strings.Cut(sealed, ":")
	return id == k.current
}
