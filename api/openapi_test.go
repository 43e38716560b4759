package api_test

// These tests hold the OpenAPI document (openapi.json) to what the server
// does: every route of the table is documented and nothing else is, path
// and query parameters match both ways, error codes match the code-to-status
// table, every example request is run against a live server and its reply
// checked against the documented schema, and every error reply a sweep of
// bad requests provokes is one the operation documents.

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

func TestOpenAPI_DocumentMatchesRoutes(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	served := map[string]api.RouteInfo{}
	for _, rt := range api.Routes() {
		served[rt.Method+" "+rt.Pattern] = rt
	}
	documented := map[string]operation{}
	for _, o := range s.operations(t) {
		documented[o.key()] = o
	}
	for key := range served {
		if _, ok := documented[key]; !ok {
			t.Errorf("%s is served but not in openapi.json", key)
		}
	}
	for key, o := range documented {
		if _, ok := served[key]; ok {
			continue
		}
		// Not in the native table: it must be served by the server next to
		// it (GET /metrics), which only a live request can tell.
		if o.method != http.MethodGet || strings.Contains(o.path, "{") {
			t.Errorf("%s is in openapi.json but not served by the native API", key)
			continue
		}
		r := l.do(o.method, o.path, "", nil, nil)
		if _, ok := o.responses(t, s)[strconv.Itoa(r.status)]; !ok || r.errorCode() != "" {
			t.Errorf("%s is in openapi.json but the server answers %d %s", key, r.status, r.short())
		}
	}

	for key, rt := range served {
		o, ok := documented[key]
		if !ok {
			continue
		}
		t.Run(key, func(t *testing.T) {
			var inPath, inQuery []string
			for _, p := range o.params(t, s) {
				switch str(p["in"]) {
				case "path":
					inPath = append(inPath, str(p["name"]))
					if p["required"] != true {
						t.Errorf("path parameter %s is not required", p["name"])
					}
				case "query":
					inQuery = append(inQuery, str(p["name"]))
				}
			}
			var wildcards []string
			for _, m := range regexp.MustCompile(`\{([^}.]+)(\.\.\.)?\}`).FindAllStringSubmatch(rt.Pattern, -1) {
				wildcards = append(wildcards, m[1])
			}
			sameSet(t, "path parameters", wildcards, inPath)
			sameSet(t, "query parameters", rt.Query, inQuery)
			if o.public() != rt.Public {
				t.Errorf("public in the route table: %v; security: [] in openapi.json: %v", rt.Public, o.public())
			}
		})
	}
}

