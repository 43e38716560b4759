package api

import "maps"

// RouteInfo is one row of the route table, as the OpenAPI tests see it.
type RouteInfo struct {
	Method, Pattern string
	Query           []string
	Public          bool
	Idempotent      bool // honours Idempotency-Key
}

// Routes returns the route table Register serves.
func Routes() []RouteInfo {
	var out []RouteInfo
	for _, r := range New(nil, nil).routes() {
		out = append(out, RouteInfo{Method: r.method, Pattern: r.pattern, Query: r.query, Public: r.public, Idempotent: r.creates != ""})
	}
	return out
}

// ErrorStatuses returns the code-to-status table of the native API.
func ErrorStatuses() map[string]int { return maps.Clone(statusOf) }

// RenderDocs renders the reference page of an OpenAPI document.
var RenderDocs = renderDocs

// MultiValued returns the query parameters that may be repeated.
func MultiValued() map[string]bool { return maps.Clone(multiValued) }
