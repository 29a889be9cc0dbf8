package profiles

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
)

// Error is a problem in one profile file. Every Load error that is about the
// contents of a file is an *Error, so callers (and tests) can rely on File,
// Line and Key instead of parsing the message.
type Error struct {
	File string // the file as the user named it (or as found on the search path)
	Line int    // 1-based; 0 only when the problem is the file as a whole
	Key  string // dotted TOML key, e.g. "limits.mem"; empty for syntax errors
	Msg  string
	Err  error // the underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// file is one profile file being parsed: its name for messages and its bytes,
// which we need again to locate keys for errors found after decoding.
type file struct {
	name string
	data []byte
}

// errAt reports msg at the line where key is defined. The line is looked up
// only now, on the error path, so successful loads pay nothing for it.
func (f *file) errAt(key toml.Key, format string, args ...any) *Error {
	return &Error{File: f.name, Line: keyLine(f.data, key), Key: key.String(), Msg: fmt.Sprintf(format, args...)}
}

// mdErrRE matches the plain (non-ParseError) errors BurntSushi/toml returns
// for type mismatches, e.g.
//
//	toml: line 3 (last key "limits"): type mismatch for struct {...}: expected table but found int64
//
// Compiled on first use: every rcon start links this package, and only
// a bad profile needs them.
var mdErrRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "(.*)"\): (.*)$`)
})

var tableMismatchRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^type mismatch for .*: expected table but found (\S+)$`)
})

// decodeErr turns whatever toml.Decode returned into an *Error carrying the
// file, line and key. The library reports positions in two shapes (a
// ParseError, or a formatted message); both are normalised here so the rest
// of the package never sees a raw toml error.
func (f *file) decodeErr(err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// Message is our own UnmarshalTOML error text, or the lexer's.
		e := &Error{File: f.name, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message, Err: err}
		if e.Line == 0 {
			// A table created implicitly (a.b.c = 1) has no position.
			e.Line = keyLine(f.data, splitKey(pe.LastKey))
		}
		return e
	}
	if m := mdErrRE().FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		msg := m[3]
		if t := tableMismatchRE().FindStringSubmatch(msg); t != nil {
			msg = "want a table, got " + tomlTypeName(t[1])
		}
		e := &Error{File: f.name, Line: line, Key: m[2], Msg: msg, Err: err}
		if e.Line == 0 {
			e.Line = keyLine(f.data, splitKey(m[2]))
		}
		return e
	}
	return &Error{File: f.name, Line: 1, Msg: err.Error(), Err: err}
}

// tomlTypeName turns the Go type names the library prints into TOML words.
func tomlTypeName(goType string) string {
	switch goType {
	case "int64":
		return "an integer"
	case "float64":
		return "a float"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "[]interface", "[]interface {}", "[]any":
		return "an array"
	}
	return goType
}

// splitKey undoes toml.Key.String: dot-separated parts, each bare or a
// double-quoted string (as the library prints device names).
func splitKey(s string) toml.Key {
	var k toml.Key
	for s != "" {
		if s[0] == '"' {
			if q, err := strconv.QuotedPrefix(s); err == nil {
				u, _ := strconv.Unquote(q)
				k = append(k, u)
				s = strings.TrimPrefix(s[len(q):], ".")
				continue
			}
		}
		part, rest, _ := strings.Cut(s, ".")
		k = append(k, part)
		s = rest
	}
	return k
}

// errProbe is the leaf keyLine plants at the key it looks for: decoding
// fails there, and the library's ParseError tells us the line.
type errProbe struct{}

// ParseError does not unwrap to the cause, so the probe is recognised by text.
const probeMsg = "profiles: key position probe"

var errFound = errors.New(probeMsg)

func (errProbe) UnmarshalTOML(any) error { return errFound }

// keyLine returns the line on which key is defined in data, or 1 if it cannot
// be found (every error must carry a line; the top of the file is the least
// wrong answer).
//
// toml.MetaData knows key positions but does not export them. The one place
// the library does report a key's position is an error raised while decoding
// that key, so we build a struct type whose only field is at the key's path,
// make that field fail, and read the position from the error. This uses only
// the library's public behaviour and runs only on the error path.
func keyLine(data []byte, key toml.Key) int {
	if line := findKeyLine(data, key); line > 0 {
		return line
	}
	return 1
}

// findKeyLine is keyLine returning 0 when the key is not found.
func findKeyLine(data []byte, key toml.Key) int {
	if len(key) == 0 {
		return 0
	}
	t := reflect.TypeFor[errProbe]()
	for i := len(key) - 1; i >= 0; i-- {
		t = reflect.StructOf([]reflect.StructField{{
			Name: "F",
			Type: t,
			Tag:  reflect.StructTag(`toml:` + strconv.Quote(key[i])),
		}})
	}
	v := reflect.New(t)
	_, err := toml.Decode(string(data), v.Interface())
	var pe toml.ParseError
	if errors.As(err, &pe) && pe.Message == probeMsg && pe.Position.Line > 0 {
		return pe.Position.Line
	}
	if m := mdErrRE().FindStringSubmatch(fmt.Sprint(err)); m != nil {
		if n, _ := strconv.Atoi(m[1]); n > 0 {
			return n
		}
	}
	// A table that only exists through dotted keys (a.b.c = 1) has no
	// position of its own; it starts where its first key is.
	return firstChildLine(data, key)
}

func firstChildLine(data []byte, key toml.Key) int {
	var m map[string]any
	md, err := toml.Decode(string(data), &m)
	if err != nil {
		return 0
	}
	// Keys() is in file order and lists a.b.c but not the implicit a.b:
	// the first longer key under this one is where the table starts.
	for _, k := range md.Keys() {
		if len(k) > len(key) && slices.Equal(k[:len(key)], key) {
			return findKeyLine(data, k)
		}
	}
	return 0
}
