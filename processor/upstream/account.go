package upstream

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// CheckAccount validates what every connector needs of an account before it
// is built: an http or https base URL with a host and no user info (a
// password in a URL ends up in logs), no query or fragment (paths are
// appended to it), a credential, and only the options the kind knows.
// Errors name the kind and never quote the credential.
func CheckAccount(kind, rawURL, credential string, options map[string]string, known ...string) error {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil || rawURL == "":
		return fmt.Errorf("%s: the account's URL is not a URL", kind)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s: the account's URL must be http or https, not %q", kind, u.Scheme)
	case u.Host == "":
		return fmt.Errorf("%s: the account's URL has no host", kind)
	case u.User != nil:
		return fmt.Errorf("%s: the account's URL must not carry user info; put the secret in the credential", kind)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(rawURL, "?"):
		return fmt.Errorf("%s: the account's URL must not have a query or fragment", kind)
	case strings.TrimSpace(credential) == "":
		return fmt.Errorf("%s: the account has no credential", kind)
	case strings.ContainsAny(credential, "\r\n"):
		return fmt.Errorf("%s: the account's credential contains a line break", kind)
	}
	var unknown []string
	for k := range options {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		if len(known) == 0 {
			return fmt.Errorf("%s: unknown option %s (this kind takes none)", kind, strings.Join(unknown, ", "))
		}
		return fmt.Errorf("%s: unknown option %s (known: %s)", kind, strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return nil
}
