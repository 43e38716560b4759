package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// openAPIDoc is the OpenAPI 3.1 document of the native API. It is edited
// by hand, next to the route table, and openapi_test.go holds it to the
// table, to statusOf and to a live server, so it cannot drift.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns a copy of the OpenAPI document (tests validate what
// other packages produce, such as webhook bodies, against it).
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDoc)
}

// docsPage renders the document once; the page never changes while the
// binary runs.
var docsPage = sync.OnceValues(func() ([]byte, error) { return renderDocs(openAPIDoc) })

func (a *API) docs(w http.ResponseWriter, r *http.Request) {
	page, err := docsPage()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	// The page is self-contained: inline CSS, no script, nothing fetched.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(page)
}

// The part of OpenAPI 3.1 the reference page shows. Objects whose order
// matters to a reader (paths, methods, properties, examples) keep the
// document's order.

type oaDoc struct {
	Info struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Description string `json:"description"`
	} `json:"info"`
	Tags       []oaTag                        `json:"tags"`
	Paths      ordered[ordered[*oaOperation]] `json:"paths"`
	Components struct {
		Schemas    ordered[*oaSchema]     `json:"schemas"`
		Parameters map[string]*oaParam    `json:"parameters"`
		Responses  map[string]*oaResponse `json:"responses"`
	} `json:"components"`
	ErrorCodes ordered[oaErrorCode] `json:"x-error-codes"`
}

type oaTag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type oaOperation struct {
	ID          string               `json:"operationId"`
	Tags        []string             `json:"tags"`
	Summary     string               `json:"summary"`
	Description string               `json:"description"`
	Security    *[]json.RawMessage   `json:"security"`
	Parameters  []*oaParam           `json:"parameters"`
	RequestBody *oaRequestBody       `json:"requestBody"`
	Responses   ordered[*oaResponse] `json:"responses"`
	ErrorCodes  []string             `json:"x-error-codes"`
}

type oaParam struct {
	Ref         string              `json:"$ref"`
	Name        string              `json:"name"`
	In          string              `json:"in"`
	Required    bool                `json:"required"`
	Description string              `json:"description"`
	Schema      *oaSchema           `json:"schema"`
	Example     json.RawMessage     `json:"example"`
	Examples    ordered[*oaExample] `json:"examples"`
}

type oaRequestBody struct {
	Required    bool              `json:"required"`
	Description string            `json:"description"`
	Content     ordered[*oaMedia] `json:"content"`
}

type oaResponse struct {
	Ref         string            `json:"$ref"`
	Description string            `json:"description"`
	Content     ordered[*oaMedia] `json:"content"`
}

type oaMedia struct {
	Schema   *oaSchema           `json:"schema"`
	Examples ordered[*oaExample] `json:"examples"`
}

type oaExample struct {
	Summary string          `json:"summary"`
	Value   json.RawMessage `json:"value"`
}

type oaSchema struct {
	Ref         string             `json:"$ref"`
	Type        oaTypes            `json:"type"`
	Format      string             `json:"format"`
	Description string             `json:"description"`
	Enum        []json.RawMessage  `json:"enum"`
	Required    []string           `json:"required"`
	Properties  ordered[*oaSchema] `json:"properties"`
	Items       *oaSchema          `json:"items"`
}

type oaErrorCode struct {
	Status      int    `json:"status"`
	Description string `json:"description"`
}

// oaTypes is a schema's "type": one name or a list ("string", "null").
type oaTypes []string

func (t *oaTypes) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*t = oaTypes{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(t))
}

// ordered is a JSON object decoded with its keys in document order.
type ordered[T any] []entry[T]

type entry[T any] struct {
	Key string
	Val T
}

func (o *ordered[T]) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("openapi: want an object, got %s", b)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var v T
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("openapi: %s: %w", t, err)
		}
		*o = append(*o, entry[T]{Key: t.(string), Val: v})
	}
	return nil
}

func (o ordered[T]) get(key string) (T, bool) {
	for _, e := range o {
		if e.Key == key {
			return e.Val, true
		}
	}
	var zero T
	return zero, false
}

// The reference page's view of the document.

type docsView struct {
	Title, Version string
	Intro          []template.HTML
	Groups         []docsGroup
	Schemas        []docsSchema
	Codes          []docsCode
}

type docsGroup struct {
	Name        string
	Description template.HTML
	Ops         []docsOp
}

