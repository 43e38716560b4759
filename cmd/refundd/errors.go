package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/refundd/refundd/client"
	"github.com/refundd/refundd/refund"
)

// errorText is err as the CLI prints it after "refundd: ": once, in words.
// The packages under the CLI tag their errors for their own callers
// ("refund: not_found: ...", "refundd api: 401 unauthorized: ...",
// "server: ...", "client: GET /v1/orders: ..."), which stacked behind
// "refundd: " read as noise or as the program's name twice; here each
// typed error is its message alone, the tags go, and where the CLI knows
// what to do about an error it says so.
func errorText(cmd string, err error) string {
	msg, hint := err.Error(), ""
	if e, ok := errors.AsType[*refund.Error](err); ok {
		// The code in brackets, as an API refusal's: scripts match it.
		msg = strings.Replace(msg, e.Error(), fmt.Sprintf("%s (%s)", e.Message, e.Code), 1)
		hint = hints[cmd+" "+e.Code]
		if hint == "" {
			hint = hints[group(cmd)+" "+e.Code]
		}
	}
	if e, ok := errors.AsType[*client.Error](err); ok {
		text := e.Message
		if text == "" {
			text = "the server refused the request"
		}
		msg = strings.Replace(msg, e.Error(), fmt.Sprintf("%s (HTTP %d %s)", text, e.StatusCode, e.Code), 1)
		if e.Code == refund.EUnauthorized {
			hint = "check --key" + map[bool]string{true: "", false: " (or REFUNDD_KEY)"}[cmd == "bench"] + ": a merchant API key of that server"
		}
	}
	if e, ok := errors.AsType[*url.Error](err); ok {
		// No answer at all: its text repeats the method and the whole URL.
		base := e.URL
		if u, perr := url.Parse(e.URL); perr == nil {
			base = u.Scheme + "://" + u.Host
		}
		msg = strings.Replace(msg, e.Error(), "cannot reach "+base+": "+e.Err.Error(), 1)
		hint = "is refundd serving there? Check --url (or REFUNDD_URL)"
		if cmd == "bench" {
			hint = "is refundd serving there? Check --target"
		}
	}
	msg = packageTags.ReplaceAllString(msg, "$1")
	if hint != "" {
		msg += "; " + hint
	}
	return msg
}

// packageTags are the prefixes packages put on their errors, at the start
// of the message or of a part of it: the package's name, and the client's
// request line.
var packageTags = regexp.MustCompile(`(^|: )(?:(?:server|vault|client|refund): )+(?:(?:GET|POST|PUT|PATCH|DELETE) /\S*: )?`)

// group is a command's group ("user" of "user disable"), or the command.
func group(cmd string) string {
	g, _, _ := strings.Cut(cmd, " ")
	return g
}

// hints say what to do about an error code, by command or by group.
var hints = map[string]string{
	"user " + refund.ENotFound:                      "`refundd user list --db URL` lists the users and their ids",
	"key " + refund.EKeyNotFound:                    "`refundd key list --db URL` lists the keys and their ids",
	"processor " + refund.EProcessorAccountNotFound: "`refundd processor list --db URL --merchant ID` lists the merchant's accounts",
}
