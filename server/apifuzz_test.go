package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/refund"
)

// TestAPIFuzz is an outside API fuzzer in the manner of Schemathesis: for
// every route each surface documents it sends the route's valid request
// and generated bad and edge inputs (every member of the valid body, at
// every depth, replaced by values of the wrong type, out of range, beyond
// int64, with too many decimals, 10,000 characters long, not UTF-8, with a
// NUL or a bidi control; bodies that are empty, no JSON, no object, trail
// data or repeat a member; wrong, missing or non-UTF-8 media types; query
// parameters of the wrong type, huge or repeated; path ids empty, long,
// percent-encoded or of another form; malformed credentials, idempotency
// keys and app-ids; methods the route does not take, HEAD and OPTIONS).
// Every reply must be no 5xx; a 4xx is JSON in the surface's own error
// shape (and no other surface's), a 405 names the methods in Allow, the
// same input again answers the same, and a refused request changes
// nothing of the merchant's (orders, refunds, invoices, events, audit
// entries, webhook endpoints); every native reply a route gives has a
// status its OpenAPI operation documents and matches that response's
// schema.
//
// Under the race detector (the README's test command) it walks every
// route on SQLite with one case in eight: the whole walk, about 90 s of
// CPU there, would take a tenth of CI's test phase. .ci/run runs it whole
// without the race detector.
func TestAPIFuzz(t *testing.T) {
	// Two shards, each on its own server, share the machine's cores. On
	// PostgreSQL, which refuses more text than SQLite, the cases whose
	// text or number a store may not hold run again.
	storeBound := regexp.MustCompile(`nul|invalidUTF8|long|Int64|%00|%FF`)
	for _, b := range backends {
		if raceEnabled && b.name != "SQLite" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			for shard := range 2 {
				t.Run(fmt.Sprint("Shard", shard), func(t *testing.T) {
					t.Parallel()
					only := func(string) bool { return true }
					if b.name != "SQLite" {
						only = storeBound.MatchString
					}
					if raceEnabled {
						n := 0
						only = func(name string) bool { n++; return name == "valid" || n%8 == 0 }
					}
					fuzzRoutes(t, b.start(t), shard, 2, only)
				})
			}
		})
	}
}