type docsOp struct {
	Anchor, Method, Path, Summary string
	Description                   []template.HTML
	Public                        bool
	Params                        []docsField
	Body                          *docsBody
	Responses                     []docsResponse
}

type docsBody struct {
	MediaType string
	Schema    template.HTML
	Fields    []docsField
	Examples  []docsExample
}

type docsResponse struct {
	Status, MediaType   string
	Description, Schema template.HTML
	Codes               []string
	Examples            []docsExample
}

type docsField struct {
	Name, In    string
	Required    bool
	Type        template.HTML
	Description template.HTML
}

type docsExample struct {
	Name, Summary, Text string
}

type docsSchema struct {
	Name        string
	Description template.HTML
	Type        template.HTML
	Fields      []docsField
}

type docsCode struct {
	Code        string
	Status      int
	Description template.HTML
}

// renderDocs renders the reference page of an OpenAPI document.
func renderDocs(raw []byte) ([]byte, error) {
	var d oaDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	v := docsView{Title: d.Info.Title, Version: d.Info.Version, Intro: paragraphs(d.Info.Description)}
	codeStatus := map[string]int{}
	for _, c := range d.ErrorCodes {
		codeStatus[c.Key] = c.Val.Status
		v.Codes = append(v.Codes, docsCode{Code: c.Key, Status: c.Val.Status, Description: inline(c.Val.Description)})
	}
	groups := map[string]*docsGroup{}
	var order []string
	for _, t := range d.Tags {
		groups[t.Name] = &docsGroup{Name: t.Name, Description: inline(t.Description)}
		order = append(order, t.Name)
	}
	for _, p := range d.Paths {
		for _, m := range p.Val {
			op, err := docsOperation(&d, p.Key, m.Key, m.Val, codeStatus)
			if err != nil {
				return nil, err
			}
			tag := "Other"
			if len(m.Val.Tags) > 0 {
				tag = m.Val.Tags[0]
			}
			g, ok := groups[tag]
			if !ok {
				g = &docsGroup{Name: tag}
				groups[tag] = g
				order = append(order, tag)
			}
			g.Ops = append(g.Ops, op)
		}
	}
	for _, name := range order {
		if g := groups[name]; len(g.Ops) > 0 {
			v.Groups = append(v.Groups, *g)
		}
	}
	for _, s := range d.Components.Schemas {
		v.Schemas = append(v.Schemas, docsSchema{Name: s.Key, Description: inline(s.Val.Description),
			Type: typeHTML(s.Val), Fields: fields(&d, s.Val)})
	}
	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func docsOperation(d *oaDoc, path, method string, o *oaOperation, codeStatus map[string]int) (docsOp, error) {
	op := docsOp{Anchor: o.ID, Method: strings.ToUpper(method), Path: path, Summary: o.Summary,
		Description: paragraphs(o.Description), Public: o.Security != nil && len(*o.Security) == 0}
	for _, p := range o.Parameters {
		if p.Ref != "" {
			rp, ok := d.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
			if !ok {
				return op, fmt.Errorf("openapi: %s %s: unknown parameter %s", method, path, p.Ref)
			}
			p = rp
		}
		op.Params = append(op.Params, docsField{Name: p.Name, In: p.In, Required: p.Required, Type: typeHTML(p.Schema),
			Description: inline(p.Description)})
	}
	if b := o.RequestBody; b != nil && len(b.Content) > 0 {
		mt := b.Content[0]
		op.Body = &docsBody{MediaType: mt.Key, Schema: typeHTML(mt.Val.Schema), Fields: fields(d, mt.Val.Schema),
			Examples: examples(mt.Val.Examples)}
	}
	for _, r := range o.Responses {
		resp := r.Val
		if resp.Ref != "" {
			rr, ok := d.Components.Responses[strings.TrimPrefix(resp.Ref, "#/components/responses/")]
			if !ok {
				return op, fmt.Errorf("openapi: %s %s: unknown response %s", method, path, resp.Ref)
			}
			resp = rr
		}
		dr := docsResponse{Status: r.Key, Description: inline(resp.Description)}
		if len(resp.Content) > 0 {
			mt := resp.Content[0]
			dr.MediaType, dr.Schema, dr.Examples = mt.Key, typeHTML(mt.Val.Schema), examples(mt.Val.Examples)
		}
		for _, c := range o.ErrorCodes {
			if strconv.Itoa(codeStatus[c]) == r.Key {
				dr.Codes = append(dr.Codes, c)
			}
		}
		op.Responses = append(op.Responses, dr)
	}
	return op, nil
}

// fields lists the properties of an object schema (following one $ref).
func fields(d *oaDoc, s *oaSchema) []docsField {
	if s != nil && s.Ref != "" {
		s, _ = d.Components.Schemas.get(refName(s.Ref))
	}
	if s == nil {
		return nil
	}
	return propFields(s, "")
}

// propFields lists the properties of s, and those of its inline objects
// as "parent.child".
func propFields(s *oaSchema, prefix string) []docsField {
	var out []docsField
	for _, p := range s.Properties {
		out = append(out, docsField{Name: prefix + p.Key, Required: contains(s.Required, p.Key), Type: typeHTML(p.Val),
			Description: inline(p.Val.Description)})
		if p.Val.Ref == "" && len(p.Val.Properties) > 0 {
			out = append(out, propFields(p.Val, prefix+p.Key+".")...)
		}
	}
	return out
}

func examples(ex ordered[*oaExample]) []docsExample {
	var out []docsExample
	for _, e := range ex {
		// A string is a document of another media type (XML): show it as is.
		var text string
		if json.Unmarshal(e.Val.Value, &text) != nil {
			var buf bytes.Buffer
			if err := json.Indent(&buf, e.Val.Value, "", "  "); err != nil {
				buf.Reset()
				buf.Write(e.Val.Value)
			}
			text = buf.String()
		}
		out = append(out, docsExample{Name: e.Key, Summary: e.Val.Summary, Text: text})
	}
	return out
}

func refName(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

// typeHTML describes a schema's type in a few words, linking named schemas.
func typeHTML(s *oaSchema) template.HTML {
	if s == nil {
		return ""
	}
	if s.Ref != "" {
		n := template.HTMLEscapeString(refName(s.Ref))
		return template.HTML(`<a href="#schema-` + n + `">` + n + `</a>`)
	}
	var b strings.Builder
	for i, t := range s.Type {
		if i > 0 {
			b.WriteString(" | ")
		}
		if t == "array" && s.Items != nil {
			b.WriteString("array of " + string(typeHTML(s.Items)))
			continue
		}
		b.WriteString(template.HTMLEscapeString(t))
	}
	if s.Format != "" {
		b.WriteString(" (" + template.HTMLEscapeString(s.Format) + ")")
	}
	if len(s.Enum) > 0 {
		vals := make([]string, len(s.Enum))
		for i, e := range s.Enum {
			vals[i] = "<code>" + template.HTMLEscapeString(string(e)) + "</code>"
		}
		b.WriteString(": " + strings.Join(vals, ", "))
	}
	return template.HTML(b.String())
}

// paragraphs splits a description on blank lines and renders each.
func paragraphs(s string) []template.HTML {
	var out []template.HTML
	for _, p := range strings.Split(s, "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, inline(p))
		}
	}
	return out
}

// inline renders the little Markdown the document uses: `code` and
// **bold**. Everything else is escaped.
func inline(s string) template.HTML {
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(part) + "</code>")
			continue
		}
		for j, bold := range strings.Split(part, "**") {
			if j%2 == 1 {
				b.WriteString("<strong>" + template.HTMLEscapeString(bold) + "</strong>")
			} else {
				b.WriteString(template.HTMLEscapeString(bold))
			}
		}
	}
	return template.HTML(b.String())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var docsTemplate = template.Must(template.New("docs").Funcs(template.FuncMap{"lower": strings.ToLower}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} {{.Version}}</title>
<style>
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;background:#fff}
nav{position:fixed;top:0;bottom:0;left:0;width:250px;overflow:auto;padding:16px;background:#f5f6f8;border-right:1px solid #e1e4e8;box-sizing:border-box;font-size:13px}
nav a{display:block;color:#1d2330;text-decoration:none;padding:1px 0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
nav a:hover{text-decoration:underline}
nav h3{margin:14px 0 4px;font-size:12px;text-transform:uppercase;color:#5b6472}
main{margin-left:250px;padding:24px 40px;max-width:1000px}
h1{margin-top:0}
h2{border-bottom:2px solid #e1e4e8;padding-bottom:4px;margin-top:40px}
section.op{border:1px solid #e1e4e8;border-radius:6px;padding:12px 18px;margin:18px 0}
h3.op{margin:0 0 6px;font-size:17px}
.m{display:inline-block;min-width:58px;text-align:center;border-radius:4px;padding:1px 6px;color:#fff;font-size:12px;font-weight:600;margin-right:6px}
.get{background:#2f7d32}.post{background:#1565c0}.patch{background:#8e5b00}.delete{background:#b3261e}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{background:#f0f2f4;border-radius:3px;padding:0 3px}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:4px;padding:8px 10px;overflow:auto;max-height:360px;white-space:pre-wrap;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:14px}
th,td{text-align:left;vertical-align:top;border-bottom:1px solid #eceef1;padding:4px 8px}
th{font-size:12px;color:#5b6472;text-transform:uppercase}
.req{color:#b3261e;font-size:12px}
.pub{color:#2f7d32;font-size:12px}.auth{color:#5b6472;font-size:12px}
details{margin:4px 0}summary{cursor:pointer;color:#1565c0}
h4{margin:12px 0 4px;font-size:14px}
</style>
</head>
<body>
<nav>
<strong>{{.Title}}</strong> <span class="auth">v{{.Version}}</span>
{{range .Groups}}<h3>{{.Name}}</h3>{{range .Ops}}<a href="#{{.Anchor}}">{{.Method}} {{.Path}}</a>{{end}}{{end}}
<h3>Tables</h3><a href="#errors">Error codes</a><a href="#schemas">Schemas</a><a href="/openapi.json">openapi.json</a>
</nav>
<main>
<h1>{{.Title}} <small class="auth">v{{.Version}} &middot; <a href="/openapi.json">OpenAPI 3.1 document</a></small></h1>
{{range .Intro}}<p>{{.}}</p>
{{end}}
{{range .Groups}}<h2 id="tag-{{.Name}}">{{.Name}}</h2>
{{if .Description}}<p>{{.Description}}</p>{{end}}
{{range .Ops}}<section class="op" id="{{.Anchor}}">
<h3 class="op"><span class="m {{lower .Method}}">{{.Method}}</span><code>{{.Path}}</code> &mdash; {{.Summary}}</h3>
{{if .Public}}<div class="pub">No API key needed.</div>{{else}}<div class="auth">Authorization: Bearer API key.</div>{{end}}
{{range .Description}}<p>{{.}}</p>{{end}}
{{if .Params}}<h4>Parameters</h4>
<table><tr><th>Name</th><th>In</th><th>Type</th><th>Description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{with .Body}}<h4>Request body <span class="auth">{{.MediaType}}, {{.Schema}}</span></h4>
{{if .Fields}}<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>
{{range .Fields}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{range .Examples}}<details><summary>Example request <code>{{.Name}}</code>{{if .Summary}}: {{.Summary}}{{end}}</summary><pre>{{.Text}}</pre></details>
{{end}}{{end}}
<h4>Responses</h4>
<table><tr><th>Status</th><th>Body</th><th>Description</th></tr>
{{range .Responses}}<tr><td><strong>{{.Status}}</strong></td><td>{{.Schema}}{{if and .MediaType (ne .MediaType "application/json")}}<br><span class="auth">{{.MediaType}}</span>{{end}}</td><td>{{.Description}}{{if .Codes}}<br>{{range .Codes}}<code>{{.}}</code> {{end}}{{end}}
{{range .Examples}}<details><summary>Example <code>{{.Name}}</code>{{if .Summary}}: {{.Summary}}{{end}}</summary><pre>{{.Text}}</pre></details>{{end}}</td></tr>
{{end}}</table>
</section>
{{end}}{{end}}
<h2 id="errors">Error codes</h2>
<p>Every error answers <code>{"error":{"code","message","param"}}</code> with one of these codes.</p>
<table><tr><th>Code</th><th>Status</th><th>Meaning</th></tr>
{{range .Codes}}<tr><td><code>{{.Code}}</code></td><td>{{.Status}}</td><td>{{.Description}}</td></tr>
{{end}}</table>
<h2 id="schemas">Schemas</h2>
{{range .Schemas}}<section class="op" id="schema-{{.Name}}">
<h3 class="op">{{.Name}}</h3>
{{if .Description}}<p>{{.Description}}</p>{{end}}
{{if .Fields}}<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>
{{range .Fields}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{else}}<p>{{.Type}}</p>{{end}}
</section>
{{end}}
</main>
</body>
</html>
`))
