package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"

	"github.com/refundd/refundd/refund"
)

// maxStoredReply bounds an answer kept for replay. A larger one (an order
// with thousands of refunds, on the gateway surface) is not stored: a
// retry then runs again and finds, through the key's link, what the first
// run created.
const maxStoredReply = 1 << 20

// Idempotent serves a creating request once per Idempotency-Key on every
// surface: the first answer (status and body, refusals included) is stored
// with the key and replayed to every retry of the same request; the same key
// with another request, or while the first one is still running, is
// refused through fail, in the surface's own error shape. Without the header
// it just serves. p is the authenticated caller and scope what the request
// needs: a caller without it is refused before the key is looked at. The
// rules live in refund.Service.BeginIdempotent.
//
// The key is not looked up first (refund.Service.ClaimIdempotent): the
// request runs, and its first write claims the key or finds it taken. An
// answer from a request that claimed the key goes out as it is written.
// Any other (refused before any write, or the key was taken) is held back
// and settled once the request has run: the key is looked up, and the
// held answer goes out only if the key has no row yet; otherwise the
// stored answer is replayed, the key's refusal given, or, when the first
// request died, the request run again in its place. A fresh key, nearly
// every request, costs no lookup. A held 401 or 403 (the request needed
// another scope too) goes out as it is: a caller refused is not answered
// with the key's answer, and its refusal is not stored as the key's.
func Idempotent(svc *refund.Service, surface, scope string, p refund.Principal, w http.ResponseWriter, r *http.Request,
	fail func(http.ResponseWriter, *http.Request, error), serve http.HandlerFunc) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || p.MerchantID == "" {
		serve(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil || len(body) > MaxBodyBytes {
		serve(w, r) // the surface reports the oversized or unreadable body
		return
	}
	hash := requestHash(surface, r, body)
	claim, err := svc.ClaimIdempotent(p, scope, key, hash)
	if err != nil {
		fail(w, r, err)
		return
	}
	ans := run(w, r, claim, body, serve)
	if !ans.through && !refund.RefusesCaller(ans.status) {
		// Not known to be the key's answer: ask the key.
		settled, err := svc.BeginIdempotent(r.Context(), p, scope, key, hash)
		switch {
		case err != nil:
			fail(w, r, err)
			return
		case settled.Replay != nil:
			w.Header().Set("Content-Type", settled.Replay.ContentType)
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(settled.Replay.Status)
			_, _ = w.Write(settled.Replay.Body)
			return
		case settled.Written():
			// Taken over from a request that died before it answered: run
			// again as that one, finding through the key what it created.
			claim, ans = settled, run(w, r, settled, body, serve)
		}
	}
	ans.send()
	reply := refund.Reply{Status: ans.status, ContentType: ans.contentType(), Body: ans.buf.Bytes()}
	if ans.status == 0 || ans.size > maxStoredReply {
		reply = refund.Reply{} // release the key without storing
	}
	svc.CompleteIdempotent(r.Context(), claim, reply)
}

// run serves r once under claim, into an answer that passes through to w
// as soon as the request has written the key's row, and is held otherwise.
func run(w http.ResponseWriter, r *http.Request, claim *refund.Claim, body []byte, serve http.HandlerFunc) *answer {
	ans := &answer{w: w, claim: claim, h: http.Header{}}
	r = r.WithContext(refund.WithClaim(r.Context(), claim))
	r.Body = io.NopCloser(bytes.NewReader(body))
	serve(ans, r)
	if !ans.through && claim.Written() {
		ans.send() // answered before its write claimed the key: still the key's
	}
	return ans
}

// answer is a surface's answer to an idempotent request: passed through to
// w once the request holds its key (through), held back until then. It
// keeps what it passes to store it (up to maxStoredReply: a larger answer
// is not stored), and all of what it holds.
type answer struct {
	w       http.ResponseWriter
	claim   *refund.Claim
	h       http.Header // the surface's headers while held
	status  int
	buf     bytes.Buffer
	size    int // bytes written in all
	through bool
}

func (a *answer) Header() http.Header {
	if a.through {
		return a.w.Header()
	}
	return a.h
}

func (a *answer) WriteHeader(code int) {
	if a.status != 0 {
		return
	}
	a.status = code
	if a.claim.Written() {
		a.pass()
		a.w.WriteHeader(code)
	}
}

func (a *answer) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.WriteHeader(http.StatusOK)
	}
	a.size += len(b)
	if !a.through || a.size <= maxStoredReply {
		a.buf.Write(b)
	}
	if a.through {
		return a.w.Write(b)
	}
	return len(b), nil
}

// pass moves the held headers to w: what is written from now on goes
// through.
func (a *answer) pass() {
	for k, v := range a.h {
		a.w.Header()[k] = v
	}
	a.through = true
}

// send writes a held answer to w.
func (a *answer) send() {
	if a.through {
		return
	}
	a.pass()
	if a.status != 0 {
		a.w.WriteHeader(a.status)
		_, _ = a.w.Write(a.buf.Bytes())
	}
}

func (a *answer) contentType() string {
	if ct := a.h.Get("Content-Type"); ct != "" {
		return ct
	}
	return a.w.Header().Get("Content-Type")
}

// requestHash identifies a request for its key: surface, method, path,
// query and body, byte for byte.
func requestHash(surface string, r *http.Request, body []byte) string {
	h := sha256.New()
	for _, part := range []string{surface, r.Method, r.URL.Path, r.URL.RawQuery} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// idempotent is Idempotent for the native API's creating routes, behind
// auth; scope is what the route needs.
func (a *API) idempotent(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		Idempotent(a.svc, "native", scope, PrincipalFrom(r.Context()), w, r, a.fail, h)
	}
}

// KeyReference is the refund reference a surface without a reference field
// of its own takes from the request's Idempotency-Key, so a client (another
// refundd's connector, whose key is its refund id) finds its refund under
// that reference. "" when the key is absent or not a valid reference.
func KeyReference(r *http.Request) string {
	if k := r.Header.Get("Idempotency-Key"); refund.ValidReference(k) {
		return k
	}
	return ""
}
