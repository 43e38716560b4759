package console

import (
	"go/ast"
	"go/parser"
	"go/token"
	"html"
	"html/template"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"
	"time"

	"github.com/refundd/refundd/refund"
)

// TestCatalogues_SameMessages: every message is in every language, with
// the same arguments, and none is empty.
func TestCatalogues_SameMessages(t *testing.T) {
	placeholders := regexp.MustCompile(`\{\d+\}`)
	args := func(msg string) []string {
		ps := placeholders.FindAllString(msg, -1)
		slices.Sort(ps)
		return slices.Compact(ps)
	}
	for _, a := range languages {
		for _, b := range languages {
			if a == b {
				continue
			}
			for id, msg := range catalogues[a].msgs {
				other, ok := catalogues[b].msgs[id]
				switch {
				case !ok:
					t.Errorf("message %q is in messages/%s.json but not in messages/%s.json", id, a, b)
				case strings.TrimSpace(msg) == "":
					t.Errorf("message %q is empty in messages/%s.json", id, a)
				case !slices.Equal(args(msg), args(other)):
					t.Errorf("message %q takes %v in %s but %v in %s", id, args(msg), a, args(other), b)
				}
			}
		}
	}
}

// TestCatalogues_ArabicIsArabic: an Arabic message that reads as words is
// written in Arabic script (not left in English or transliterated), and
// its digits are Latin like the English ones.
func TestCatalogues_ArabicIsArabic(t *testing.T) {
	arabic := regexp.MustCompile(`\p{Arabic}`)
	words := regexp.MustCompile(`[A-Za-z]{3,}`)
	for id, msg := range catalogues["ar"].msgs {
		// Brand names stay as they are.
		if strings.HasPrefix(id, "method.") && !arabic.MatchString(msg) {
			continue
		}
		if words.MatchString(placeholdersRE.ReplaceAllString(msg, "")) && !arabic.MatchString(msg) {
			t.Errorf("ar %q = %q has no Arabic", id, msg)
		}
		if strings.ContainsAny(msg, "٠١٢٣٤٥٦٧٨٩") {
			t.Errorf("ar %q = %q has Arabic-Indic digits; the console writes Latin digits", id, msg)
		}
	}
}

var placeholdersRE = regexp.MustCompile(`\{\d+\}`)

// TestTemplates_UseKnownMessages: every {{t "id"}} of every template names
// a message of the catalogues, and every {{enum "prefix" ...}} a prefix
// that has messages.
func TestTemplates_UseKnownMessages(t *testing.T) {
	c := New(nil, nil)
	set := c.pageSet(locale{catalogue: catalogues["en"], zone: time.UTC})
	used := 0
	for name, tmpl := range set {
		for _, tt := range tmpl.Templates() {
			if tt.Tree == nil {
				continue
			}
			walk(tt.Tree.Root, func(cmd *parse.CommandNode) {
				if len(cmd.Args) < 2 {
					return
				}
				fn, ok := cmd.Args[0].(*parse.IdentifierNode)
				lit, isLit := cmd.Args[1].(*parse.StringNode)
				if !ok || !isLit {
					return
				}
				switch fn.Ident {
				case "t":
					used++
					if _, ok := catalogues["en"].msgs[lit.Text]; !ok {
						t.Errorf("%s (%s) uses message %q, which no catalogue has", name, tt.Name(), lit.Text)
					}
				case "enum":
					if !hasPrefix(lit.Text + ".") {
						t.Errorf("%s (%s) names values by %q, which no message starts with", name, tt.Name(), lit.Text)
					}
				}
			})
		}
	}
	if used < 100 {
		t.Fatalf("found only %d messages in the templates: the walk misses some", used)
	}
}

func hasPrefix(prefix string) bool {
	for id := range catalogues["en"].msgs {
		if strings.HasPrefix(id, prefix) {
			return true
		}
	}
	return false
}