// fuzzRoutes runs on s the routes whose index is shard modulo shards,
// and of their cases those only accepts by name.
func fuzzRoutes(t *testing.T, s *testServer, shard, shards int, only func(name string) bool) {
	m := newMatrix(t, s)
	f := &fuzzer{t: t, s: s, m: m}

	type route struct {
		surface, method, path string
		body                  string   // a valid body, each of whose fields is mutated
		query                 []string // the query parameters the route documents
		auth                  credential
	}
	key := credential{name: "key", header: "Bearer " + s.key, appID: fmt.Sprint(s.mer.AppID)}
	list := []string{"limit", "cursor"}
	routes := []route{
		{"native", "POST", "/v1/orders", `{"reference":"FZ","currency":"KWD","amount":5000,"captured_amount":5000,"payment_method":"card","description":"d",
			"source":{"scheme":"visa","last_digits":"4444","month":12},
			"customer":{"name":"n","email":"a@b.example"},
			"items":[{"id":"l1","name_en":"e","qty":2,"unit_amount":1000,"tax_rate":"15"}],
			"vendors":[{"id":"v1","name":"V","iban":"KW81CBKU0000000000001234560101","amount":5000}]}`, nil, key},
		{"native", "GET", "/v1/orders", "", append([]string{"reference"}, list...), key},
		{"native", "GET", "/v1/orders/{id}", "", nil, key},
		{"native", "POST", "/v1/refunds", `{"order_id":"ORDER","amount":1,"reason":"r","merchant_reference":"mr-1","queue":true,"items":[{"item_id":"line-1","qty":1,"amount":1}],"notify_url":"https://hooks.example.com/n"}`, nil, key},
		{"native", "POST", "/v1/refunds", `{"order_id":"VORDER","amount":2,"vendors":[{"vendor_id":"va","amount":2}]}`, nil, key},
		{"native", "GET", "/v1/refunds", "", append([]string{"order_id", "status", "created_gte", "created_lt"}, list...), key},
		{"native", "GET", "/v1/refunds/{id}", "", nil, key},
		{"native", "GET", "/v1/refunds/{id}/transitions", "", nil, key},
		{"native", "POST", "/v1/refunds/{id}/sync", "", nil, key},
		{"native", "POST", "/v1/refunds/{id}/resolve", `{"outcome":"failed","note":"n"}`, nil, key},
		{"native", "POST", "/v1/refunds/{id}/reject", `{"reason":"r"}`, nil, key},
		{"native", "GET", "/v1/discrepancies", "", append([]string{"kind", "status"}, list...), key},
		{"native", "POST", "/v1/discrepancies/{id}/resolve", `{"note":"n"}`, nil, key},
		{"native", "GET", "/v1/refund_policy", "", nil, key},
		{"native", "PUT", "/v1/refund_policy", `{"approval_threshold":{"SAR":50000},"older_than_days":90,"approval_expiry_seconds":259200}`, nil, key},
		{"native", "POST", "/v1/orders/{id}/voids", `{"amount":1,"reason":"r"}`, nil, key},
		{"native", "POST", "/v1/orders/{id}/chargebacks", `{"amount":1,"reason":"r"}`, nil, key},
		{"native", "POST", "/v1/webhook_endpoints", `{"url":"https://hooks.example.com/x","events":["refund.succeeded"],"description":"d"}`, nil, key},
		{"native", "GET", "/v1/webhook_endpoints", "", nil, key},
		{"native", "GET", "/v1/webhook_endpoints/{id}", "", nil, key},
		{"native", "PATCH", "/v1/webhook_endpoints/{id}", `{"description":"c","events":["refund.failed"],"disabled":false}`, nil, key},
		{"native", "GET", "/v1/webhook_endpoints/{id}/deliveries", "", list, key},
		{"native", "GET", "/v1/events", "", append([]string{"type", "refund_id"}, list...), key},
		{"native", "GET", "/v1/events/{id}", "", nil, key},
		{"native", "GET", "/v1/audit", "", append([]string{"object_id", "action"}, list...), key},
		{"native", "GET", "/v1/invoices", "", append([]string{"order_id", "refund_id", "adjustment_id", "type", "status", "zatca_status"}, list...), key},
		{"native", "GET", "/v1/invoices/{id}", "", nil, key},
		{"native", "GET", "/v1/processors", "", nil, key},
		{"native", "GET", "/v1/invoices/{id}/xml", "", nil, key},
		{"native", "GET", "/v1/invoices/{id}/qr", "", nil, key},
		{"native", "POST", "/v1/orders/{id}/invoice", "", nil, key},
		{"native", "POST", "/v1/refunds/{id}/approve", "", nil, key},
		{"native", "POST", "/v1/webhook_endpoints/{id}/test", "", nil, key},
		{"native", "POST", "/v1/webhook_endpoints/{id}/rotate_secret", `{"expire_previous_in":3600}`, nil, key},
		{"native", "POST", "/v1/notify_secret", `{"expire_previous_in":3600}`, nil, key},
		{"native", "POST", "/v1/reconciliations", "", []string{"map", "settlement_lag", "processor", "from", "to"}, key},
		{"native", "POST", "/v1/processor/notifications", `{"type":"refund.succeeded","idempotency_key":"re_x","amount":1,"currency":"SAR"}`, nil, credential{}},
		{"gateway", "POST", "/v1/orders/{id}/refund", `{"amount":1}`, nil, key},
		{"sgate", "POST", "/orders/{order_id}/refunds", `{"amount":"0.01","reason":"r","merchantRefundId":"sg-1"}`, nil, key},
		{"sgate", "GET", "/orders/{order_id}/refunds", "", nil, key},
		{"sgate", "GET", "/orders/{order_id}/refunds/{refund_id}", "", nil, key},
		{"upayments", "POST", "/api/v1/create-refund", `{"orderId":"ORDER","totalPrice":"0.01","customerFirstName":"n","customerEmail":"a@b.example","customerMobileNumber":"+96550000000","reference":"up-1","notifyUrl":"https://hooks.example.com/u"}`, nil, key},
		{"upayments", "POST", "/api/v1/create-multivendor-refund", `{"orderId":"VORDER","refundPayload":[{"refundRequestId":"VREQ","amountToRefund":"0.001"}],"reference":"up-2"}`, nil, key},
		{"paylink", "POST", "/rest/partner/v2/auth", `{"apiId":"x","secretKey":"y"}`, nil, credential{}},
		{"techrar", "POST", "/order/v1/merchant/invoices/{invoice_id}/refund/", `{"comments":"c","refunded_items":[{"id":ITEMNUM,"qty":1}]}`, nil, key},
		{"techrar", "GET", "/order/v1/merchant/invoices/", "", []string{"page", "page_size", "type", "status", "zatca_status", "serial", "order_id"}, key},
		{"techrar", "GET", "/order/v1/merchant/invoices/{invoice_id}/", "", nil, key},
		{"techrar", "GET", "/order/v1/merchant/invoices/config/", "", nil, key},
		{"techrar", "POST", "/order/v1/merchant/invoices/config/", `{"serial_prefix":"INV"}`, nil, key},
		// last: these cancel the merchant's queued refund, delete its
		// endpoint and refund all that is left of its order
		{"native", "POST", "/v1/refunds/{id}/cancel", "", nil, key},
		{"native", "DELETE", "/v1/webhook_endpoints/{id}", "", nil, key},
		{"paylink", "POST", "/rest/partner/v2/merchant/{key}/{value}/refund", `{"orderNumber":"ORDER","refundReason":"r"}`, nil, m.partnerToken},
	}
	defer func() { t.Logf("%d requests", f.sent) }()
	for i, r := range routes {
		if i%shards != shard {
			continue
		}
		path := m.path(r.path, false)
		name := r.method + " " + r.path
		body := m.fill(r.body)
		if r.surface != "techrar" && r.surface != "paylink" && strings.Contains(path+body, m.order) {
			// an order of its own, large enough that the mutations that
			// pass do not use up what the others could refund
			o := s.do("POST", "/v1/orders", s.key, map[string]any{"currency": "SAR", "amount": 10_000_000, "payment_method": "card",
				"source": map[string]any{"scheme": "visa", "last_digits": "4444"},
				"items":  []map[string]any{{"id": "line-1", "name_en": "Coffee", "qty": 1000, "unit_amount": 10_000, "tax_rate": "15"}}})
			if o.status != http.StatusCreated {
				t.Fatalf("order: %d %s", o.status, o.raw)
			}
			path, body = strings.ReplaceAll(path, m.order, o.str("id")), strings.ReplaceAll(body, m.order, o.str("id"))
		}
		t.Run(name, func(t *testing.T) {
			f.last = "" // the route's own setup changed the state
			var cases []fuzzCase
			if r.body != "" {
				cases = append(cases, fuzzCase{name: "valid", body: []byte(body)})
				cases = append(cases, bodyCases(body)...)
			}
			for _, q := range r.query {
				cases = append(cases, queryCases(q)...)
			}
			cases = append(cases, pathCases(r.path, path)...)
			for _, c := range headerCases(r.method, r.surface) {
				if r.body != "" {
					c.body = []byte(body)
				}
				cases = append(cases, c)
			}
			for _, c := range cases {
				c.method, c.surface, c.auth, c.route = r.method, r.surface, r.auth, r.path
				switch {
				case c.path == "":
					c.path = path
				case strings.HasPrefix(c.path, "?"):
					c.path = path + c.path
				case strings.HasPrefix(c.path, "\x00"):
					c.path = m.path(c.path[1:], false)
				case strings.HasPrefix(c.path, "\x01"):
					c.method, c.path, c.route = c.path[1:], path, ""
					if c.method == r.method {
						continue
					}
				}
				if only(c.name) {
					f.check(t, c)
				}
			}
		})
	}
}

