package paylink

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

const (
	// tokenMargin is how long before its stated expiry a token is renewed,
	// for the clocks' skew and the call's own duration.
	tokenMargin = 30 * time.Second
	// tokenDefault is how long a token that states no expiry is kept; a
	// 401 renews it sooner.
	tokenDefault = 5 * time.Minute
)

// tokenCache holds the partner token. One fetch runs at a time; callers
// waiting for it share its token.
type tokenCache struct {
	mu    sync.Mutex
	tok   string
	until time.Time
	now   func() time.Time
	fetch func(ctx context.Context) (string, error)
}

// get returns a token valid for a while yet, fetching one when needed.
func (t *tokenCache) get(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.tok != "" && now.Before(t.until) {
		return t.tok, nil
	}
	tok, err := t.fetch(ctx)
	if err != nil {
		return "", err
	}
	t.tok, t.until = tok, now.Add(tokenDefault)
	if exp, ok := expiry(tok); ok && exp.Add(-tokenMargin).After(now) {
		t.until = exp.Add(-tokenMargin)
	}
	return tok, nil
}

// drop forgets tok after the processor refused it, unless another call
// already replaced it.
func (t *tokenCache) drop(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok == tok {
		t.tok = ""
	}
}

// expiry reads the exp claim of a JWT without verifying it: the client
// only needs to know when to renew, and the processor checks the rest.
func expiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return time.Time{}, false
	}
	exp, err := c.Exp.Int64()
	if err != nil || exp <= 0 || exp > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(exp, 0), true
}

type authBody struct {
	APIID        string `json:"apiId"`
	SecretKey    string `json:"secretKey"`
	PersistToken bool   `json:"persistToken"` // false: a short-lived token
}

// fetchToken asks the processor for a partner token. Whatever goes wrong,
// the refund was not sent: transient errors say NotExecuted, and a
// refusal of the credentials is a *declined with CodeAuthFailed.
func (c *Connector) fetchToken(ctx context.Context) (string, error) {
	resp, err := c.client.Do(ctx, http.MethodPost, authPath, authBody{APIID: c.apiID, SecretKey: c.secretKey}, "")
	if err != nil {
		if te, ok := err.(*processor.TransientError); ok {
			t := *te
			t.NotExecuted = true
			return "", &t
		}
		return "", &processor.TransientError{Code: "auth_unavailable", Message: err.Error(), NotExecuted: true}
	}
	return readToken(resp)
}

// readToken reads the auth endpoint's answer.
func readToken(resp *upstream.Response) (string, error) {
	res, err, ok := upstream.Classify(resp)
	switch {
	case ok && res != nil:
		return "", &declined{*res}
	case ok:
		te := *err.(*processor.TransientError)
		te.NotExecuted = true // the refund itself was never sent
		return "", &te
	case resp.Status >= 400:
		// A malformed or refused credential (400): the account's
		// credential is wrong, which no retry mends.
		p := problemOf(resp.Body)
		return "", &declined{processor.Result{Status: processor.Declined, ResponseCode: processor.CodeAuthFailed,
			Message: "the processor refused the partner credentials (HTTP " + itoa(resp.Status) + "): " + p.message}}
	}
	var body struct {
		IDToken string `json:"id_token"`
	}
	if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &body) != nil || body.IDToken == "" ||
		len(body.IDToken) > 8192 || !printable(body.IDToken) {
		return "", &processor.TransientError{Code: "auth_unreadable", NotExecuted: true,
			Message: "the processor's token answer (HTTP " + itoa(resp.Status) + ") holds no id_token"}
	}
	return body.IDToken, nil
}
