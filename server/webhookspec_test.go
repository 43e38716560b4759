package server_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/refundd/refundd/api"
)

// webhookSchema is the OpenAPI document's schema of a delivered event
// (webhooks.event.post's request body), compiled by a JSON Schema 2020-12
// validator that is not refundd's: the document's $refs resolve inside it.
var webhookSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.OpenAPI()))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("https://refundd.invalid/openapi.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("https://refundd.invalid/openapi.json#/webhooks/event/post/requestBody/content/application~1json/schema")
})

// validWebhook fails t unless body is a delivered event as the document
// describes it.
func validWebhook(t *testing.T, body []byte) {
	t.Helper()
	sch, err := webhookSchema()
	if err != nil {
		t.Fatalf("compile the webhooks schema: %v", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("webhook body is not JSON: %v: %s", err, body)
	}
	if err := sch.Validate(v); err != nil {
		t.Fatalf("webhook body does not match the OpenAPI webhooks schema: %v\n%s", err, body)
	}
}

// TestWebhookSchema_RefusesWhatIsNotDelivered: the check above can fail.
func TestWebhookSchema_RefusesWhatIsNotDelivered(t *testing.T) {
	sch, err := webhookSchema()
	if err != nil {
		t.Fatal(err)
	}
	good := `{"id":"evt_1","object":"event","type":"refund.succeeded","timestamp":"2026-03-01T09:00:00Z","refund_id":"re_1",
		"order_id":"ord_1","created_at":"2026-03-01T09:00:00Z","data":{"id":"re_1","object":"refund","order_id":"ord_1",
		"amount":100,"currency":"SAR","status":"succeeded","merchant_reference":null,"failure_code":null,
		"failure_message":null,"arn":null,"created_at":"2026-03-01T09:00:00Z","updated_at":"2026-03-01T09:00:00Z"}}`
	for name, body := range map[string]string{
		"NoTimestamp":     replace(good, `"timestamp":"2026-03-01T09:00:00Z",`, ""),
		"AmountAsString":  replace(good, `"amount":100`, `"amount":"1.00"`),
		"UnknownType":     replace(good, `"refund.succeeded"`, `"refund.exploded"`),
		"BadTime":         replace(good, `"timestamp":"2026-03-01T09:00:00Z"`, `"timestamp":"yesterday"`),
		"UndocumentedKey": replace(good, `"arn":null`, `"arn":null,"pan":"4111111111111111"`),
	} {
		v, err := jsonschema.UnmarshalJSON(bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		if sch.Validate(v) == nil {
			t.Errorf("%s: accepted %s", name, body)
		}
	}
	v, _ := jsonschema.UnmarshalJSON(bytes.NewBufferString(good))
	if err := sch.Validate(v); err != nil {
		t.Fatalf("a good body is refused: %v", err)
	}
}

func replace(s, old, new string) string {
	return string(bytes.Replace([]byte(s), []byte(old), []byte(new), 1))
}