// fuzzCase is one generated request. A generator's path is "" for the
// route's own, "?..." for its own with that query, "\x00" and a pattern
// whose other placeholders the merchant's objects fill, or "\x01" and a
// method to send to the route's path instead of its own.
type fuzzCase struct {
	name, surface, method, path string
	body                        []byte
	contentType                 string // "" sends application/json with a body
	noContentType               bool
	auth                        credential
	route                       string   // the route's pattern, for its OpenAPI operation ("" when the case leaves the route)
	headers                     []string // name, value pairs set last
	mayPass                     bool     // the input may be valid: a 2xx is no failure
}

type fuzzer struct {
	last string // the state after the last request
	sent int
	t    *testing.T
	s    *testServer
	m    *matrix
}

// state stands for everything of the merchant a refused request must
// leave as it was: the newest order, refund, invoice, event and audit
// entry (every change of an order or a refund writes an audit entry), the
// webhook endpoints, and every refund by status.
func (f *fuzzer) state(t *testing.T) string {
	ctx := context.Background()
	p := refund.Principal{MerchantID: f.s.mer.ID, Scopes: refund.MerchantScopes}
	var b strings.Builder
	add := func(v any, err error) {
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(v)
		b.Write(j)
		b.WriteByte('\n')
	}
	add(f.s.Service.ListOrders(ctx, p, refund.OrderFilter{Limit: 1}))
	add(f.s.Service.ListRefunds(ctx, p, refund.RefundFilter{Limit: 1}))
	add(f.s.Service.ListInvoices(ctx, p, refund.InvoiceFilter{Limit: 1}))
	add(f.s.Service.ListEvents(ctx, p, refund.EventFilter{Limit: 1}))
	add(f.s.Service.ListAudit(ctx, p, refund.AuditFilter{Limit: 1}))
	add(f.s.Service.ListWebhookEndpoints(ctx, p))
	add(f.s.Service.Stats(ctx))
	return b.String()
}

