package upstream_test

import (
	"strings"
	"testing"

	"github.com/refundd/refundd/processor/upstream"
)

func TestCheckAccount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, credential string
		options               map[string]string
		known                 []string
		err                   string // part of the error, "" for none
	}{
		{"OK", "https://api.example/v1", "s3cr3t-v", nil, nil, ""},
		{"KnownOption", "http://127.0.0.1:9000", "s3cr3t-v", map[string]string{"mode": "live"}, []string{"mode"}, ""},
		{"Empty", "", "s3cr3t-v", nil, nil, "not a URL"},
		{"Relative", "/v1", "s3cr3t-v", nil, nil, "http or https"},
		{"Scheme", "ftp://api.example", "s3cr3t-v", nil, nil, "http or https"},
		{"NoHost", "https://", "s3cr3t-v", nil, nil, "no host"},
		{"UserInfo", "https://me:pw@api.example", "s3cr3t-v", nil, nil, "user info"},
		{"Query", "https://api.example/?k=1", "s3cr3t-v", nil, nil, "query"},
		{"Fragment", "https://api.example/#x", "s3cr3t-v", nil, nil, "query or fragment"},
		{"NoCredential", "https://api.example", "  ", nil, nil, "no credential"},
		{"CredentialLineBreak", "https://api.example", "s3cr\n3t-v", nil, nil, "line break"},
		{"UnknownOption", "https://api.example", "s3cr3t-v", map[string]string{"b": "1", "a": "2"}, nil, "unknown option a, b (this kind takes none)"},
		{"UnknownOfKnown", "https://api.example", "s3cr3t-v", map[string]string{"z": "1"}, []string{"mode"}, "known: mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := upstream.CheckAccount("kind", tt.url, tt.credential, tt.options, tt.known...)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("want no error, got %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("want an error with %q, got %v", tt.err, err)
			case err != nil && strings.Contains(err.Error(), "s3cr3t-v"):
				t.Fatalf("the error quotes the credential: %v", err)
			}
		})
	}
}
