package refund

import (
	"strings"
	"unicode/utf8"
)

// CheckText is the one rule for text a request gives refundd to keep (a
// description, a reason, a name), on every surface and every store: it
// must be UTF-8 without NUL (U+0000), and at most max characters. The
// rule lives here, not in a store: PostgreSQL cannot hold a NUL or
// invalid UTF-8 as text and refused it only when writing, with no field
// named, while SQLite kept it. param names the field in the error.
// Limits are in characters, as the API documents them: an Arabic letter
// takes two bytes.
func CheckText(param, s string, max int) error {
	switch {
	case !utf8.ValidString(s):
		return Errorf(EInvalidRequest, param, "%s is not valid UTF-8", param)
	case strings.IndexByte(s, 0) >= 0:
		return Errorf(EInvalidRequest, param, "%s must not contain a NUL character (U+0000)", param)
	case utf8.RuneCountInString(s) > max:
		return Errorf(EInvalidRequest, param, "%s is at most %d characters", param, max)
	}
	return nil
}

// CheckLookup refuses text that names something to find (an id, a
// reference, a filter's value) when no store could hold it: not UTF-8,
// or with a NUL. No object has such a name, but PostgreSQL refuses to
// compare a column with it while SQLite finds nothing: checked here,
// before any store, the caller gets the same 400 on both. param names
// the field in the error.
func CheckLookup(param, s string) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return Errorf(EInvalidRequest, param, "%s must be UTF-8 text without NUL characters", param)
	}
	return nil
}
