package migration

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	ms, err := Load(fstest.MapFS{
		"m/0010_ten.sql": file("TEN"), "m/0002_two.sql": file("TWO"), "m/README": file("not sql"),
	}, "m")
	if err != nil || len(ms) != 2 || ms[0] != (Migration{2, "0002_two.sql", "TWO"}) || ms[1].Version != 10 {
		t.Fatalf("Load = %+v, %v; want versions 2 then 10", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"unnumbered": {"m/init.sql": file("")},
		"zero":       {"m/0000_zero.sql": file("")},
		"duplicate":  {"m/0001_a.sql": file(""), "m/0001_b.sql": file("")},
	} {
		if _, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
}
