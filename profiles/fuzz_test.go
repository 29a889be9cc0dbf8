package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the single-file loader. Beyond "no
// panic", it checks the two promises the CLI relies on: every error names
// the file and a line, and whatever loads prints (TOML) back to a profile
// that loads to the same settings and applies cleanly.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"../testdata/profiles/*.toml", "../testdata/profiles/bad/*.toml"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.toml"
		p, err := parse(name, data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != name || e.Line < 1 {
				t.Fatalf("error without file:line: %T %v", err, err)
			}
			return
		}
		out := p.TOML()
		q, err := parse(name, []byte(out))
		if err != nil {
			t.Fatalf("TOML() output does not load: %v\n%s", err, out)
		}
		if out2 := q.TOML(); out2 != out {
			t.Fatalf("round trip changed the profile:\n%s\n---\n%s", out, out2)
		}
		if _, err := p.Layer(); err != nil {
			t.Fatalf("Layer after a successful parse: %v", err)
		}
	})
}