func (f *fuzzer) send(c fuzzCase) (int, http.Header, string) {
	req, err := http.NewRequest(c.method, f.s.URL()+c.path, bytes.NewReader(c.body))
	if err != nil {
		f.t.Fatalf("%s: %v", c.name, err)
	}
	switch {
	case c.noContentType:
	case c.contentType != "":
		req.Header.Set("Content-Type", c.contentType)
	case len(c.body) > 0:
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth.header != "" {
		req.Header.Set("Authorization", c.auth.header)
	}
	if c.auth.appID != "" {
		req.Header.Set("app-id", c.auth.appID)
	}
	for i := 0; i+1 < len(c.headers); i += 2 {
		req.Header[c.headers[i]] = append(req.Header[c.headers[i]][:0:0], c.headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		f.t.Fatalf("%s: %v", c.name, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 400 {
		scanned.Write(raw)
	}
	return res.StatusCode, res.Header, string(raw)
}

func (f *fuzzer) check(t *testing.T, c fuzzCase) {
	t.Helper()
	before := f.last
	if before == "" {
		before = f.state(t)
	}
	status, hdr, raw := f.send(c)
	after := f.state(t)
	f.last = after
	f.sent++
	what := fmt.Sprintf("%s %s [%s]", c.method, shorten(c.path), c.name)
	if status >= 500 {
		t.Errorf("%s: %d %s", what, status, shorten(raw))
		return
	}
	isJSON := strings.HasPrefix(hdr.Get("Content-Type"), "application/json")
	if c.surface == "native" && c.route != "" && c.method != "HEAD" && c.method != "OPTIONS" && (isJSON || status >= 400) {
		if err := conformsToOpenAPI(c.method, c.route, status, raw); err != nil {
			t.Errorf("%s: %d %s: %v", what, status, shorten(raw), err)
		}
	}
	if status < 400 {
		return
	}
	if after != before {
		t.Errorf("%s: refused (%d %s) but changed the merchant's state", what, status, shorten(raw))
	}
	if c.method != "HEAD" {
		if mt, _, _ := mime.ParseMediaType(hdr.Get("Content-Type")); mt != "application/json" {
			t.Errorf("%s: %d with Content-Type %q: %s", what, status, hdr.Get("Content-Type"), shorten(raw))
		}
		if !f.m.shape(c.surface, matrixReply{status: status, raw: raw}) || !otherShape(c.surface, raw) {
			t.Errorf("%s: %d not in the %s error shape: %s", what, status, c.surface, shorten(raw))
		}
	}
	if status == http.StatusMethodNotAllowed && hdr.Get("Allow") == "" {
		t.Errorf("%s: 405 without Allow", what)
	}
	// The same input again answers the same.
	status2, _, raw2 := f.send(c)
	if status2 != status || raw2 != raw {
		t.Errorf("%s: twice answered %d %s, then %d %s", what, status, shorten(raw), status2, shorten(raw2))
	}
}

// openAPIDoc is api/openapi.json, decoded for conformsToOpenAPI.
var openAPIDoc = sync.OnceValues(func() (map[string]any, error) {
	var doc map[string]any
	err := json.Unmarshal(api.OpenAPI(), &doc)
	return doc, err
})

// openAPISchemas compiles, once each, the response schemas the document
// names by JSON pointer.
var openAPISchemas = struct {
	sync.Mutex
	c   *jsonschema.Compiler
	got map[string]*jsonschema.Schema
}{got: map[string]*jsonschema.Schema{}}

// conformsToOpenAPI checks a native reply against the OpenAPI document:
// its status is one the operation documents (or the operation has a
// default), and its body matches that response's schema. A reply the
// route's catch-all gave (no such route, method not allowed), or the
// mux's redirect of a path that is not clean (/v1/orders/../x, an empty
// id), is the mux's, not the operation's, and is not checked here.
func conformsToOpenAPI(method, route string, status int, raw string) error {
	if status >= 300 && status < 400 || strings.Contains(raw, `"code":"not_found"`) || strings.Contains(raw, `"code":"method_not_allowed"`) {
		return nil
	}
	doc, err := openAPIDoc()
	if err != nil {
		return err
	}
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	paths, _ := doc["paths"].(map[string]any)
	op, _ := paths[route].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if op == nil {
		return fmt.Errorf("the OpenAPI document has no operation %s %s", method, route)
	}
	resps, _ := op["responses"].(map[string]any)
	code := fmt.Sprint(status)
	ptr := "#/paths/" + esc.Replace(route) + "/" + strings.ToLower(method) + "/responses/"
	resp, ok := resps[code].(map[string]any)
	if !ok {
		if resp, ok = resps["default"].(map[string]any); !ok {
			return fmt.Errorf("status %d is not documented for %s %s", status, method, route)
		}
		code = "default"
	}
	ptr += code
	if ref, ok := resp["$ref"].(string); ok {
		ptr = ref
	}
	ptr += "/content/application~1json/schema"
	openAPISchemas.Lock()
	defer openAPISchemas.Unlock()
	sch, ok := openAPISchemas.got[ptr]
	if !ok {
		if openAPISchemas.c == nil {
			d, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.OpenAPI()))
			if err != nil {
				return err
			}
			openAPISchemas.c = jsonschema.NewCompiler()
			openAPISchemas.c.DefaultDraft(jsonschema.Draft2020)
			if err := openAPISchemas.c.AddResource("https://refundd.invalid/openapi.json", d); err != nil {
				return err
			}
		}
		if sch, err = openAPISchemas.c.Compile("https://refundd.invalid/openapi.json" + ptr); err != nil {
			return fmt.Errorf("schema %s: %v", ptr, err)
		}
		openAPISchemas.got[ptr] = sch
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
	if err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("does not match %s: %v", ptr, err)
	}
	return nil
}

// otherShape reports whether raw is not another surface's envelope.
func otherShape(surface, raw string) bool {
	var body map[string]any
	if json.Unmarshal([]byte(raw), &body) != nil {
		return false
	}
	_, native := body["error"].(map[string]any)
	if native != (surface == "native") {
		return false
	}
	// the members each surface's documented error shape has, and may have
	need, may := map[string][]string{
		"native":    {"error"},
		"gateway":   {"message"},
		"sgate":     {"code", "message"},
		"upayments": {"status", "message"},
		"paylink":   {"status", "error", "message", "code"},
		"techrar":   {"detail"},
	}[surface], map[string][]string{
		"gateway":   {"errors"},
		"sgate":     {"field"},
		"upayments": {"data"},
		"techrar":   {"code", "field"},
	}[surface]
	for _, k := range need {
		if _, ok := body[k]; !ok {
			return false
		}
	}
	for k := range body {
		if !slices.Contains(need, k) && !slices.Contains(may, k) {
			return false
		}
	}
	return true
}

func shorten(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// badValues are what each member of a body is replaced with, by the type
// of its valid value.
var badValues = map[string][]struct{ name, raw string }{
	"number": {{"null", `null`}, {"string", `"1"`}, {"zero", `0`}, {"negative", `-1`}, {"float", `1.5`},
		{"exponent", `1e3`}, {"beyondInt64", `99999999999999999999`}, {"maxInt64", `9223372036854775807`}},
	"string": {{"null", `null`}, {"number", `1`}, {"empty", `""`}, {"long", `"` + strings.Repeat("x", 10000) + `"`},
		{"nul", `"a\u0000b"`}, {"bidi", `"a\u202eb"`}, {"invalidUTF8", "\"a\xff\xfeb\""}},
	// a decimal amount in a string
	"decimal": {{"null", `null`}, {"float", `1.5`}, {"negative", `"-1"`}, {"manyDecimals", `"0.0001"`},
		{"exponent", `"1e3"`}, {"beyondInt64", `"99999999999999999999"`}, {"empty", `""`}, {"long", `"` + strings.Repeat("9", 10000) + `"`}},
	"other": {{"null", `null`}, {"string", `"x"`}, {"number", `1`}, {"object", `{}`}, {"arrayOfNull", `[null]`}},
}

func valueKind(v any) string {
	switch v.(type) {
	case json.Number:
		return "number"
	case string:
		if _, err := strconv.ParseFloat(v.(string), 64); err == nil {
			return "decimal"
		}
		return "string"
	}
	return "other"
}

// bodyCases mutates each member of body, at every depth, and the body as a
// whole.
func bodyCases(body string) []fuzzCase {
	var v any
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		panic(body + ": " + err.Error())
	}
	var out []fuzzCase
	var walk func(path string, set func(json.RawMessage) []byte, v any)
	walk = func(path string, set func(json.RawMessage) []byte, v any) {
		if path != "" {
			for _, b := range badValues[valueKind(v)] {
				out = append(out, fuzzCase{name: path + "=" + b.name, body: set(json.RawMessage(b.raw))})
			}
		}
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				k := k
				walk(path+"."+k, func(r json.RawMessage) []byte {
					old := x[k]
					x[k] = r
					defer func() { x[k] = old }()
					return set(nil)
				}, x[k])
			}
		case []any:
			for i := range x {
				i := i
				walk(fmt.Sprintf("%s[%d]", path, i), func(r json.RawMessage) []byte {
					old := x[i]
					x[i] = r
					defer func() { x[i] = old }()
					return set(nil)
				}, x[i])
			}
		}
	}
	root := v
	walk("", func(r json.RawMessage) []byte {
		if r != nil {
			return r
		}
		j, err := json.Marshal(root)
		if err != nil {
			panic(err)
		}
		return j
	}, v)
	valid, _ := json.Marshal(root)
	first := ""
	if obj, ok := v.(map[string]any); ok {
		for k := range obj {
			if first == "" || k < first {
				first = k
			}
		}
	}
	dup := bytes.Replace(valid, []byte("{"), []byte(`{"`+first+`":null,`), 1)
	out = append(out,
		fuzzCase{name: "body=empty", body: nil, contentType: "application/json"},
		fuzzCase{name: "body=null", body: []byte(`null`)},
		fuzzCase{name: "body=array", body: []byte(`[]`)},
		fuzzCase{name: "body=number", body: []byte(`5`)},
		fuzzCase{name: "body=string", body: []byte(`"x"`)},
		fuzzCase{name: "body=notJSON", body: []byte(`amount=5`)},
		fuzzCase{name: "body=truncated", body: valid[:len(valid)-1]},
		fuzzCase{name: "body=trailing", body: append(append([]byte{}, valid...), `{}`...)},
		fuzzCase{name: "body=trailingGarbage", body: append(append([]byte{}, valid...), `x`...)},
		fuzzCase{name: "body=duplicateKey", body: dup},
		fuzzCase{name: "body=invalidUTF8", body: append([]byte("\xff"), valid...)},
		fuzzCase{name: "body=BOM", body: append([]byte("\xef\xbb\xbf"), valid...)},
		fuzzCase{name: "body=deep", body: []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000))},
		fuzzCase{name: "contentType=text", body: valid, contentType: "text/plain"},
		fuzzCase{name: "contentType=latin1", body: valid, contentType: "application/json; charset=latin1"},
		fuzzCase{name: "contentType=garbage", body: valid, contentType: ";;;="},
		fuzzCase{name: "contentType=form", body: valid, contentType: "application/x-www-form-urlencoded"},
		fuzzCase{name: "contentType=missing", body: valid, noContentType: true},
	)
	return out
}

