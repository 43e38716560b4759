package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/refundd/refundd/refund"
)

// Middleware wraps the whole HTTP surface: request ids, panic recovery,
// access log. Surfaces with other error shapes sit behind it too, so a
// panic answers a bare 500 that names the request id and nothing else.
// proxies are the reverse proxies whose X-Forwarded-For is believed (see
// ClientAddr).
func Middleware(next http.Handler, log *slog.Logger, proxies ...netip.Prefix) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !plainRequestID(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = "req_" + hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		// The core records who called from where in its audit trail, and
		// counts failed authentications per address.
		r = r.WithContext(refund.WithRequest(r.Context(), refund.RequestInfo{ID: id, IP: ClientAddr(r, proxies)}))
		rec := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				log.Error("panic serving request", "request_id", id, "method", r.Method, "path", LogPath(r), "panic", v)
				if rec.status == 0 {
					writeJSON(rec, http.StatusInternalServerError, envelope{errorBody{Code: refund.EInternal, Message: "internal error"}})
				}
			}
			log.Info("request", "request_id", id, "method", r.Method, "path", LogPath(r), "status", rec.status,
				"duration_ms", time.Since(start).Milliseconds())
		}()
		r.Body = http.MaxBytesReader(rec, r.Body, MaxBodyBytes+1)
		next.ServeHTTP(rec, r)
	})
}

// ClientAddr is the address a request came from: its connection's, or,
// when that is one of proxies, the nearest address in X-Forwarded-For that
// is not. Each proxy appends the address it was called from, so the entries
// right of the first untrusted one were written by trusted proxies and
// everything left of it by the client, who can write anything: taking the
// leftmost would let any client pick the address its failed sign-ins and
// key guesses count against. What cannot be told (an entry that is not an
// address, such as a proxy's "unknown", or more hops than maxHops) is
// UnknownClient, which no allowed network holds and whose limits every
// such client shares: never the last proxy's address, which a proxy on
// the same host would make loopback.
func ClientAddr(r *http.Request, proxies []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !within(addr, proxies) {
		return host
	}
	hops := r.Header.Values("X-Forwarded-For")
	n := 0
	for i := len(hops) - 1; i >= 0; i-- {
		rest := hops[i]
		if strings.TrimSpace(rest) == "" {
			continue // an empty header names nobody: as if not sent
		}
		for more := true; more; {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, more = rest, false
			}
			if n++; n > maxHops {
				return UnknownClient
			}
			a, err := parseHop(strings.TrimSpace(entry))
			if err != nil {
				return UnknownClient
			}
			if addr = a; !within(addr, proxies) {
				return addr.String()
			}
		}
	}
	return addr.String() // only proxies: one of them asked itself
}

// UnknownClient is ClientAddr's answer when a trusted proxy's header does
// not say who the client is.
const UnknownClient = "unknown"

// maxHops bounds the proxies a request may pass: a longer chain is a
// client's header, walked for nothing.
const maxHops = 32

// parseHop reads one X-Forwarded-For entry: an address, or one with a
// port, as some balancers write it; zones dropped (a prefix holds no
// address with one) and IPv4 unmapped.
func parseHop(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return a, err
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap(), nil
}

// AddrIn reports whether s is an address in one of nets (its zone
// dropped, IPv4 unmapped); "" and UnknownClient are in none.
func AddrIn(s string, nets []netip.Prefix) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && within(a, nets)
}

func within(a netip.Addr, nets []netip.Prefix) bool {
	a = a.WithZone("").Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// plainRequestID reports whether a caller's X-Request-Id can be kept as
// ours: 1-64 visible ASCII characters. It goes into logs, the audit trail,
// events and the headers of webhooks and acquirer calls, so anything else
// (bytes PostgreSQL refuses as text, which failed the request's every
// write) is replaced, never refused: a header is no part of the request.
func plainRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= 0x20 || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// LogPath is a request's path as it may be logged: the segment that
// carries personal data (Paylink's merchant {value}: a mobile number or an
// e-mail address) is masked. Every surface logs paths through it.
func LogPath(r *http.Request) string {
	if v := r.PathValue("value"); v != "" {
		return strings.Replace(r.URL.Path, "/"+v+"/", "/***/", 1)
	}
	return r.URL.Path
}
