package api_test

// These tests drive refunds and orders through states the document's
// examples do not reach (approved, rejected, resolved after review) and
// check the live replies against the documented schemas, as an
// OpenAPI-driven fuzzer or a generated client reads them.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/refundd/refundd/api"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// statesFixture is a merchant with an order of 1000.00 SAR, a key that
// creates refunds and another that decides on them.
type statesFixture struct {
	l            *live
	s            spec
	maker, other string
	orderID      string
}

func mustStatesFixture(t *testing.T) *statesFixture {
	t.Helper()
	l := mustStart(t)
	mid, key := l.merchant(t)
	f := &statesFixture{l: l, s: l.spec(), maker: key, other: l.key(t, mid, refund.MerchantScopes...)}
	r := f.post(t, "/v1/orders", key, map[string]any{"currency": "SAR", "amount": 100000, "payment_method": "card",
		"source": map[string]any{"last_digits": "4444"}}, http.StatusCreated)
	f.orderID = str(obj(r.body)["id"])
	return f
}

func (f *statesFixture) post(t *testing.T, path, key string, body any, want int) reply {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	r := f.l.do("POST", path, key, b, nil)
	if r.status != want {
		t.Fatalf("POST %s: %d %s, want %d", path, r.status, r.short(), want)
	}
	return r
}

// refund creates a refund of amount by the maker and answers its id.
func (f *statesFixture) refund(t *testing.T, amount int64) string {
	t.Helper()
	r := f.post(t, "/v1/refunds", f.maker, map[string]any{"order_id": f.orderID, "amount": amount}, http.StatusCreated)
	return str(obj(r.body)["id"])
}

// held sets an approval threshold below amount and creates a refund of
// amount, which waits for approval.
func (f *statesFixture) held(t *testing.T, amount int64) string {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"approval_threshold": map[string]any{"SAR": amount}})
	if r := f.l.do("PUT", "/v1/refund_policy", f.maker, b, nil); r.status != http.StatusOK {
		t.Fatalf("PUT /v1/refund_policy: %d %s", r.status, r.short())
	}
	return f.refund(t, amount)
}

// inReview creates a queued refund and puts it in requires_review in the
// store, as the worker leaves one whose last attempt went unanswered.
func (f *statesFixture) inReview(t *testing.T, amount int64) string {
	t.Helper()
	r := f.post(t, "/v1/refunds", f.maker, map[string]any{"order_id": f.orderID, "amount": amount, "queue": true}, http.StatusCreated)
	id := str(obj(r.body)["id"])
	err := f.l.srv.Store.Update(context.Background(), func(tx refund.Tx) error {
		rf, err := tx.GetRefund(context.Background(), "", id)
		if err != nil {
			return err
		}
		rf.Status = refund.StatusRequiresReview
		return tx.UpdateRefund(context.Background(), rf)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestOpenAPI_TransitionsMatchSchema: a refund's history names every
// status it left, requires_approval and requires_review included.
func TestOpenAPI_TransitionsMatchSchema(t *testing.T) {
	f := mustStatesFixture(t)
	tests := []struct {
		name string
		make func(t *testing.T) string // answers the refund's id
		from string                    // a status the history must name as left
	}{
		{"Succeeded", func(t *testing.T) string { return f.refund(t, 1000) }, "processing"},
		{"Approved", func(t *testing.T) string {
			id := f.held(t, 2000)
			f.post(t, "/v1/refunds/"+id+"/approve", f.other, nil, http.StatusOK)
			return id
		}, "requires_approval"},
		{"Rejected", func(t *testing.T) string {
			id := f.held(t, 3000)
			f.post(t, "/v1/refunds/"+id+"/reject", f.other, map[string]any{"reason": "not authorised"}, http.StatusOK)
			return id
		}, "requires_approval"},
		{"Resolved", func(t *testing.T) string {
			id := f.inReview(t, 4000)
			f.post(t, "/v1/refunds/"+id+"/resolve", f.maker, map[string]any{"outcome": "succeeded", "note": "seen in the report"}, http.StatusOK)
			return id
		}, "requires_review"},
	}
	op := f.s.op(t, "listRefundTransitions")
	schema := jsonSchema(op.responses(t, f.s)["200"])
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.make(t)
			r := f.l.do("GET", "/v1/refunds/"+id+"/transitions", f.maker, nil, nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET transitions: %d %s", r.status, r.short())
			}
			left := false
			for _, tr := range arr(obj(r.body)["data"]) {
				left = left || str(obj(tr)["from"]) == tt.from
			}
			if !left {
				t.Fatalf("the history does not leave %s: %s", tt.from, r.short())
			}
			for _, e := range f.s.validate(t, schema, r.body, "reply") {
				t.Error(e)
			}
		})
	}
}