// queryCases sends a documented query parameter with values of the wrong
// type, repeated, and an unknown one.
func queryCases(q string) []fuzzCase {
	var out []fuzzCase
	for _, v := range []string{"", "abc", "-1", "1.5", "99999999999999999999", "%00%FF", strings.Repeat("x", 10000), "1&" + q + "=2"} {
		name := "?" + q + "=" + v
		if len(v) > 40 {
			name = "?" + q + "=long"
		}
		out = append(out, fuzzCase{name: name, path: "?" + q + "=" + v})
	}
	out = append(out, fuzzCase{name: "?" + q + "[]", path: "?" + q + "[]=1"})
	return out
}

// pathCases puts ids of other forms where the route takes one, and sends
// the route methods it does not take.
func pathCases(pattern, path string) []fuzzCase {
	var out []fuzzCase
	if i := strings.Index(pattern, "{"); i >= 0 {
		j := strings.Index(pattern, "}")
		pre, post := pattern[:i], pattern[j+1:]
		for _, id := range []string{"", "%20", strings.Repeat("a", 10000), "%00", "%FF", "..", "-1", "99999999999999999999", "a%2Fb"} {
			name := "id=" + id
			if len(id) > 40 {
				name = "id=long"
			}
			p := pre + id + post
			// the other placeholders keep their real values
			out = append(out, fuzzCase{name: name, path: "\x00" + p})
		}
	}
	for _, method := range []string{"PUT", "DELETE", "HEAD", "OPTIONS"} {
		out = append(out, fuzzCase{name: "method=" + method, path: "\x01" + method})
	}
	return out
}