// walk calls fn on every command under n.
func walk(n parse.Node, fn func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walk(c, fn)
			}
		}
	case *parse.ActionNode:
		walk(n.Pipe, fn)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				walk(c, fn)
			}
		}
	case *parse.CommandNode:
		fn(n)
		for _, a := range n.Args {
			walk(a, fn)
		}
	case *parse.IfNode:
		walk(n.Pipe, fn)
		walk(n.List, fn)
		walk(n.ElseList, fn)
	case *parse.RangeNode:
		walk(n.Pipe, fn)
		walk(n.List, fn)
		walk(n.ElseList, fn)
	case *parse.WithNode:
		walk(n.Pipe, fn)
		walk(n.List, fn)
		walk(n.ElseList, fn)
	case *parse.TemplateNode:
		walk(n.Pipe, fn)
	}
}

// TestCode_UsesKnownMessages: every message id the console's Go code
// names (errors, notices, chart labels, titles) is in the catalogues.
func TestCode_UsesKnownMessages(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	namespaces := map[string]bool{}
	for id := range catalogues["en"].msgs {
		ns, _, _ := strings.Cut(id, ".")
		namespaces[ns] = true
	}
	idRE := regexp.MustCompile(`^[a-z]+(\.[a-z0-9_]+)+$`)
	fset := token.NewFileSet()
	found := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			ns, _, _ := strings.Cut(s, ".")
			if err != nil || !idRE.MatchString(s) || !namespaces[ns] || strings.HasSuffix(s, ".html") || strings.HasSuffix(s, ".csv") {
				return true
			}
			found++
			if _, ok := catalogues["en"].msgs[s]; !ok && !hasPrefix(s+".") {
				t.Errorf("%s: message %q is in no catalogue", fset.Position(lit.Pos()), s)
			}
			return true
		})
	}
	if found < 40 {
		t.Fatalf("found only %d message ids in the Go code", found)
	}
}

// TestEnums_Named: every refund status, role, transaction, discrepancy
// kind and month has a name in every language (a value without one would
// show as its code).
func TestEnums_Named(t *testing.T) {
	want := []string{"status.long.requires_approval"}
	for _, s := range []refund.Status{refund.StatusRequiresApproval, refund.StatusPending, refund.StatusProcessing, refund.StatusRequiresReview,
		refund.StatusSucceeded, refund.StatusFailed, refund.StatusCanceled, refund.StatusReversed} {
		want = append(want, "status."+string(s), "status.long."+string(s))
	}
	for _, r := range []string{refund.RoleViewer, refund.RoleRefunder, refund.RoleApprover, refund.RoleAdmin} {
		want = append(want, "role."+r)
	}
	for _, v := range []string{refund.TxCapture, refund.TxRefund, refund.TxVoid, refund.AdjustmentChargeback} {
		want = append(want, "txn.type."+v)
	}
	for _, v := range []string{refund.TxSucceeded, refund.TxFailed} {
		want = append(want, "txn.status."+v)
	}
	for _, v := range []string{refund.DiscrepancyExecutedNotRecorded, refund.DiscrepancyChargebackAfterRefund, refund.ReconAmountMismatch,
		refund.ReconStatusMismatch, refund.ReconMissingAtProcessor, refund.ReconUnknownToRefundd} {
		want = append(want, "discrepancy."+v)
	}
	for _, v := range []string{"51", "05", "91", "96", "rejected", "approval_expired", refund.EProcessorUnavailable, "resolved_failed"} {
		want = append(want, "failure."+v)
	}
	for m := 1; m <= 12; m++ {
		want = append(want, "month."+strconv.Itoa(m))
	}
	for _, lang := range languages {
		for _, id := range want {
			if _, ok := catalogues[lang].msgs[id]; !ok {
				t.Errorf("messages/%s.json has no %q", lang, id)
			}
		}
	}
}

