package console

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// The console speaks English and Arabic. Every word a page shows is a
// message of messages/<lang>.json, one catalogue per language, by id;
// templates call {{t "id" args...}} and never hold words of their own.
// A message's {0}, {1}... take its arguments, so a translation can put
// them in its own order. Counts are written "label: 3" rather than in a
// sentence, so no message needs plural forms (Arabic has six).
//
// Digits are Latin (0-9) in both languages, and amounts read "1.005 KWD"
// in both: Gulf payment staff type and compare amounts, references and
// card digits in Latin digits, the forms parse them (money.ParseDecimal),
// and an amount, a date or an id copied from an Arabic page is the same
// text as on the English one. Such runs are isolated left to right
// (dir="ltr"), so a date or an amount reads the same inside Arabic text.
//
//go:embed messages/*.json
var messageFiles embed.FS

// languages are the console's languages, the default first.
var languages = []string{"en", "ar"}

// langCookie keeps the language chosen before sign-in (and after
// sign-out); a signed-in user's choice is kept in their session.
const langCookie = "refundd_console_lang"

// catalogue is one language's messages.
type catalogue struct {
	lang string
	dir  string // "ltr" or "rtl"
	msgs map[string]string
}

var catalogues = mustLoadCatalogues()

func mustLoadCatalogues() map[string]*catalogue {
	out := map[string]*catalogue{}
	for _, lang := range languages {
		b, err := messageFiles.ReadFile("messages/" + lang + ".json")
		if err != nil {
			panic(err)
		}
		c := &catalogue{lang: lang, dir: "ltr", msgs: map[string]string{}}
		if err := json.Unmarshal(b, &c.msgs); err != nil {
			panic(fmt.Sprintf("console: messages/%s.json: %v", lang, err))
		}
		if lang == "ar" {
			c.dir = "rtl"
		}
		out[lang] = c
	}
	return out
}

// supported returns lang if the console speaks it, else "".
func supported(lang string) string {
	if slices.Contains(languages, lang) {
		return lang
	}
	return ""
}

// fromAcceptLanguage picks the console language an Accept-Language header
// ranks highest: q-values are honoured (q=0 refuses a language), a tag
// counts by its primary subtag (ar-SA is Arabic), and languages the
// console does not speak are passed over. Nothing it speaks: English.
func fromAcceptLanguage(header string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		lang := supported(primary)
		if primary == "*" {
			lang = languages[0]
		}
		// The first of equal q-values wins, as the header lists them.
		if lang != "" && q > bestQ {
			best, bestQ = lang, q
		}
	}
	if best == "" {
		return languages[0]
	}
	return best
}