func TestOpenAPI_WellFormed(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	if s.root["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", s.root["openapi"])
	}
	// Every $ref resolves.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok && s.lookup(ref) == nil {
				t.Errorf("%s: $ref %s resolves to nothing", at, ref)
			}
			for k, c := range x {
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range x {
				walk(c, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(s.root, "#")
	tags := map[string]bool{}
	for _, tag := range arr(s.root["tags"]) {
		tags[str(obj(tag)["name"])] = true
	}
	ids := map[string]string{}
	for _, o := range s.operations(t) {
		id := o.id()
		if id == "" || ids[id] != "" {
			t.Errorf("%s: operationId %q is empty or also used by %s", o.key(), id, ids[id])
		}
		ids[id] = o.key()
		if str(o.m["summary"]) == "" {
			t.Errorf("%s: no summary", o.key())
		}
		for _, tag := range arr(o.m["tags"]) {
			if !tags[str(tag)] {
				t.Errorf("%s: tag %v is not declared", o.key(), tag)
			}
		}
	}
}

func TestOpenAPI_ErrorCodes(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	// The document's table is the server's table, plus the internal error
	// every surface answers for what is not a refund.Error.
	want := api.ErrorStatuses()
	want[refund.EInternal] = http.StatusInternalServerError
	table := s.errorTable(t)
	for code, status := range want {
		if got, ok := table[code]; !ok || got != status {
			t.Errorf("x-error-codes: %s is %d, want %d (the server's table)", code, got, status)
		}
	}
	for code := range table {
		if _, ok := want[code]; !ok {
			t.Errorf("x-error-codes: %s is not a code the server answers", code)
		}
	}

	for _, o := range s.operations(t) {
		t.Run(o.key(), func(t *testing.T) {
			codes := o.codes()
			resps := o.responses(t, s)
			must := []string{}
			if !o.public() {
				must = append(must, refund.EUnauthorized, refund.EForbidden, refund.ERateLimited)
				for _, status := range []string{"401", "default"} {
					if !isErrorEnvelope(resps[status]) {
						t.Errorf("response %s is not documented with the Error envelope", status)
					}
				}
			}
			if rb := obj(o.m["requestBody"]); rb != nil {
				must = append(must, api.ECodeTooLarge)
				if jsonMedia(rb) != nil { // a CSV body is read whatever its type
					must = append(must, api.ECodeUnsupportedMedia)
				}
			}
			for _, c := range must {
				if !slices.Contains(codes, c) {
					t.Errorf("x-error-codes lacks %s", c)
				}
			}
			covered := map[string]bool{}
			for _, c := range codes {
				status, ok := table[c]
				if !ok {
					t.Errorf("x-error-codes: %s is not in the error code table", c)
					continue
				}
				covered[strconv.Itoa(status)] = true
				if resp, ok := resps[strconv.Itoa(status)]; !ok || !isErrorEnvelope(resp) {
					t.Errorf("%s answers %d, which is not documented with the Error envelope", c, status)
				}
			}
			// And the other way: every documented error status has a code.
			for status, resp := range resps {
				if status != "default" && status >= "400" && isErrorEnvelope(resp) && !covered[status] {
					t.Errorf("response %s lists no error code in x-error-codes", status)
				}
			}
		})
	}
}

// TestOpenAPI_Examples runs every example request of the document against
// a live server, each for a fresh merchant that holds the objects the
// examples name, and checks the reply against the documented response.
func TestOpenAPI_Examples(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	table := s.errorTable(t)
	for _, o := range s.operations(t) {
		if !s.hasExamples(t, o) {
			t.Run(o.key(), func(t *testing.T) {
				if !o.public() {
					t.Fatal("an operation of the API proper needs an example request and reply")
				}
				// The document, the page, the metrics: the status and media
				// type are all there is to check.
				r := l.do(o.method, o.path, "", nil, nil)
				ok := o.responses(t, s)[strconv.Itoa(r.status)]
				if ok == nil || obj(ok["content"])[mediaType(r.header)] == nil {
					t.Errorf("%d %s is not a documented response", r.status, r.header.Get("Content-Type"))
				}
			})
			continue
		}
		names := s.runnableExamples(t, o)
		success := false
		for _, name := range names {
			status, _ := s.exampleStatus(t, o, name)
			success = success || strings.HasPrefix(status, "2")
		}
		if !success {
			t.Errorf("%s: no example request that succeeds", o.key())
		}
		for _, name := range names {
			t.Run(o.id()+"/"+name, func(t *testing.T) {
				t.Parallel()
				key, ids := l.fixtures(t, s)
				status, media := s.exampleStatus(t, o, name)
				path, hdr, body := s.exampleRequest(t, o, name, ids)
				r := l.do(o.method, path, key, body, hdr)
				if strconv.Itoa(r.status) != status {
					t.Fatalf("%s %s: got %d, the example documents %s: %s", o.method, path, r.status, status, r.short())
				}
				if mt := mediaType(r.header); mt != media {
					t.Fatalf("Content-Type %q, the example documents %s", mt, media)
				}
				switch media {
				case "application/json":
					resp := o.responses(t, s)[status]
					for _, e := range s.validate(t, jsonSchema(resp), r.body, "reply") {
						t.Error(e)
					}
				case "application/xml":
					if err := wellFormedXML(r.raw); err != nil {
						t.Errorf("reply is not well-formed XML: %v", err)
					}
				}
				if code := r.errorCode(); code != "" {
					if !slices.Contains(o.codes(), code) || strconv.Itoa(table[code]) != status {
						t.Errorf("error %s (%s) is not listed for this operation with status %s", code, r.short(), status)
					}
				}
			})
		}
	}
}

// TestOpenAPI_ExamplesMatchSchemas checks every example of the document
// against the schema it illustrates, including those no live request can
// produce (a processor outage, a rate limit).
func TestOpenAPI_ExamplesMatchSchemas(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	check := func(what string, schema any, examples map[string]any, skip func(name string) bool) {
		for name, ex := range examples {
			if skip(name) {
				continue
			}
			for _, e := range s.validate(t, schema, obj(ex)["value"], what+" example "+name) {
				t.Error(e)
			}
		}
	}
	for _, o := range s.operations(t) {
		// A request example answered with a 4xx may break its schema: that
		// is what it shows.
		refused := func(name string) bool {
			status, _ := s.exampleStatus(t, o, name)
			return strings.HasPrefix(status, "4")
		}
		for _, p := range o.params(t, s) {
			check(fmt.Sprintf("%s parameter %s", o.key(), p["name"]), p["schema"], obj(p["examples"]), refused)
		}
		if rb := obj(o.m["requestBody"]); rb != nil {
			check(o.key()+" request", jsonMedia(rb)["schema"], obj(jsonMedia(rb)["examples"]), refused)
		}
		for status, resp := range o.responses(t, s) {
			for mt, media := range obj(resp["content"]) {
				check(o.key()+" "+status+" "+mt, obj(media)["schema"], obj(obj(media)["examples"]), func(string) bool { return false })
			}
		}
	}
}

// TestOpenAPI_ErrorRepliesAreDocumented sends every authenticated route
// requests it must refuse and checks each reply is one the operation
// documents, with a code it lists.
func TestOpenAPI_ErrorRepliesAreDocumented(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	table := s.errorTable(t)
	merchantID, key := l.merchant(t)
	webhooksOnly := l.key(t, merchantID, refund.ScopeWebhooksWrite)
	ordersReadOnly := l.key(t, merchantID, refund.ScopeOrdersRead)
	documented := map[string]operation{}
	for _, o := range s.operations(t) {
		documented[o.key()] = o
	}
	wildcard := regexp.MustCompile(`\{[^}]+\}`)
	for _, rt := range api.Routes() {
		o, ok := documented[rt.Method+" "+rt.Pattern]
		if !ok || rt.Public {
			continue // TestOpenAPI_DocumentMatchesRoutes reports it
		}
		path := wildcard.ReplaceAllString(rt.Pattern, "missing_0000")
		type probe struct {
			name, key, query, ctype string
			body                    []byte
			want                    int // 0: any documented reply
		}
		probes := []probe{
			{name: "NoKey", want: http.StatusUnauthorized},
			{name: "BadKey", key: "rk_000000000000_00000000000000000000000000000000", want: http.StatusUnauthorized},
			{name: "WebhooksScopeOnly", key: webhooksOnly},
			{name: "OrdersReadScopeOnly", key: ordersReadOnly},
			{name: "MissingObjectNoBody", key: key},
		}
		if rb := obj(o.m["requestBody"]); rb != nil {
			probes = append(probes,
				probe{name: "TooLarge", key: key, body: bytes.Repeat([]byte(" "), api.MaxBodyBytes+1), want: http.StatusRequestEntityTooLarge},
				probe{name: "Malformed", key: key, body: []byte(`{"amount":`), want: http.StatusBadRequest})
			if jsonMedia(rb) != nil {
				probes = append(probes,
					probe{name: "NotJSON", key: key, ctype: "text/plain", body: []byte("{}"), want: http.StatusUnsupportedMediaType},
					probe{name: "UnknownField", key: key, body: []byte(`{"no_such_field":1}`), want: http.StatusBadRequest})
			}
		}
		if slices.Contains(rt.Query, "limit") {
			probes = append(probes, probe{name: "BadLimit", key: key, query: "?limit=0", want: http.StatusBadRequest})
		}
		for _, p := range probes {
			t.Run(o.key()+"/"+p.name, func(t *testing.T) {
				hdr := http.Header{}
				if p.ctype != "" {
					hdr.Set("Content-Type", p.ctype)
				}
				r := l.do(rt.Method, path+p.query, p.key, p.body, hdr)
				if p.want != 0 && r.status != p.want {
					t.Fatalf("got %d %s, want %d", r.status, r.short(), p.want)
				}
				if _, ok := o.responses(t, s)[strconv.Itoa(r.status)]; !ok {
					t.Errorf("status %d is not documented: %s", r.status, r.short())
				}
				if code := r.errorCode(); code != "" && (!slices.Contains(o.codes(), code) || table[code] != r.status) {
					t.Errorf("error %s with status %d is not listed for this operation: %s", code, r.status, r.short())
				}
				if r.status >= 400 && r.errorCode() == "" {
					t.Errorf("error reply without the envelope: %s", r.short())
				}
			})
		}
	}

	// The catch-all under /v1/ answers the two codes no operation lists.
	for _, c := range []struct {
		method, path, code string
	}{
		{"GET", "/v1/no_such_thing", refund.ENotFound},
		{"PUT", "/v1/orders", api.ECodeMethodNotAllowed},
	} {
		r := l.do(c.method, c.path, key, nil, nil)
		if r.errorCode() != c.code || table[c.code] != r.status {
			t.Errorf("%s %s: got %d %s, want %s with its documented status %d", c.method, c.path, r.status, r.short(), c.code, table[c.code])
		}
	}
}

func TestOpenAPI_DocsPage(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	r := l.do("GET", "/docs", "", nil, nil)
	if r.status != http.StatusOK || mediaType(r.header) != "text/html" {
		t.Fatalf("GET /docs: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q does not forbid fetching", csp)
	}
	page := string(r.raw)
	var want []string
	for _, o := range s.operations(t) {
		want = append(want, `id="`+o.id()+`"`, "<code>"+o.path+"</code>")
		for _, p := range o.params(t, s) {
			want = append(want, "<code>"+str(p["name"])+"</code>")
		}
	}
	for name := range obj(obj(s.root["components"])["schemas"]) {
		want = append(want, `id="schema-`+name+`"`)
	}
	for code := range s.errorTable(t) {
		want = append(want, "<code>"+code+"</code>")
	}
	// Examples are shown, escaped.
	want = append(want, "Bearer &lt;key&gt;", "&#34;order_id&#34;")
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("the page lacks %s", w)
		}
	}
	for _, bad := range []string{"<script", "<link", " src=", "url(", "@import", "Bearer <key>"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q: it must be self-contained and escaped", bad)
		}
	}
}

