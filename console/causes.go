package console

import (
	"html/template"
	"regexp"
)

// A refund's history records each transition's cause as the core words it
// (English, stored with the transition). The console shows the causes the
// core writes in the page's language, by their shape; any other cause (a
// newer one) shows as written, marked as English.
type causeRule struct {
	re   *regexp.Regexp
	id   string
	args func(l locale, m []string) []any
}

// causeRules is filled in init: a rule's arguments may be causes too.
var causeRules []causeRule

func init() {
	causeRules = []causeRule{
		{regexp.MustCompile(`^created via ([a-z_]+); waits for approval: (.+)$`), "cause.created_approval",
			func(l locale, m []string) []any { return []any{l.enum("surface", m[1]), l.cause(m[2])} }},
		{regexp.MustCompile(`^created via ([a-z_]+)$`), "cause.created",
			func(l locale, m []string) []any { return []any{l.enum("surface", m[1])} }},
		{regexp.MustCompile(`^(.+) with the order's earlier refunds is at least the approval threshold of (.+)$`), "cause.why.threshold", plain},
		{regexp.MustCompile(`^the order is more than (\d+) days old$`), "cause.why.age", plain},
		{regexp.MustCompile(`^submitted to processor \(attempt (\d+)\)$`), "cause.submitted", plain},
		{regexp.MustCompile(`^approved by (user|key) (\S+)$`), "cause.approved_by", who},
		{regexp.MustCompile(`^rejected by (user|key) (\S+): (.+)$`), "cause.rejected_by_reason", who},
		{regexp.MustCompile(`^rejected by (user|key) (\S+)$`), "cause.rejected_by", who},
		{regexp.MustCompile(`^resolved by (user|key) (\S+): (.+)$`), "cause.resolved_by_note", who},
		{regexp.MustCompile(`^resolved by (user|key) (\S+)$`), "cause.resolved_by", who},
		// Resolutions recorded before they named a user or key: the
		// key's prefix alone.
		{regexp.MustCompile(`^resolved by (\S*): (.+)$`), "cause.resolved_by_note", plain},
		{regexp.MustCompile(`^resolved by (\S*)$`), "cause.resolved_by", plain},
		{regexp.MustCompile(`^approval expired$`), "cause.approval_expired", plain},
		{regexp.MustCompile(`^processor approved \((.*)\)$`), "cause.processor_approved", plain},
		{regexp.MustCompile(`^processor declined \((.*)\)$`), "cause.processor_declined", plain},
		{regexp.MustCompile(`^processor voided the unexecuted refund$`), "cause.processor_voided", plain},
		{regexp.MustCompile(`^processor reported the refund reversed$`), "cause.reversed", plain},
		{regexp.MustCompile(`^processor reported the refund reversed \(status sweep\)$`), "cause.reversed_sweep", plain},
		{regexp.MustCompile(`^processor reports it executed \((.*)\) after it was recorded failed$`), "cause.executed_after_failed", plain},
		{regexp.MustCompile(`^canceled by merchant$`), "cause.canceled", plain},
		{regexp.MustCompile(`^no definite answer after (\d+) attempts$`), "cause.no_answer", plain},
		{regexp.MustCompile(`^not executed after (\d+) attempts, and the processor cannot guarantee it never will$`), "cause.not_executed", plain},
	}
}

// plain passes a cause's parts on as they are.
func plain(_ locale, m []string) []any {
	out := make([]any, len(m)-1)
	for i, s := range m[1:] {
		out[i] = s
	}
	return out
}

// who names the person ("user ops@souq.example") or key that acted.
func who(l locale, m []string) []any {
	out := []any{l.S("cause.who."+m[1], m[2])}
	for _, s := range m[3:] {
		out = append(out, s)
	}
	return out
}

// cause shows a transition's cause in the page's language.
func (l locale) cause(c string) template.HTML {
	for _, r := range causeRules {
		if m := r.re.FindStringSubmatch(c); m != nil {
			return l.T(r.id, r.args(l, m)...)
		}
	}
	if l.lang != "en" {
		return template.HTML(`<span lang="en" dir="ltr">` + template.HTMLEscapeString(c) + `</span>`)
	}
	return template.HTML(template.HTMLEscapeString(c))
}