// language is the page's language: the session's choice, else (before
// sign-in) the cookie's, else the browser's Accept-Language.
func language(r *http.Request, s *session) string {
	if s != nil && supported(s.lang) != "" {
		return s.lang
	}
	if ck, err := r.Cookie(langCookie); err == nil && supported(ck.Value) != "" {
		return ck.Value
	}
	return fromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// locale is how one page speaks: its language and the merchant's time
// zone.
type locale struct {
	*catalogue
	zone *time.Location
}

// S returns message id with its arguments, as plain text. A missing id
// shows as itself (the tests keep every id in both catalogues).
func (l locale) S(id string, args ...any) string {
	msg, ok := l.msgs[id]
	if !ok {
		return id
	}
	text := make([]string, len(args))
	for i, a := range args {
		text[i] = fmt.Sprint(a)
	}
	return fill(msg, text)
}

// T is S for templates: the message is escaped, and so is each argument
// unless it is already HTML (an amount or a date from amount or when,
// isolated left to right), which goes in as it is. A plain argument (a
// name, a reference, a count) goes in a <bdi>: data of either direction
// then keeps its own order without reordering the sentence around it
// ("Al Shaya Perfumes" in an Arabic label).
func (l locale) T(id string, args ...any) template.HTML {
	msg, ok := l.msgs[id]
	if !ok {
		msg = id
	}
	text := make([]string, len(args))
	for i, a := range args {
		if h, ok := a.(template.HTML); ok {
			text[i] = string(h)
		} else {
			text[i] = "<bdi>" + template.HTMLEscapeString(fmt.Sprint(a)) + "</bdi>"
		}
	}
	return template.HTML(fill(template.HTMLEscapeString(msg), text))
}

// fill puts args in msg's {0}, {1}...; braces around anything else stay.
func fill(msg string, args []string) string {
	if len(args) == 0 {
		return msg
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(msg, '{')
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		j := strings.IndexByte(msg[i:], '}')
		if j < 0 {
			b.WriteString(msg)
			return b.String()
		}
		n, err := strconv.Atoi(msg[i+1 : i+j])
		if err != nil || n < 0 || n >= len(args) {
			b.WriteString(msg[:i+1])
			msg = msg[i+1:]
			continue
		}
		b.WriteString(msg[:i])
		b.WriteString(args[n])
		msg = msg[i+j+1:]
	}
}

// enum names a value of a known set (a status, a transaction type, a
// failure code) in the page's language: message prefix.value, or the value
// itself when the catalogue has no name for it.
func (l locale) enum(prefix, value string) string {
	if msg, ok := l.msgs[prefix+"."+value]; ok {
		return msg
	}
	return value
}

// ltr isolates text that reads left to right (an amount, a date) so that
// it keeps its order inside Arabic text.
func ltr(class, text string) template.HTML {
	return template.HTML(`<span class="` + class + `" dir="ltr">` + template.HTMLEscapeString(text) + `</span>`)
}

// amountText prints minor units of currency as a decimal with its code,
// in every language: 1005 KWD is "1.005 KWD".
func amountText(minor int64, currency string) string {
	cur, err := money.LookupCurrency(currency)
	if err != nil {
		return itoa(minor) + " (minor units) " + currency
	}
	return money.Format(minor, cur) + " " + currency
}

// timeLayout shows a moment in the merchant's zone with its offset, so it
// cannot be read in another zone by mistake.
const timeLayout = "2006-01-02 15:04:05 -07:00"

// when prints t in the merchant's zone, in a <time> element.
func (l locale) when(t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	t = t.In(l.zone)
	return template.HTML(`<time datetime="` + t.Format(time.RFC3339) + `" dir="ltr">` + t.Format(timeLayout) + `</time>`)
}

// day names a day of the chart: "2 Jan", "2 يناير".
func (l locale) day(t time.Time) string {
	return strconv.Itoa(t.Day()) + " " + l.S("month."+strconv.Itoa(int(t.Month())))
}

// zoneText names the merchant's zone and its offset now: "Asia/Riyadh
// (UTC+03:00)", isolated left to right.
func (l locale) zoneText(now time.Time) template.HTML {
	return ltr("zone", l.zone.String()+" (UTC"+now.In(l.zone).Format("-07:00")+")")
}

// itemName names an order line in the page's language: its Arabic name
// on an Arabic page, its English one on an English page, the other one
// (marked with its language) when the line has only that, or its id.
func (l locale) itemName(it refund.Item) template.HTML {
	names := map[string]string{"en": it.NameEN, "ar": it.NameAR}
	if n := names[l.lang]; n != "" {
		// Isolated: a name is the merchant's text, and a bidi control in
		// it must not reorder the words and figures after it.
		return template.HTML("<bdi>" + template.HTMLEscapeString(n) + "</bdi>")
	}
	for _, lang := range languages {
		if n := names[lang]; n != "" {
			return template.HTML(`<span lang="` + lang + `" dir="` + catalogues[lang].dir + `">` + template.HTMLEscapeString(n) + `</span>`)
		}
	}
	return template.HTML(`<span class="mono">` + template.HTMLEscapeString(it.ID) + `</span>`)
}

// funcs are the templates' functions, bound to the page's locale.
func (l locale) funcs() template.FuncMap {
	return template.FuncMap{
		"t":      l.T,
		"amount": func(minor int64, currency string) template.HTML { return ltr("amount", amountText(minor, currency)) },
		"mask":   refund.MaskIBAN,
		"when":   l.when,
		"whenp": func(t *time.Time) template.HTML {
			if t == nil {
				return ""
			}
			return l.when(*t)
		},
		// status names a refund status; statusText says what it means.
		"status":     func(s refund.Status) string { return l.enum("status", string(s)) },
		"statusText": func(s refund.Status) string { return l.enum("status.long", string(s)) },
		// enum names a value of a known set, or shows it as it is.
		"enum":     l.enum,
		"why":      l.why,
		"cause":    l.cause,
		"decimal":  decimalText,
		"itemName": l.itemName,
		// line names a refund's line by the order's item.
		"line": func(o *refund.Order, itemID string) template.HTML {
			if o == nil {
				return template.HTML(template.HTMLEscapeString(itemID)) // the session may not read orders
			}
			for _, it := range o.Items {
				if it.ID == itemID {
					return l.itemName(it)
				}
			}
			return template.HTML(template.HTMLEscapeString(itemID))
		},
		// count and sum read the overview's figures by status name.
		"count": func(m map[refund.Status]int64, status string) int64 { return m[refund.Status(status)] },
		"sum": func(m map[string]map[refund.Status]int64, currency, status string) int64 {
			return m[currency][refund.Status(status)]
		},
		// pair hands a sub-template the page and one more value.
		"pair": func(a any, b string) pairArg { return pairArg{a, b} },
	}
}

// why says why r ended without paying (refund.Refund.Failure): its code
// in words, and the processor's message for a failed refund, or the
// approver's reason for a rejected one (the other cancels' messages are
// refundd's own words for the code, in English). The code and the message
// are others' text, each isolated (T), so a bidi control in one cannot
// reorder the sentence around it.
func (l locale) why(r *refund.Refund) template.HTML {
	code, msg := r.Failure()
	out := l.failure(code)
	said := ""
	switch {
	case msg == "":
	case r.Status == refund.StatusFailed:
		said = "refund.processor_said"
	case code == "rejected":
		said = "refund.approver_said"
	}
	if said != "" {
		if out != "" {
			out += " "
		}
		out += l.T(said, msg)
	}
	return out
}

// failure says why a refund failed, in words when the code is a known
// one (the acquirer's response codes, refundd's own), with the code.
func (l locale) failure(code string) template.HTML {
	if code == "" {
		return ""
	}
	if msg, ok := l.msgs["failure."+code]; ok {
		return l.T("refund.failure_reason", msg, code)
	}
	return l.T("refund.failure_code", code)
}
