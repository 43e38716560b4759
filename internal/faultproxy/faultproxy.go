// Package faultproxy is an HTTP proxy for tests that stands between a
// client and a real server and loses what the client needs to know: it
// forwards a request and then drops the connection instead of the reply,
// or forwards it and answers 502, or answers 503 without forwarding. The
// server did the work each time but the first; the client cannot tell.
//
// It is imported only by tests.
package faultproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Fault is what the proxy does with one request.
type Fault int

const (
	// Pass forwards the request and returns the reply.
	Pass Fault = iota
	// DropReply forwards the request, then closes the connection without
	// a reply.
	DropReply
	// BadGatewayAfter forwards the request, then answers 502 instead of
	// the reply.
	BadGatewayAfter
	// Unavailable answers 503 without forwarding.
	Unavailable
)

// Proxy forwards to one server.
type Proxy struct {
	URL    string
	target string
	mu     sync.Mutex
	rule   func(r *http.Request, body []byte) Fault
	log    []Entry
}

// Entry is one request the proxy saw and what it did.
type Entry struct {
	Method, Path string
	Fault        Fault
	Status       int // the server's status; 0 when not forwarded or it failed
}

// Start runs a proxy to target (a base URL) until the test ends.
func Start(tb testing.TB, target string) *Proxy {
	p := &Proxy{target: strings.TrimRight(target, "/")}
	ts := httptest.NewServer(http.HandlerFunc(p.serve))
	tb.Cleanup(ts.Close)
	p.URL = ts.URL
	return p
}

// SetRule decides each request's fault from now on (nil: pass all).
func (p *Proxy) SetRule(rule func(r *http.Request, body []byte) Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rule = rule
}

// FirstN answers fault for the first n requests that match, then passes.
func FirstN(n int, fault Fault, match func(r *http.Request, body []byte) bool) func(*http.Request, []byte) Fault {
	var mu sync.Mutex
	left := n
	return func(r *http.Request, body []byte) Fault {
		mu.Lock()
		defer mu.Unlock()
		if left > 0 && match(r, body) {
			left--
			return fault
		}
		return Pass
	}
}

// Log returns what the proxy saw.
func (p *Proxy) Log() []Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Entry(nil), p.log...)
}

// Count counts entries with the fault.
func (p *Proxy) Count(f Fault) int {
	n := 0
	for _, e := range p.Log() {
		if e.Fault == f {
			n++
		}
	}
	return n
}

var client = &http.Client{Transport: &http.Transport{Proxy: nil}}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	fault := Pass
	if p.rule != nil {
		fault = p.rule(r, body)
	}
	p.mu.Unlock()
	e := Entry{Method: r.Method, Path: r.URL.Path, Fault: fault}
	defer func() {
		p.mu.Lock()
		p.log = append(p.log, e)
		p.mu.Unlock()
	}()
	if fault == Unavailable {
		http.Error(w, `{"message":"upstream unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	resp, err := client.Do(out)
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e.Status = resp.StatusCode
	switch fault {
	case DropReply:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case BadGatewayAfter:
		http.Error(w, `{"message":"bad gateway"}`, http.StatusBadGateway)
		return
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(reply)
}
