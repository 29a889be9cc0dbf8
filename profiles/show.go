package profiles

import (
	"fmt"
	"strconv"
	"strings"

	"rcon/cgroupfs"
)

// TOML renders the effective settings of p as a profile: only keys that are
// set, tables and keys in reference order, each value commented with the
// file it came from when that is an included one. The result has no include
// key and loads on its own to the same settings.
func (p *Profile) TOML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# effective settings of %s\n", oneLine(p.Path))
	if len(p.Files) > 1 {
		fmt.Fprintf(&b, "# merged from: %s\n", oneLine(strings.Join(p.Files, ", ")))
	}
	names := []string{"limits", "run", "caps"}
	for i, sec := range p.sections() {
		var body strings.Builder
		t := sec.Type()
		for j := 0; j < sec.NumField(); j++ {
			f := sec.Field(j)
			if !f.FieldByName("Set").Bool() {
				continue
			}
			name := t.Field(j).Tag.Get("toml")
			fmt.Fprintf(&body, "%s = %s", name, formatValue(f.FieldByName("V").Interface()))
			if from := f.FieldByName("From").String(); from != "" && from != p.Path {
				fmt.Fprintf(&body, "  # from %s", oneLine(from))
			}
			body.WriteByte('\n')
		}
		if body.Len() > 0 {
			fmt.Fprintf(&b, "\n[%s]\n%s", names[i], body.String())
		}
	}
	return b.String()
}

func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return quote(v)
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case cgroupfs.Size:
		// The short form when it is exact ("500M"), else the byte count.
		if s := cgroupfs.FormatSize(int64(v)); parsesTo(s, int64(v)) {
			return quote(s)
		}
		return strconv.FormatInt(int64(v), 10)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case IOTable:
		q := make([]string, 0, len(v))
		for _, dev := range sortedKeys(v) {
			r := v[dev]
			// A whole-number rate prints as the integer it was written as
			// (io_*_iops); anything else, e.g. "10M", stays a string.
			if n, err := strconv.ParseUint(r, 10, 63); err == nil && strconv.FormatUint(n, 10) == r {
				q = append(q, quote(dev)+" = "+r)
			} else {
				q = append(q, quote(dev)+" = "+quote(r))
			}
		}
		return "{ " + strings.Join(q, ", ") + " }"
	case Includes:
		return formatValue([]string(v))
	}
	panic(fmt.Sprintf("profiles: no formatter for %T", v))
}

func parsesTo(s string, n int64) bool {
	m, err := cgroupfs.ParseSize(s)
	return err == nil && m == n
}

// quote writes a TOML basic string. strconv.Quote is not a substitute: TOML
// has no \x escapes and no \a or \v.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// oneLine keeps a file name from breaking out of a comment.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}
