package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/refundd/refundd/refund"
)

// CheckJSON is the strictness every surface applies to a JSON body before
// decoding it: a member name twice in one object (`{"amount":100,
// "amount":200}`: a gateway in front that reads the first one would see
// another refund than refundd), invalid UTF-8, and a member name that
// matches a field of v only in another case (`"AMOUNT"`, which
// encoding/json would take as "amount") are refused as invalid_request,
// naming the member. The tokenizer is jsontext (what became
// encoding/json/v2), whose defaults refuse the first two; v (a pointer to
// the request struct) gives the names for the third. Unknown members are
// left to the surface's decoder.
func CheckJSON(body []byte, v any) error {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	err := walk(dec, reflect.TypeOf(v), "")
	if errors.Is(err, errLeave) {
		return nil
	}
	return err
}

// errLeave ends the walk at an error the surface's decoder reports.
var errLeave = errors.New("left to the decoder")

// stop ends the walk: with the refusal strictError makes of err, or
// errLeave.
func stop(err error, path string) error {
	if e := strictError(err, path); e != nil {
		return e
	}
	return errLeave
}

var rawMessage = reflect.TypeFor[json.RawMessage]()

// walk reads one JSON value from dec, checking object member names against
// t (nil: any names).
func walk(dec *jsontext.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessage {
		t = nil
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return stop(err, path)
	}
	switch tok.Kind() {
	case '{':
		for {
			name, err := dec.ReadToken()
			if err != nil {
				return stop(err, path)
			}
			if name.Kind() == '}' {
				return nil
			}
			key := name.String()
			var sub reflect.Type
			if t != nil {
				switch t.Kind() {
				case reflect.Struct:
					var err error
					if sub, err = member(t, key, join(path, key)); err != nil {
						return err
					}
				case reflect.Map:
					sub = t.Elem()
				}
			}
			if err := walk(dec, sub, join(path, key)); err != nil {
				return err
			}
		}
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; ; i++ {
			if dec.PeekKind() == ']' {
				if _, err := dec.ReadToken(); err != nil {
					return stop(err, path)
				}
				return nil
			}
			if err := walk(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// member finds the field of struct t that JSON name key fills: its type,
// nil for a name t does not have, and an error for one that matches a
// field only in another case.
func member(t reflect.Type, key, path string) (reflect.Type, error) {
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f.Type, nil
		}
		if strings.EqualFold(name, key) {
			return nil, refund.Errorf(refund.EInvalidRequest, path, "unknown field %q: field names are case-sensitive (did you mean %q?)", key, name)
		}
	}
	return nil, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// strictError turns the tokenizer's refusals of duplicate names and
// invalid UTF-8 into invalid_request naming the member. Any other error
// (a syntax error, an empty body) is left to the surface's decoder, which
// words it in its own way: strictError returns nil for it.
func strictError(err error, path string) error {
	var rerr *refund.Error
	if err == nil || errors.As(err, &rerr) {
		return err
	}
	var serr *jsontext.SyntacticError
	if !errors.As(err, &serr) {
		return nil
	}
	// path, not the error's JSON pointer, names the member: it is
	// written as every other param is (items[0].qty), and a pointer
	// cannot tell an array index from a member named "0".
	switch {
	case errors.Is(serr.Err, jsontext.ErrDuplicateName):
		// Found reading a name in the object at path.
		name := serr.JSONPointer.LastToken()
		return refund.Errorf(refund.EInvalidRequest, join(path, name), "duplicate field %q: each field may appear once", name)
	case strings.Contains(serr.Err.Error(), "UTF-8"):
		return refund.Errorf(refund.EInvalidRequest, path, "the body is not valid UTF-8")
	}
	return nil
}

// TypeErrorPath names the member of body at which encoding/json reported
// err, an *json.UnmarshalTypeError, as params are written (items[0].qty):
// the error's own Field leaves out array indexes ("items.qty": which
// item?) and stops at a map. It returns the error's Field when body does
// not lead to the offset, and "" for any other error.
func TypeErrorPath(body []byte, err error) string {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		return ""
	}
	// The error's Offset is just past the value of the wrong type, or past
	// the { or [ that opens it: read tokens up to there and name where the
	// decoder stands.
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	for dec.InputOffset() < typeErr.Offset {
		if _, err := dec.ReadToken(); err != nil {
			return typeErr.Field
		}
	}
	if dec.InputOffset() != typeErr.Offset {
		return typeErr.Field
	}
	tokens := strings.Split(strings.TrimPrefix(string(dec.StackPointer()), "/"), "/")
	var b strings.Builder
	for i := 1; i <= dec.StackDepth() && len(tokens) > 0 && tokens[0] != ""; i++ {
		kind, n := dec.StackIndex(i)
		if n == 0 {
			continue // opened just now: no member or element of it yet
		}
		tok := strings.NewReplacer("~1", "/", "~0", "~").Replace(tokens[0])
		tokens = tokens[1:]
		if kind == '[' {
			b.WriteString("[" + tok + "]")
		} else {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(tok)
		}
	}
	if b.Len() == 0 {
		return typeErr.Field
	}
	return b.String()
}