// TestOpenAPI_ProcessorRefusalsDocumented: the refusals an order's
// processor account brings (an account the merchant does not have, a
// refund its processor cannot express) are codes the operation lists, with
// their documented status, so a client generated from the document knows
// them.
func TestOpenAPI_ProcessorRefusalsDocumented(t *testing.T) {
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{Addr: "127.0.0.1:0", DB: sqlitetest.URL(t), WorkerInterval: -1,
		WebhookAllowPrivate: true, SecretKey: strings.Repeat("5f1d3c0a", 8)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	l := &live{srv: srv}
	s := l.spec()
	table := s.errorTable(t)
	merchantID, key := l.merchant(t)
	// A gateway (seed 001) refunds amounts, not vendor splits. Nothing is
	// sent to it: the refund is refused before anything is reserved.
	if _, err := srv.Service.AddProcessorAccount(ctx, merchantID, refund.ProcessorAccountInput{Name: "gw", Kind: "gateway",
		URL: "http://127.0.0.1:1", Credential: "secret"}); err != nil {
		t.Fatal(err)
	}
	order := func(t *testing.T) string {
		t.Helper()
		r := l.do("POST", "/v1/orders", key, []byte(`{"currency":"SAR","amount":10000,"processor":"gw","processor_order_id":"PAY-1",
			"vendors":[{"id":"v1","amount":10000}]}`), nil)
		if r.status != http.StatusCreated {
			t.Fatalf("order at gw: %d %s", r.status, r.short())
		}
		return str(obj(r.body)["id"])
	}
	tests := []struct {
		name, opID, path string
		body             func(t *testing.T) string
		code             string
	}{
		{"UnknownAccount", "createOrder", "/v1/orders",
			func(*testing.T) string { return `{"currency":"SAR","amount":10000,"processor":"nowhere"}` },
			refund.EProcessorAccountNotFound},
		{"VendorsAtAGateway", "createRefund", "/v1/refunds",
			func(t *testing.T) string {
				return `{"order_id":"` + order(t) + `","vendors":[{"vendor_id":"v1","amount":1000}]}`
			},
			refund.EProcessorUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := s.op(t, tt.opID)
			r := l.do("POST", tt.path, key, []byte(tt.body(t)), nil)
			if r.errorCode() != tt.code {
				t.Fatalf("got %d %s, want %s", r.status, r.short(), tt.code)
			}
			if !slices.Contains(o.codes(), tt.code) {
				t.Errorf("%s answers %s, which its x-error-codes does not list", tt.opID, tt.code)
			}
			if resp := o.responses(t, s)[strconv.Itoa(r.status)]; table[tt.code] != r.status || !isErrorEnvelope(resp) {
				t.Errorf("%s answers %s with %d, not documented with the Error envelope (table: %d)", tt.opID, tt.code, r.status, table[tt.code])
			}
		})
	}
}