func TestFromAcceptLanguage(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"", "en"},
		{"ar", "ar"},
		{"ar-SA", "ar"},
		{"AR-kw", "ar"},
		{"en-US,en;q=0.9", "en"},
		{"ar-SA,ar;q=0.9,en-US;q=0.8,en;q=0.7", "ar"},
		{"en-GB,en;q=0.9,ar;q=0.8", "en"},
		{"en;q=0.5, ar;q=0.8", "ar"},        // q-values, not order, rank
		{"ar;q=0.8, en;q=0.8", "ar"},        // equal q: the first listed
		{"fr-FR, de;q=0.9, ar;q=0.5", "ar"}, // languages the console lacks are passed over
		{"fr-FR, de;q=0.9", "en"},
		{"ar;q=0, en;q=0.1", "en"}, // q=0: not acceptable
		{"ar;q=0", "en"},
		{"*", "en"},
		{"ar;q=abc, en;q=0.2", "en"}, // a broken q counts as 0
		{"arabic", "en"},             // not a tag of Arabic
	} {
		if got := fromAcceptLanguage(tc.header); got != tc.want {
			t.Errorf("Accept-Language %q: got %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/console/":                  true,
		"/console":                   true,
		"/console/orders?q=ORD-1":    true,
		"/console/refunds/re_1?m=ok": true,
		"https://evil.example/":      false,
		"//evil.example/console/":    false,
		"/consolex":                  false,
		"/v1/refunds":                false,
		"":                           false,
		"/console\\@evil":            false, // a backslash: some browsers read it as a slash
		"javascript:alert(1)":        false,
	} {
		if got := localPath(p); got != want {
			t.Errorf("localPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestFill(t *testing.T) {
	en := locale{catalogue: catalogues["en"]}
	ar := locale{catalogue: catalogues["ar"]}
	for _, tc := range []struct{ got, want string }{
		{en.S("amount.error.decimals", "KWD", 3, `"1.0005"`), `KWD has 3 decimals; "1.0005" has more.`},
		{ar.S("amount.error.decimals", "KWD", 3, `"1.0005"`), `عدد المنازل العشرية لعملة KWD هو 3، والقيمة "1.0005" فيها أكثر من ذلك.`},
		{en.S("no.such.message"), "no.such.message"},
		{fill("{1} before {0}; {x} and {5} stay", []string{"a", "b"}), "b before a; {x} and {5} stay"},
		{fill("{0", []string{"a"}), "{0"},
		{string(en.T("orders.no_match", "<b>x</b>")), "No order has the id or reference “<bdi>&lt;b&gt;x&lt;/b&gt;</bdi>”."},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestCauses(t *testing.T) {
	en := locale{catalogue: catalogues["en"]}
	ar := locale{catalogue: catalogues["ar"]}
	for _, tc := range []struct {
		cause string
		en    string // the English page shows the core's words again
		ar    string
	}{
		{"created via console", "created via console", "أُنشئ عبر وحدة التحكم"},
		{"canceled by merchant", "canceled by merchant", "ألغاه التاجر"},
		{"submitted to processor (attempt 2)", "submitted to processor (attempt 2)", "أُرسل إلى معالج الدفع (المحاولة 2)"},
		{"processor declined (51)", "processor declined (51)", "رفض معالج الدفع (51)"},
		{"approved by user checker@souq.example", "approved by user checker@souq.example", "وافق عليه المستخدم checker@souq.example"},
		{"rejected by key rk_0123456789ab: too late", "rejected by key rk_0123456789ab: too late", "رفضه المفتاح rk_0123456789ab: too late"},
		{"created via console; waits for approval: the order is more than 30 days old",
			"created via console; waits for approval: the order is more than 30 days old",
			"أُنشئ عبر وحدة التحكم؛ بانتظار الموافقة: عمر الطلب بالأيام أكبر من 30"},
		{"something new", "something new", "something new"},
	} {
		strip := func(h template.HTML) string {
			return html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(string(h), ""))
		}
		if got := strip(en.cause(tc.cause)); got != tc.en {
			t.Errorf("en %q: %q", tc.cause, got)
		}
		if got := strip(ar.cause(tc.cause)); got != tc.ar {
			t.Errorf("ar %q: %q", tc.cause, got)
		}
	}
	if got := ar.cause("something new"); got != `<span lang="en" dir="ltr">something new</span>` {
		t.Errorf("an unknown cause on an Arabic page is not marked English: %s", got)
	}
}