func TestRenderDocs_RefusesABrokenDocument(t *testing.T) {
	tests := []struct{ name, doc string }{
		{"NotJSON", `{`},
		{"PathsNotAnObject", `{"paths":[]}`},
		{"DanglingParameter", `{"paths":{"/x":{"get":{"parameters":[{"$ref":"#/components/parameters/Nope"}]}}}}`},
		{"DanglingResponse", `{"paths":{"/x":{"get":{"responses":{"200":{"$ref":"#/components/responses/Nope"}}}}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := api.RenderDocs([]byte(tt.doc)); err == nil {
				t.Fatal("rendered without an error")
			}
		})
	}
}

// ---- a live server

type live struct {
	srv *server.Server
}

// mustStart runs a real server on a temp SQLite file and a free port, with
// the background worker off. Webhook targets may be any address, so that
// creating an endpoint never waits on DNS.
func mustStart(t *testing.T) *live {
	t.Helper()
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{Addr: "127.0.0.1:0", DB: sqlitetest.URL(t),
		WorkerInterval: -1, WebhookAllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	return &live{srv: srv}
}

// merchant creates a merchant with a key of the default scopes.
func (l *live) merchant(t *testing.T) (id, key string) {
	t.Helper()
	m, key, err := l.srv.Service.CreateMerchant(context.Background(), refund.MerchantInput{Name: "Example Merchant"})
	if err != nil {
		t.Fatal(err)
	}
	return m.ID, key
}

// key creates another key of the merchant with only the given scopes.
func (l *live) key(t *testing.T, merchantID string, scopes ...string) string {
	t.Helper()
	_, raw, err := l.srv.Service.CreateKey(context.Background(), merchantID, "", scopes)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

type reply struct {
	status int
	header http.Header
	raw    []byte
	body   any // decoded JSON, numbers as json.Number; nil when not JSON
}

func (r reply) errorCode() string { return str(obj(obj(r.body)["error"])["code"]) }

func (r reply) short() string {
	if len(r.raw) > 300 {
		return string(r.raw[:300]) + "..."
	}
	return string(r.raw)
}

func (l *live) do(method, path, key string, body []byte, hdr http.Header) reply {
	req, err := http.NewRequest(method, l.srv.URL()+path, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if mediaType(resp.Header) == "application/json" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&r.body); err != nil {
			r.body = nil
		}
	}
	return r
}

func (l *live) spec() spec {
	r := l.do("GET", "/openapi.json", "", nil, nil)
	if r.status != http.StatusOK || r.body == nil {
		panic(fmt.Sprintf("GET /openapi.json: %d %s", r.status, r.short()))
	}
	return spec{root: obj(r.body)}
}

// fixtures gives a fresh merchant the objects the examples name, made with
// the document's own create examples, and maps each example id to the live
// one.
func (l *live) fixtures(t *testing.T, s spec) (key string, ids map[string]string) {
	t.Helper()
	merchantID, key := l.merchant(t)
	ids = map[string]string{}
	create := func(opID, name string, drop ...string) {
		t.Helper()
		o := s.op(t, opID)
		req := obj(withLiveIDs(s.example(t, jsonMedia(obj(o.m["requestBody"])), name), ids))
		for _, d := range drop {
			delete(req, d)
		}
		body, _ := json.Marshal(req)
		status, _ := s.exampleStatus(t, o, name)
		r := l.do(o.method, o.path, key, body, nil)
		if strconv.Itoa(r.status) != status {
			t.Fatalf("fixture %s %s: got %d %s, want %s", opID, name, r.status, r.short(), status)
		}
		documented := obj(s.example(t, jsonMedia(o.responses(t, s)[status]), name))
		ids[fmt.Sprint(documented["id"])] = fmt.Sprint(obj(r.body)["id"])
	}
	// References are unique per merchant and merchant references replay:
	// leave them to the examples themselves.
	create("createOrder", "card_order", "reference")
	create("createOrder", "vendor_split", "reference")
	create("createRefund", "partial", "merchant_reference")
	create("createRefund", "queued")
	create("createWebhookEndpoint", "ok")
	// The refund resolveRefund settles: another queued refund, put in
	// requires_review in the store as the worker leaves one whose last
	// attempt went unanswered (its amount is reserved either way).
	queued := s.example(t, jsonMedia(obj(s.op(t, "createRefund").m["requestBody"])), "queued")
	body, _ := json.Marshal(withLiveIDs(queued, ids))
	r := l.do("POST", "/v1/refunds", key, body, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("fixture refund to review: %d %s", r.status, r.short())
	}
	review := str(obj(r.body)["id"])
	err := l.srv.Store.Update(context.Background(), func(tx refund.Tx) error {
		rf, err := tx.GetRefund(context.Background(), "", review)
		if err != nil {
			return err
		}
		rf.Status = refund.StatusRequiresReview
		return tx.UpdateRefund(context.Background(), rf)
	})
	if err != nil {
		t.Fatal(err)
	}
	resolve := s.op(t, "resolveRefund")
	for _, p := range arr(resolve.m["parameters"]) {
		if str(obj(p)["name"]) == "id" {
			ids[str(obj(obj(obj(p)["examples"])["resolved"])["value"])] = review
		}
	}
	// The discrepancies resolveDiscrepancy closes: one open and one
	// resolved before, recorded in the store as a sync or a reconciliation
	// leaves them.
	err = l.srv.Store.Update(context.Background(), func(tx refund.Tx) error {
		for name, resolved := range map[string]bool{"resolved": false, "already_resolved": true} {
			d := &refund.Discrepancy{ID: "dsc_" + review + "_" + name, MerchantID: merchantID, Kind: refund.DiscrepancyChargebackAfterRefund,
				Amount: 1000, Currency: "SAR", Detail: "paid twice", Reference: "cb_" + name, CreatedAt: time.Now()}
			if ok, err := tx.InsertDiscrepancy(context.Background(), d); err != nil || !ok {
				return fmt.Errorf("discrepancy %s: inserted %v, %v", name, ok, err)
			}
			if resolved {
				at := time.Now()
				d.ResolvedAt, d.ResolvedBy, d.Resolution = &at, "key:key_other", "settled by phone"
				if err := tx.ResolveDiscrepancy(context.Background(), d); err != nil {
					return err
				}
			}
			for _, p := range arr(s.op(t, "resolveDiscrepancy").m["parameters"]) {
				if str(obj(p)["name"]) == "id" {
					ids[str(obj(obj(obj(p)["examples"])[name])["value"])] = d.ID
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The refunds approveRefund and rejectRefund decide on: queued refunds
	// put in requires_approval in the store, as a policy leaves them; two
	// as if another key had created them, one by the examples' own key.
	maker := l.key(t, merchantID, refund.ScopeRefundsWrite, refund.ScopeRefundsRead)
	waiting := func(by string) string {
		r := l.do("POST", "/v1/refunds", by, body, nil)
		if r.status != http.StatusCreated {
			t.Fatalf("fixture refund to approve: %d %s", r.status, r.short())
		}
		id := str(obj(r.body)["id"])
		err := l.srv.Store.Update(context.Background(), func(tx refund.Tx) error {
			rf, err := tx.GetRefund(context.Background(), "", id)
			if err != nil {
				return err
			}
			rf.Status = refund.StatusRequiresApproval
			return tx.UpdateRefund(context.Background(), rf)
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, op := range []string{"approveRefund", "rejectRefund"} {
		for _, p := range arr(s.op(t, op).m["parameters"]) {
			if str(obj(p)["name"]) != "id" {
				continue
			}
			exs := obj(obj(p)["examples"])
			for name, ex := range exs {
				v := str(obj(ex)["value"])
				switch {
				case name == "own_refund" && ids[v] == "":
					ids[v] = waiting(key)
				case (name == "approved" || name == "rejected") && ids[v] == "":
					ids[v] = waiting(maker) // another key made it
				}
			}
		}
	}
	// The event getEvent shows: the live event of its type about its refund.
	ev := obj(s.example(t, jsonMedia(s.op(t, "getEvent").responses(t, s)["200"]), "ok"))
	q := url.Values{"type": {str(ev["type"])}, "refund_id": {ids[str(ev["refund_id"])]}}
	r = l.do("GET", "/v1/events?"+q.Encode(), key, nil, nil)
	data := arr(obj(r.body)["data"])
	if len(data) == 0 {
		t.Fatalf("fixture event %s: %d %s", q.Encode(), r.status, r.short())
	}
	ids[str(ev["id"])] = str(obj(data[0])["id"])
	// The tax invoice getInvoice shows: the live one of its order.
	inv := obj(s.example(t, jsonMedia(s.op(t, "getInvoice").responses(t, s)["200"]), "ok"))
	q = url.Values{"type": {str(inv["type"])}, "order_id": {ids[str(inv["order_id"])]}}
	r = l.do("GET", "/v1/invoices?"+q.Encode(), key, nil, nil)
	if data = arr(obj(r.body)["data"]); len(data) == 0 {
		t.Fatalf("fixture invoice %s: %d %s", q.Encode(), r.status, r.short())
	}
	ids[fmt.Sprint(inv["id"])] = fmt.Sprint(obj(data[0])["id"])
	return key, ids
}

// ---- the document

// spec is the OpenAPI document as the server serves it, decoded with
// numbers as json.Number.
type spec struct{ root map[string]any }

type operation struct {
	method, path string // "GET", "/v1/orders/{id}"
	m            map[string]any
}

func (o operation) key() string  { return o.method + " " + o.path }
func (o operation) id() string   { return str(o.m["operationId"]) }
func (o operation) public() bool { sec, ok := o.m["security"].([]any); return ok && len(sec) == 0 }

func (o operation) codes() []string {
	var out []string
	for _, c := range arr(o.m["x-error-codes"]) {
		out = append(out, str(c))
	}
	return out
}

func (o operation) params(t *testing.T, s spec) []map[string]any {
	var out []map[string]any
	for _, p := range arr(o.m["parameters"]) {
		out = append(out, s.resolve(t, p))
	}
	return out
}

// responses maps each documented status ("200", "default") to its
// response, references resolved.
func (o operation) responses(t *testing.T, s spec) map[string]map[string]any {
	out := map[string]map[string]any{}
	for status, r := range obj(o.m["responses"]) {
		out[status] = s.resolve(t, r)
	}
	return out
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func (s spec) operations(t *testing.T) []operation {
	var out []operation
	for path, item := range obj(s.root["paths"]) {
		for m, op := range obj(item) {
			if !slices.Contains(methods, m) {
				t.Errorf("%s: %q: only operations are expected in a path item", path, m)
				continue
			}
			out = append(out, operation{method: strings.ToUpper(m), path: path, m: obj(op)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

func (s spec) op(t *testing.T, id string) operation {
	t.Helper()
	for _, o := range s.operations(t) {
		if o.id() == id {
			return o
		}
	}
	t.Fatalf("no operation %s in openapi.json", id)
	return operation{}
}

func (s spec) lookup(ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = s.root
	for _, p := range strings.Split(ref[2:], "/") {
		cur = obj(cur)[p]
	}
	return cur
}

// resolve follows $ref until it reaches an object without one.
func (s spec) resolve(t *testing.T, v any) map[string]any {
	t.Helper()
	m := obj(v)
	for range 10 {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		if m = obj(s.lookup(ref)); m == nil {
			t.Fatalf("$ref %s resolves to nothing", ref)
		}
	}
	t.Fatalf("$ref loop at %v", v)
	return nil
}

func (s spec) errorTable(t *testing.T) map[string]int {
	table := map[string]int{}
	for code, e := range obj(s.root["x-error-codes"]) {
		n, err := strconv.Atoi(fmt.Sprint(obj(e)["status"]))
		if err != nil {
			t.Fatalf("x-error-codes: %s: status %v", code, obj(e)["status"])
		}
		table[code] = n
	}
	if len(table) == 0 {
		t.Fatal("openapi.json has no x-error-codes table")
	}
	return table
}

func isErrorEnvelope(resp map[string]any) bool {
	return resp != nil && obj(jsonSchema(resp))["$ref"] == "#/components/schemas/Error"
}

func jsonMedia(resp map[string]any) map[string]any {
	return obj(obj(resp["content"])["application/json"])
}

func jsonSchema(resp map[string]any) any { return jsonMedia(resp)["schema"] }

// requestMedia is a request body's JSON media, or its CSV media (a
// settlement report).
func requestMedia(rb map[string]any) map[string]any {
	if m := jsonMedia(rb); m != nil {
		return m
	}
	return obj(obj(rb["content"])["text/csv"])
}

func (s spec) example(t *testing.T, media map[string]any, name string) any {
	t.Helper()
	ex, ok := obj(media["examples"])[name]
	if !ok {
		t.Fatalf("no example %q", name)
	}
	return obj(ex)["value"]
}

// hasExamples reports whether any response of o has an example.
func (s spec) hasExamples(t *testing.T, o operation) bool {
	for _, r := range o.responses(t, s) {
		for _, media := range obj(r["content"]) {
			if len(obj(obj(media)["examples"])) > 0 {
				return true
			}
		}
	}
	return false
}

// An example named N is a request when a parameter or the request body
// has an example N (an operation with nothing required also runs "ok"
// bare); the response documenting it is the one with an example N.
func (s spec) runnableExamples(t *testing.T, o operation) []string {
	names := map[string]bool{}
	bare := true
	for _, p := range o.params(t, s) {
		for n := range obj(p["examples"]) {
			names[n] = true
		}
		bare = bare && p["required"] != true
	}
	if rb := obj(o.m["requestBody"]); rb != nil {
		for n := range obj(requestMedia(rb)["examples"]) {
			names[n] = true
		}
		bare = bare && rb["required"] != true
	}
	if bare {
		names["ok"] = true
	}
	return slices.Sorted(maps.Keys(names))
}

func (s spec) exampleStatus(t *testing.T, o operation, name string) (status, mediaType string) {
	t.Helper()
	var found []string
	for st, r := range o.responses(t, s) {
		for mt, media := range obj(r["content"]) {
			if _, ok := obj(obj(media)["examples"])[name]; ok {
				status, mediaType = st, mt
				found = append(found, st+" "+mt)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: example %q is documented by responses %v; want exactly one", o.key(), name, found)
	}
	return status, mediaType
}

// exampleRequest builds the request of example name from the examples of
// the parameters and of the body, with example ids replaced by live ones.
func (s spec) exampleRequest(t *testing.T, o operation, name string, ids map[string]string) (path string, hdr http.Header, body []byte) {
	t.Helper()
	path, hdr, q := o.path, http.Header{}, url.Values{}
	for _, p := range o.params(t, s) {
		ex, ok := obj(p["examples"])[name]
		if !ok {
			if p["in"] == "path" {
				t.Fatalf("example %s has no value for path parameter %s", name, p["name"])
			}
			continue
		}
		val := withLiveIDs(obj(ex)["value"], ids)
		v := fmt.Sprint(val)
		switch p["in"] {
		case "path":
			path = strings.ReplaceAll(path, "{"+str(p["name"])+"}", url.PathEscape(v))
		case "query":
			if vs, ok := val.([]any); ok { // an array, exploded: the parameter once per value
				for _, e := range vs {
					q.Add(str(p["name"]), fmt.Sprint(e))
				}
				continue
			}
			q.Set(str(p["name"]), v)
		case "header":
			hdr.Set(str(p["name"]), v)
		}
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if rb := obj(o.m["requestBody"]); rb != nil {
		if ex, ok := obj(requestMedia(rb)["examples"])[name]; ok && jsonMedia(rb) == nil {
			body = []byte(fmt.Sprint(withLiveIDs(obj(ex)["value"], ids))) // a CSV body, sent as written
		} else if ok {
			body, _ = json.Marshal(withLiveIDs(obj(ex)["value"], ids))
		} else if rb["required"] == true {
			t.Fatalf("example %s has no request body", name)
		}
	}
	return path, hdr, body
}

// withLiveIDs returns a copy of an example value with every string or number
// that is an example id replaced by the live id.
func withLiveIDs(v any, ids map[string]string) any {
	switch x := v.(type) {
	case string:
		if id, ok := ids[x]; ok {
			return id
		}
	case json.Number:
		if id, ok := ids[string(x)]; ok {
			return json.Number(id)
		}
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = withLiveIDs(e, ids)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withLiveIDs(e, ids)
		}
		return out
	}
	return v
}

// ---- a JSON Schema checker for the keywords the document uses

// shapeKeywords are checked; valueKeywords document constraints of values,
// not their shape, and are left to the handlers' own tests. Any other
// keyword fails the check, so a schema it does not understand never passes.
var (
	shapeKeywords = []string{"$ref", "type", "enum", "required", "properties", "additionalProperties", "items", "minItems", "oneOf", "anyOf"}
	valueKeywords = []string{"description", "format", "pattern", "minimum", "maximum", "minLength", "maxLength", "default", "example"}
)

// validate checks v against schema: JSON types, required properties,
// enums, and no property the schema leaves undocumented.
func (s spec) validate(t *testing.T, schema, v any, at string) []string {
	sch := s.resolve(t, schema)
	if sch == nil {
		return []string{at + ": no schema"}
	}
	var errs []string
	for k := range sch {
		if !slices.Contains(shapeKeywords, k) && !slices.Contains(valueKeywords, k) {
			errs = append(errs, fmt.Sprintf("%s: schema keyword %q is not checked by this test", at, k))
		}
	}
	for _, kw := range []string{"oneOf", "anyOf"} {
		branches, ok := sch[kw].([]any)
		if !ok {
			continue
		}
		var passed int
		var why []string
		for i, b := range branches {
			e := s.validate(t, b, v, fmt.Sprintf("%s(%s %d)", at, kw, i))
			if len(e) == 0 {
				passed++
			}
			why = append(why, e...)
		}
		if passed == 0 || (kw == "oneOf" && passed > 1) {
			errs = append(errs, fmt.Sprintf("%s: %d branches of %s match, want %s: %s", at, passed, kw,
				map[string]string{"oneOf": "exactly one", "anyOf": "at least one"}[kw], strings.Join(why, "; ")))
		}
	}
	if types := typeList(sch["type"]); len(types) > 0 {
		got := jsonType(v)
		if !slices.Contains(types, got) && !(got == "integer" && slices.Contains(types, "number")) {
			return append(errs, fmt.Sprintf("%s: %s, want %s", at, got, strings.Join(types, " or ")))
		}
	}
	if enum, ok := sch["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	switch x := v.(type) {
	case map[string]any:
		props := obj(sch["properties"])
		for _, r := range arr(sch["required"]) {
			if _, ok := x[str(r)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required property %s is missing", at, r))
			}
		}
		open := sch["additionalProperties"] == true || obj(sch["additionalProperties"]) != nil || props == nil
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if ps, ok := props[k]; ok {
				errs = append(errs, s.validate(t, ps, x[k], at+"."+k)...)
			} else if !open {
				errs = append(errs, fmt.Sprintf("%s: property %s is not documented", at, k))
			}
		}
	case []any:
		if m, ok := sch["minItems"]; ok {
			if n, err := strconv.Atoi(fmt.Sprint(m)); err != nil || len(x) < n {
				errs = append(errs, fmt.Sprintf("%s: %d items, want at least %v", at, len(x), m))
			}
		}
		if items, ok := sch["items"]; ok {
			for i, e := range x {
				errs = append(errs, s.validate(t, items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return errs
}

func typeList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, str(e))
		}
		return out
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return "number"
		}
		return "integer"
	}
	return fmt.Sprintf("%T", v)
}

// ---- small helpers

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func arr(v any) []any          { a, _ := v.([]any); return a }
func str(v any) string         { s, _ := v.(string); return s }

func wellFormedXML(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := dec.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func mediaType(h http.Header) string {
	mt, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.TrimSpace(mt)
}

func sameSet(t *testing.T, what string, served, documented []string) {
	t.Helper()
	a, b := slices.Sorted(slices.Values(served)), slices.Sorted(slices.Values(documented))
	if !slices.Equal(slices.Compact(a), slices.Compact(b)) {
		t.Errorf("%s: the server reads %v, openapi.json documents %v", what, a, b)
	}
}

// TestOpenAPI_ValidatesAsOpenAPI31 checks the document against the OpenAPI
// 3.1 schema with openapi-spec-validator, a validator refundd did not
// write. .ci/run sets REFUNDD_SPEC_VALIDATE=1 so CI never skips it.
func TestOpenAPI_ValidatesAsOpenAPI31(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil || exec.Command("python3", "-c", "import openapi_spec_validator").Run() != nil {
		if os.Getenv("REFUNDD_SPEC_VALIDATE") == "1" {
			t.Fatal("python3 with openapi-spec-validator is required (REFUNDD_SPEC_VALIDATE=1)")
		}
		t.Skip("python3 with openapi-spec-validator is not installed; .ci/run requires it")
	}
	path := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(path, api.OpenAPI(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "-m", "openapi_spec_validator", "--schema", "3.1.0", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openapi-spec-validator: %v\n%s", err, out)
	}
	// It does find faults: a document without info is refused.
	var doc map[string]any
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "info")
	broken, _ := json.Marshal(doc)
	if err := os.WriteFile(path, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("python3", "-m", "openapi_spec_validator", "--schema", "3.1.0", path).CombinedOutput(); err == nil {
		t.Fatalf("a broken document passed: %s", out)
	}
}

// TestOpenAPI_FailingExamplesMarked: a request example whose reply is an
// error says so (x-expected-status and a "Refused" summary), so a tool
// that sends the document's examples knows which ones must fail.
func TestOpenAPI_FailingExamplesMarked(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	marked := 0
	for _, o := range s.operations(t) {
		fails := map[string]string{}
		for st, r := range o.responses(t, s) {
			for _, media := range obj(r["content"]) {
				for n := range obj(obj(media)["examples"]) {
					if !strings.HasPrefix(st, "2") {
						fails[n] = st
					}
				}
			}
		}
		check := func(where, name string, ex map[string]any) {
			got, want := ex["x-expected-status"], fails[name]
			switch {
			case want == "" && got != nil:
				t.Errorf("%s %s example %s succeeds but is marked %v", o.key(), where, name, got)
			case want != "" && fmt.Sprint(got) != want:
				t.Errorf("%s %s example %s answers %s; x-expected-status is %v", o.key(), where, name, want, got)
			case want != "" && !strings.HasPrefix(str(ex["summary"]), "Refused"):
				t.Errorf("%s %s example %s: summary %q does not say it is refused", o.key(), where, name, ex["summary"])
			case want != "":
				marked++
			}
		}
		for _, p := range o.params(t, s) {
			for n, ex := range obj(p["examples"]) {
				check("parameter "+str(p["name"]), n, obj(ex))
			}
		}
		if rb := obj(o.m["requestBody"]); rb != nil {
			for n, ex := range obj(requestMedia(rb)["examples"]) {
				check("body", n, obj(ex))
			}
		}
	}
	if marked == 0 {
		t.Fatal("no failing example found: the check checks nothing")
	}
}

// TestOpenAPI_WebhookTestIdempotencyRefusalsDocumented: a webhook test
// honours Idempotency-Key, so the same key sent for another endpoint is
// idempotency_key_reused; the operation must document that reply like
// every other route that takes the key.
func TestOpenAPI_WebhookTestIdempotencyRefusalsDocumented(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	table := s.errorTable(t)
	_, key := l.merchant(t)
	var ids []string
	for range 2 {
		r := l.do("POST", "/v1/webhook_endpoints", key, []byte(`{"url":"https://example.com/hook","events":["refund.succeeded"]}`), nil)
		if r.status != http.StatusCreated {
			t.Fatalf("endpoint: %d %s", r.status, r.short())
		}
		ids = append(ids, str(obj(r.body)["id"]))
	}
	hdr := http.Header{"Idempotency-Key": {"test-once"}}
	if r := l.do("POST", "/v1/webhook_endpoints/"+ids[0]+"/test", key, nil, hdr); r.status != http.StatusAccepted {
		t.Fatalf("test: %d %s", r.status, r.short())
	}
	r := l.do("POST", "/v1/webhook_endpoints/"+ids[1]+"/test", key, nil, hdr)
	if r.errorCode() != refund.EIdempotencyKeyReused {
		t.Fatalf("the key again for another endpoint: %d %s, want idempotency_key_reused", r.status, r.short())
	}
	var o operation
	for _, op := range s.operations(t) {
		if op.key() == "POST /v1/webhook_endpoints/{id}/test" {
			o = op
		}
	}
	if _, ok := o.responses(t, s)[strconv.Itoa(r.status)]; !ok {
		t.Errorf("status %d is not documented: %s", r.status, r.short())
	}
	for _, code := range []string{refund.EIdempotencyKeyReused, refund.EIdempotencyKeyInUse} {
		if !slices.Contains(o.codes(), code) {
			t.Errorf("%s (%d) is not listed for this operation", code, table[code])
		}
	}
}

// TestOpenAPI_IdempotencyKeyDocumented: the operations that take an
// Idempotency-Key are the routes that honour one, and each lists the two
// refusals the key brings (idempotency_key_reused, idempotency_key_in_use)
// with their statuses.
func TestOpenAPI_IdempotencyKeyDocumented(t *testing.T) {
	s := mustStart(t).spec()
	table := s.errorTable(t)
	honours := map[string]bool{}
	for _, r := range api.Routes() {
		if r.Idempotent {
			honours[r.Method+" "+r.Pattern] = true
		}
	}
	if len(honours) == 0 {
		t.Fatal("no route honours Idempotency-Key: the check checks nothing")
	}
	for _, o := range s.operations(t) {
		takes := false
		for _, p := range o.params(t, s) {
			takes = takes || p["in"] == "header" && p["name"] == "Idempotency-Key"
		}
		if takes != honours[o.key()] {
			t.Errorf("%s: documents Idempotency-Key %v, honours it %v", o.key(), takes, honours[o.key()])
		}
		if !takes {
			continue
		}
		responses := o.responses(t, s)
		for _, code := range []string{refund.EIdempotencyKeyReused, refund.EIdempotencyKeyInUse} {
			if !slices.Contains(o.codes(), code) {
				t.Errorf("%s: x-error-codes lacks %s", o.key(), code)
			}
			if _, ok := responses[strconv.Itoa(table[code])]; !ok {
				t.Errorf("%s: no %d response for %s", o.key(), table[code], code)
			}
		}
	}
}
