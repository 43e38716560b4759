package connector

import (
	"errors"
	"slices"
	"strings"

	"github.com/refundd/refundd/processor"
)

// Redacted stands in a processor's text for a credential it quoted.
const Redacted = "[redacted]"

// minPartial is the shortest run of a secret's first characters that is
// redacted on its own: a quote cut short (a processor's or a connector's
// clipping) leaves a prefix, which still narrows the key down.
const minPartial = 8

// redactor removes an account's secrets from text the processor wrote.
type redactor []string

// redactorOf returns the secrets of credential: the whole of it, and each
// part between colons long enough to be a secret of its own (Paylink's
// "apiId:secretKey"), longest first.
func redactorOf(credential string) redactor {
	var r redactor
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(r, s) {
			r = append(r, s)
		}
	}
	add(credential)
	if parts := strings.Split(credential, ":"); len(parts) > 1 {
		for _, p := range parts {
			if len(strings.TrimSpace(p)) >= minPartial {
				add(p)
			}
		}
	}
	slices.SortFunc(r, func(a, b string) int { return len(b) - len(a) })
	return r
}

// text is s without the secrets: every whole occurrence, and every run of
// at least minPartial of a secret's first characters (a quote cut short).
func (r redactor) text(s string) string {
	for _, secret := range r {
		if len(secret) < minPartial {
			s = strings.ReplaceAll(s, secret, Redacted)
			continue
		}
		var b strings.Builder
		rest := s
		for {
			i := strings.Index(rest, secret[:minPartial])
			if i < 0 {
				break
			}
			n := minPartial
			for n < len(secret) && i+n < len(rest) && rest[i+n] == secret[n] {
				n++
			}
			b.WriteString(rest[:i])
			b.WriteString(Redacted)
			rest = rest[i+n:]
		}
		if b.Len() > 0 {
			b.WriteString(rest)
			s = b.String()
		}
	}
	return s
}

// result is res with its message redacted. Its references (ARN, RRN,
// STAN, auth code) and response code are left as they came: they are
// matched against settlement reports and code tables, where a short
// credential's every occurrence replaced would garble them, and a
// processor quotes a key in words, not in a reference.
func (r redactor) result(res processor.Result) processor.Result {
	if len(r) == 0 {
		return res
	}
	res.Message = r.text(res.Message)
	return res
}

// err is err with its text redacted. A TransientError (what the core
// reads the code and message of) is copied with both redacted; another
// error whose text quotes a secret is wrapped so that its text is
// redacted and errors.Is still finds what it wraps.
func (r redactor) err(err error) error {
	if err == nil || len(r) == 0 {
		return err
	}
	var te *processor.TransientError
	if errors.As(err, &te) {
		t := *te
		t.Code, t.Message = r.text(t.Code), r.text(t.Message)
		if err == error(te) {
			return &t
		}
		return &redactedError{msg: r.text(err.Error()), err: &t}
	}
	if msg := r.text(err.Error()); msg != err.Error() {
		return &redactedError{msg: msg, err: err}
	}
	return err
}

// redactedError is an error whose text quoted a secret.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
