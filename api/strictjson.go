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
	at := strings.ReplaceAll(strings.TrimPrefix(string(serr.JSONPointer), "/"), "/", ".")
	if at == "" {
		at = path
	}
	switch {
	case errors.Is(serr.Err, jsontext.ErrDuplicateName):
		return refund.Errorf(refund.EInvalidRequest, at, "duplicate field %q: each field may appear once", serr.JSONPointer.LastToken())
	case strings.Contains(serr.Err.Error(), "UTF-8"):
		return refund.Errorf(refund.EInvalidRequest, at, "the body is not valid UTF-8")
	}
	return nil
}
