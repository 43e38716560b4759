package api

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/refundd/refundd/refund"
)

// ServerTiming answers every request with a Server-Timing header (W3C
// Server Timing) that splits its time into the phases the refund core
// reported (refund.Tracer) and the whole request ("total"), each as
// name;dur=milliseconds. refundd bench --trace reads it back.
//
// The answer is buffered so that the header can also carry the phases that
// run after the handler wrote its body (storing an idempotent answer). It
// is a measuring tool, off unless asked for: it tells any caller how the
// node spends its time.
func ServerTiming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ph := &phases{}
		buf := &bufferedWriter{ResponseWriter: w}
		next.ServeHTTP(buf, r.WithContext(refund.WithTracer(r.Context(), ph)))
		w.Header().Set("Server-Timing", ph.header(time.Since(start)))
		if buf.status == 0 {
			buf.status = http.StatusOK
		}
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
	})
}

// phases adds up the durations the core reports for one request, in the
// order it first reports them.
type phases struct {
	mu    sync.Mutex
	names []string
	durs  map[string]time.Duration
}

func (p *phases) Phase(name string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.durs == nil {
		p.durs = map[string]time.Duration{}
	}
	if _, ok := p.durs[name]; !ok {
		p.names = append(p.names, name)
	}
	p.durs[name] += d
}

// header renders the phases and the total as a Server-Timing value.
func (p *phases) header(total time.Duration) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, n := range p.names {
		b.WriteString(n + ";dur=" + msString(p.durs[n]) + ", ")
	}
	b.WriteString("total;dur=" + msString(total))
	return b.String()
}

// msString is d in milliseconds with microsecond precision.
func msString(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
}

// bufferedWriter holds an answer's status and body until the request is
// done; headers go straight to the real writer's map.
type bufferedWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
