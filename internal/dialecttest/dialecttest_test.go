package dialecttest

import (
	"strings"
	"testing"
)

func TestShapeDiff(t *testing.T) {
	seed := `{"a":1,"b":"x","c":null,"d":{"e":true},"f":[{"g":"s","h":1},{"g":null,"h":2}]}`
	tests := []struct {
		name, got string
		diffs     []string // substrings, one per expected difference
	}{
		{"Same", `{"a":2.5,"b":"","c":null,"d":{"e":false},"f":[]}`, nil},
		{"ArrayElementsMatchAnySeedElement", `{"a":1,"b":"x","c":null,"d":{"e":true},"f":[{"g":"t","h":3},{"g":null,"h":4}]}`, nil},
		{"MissingKey", `{"a":1,"b":"x","c":null,"d":{},"f":[]}`, []string{"$.d.e: missing"}},
		{"ExtraKey", `{"a":1,"b":"x","c":null,"d":{"e":true},"f":[],"z":0}`, []string{"$.z: not in the seed"}},
		{"NumberAsString", `{"a":"1","b":"x","c":null,"d":{"e":true},"f":[]}`, []string{"$.a: want number, got string"}},
		{"NullNotPresentAsNull", `{"a":1,"b":"x","c":"v","d":{"e":true},"f":[]}`, []string{"$.c: want null, got string"}},
		{"StringAsNull", `{"a":1,"b":null,"c":null,"d":{"e":true},"f":[]}`, []string{"$.b: want string, got null"}},
		{"BadElement", `{"a":1,"b":"x","c":null,"d":{"e":true},"f":[{"g":"s","h":"1"}]}`, []string{"$.f[0].h: want number, got string"}},
		{"NotAnArray", `{"a":1,"b":"x","c":null,"d":{"e":true},"f":{}}`, []string{"$.f: want an array, got object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ShapeDiff(Decode(t, seed), Decode(t, tt.got))
			if len(got) != len(tt.diffs) {
				t.Fatalf("want %d differences %q, got %q", len(tt.diffs), tt.diffs, got)
			}
			for i, d := range tt.diffs {
				if !strings.Contains(got[i], d) {
					t.Fatalf("difference %d: want %q, got %q", i, d, got[i])
				}
			}
		})
	}
}
