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
// it just serves. p is the authenticated caller; the rules live in
// refund.Service.BeginIdempotent.
func Idempotent(svc *refund.Service, surface string, p refund.Principal, w http.ResponseWriter, r *http.Request,
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
	claim, err := svc.BeginIdempotent(r.Context(), p, key, requestHash(surface, r, body))
	if err != nil {
		fail(w, r, err)
		return
	}
	if claim.Replay != nil {
		w.Header().Set("Content-Type", claim.Replay.ContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(claim.Replay.Status)
		_, _ = w.Write(claim.Replay.Body)
		return
	}
	rec := &recorder{statusRecorder: statusRecorder{ResponseWriter: w}}
	serve(rec, r.WithContext(refund.WithClaim(r.Context(), claim)))
	reply := refund.Reply{Status: rec.status, ContentType: w.Header().Get("Content-Type"), Body: rec.buf.Bytes()}
	if rec.status == 0 || rec.overflow {
		reply = refund.Reply{} // release the key without storing
	}
	svc.CompleteIdempotent(r.Context(), claim, reply)
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

// recorder passes an answer through and keeps a copy to store.
type recorder struct {
	statusRecorder
	buf      bytes.Buffer
	overflow bool
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.buf.Len()+len(b) > maxStoredReply {
		rw.overflow = true
	} else if !rw.overflow {
		rw.buf.Write(b)
	}
	return rw.statusRecorder.Write(b)
}

// idempotent is Idempotent for the native API's creating routes, behind
// auth.
func (a *API) idempotent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		Idempotent(a.svc, "native", PrincipalFrom(r.Context()), w, r, a.fail, h)
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
