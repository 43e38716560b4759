package invoice

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/refundd/refundd/refund"
)

// sandboxKeyPEM signs documents unless a key is configured. It is a
// sandbox key, published here on purpose: documents it signs prove nothing
// to anyone, as a ZATCA sandbox's do not. Production reporting signs with
// the key of the merchant's ZATCA cryptographic stamp identifier (CSID).
const sandboxKeyPEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguqY2+xF8/iCYhtaF
Q9hdOvE2/FDnnxY6acMwMiKJqFmhRANCAAQAmRv6yIYfVGELoamFiiwXNTthPvvo
Wly9l3qqjbSY4JnDqyNB5b17M8tq+NQadoPh4vuh7jNFMZkEPnfuw3HN
-----END PRIVATE KEY-----`

// SandboxKey is the key documents are signed with by default.
func SandboxKey() *ecdsa.PrivateKey {
	k, err := ParseKey([]byte(sandboxKeyPEM))
	if err != nil {
		panic("invoice: the sandbox key does not parse: " + err.Error())
	}
	return k
}

// ParseKey reads an ECDSA private key from PEM (PKCS #8 or SEC 1 "EC
// PRIVATE KEY").
func ParseKey(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("invoice: no PEM block in the key")
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("invoice: the key is not an ECDSA private key: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("invoice: the key is not an ECDSA private key")
	}
	return ec, nil
}

// LoadKey reads ParseKey's PEM from a file.
func LoadKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKey(b)
}

// WithKey returns is signing with k.
func (is *Issuer) WithKey(k *ecdsa.PrivateKey) *Issuer {
	c := *is
	c.key = k
	return &c
}

// Seal computes inv's hash and signature (phase 2), its ICV and previous
// hash already set. The hash is the base64 SHA-256 of the document as
// refundd renders it without its QR code (the QR carries the hash); the
// signature is ECDSA with SHA-256 over the hash's bytes, as ZATCA's
// cryptographic stamp is, in ASN.1 DER, base64.
//
// What ZATCA's own SDK does differently: it hashes the C14N canonical form
// of the XML without its UBL extensions and signature block, and the key is
// secp256k1 with an X.509 certificate from ZATCA (QR tag 9). refundd's
// serialization is deterministic, so its hash can be recomputed from the
// served XML (HashXML), but it is not byte-compatible with the SDK's, and
// the Go standard library has no secp256k1: the default key is P-256.
func (is *Issuer) Seal(inv *refund.Invoice) error {
	b, err := render(inv, "")
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	inv.Hash = base64.StdEncoding.EncodeToString(sum[:])
	digest := sha256.Sum256(sum[:])
	sig, err := ecdsa.SignASN1(rand.Reader, is.key, digest[:])
	if err != nil {
		return fmt.Errorf("invoice: sign %s: %w", inv.Serial, err)
	}
	inv.Signature = base64.StdEncoding.EncodeToString(sig)
	inv.PublicKey = base64.StdEncoding.EncodeToString(is.PublicKey())
	return nil
}

// PublicKey is the DER SubjectPublicKeyInfo of the signing key, as the QR
// code carries it (tag 8); each document keeps the one that signed it.
func (is *Issuer) PublicKey() []byte {
	b, err := x509.MarshalPKIXPublicKey(&is.key.PublicKey)
	if err != nil {
		panic("invoice: marshal public key: " + err.Error())
	}
	return b
}