// headerCases sends malformed credentials and header values.
func headerCases(method, surface string) []fuzzCase {
	long := strings.Repeat("x", 10000)
	hs := [][]string{
		// (TestAuthorizationMatrix sends the other wrong callers)
		{"Authorization", "Bearer " + long}, {"Authorization", "Bearer \xff\xfe"},
	}
	if method == "POST" {
		hs = append(hs, []string{"Idempotency-Key", long}, []string{"Idempotency-Key", "\xff\xfe"})
	}
	if surface == "techrar" {
		hs = append(hs, []string{"app-id", "abc"}, []string{"app-id", "-1"}, []string{"app-id", "99999999999999999999"},
			[]string{"app-id", "1.5"}, []string{"app-id", ""})
	}
	var out []fuzzCase
	for _, h := range hs {
		name := h[1]
		if len(name) > 30 {
			name = name[:30] + "..."
		}
		out = append(out, fuzzCase{name: h[0] + ": " + name, headers: h})
	}
	return out
}

// TestAPIFuzz_DecimalsPerCurrency sends each surface that takes a decimal
// amount one decimal more than the order's currency has (KWD 3, SAR 2,
// JPY 0), as a string and as a JSON number, and the native API and the
// gateway a decimal where they take minor units: each is refused in the
// surface's shape and changes nothing.
func TestAPIFuzz_DecimalsPerCurrency(t *testing.T) {
	s := mustStart(t)
	m := newMatrix(t, s)
	f := &fuzzer{t: t, s: s, m: m}
	key := credential{name: "key", header: "Bearer " + s.key}
	for _, cur := range []struct {
		code, tooMany string
	}{{"KWD", "1.0001"}, {"SAR", "1.001"}, {"JPY", "1.0"}} {
		o := s.do("POST", "/v1/orders", s.key, map[string]any{"currency": cur.code, "amount": 1_000_000, "payment_method": "card",
			"source": map[string]any{"scheme": "visa", "last_digits": "4444"}})
		if o.status != http.StatusCreated {
			t.Fatalf("order: %d %s", o.status, o.raw)
		}
		id := o.str("id")
		for _, c := range []fuzzCase{
			{surface: "native", method: "POST", path: "/v1/refunds", body: []byte(`{"order_id":"` + id + `","amount":` + cur.tooMany + `}`)},
			{surface: "native", method: "POST", path: "/v1/orders/" + id + "/voids", body: []byte(`{"amount":` + cur.tooMany + `}`)},
			{surface: "gateway", method: "POST", path: "/v1/orders/" + id + "/refund", body: []byte(`{"amount":` + cur.tooMany + `}`)},
			{surface: "sgate", method: "POST", path: "/orders/" + id + "/refunds", body: []byte(`{"amount":"` + cur.tooMany + `","reason":"r"}`)},
			{surface: "upayments", method: "POST", path: "/api/v1/create-refund", body: []byte(`{"orderId":"` + id + `","totalPrice":"` + cur.tooMany + `"}`)},
			{surface: "upayments", method: "POST", path: "/api/v1/create-refund", body: []byte(`{"orderId":"` + id + `","totalPrice":` + cur.tooMany + `}`)},
		} {
			c.name, c.auth = cur.code+" "+cur.tooMany, key
			before := f.state(t)
			f.last = before
			f.check(t, c)
			if st, _, raw := f.send(c); st < 400 {
				t.Errorf("%s %s [%s]: %d %s; want it refused", c.method, c.path, c.name, st, shorten(raw))
			}
		}
	}
}
