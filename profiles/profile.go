// Package profiles reads rcon/capcon profile files: TOML files that name the
// limits, identity, namespaces and capabilities of a run, so a cron line or
// an Apache config can say `rcon --profile nightly -- cmd` instead of a dozen
// flags. docs/PROFILES.md is the reference for every key.
//
// Loading is strict and has no side effects: any unknown key, wrong type or
// bad value is an *Error naming the file, line and key, and nothing is
// created. Precedence is flags > environment > profile > built-in defaults;
// this package implements the "profile" layer (Apply) and the merging of
// included base profiles, the CLI applies the layers above it.
package profiles

import (
	"fmt"
	"math"
	"rcon/cgroupfs"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Value is one setting of a profile. Set tells an absent key from a zero
// value (`swap = "0"` and `keep = []` mean something), and From names the
// file it came from after includes were merged, for `rcon profile show`.
type Value[T any] struct {
	V    T
	Set  bool
	From string
}

// IOTable maps a device ("/dev/sda" or "8:0") to a rate as written: a size
// for *_bps, a whole number for *_iops. Kept as text so the merged profile
// prints back exactly as the user wrote it.
type IOTable map[string]string

// Includes is the include key: one name or a list of names.
type Includes []string

// Limits is the [limits] table.
type Limits struct {
	CPU         Value[float64]       `toml:"cpu"`
	CPUPeriodUS Value[int64]         `toml:"cpu_period_us"`
	CPUWeight   Value[int64]         `toml:"cpu_weight"`
	Cpuset      Value[string]        `toml:"cpuset"`
	Mem         Value[cgroupfs.Size] `toml:"mem"`
	MemHigh     Value[cgroupfs.Size] `toml:"mem_high"`
	Swap        Value[cgroupfs.Size] `toml:"swap"`
	Pids        Value[int64]         `toml:"pids"`
	IOReadBPS   Value[IOTable]       `toml:"io_read_bps"`
	IOWriteBPS  Value[IOTable]       `toml:"io_write_bps"`
	IOReadIOPS  Value[IOTable]       `toml:"io_read_iops"`
	IOWriteIOPS Value[IOTable]       `toml:"io_write_iops"`
}

// Run is the [run] table.
type Run struct {
	Command   Value[[]string] `toml:"command"`
	Name      Value[string]   `toml:"name"`
	Shared    Value[string]   `toml:"shared"`
	Parent    Value[string]   `toml:"parent"`
	Slice     Value[string]   `toml:"slice"`
	User      Value[string]   `toml:"user"`
	Group     Value[string]   `toml:"group"`
	Groups    Value[[]string] `toml:"groups"`
	Unshare   Value[[]string] `toml:"unshare"`
	Hostname  Value[string]   `toml:"hostname"`
	MapUser   Value[bool]     `toml:"map_user"`
	RoBind    Value[[]string] `toml:"ro_bind"`
	Bind      Value[[]string] `toml:"bind"`
	Tmpfs     Value[[]string] `toml:"tmpfs"`
	Chroot    Value[string]   `toml:"chroot"`
	ReadOnly  Value[bool]     `toml:"read_only_root"`
	WaitAll   Value[bool]     `toml:"wait_all"`
	Fit       Value[bool]     `toml:"fit"`
	Stats     Value[bool]     `toml:"stats"`
	StatsJSON Value[string]   `toml:"stats_json"`
}

// Caps is the [caps] table.
type Caps struct {
	Keep       Value[[]string] `toml:"keep"`
	Drop       Value[[]string] `toml:"drop"`
	NoNewPrivs Value[bool]     `toml:"no_new_privs"`
}

// Profile is a loaded profile: the file's own settings merged over those of
// the profiles it includes.
type Profile struct {
	// Path is the file Load read, as found (search path) or as given.
	Path string `toml:"-"`
	// Files lists every file merged into this profile, bases first, Path last.
	Files []string `toml:"-"`

	Include Value[Includes] `toml:"include"`
	Limits  Limits          `toml:"limits"`
	Run     Run             `toml:"run"`
	Caps    Caps            `toml:"caps"`
}

// UnmarshalTOML converts a decoded TOML value into V and marks it set. The
// library wraps a returned error in a ParseError carrying the key and line,
// so the messages here need not repeat either.
func (v *Value[T]) UnmarshalTOML(data any) error {
	v.Set = true
	switch dst := any(&v.V).(type) {
	case *string:
		s, ok := data.(string)
		if !ok {
			return wantGot("a string", data)
		}
		*dst = s
	case *bool:
		b, ok := data.(bool)
		if !ok {
			return wantGot("true or false", data)
		}
		*dst = b
	case *int64:
		n, ok := data.(int64)
		if !ok {
			return wantGot("an integer", data)
		}
		*dst = n
	case *float64:
		switch n := data.(type) {
		case int64:
			*dst = float64(n)
		case float64:
			*dst = n
		default:
			return wantGot("a number", data)
		}
	case *[]string:
		l, err := stringList(data)
		if err != nil {
			return err
		}
		*dst = l
	case *Includes:
		if s, ok := data.(string); ok {
			*dst = Includes{s}
			return nil
		}
		l, err := stringList(data)
		if err != nil {
			return fmt.Errorf("want a profile name or a list of them: %w", err)
		}
		*dst = l
	case *cgroupfs.Size:
		n, err := parseSize(data)
		if err != nil {
			return err
		}
		*dst = n
	case *IOTable:
		m, ok := data.(map[string]any)
		if !ok {
			return wantGot(`a table of device = rate, e.g. { "/dev/sda" = "10M" }`, data)
		}
		t := make(IOTable, len(m))
		for dev, r := range m {
			switch r := r.(type) {
			case string:
				t[dev] = r
			case int64:
				t[dev] = strconv.FormatInt(r, 10)
			default:
				return fmt.Errorf("device %q: %w", dev, wantGot("a rate", r))
			}
		}
		*dst = t
	default:
		// A programming error: a Value of a type this switch does not know.
		return fmt.Errorf("profiles: no decoder for %T", v.V)
	}
	return nil
}

func stringList(data any) ([]string, error) {
	a, ok := data.([]any)
	if !ok {
		return nil, wantGot("an array of strings", data)
	}
	l := make([]string, 0, len(a))
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("element %d: %w", i+1, wantGot("a string", e))
		}
		l = append(l, s)
	}
	return l, nil
}