// TestOpenAPI_RepeatedQueryParametersAreArrays: a query parameter the
// server takes repeated (reconcile's map=column=HEADER, one per column) is
// documented as an array, so a client generated from the document can send
// several; one it refuses repeated is not.
func TestOpenAPI_RepeatedQueryParametersAreArrays(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	multi := api.MultiValued()
	documented := map[string]operation{}
	for _, o := range s.operations(t) {
		documented[o.key()] = o
	}
	checked := 0
	for _, rt := range api.Routes() {
		o, ok := documented[rt.Method+" "+rt.Pattern]
		if !ok {
			continue // TestOpenAPI_DocumentMatchesRoutes reports it
		}
		for _, p := range o.params(t, s) {
			if p["in"] != "query" {
				continue
			}
			name := str(p["name"])
			isArray := slices.Contains(typeList(obj(p["schema"])["type"]), "array")
			if isArray != multi[name] {
				t.Errorf("%s: query parameter %s is documented as an array: %v; the server takes it repeated: %v", o.key(), name, isArray, multi[name])
			}
			if multi[name] {
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no repeatable query parameter documented: the check checks nothing")
	}
	// And the server does read both: two columns under other headers.
	_, key := l.merchant(t)
	report := "refund_id,Acquirer Reference,Settled,currency,status\nre_0195c2b2-0000-7000-8000-00000000cafe,74000000000000000000998,1.00,SAR,approved\n"
	q := url.Values{"map": {"arn=Acquirer Reference", "amount=Settled"}, "from": {"2026-03-01"}, "to": {"2026-03-01"}}
	r := l.do("POST", "/v1/reconciliations?"+q.Encode(), key, []byte(report), http.Header{"Content-Type": {"text/csv"}})
	if r.status != http.StatusOK {
		t.Fatalf("reconcile with two map parameters: %d %s", r.status, r.short())
	}
}

// TestOpenAPI_IdempotencyKeySchemaIsTheServers: the Idempotency-Key the
// document allows is the one the server takes, so a fuzzer sending keys
// the schema allows is not refused, nor one it forbids taken.
func TestOpenAPI_IdempotencyKeySchemaIsTheServers(t *testing.T) {
	l := mustStart(t)
	s := l.spec()
	_, key := l.merchant(t)
	tests := []struct {
		name, key string
		taken     bool
	}{
		{"Plain", "rma-42", true},
		{"InnerSpace", "rma 42", true},
		{"Punctuation", `!"#$%&'()*+,-./:;<=>?@[\]^_{|}~`, true},
		{"Longest", strings.Repeat("k", 255), true},
		{"TooLong", strings.Repeat("k", 256), false},
		{"NotASCII", "clé-1", false},
	}
	var schemas []map[string]any
	for _, o := range s.operations(t) {
		for _, p := range o.params(t, s) {
			if p["in"] == "header" && p["name"] == "Idempotency-Key" {
				schemas = append(schemas, obj(p["schema"]))
			}
		}
	}
	if len(schemas) == 0 {
		t.Fatal("no operation documents Idempotency-Key")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := l.do("POST", "/v1/webhook_endpoints", key, []byte(`{"url":"https://example.com/`+tt.name+`"}`),
				http.Header{"Idempotency-Key": {tt.key}})
			if taken := r.status == http.StatusCreated; taken != tt.taken {
				t.Fatalf("the server took it: %v (%d %s), want %v", taken, r.status, r.short(), tt.taken)
			}
			for _, sch := range schemas {
				n := int64(len([]rune(tt.key))) // JSON Schema counts characters
				allowed := n <= num(sch["maxLength"], 1<<30) && n >= num(sch["minLength"], 0)
				if p, ok := sch["pattern"].(string); ok {
					allowed = allowed && regexp.MustCompile(p).MatchString(tt.key)
				}
				if allowed != tt.taken {
					t.Fatalf("the schema %v allows it: %v; the server takes it: %v", sch, allowed, tt.taken)
				}
			}
		})
	}
}

// num is a schema's number, or def when it has none.
func num(v any, def int64) int64 {
	n, ok := v.(json.Number)
	if !ok {
		return def
	}
	i, err := n.Int64()
	if err != nil {
		return def
	}
	return i
}