// parseSize accepts the size forms operators write: "500M" (cgroupfs.ParseSize)
// or a plain integer number of bytes.
func parseSize(data any) (cgroupfs.Size, error) {
	switch s := data.(type) {
	case string:
		n, err := parseSizeString(s)
		return cgroupfs.Size(n), err
	case int64:
		if s < 0 {
			return 0, fmt.Errorf("invalid size %d: must not be negative", s)
		}
		if s > math.MaxInt64/2 {
			return 0, fmt.Errorf("invalid size %d: too large", s)
		}
		return cgroupfs.Size(s), nil
	}
	return 0, wantGot(`a size such as "500M" or a number of bytes`, data)
}

func wantGot(want string, got any) error {
	return fmt.Errorf("want %s, got %s", want, describe(got))
}

// describe names a decoded TOML value the way a profile author wrote it.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// decode parses one file into a Profile holding only that file's own
// settings (includes are not followed). It checks syntax, types and unknown
// keys; validate checks values.
func decode(f *file) (*Profile, error) {
	p := &Profile{Path: f.name}
	md, err := toml.Decode(string(f.data), p)
	if err != nil {
		return nil, f.decodeErr(err)
	}
	if err := checkKeys(f, md); err != nil {
		return nil, err
	}
	return p, nil
}

// schema lists the keys of each table, exactly spelled. The decoder matches
// field names case-insensitively and skips unknown keys silently; we want
// neither, because a misspelt limit that is silently ignored is a limit
// that does not hold.
var schema = map[string][]string{
	"":       {"include", "limits", "run", "caps"},
	"limits": {"cpu", "cpu_period_us", "cpu_weight", "cpuset", "mem", "mem_high", "swap", "pids", "io_read_bps", "io_write_bps", "io_read_iops", "io_write_iops"},
	"run":    {"command", "name", "shared", "parent", "user", "group", "groups", "unshare", "hostname", "map_user", "ro_bind", "bind", "tmpfs", "chroot", "read_only_root", "wait_all", "fit", "stats", "stats_json"},
	"caps":   {"keep", "drop", "no_new_privs"},
}

// ioKeys are the tables whose own keys are device names, not schema keys.
var ioKeys = map[string]bool{"io_read_bps": true, "io_write_bps": true, "io_read_iops": true, "io_write_iops": true}

// checkKeys reports the first key, in file order, that is not in the schema.
func checkKeys(f *file, md toml.MetaData) error {
	for _, k := range md.Keys() {
		var table, name string
		switch {
		case len(k) == 1:
			name = k[0]
		case len(k) == 2:
			table, name = k[0], k[1]
		case len(k) == 3 && k[0] == "limits" && ioKeys[k[1]]:
			continue // a device name
		default:
			return f.errAt(k, "unknown key%s", hint(k))
		}
		if !slices.Contains(schema[table], name) {
			return f.errAt(k, "unknown key%s", hint(k))
		}
	}
	// Belt and braces: anything the decoder did not store is unknown too.
	if u := md.Undecoded(); len(u) > 0 {
		return f.errAt(u[0], "unknown key%s", hint(u[0]))
	}
	return nil
}

// hint suggests the key the author probably meant: same letters in another
// case, a key of another table, or one edit away.
func hint(k toml.Key) string {
	name := k[len(k)-1]
	table := ""
	if len(k) == 2 {
		table = k[0]
	}
	if len(k) > 2 {
		return ""
	}
	for t, keys := range schema {
		for _, s := range keys {
			if s == name && t != table && t != "" {
				return fmt.Sprintf(" (%q belongs in [%s])", name, t)
			}
		}
	}
	best, bestD := "", 3
	for _, s := range schema[table] {
		if d := editDistance(strings.ToLower(name), s); d < bestD {
			best, bestD = s, d
		}
	}
	if best == "" && len(name) >= 3 {
		// "memory" for "mem": a longer or shorter spelling of a key.
		for _, s := range schema[table] {
			if strings.HasPrefix(strings.ToLower(name), s) || strings.HasPrefix(s, strings.ToLower(name)) {
				best = s
				break
			}
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if table != "" {
		return fmt.Sprintf(" (known keys in [%s]: %v)", table, schema[table])
	}
	return ""
}

// editDistance is Levenshtein distance, for short key names only.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
