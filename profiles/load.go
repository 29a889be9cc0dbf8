package profiles

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SystemDir is searched after $RCON_PROFILE_PATH.
const SystemDir = "/etc/rcon/profiles"

// PathEnv names the colon-separated list of directories searched first.
const PathEnv = "RCON_PROFILE_PATH"

const (
	// maxFileSize bounds what we read: a profile is a few hundred bytes, and
	// a huge file is a mistake (or /dev/zero), not a profile.
	maxFileSize = 1 << 20
	// maxIncludeDepth bounds include chains; cycles are caught separately.
	maxIncludeDepth = 16
)

// SearchPath returns the directories Find looks in, in order.
func SearchPath() []string {
	var dirs []string
	for _, d := range strings.Split(os.Getenv(PathEnv), ":") {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return append(dirs, SystemDir)
}

// IsPath reports whether a --profile argument names a file rather than a
// profile on the search path.
func IsPath(nameOrPath string) bool {
	return strings.Contains(nameOrPath, "/") || strings.HasSuffix(nameOrPath, ".toml")
}

// Find returns the file a --profile argument refers to: the argument itself
// if it is a path, else NAME.toml in the first search-path directory that has
// it.
func Find(name string) (string, error) {
	return find(name, SearchPath())
}

func find(name string, dirs []string) (string, error) {
	if name == "" {
		return "", errors.New("empty profile name")
	}
	if IsPath(name) {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("profile %s: %w", name, err)
		}
		return name, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, name+".toml")
		_, err := os.Stat(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			// A directory we may not read is an error, not a miss:
			// silently skipping it would pick a different profile.
			return "", fmt.Errorf("profile %q: %w", name, err)
		}
	}
	return "", fmt.Errorf("profile %q not found: looked for %s.toml in %s (set $%s to add directories, or give a path)",
		name, name, strings.Join(dirs, ", "), PathEnv)
}

// Load finds, reads, checks and merges a profile and the profiles it
// includes. It only reads files: on any error nothing has been changed.
func Load(nameOrPath string) (*Profile, error) {
	l := &loader{dirs: SearchPath(), euid: os.Geteuid()}
	return l.load(nameOrPath)
}

// loader carries what Load depends on, so tests can vary it without touching
// the environment or running as another user.
type loader struct {
	dirs []string
	euid int
	// data holds each file read, by the name its settings' From carries,
	// for checks on the merged profile that must point at a line.
	data map[string][]byte
}

func (l *loader) load(nameOrPath string) (*Profile, error) {
	path, err := find(nameOrPath, l.dirs)
	if err != nil {
		return nil, err
	}
	p, err := l.loadFile(path, nil)
	if err != nil {
		return nil, err
	}
	if err := checkCPUQuota(p, l.file); err != nil {
		return nil, err
	}
	return p, nil
}

func (l *loader) file(name string) *file { return &file{name: name, data: l.data[name]} }

// loadFile reads path and, depth first, the files it includes. stack holds
// the real paths of the files currently being loaded, for cycle detection.
func (l *loader) loadFile(path string, stack []string) (*Profile, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	data, err := l.read(path)
	if err != nil {
		return nil, err
	}
	f := &file{name: path, data: data}
	own, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	if l.data == nil {
		l.data = map[string][]byte{}
	}
	l.data[path] = data
	stack = append(stack, real)

	merged := &Profile{}
	var files []string
	for _, inc := range own.Include.V {
		incPath, err := l.findInclude(inc, filepath.Dir(path))
		if err != nil {
			return nil, f.errAt(key("include"), "%v", err)
		}
		incReal, _ := filepath.EvalSymlinks(incPath)
		incReal, _ = filepath.Abs(incReal)
		if i := slices.Index(stack, incReal); i >= 0 {
			return nil, f.errAt(key("include"), "cycle: %s", strings.Join(append(stack[i:], incReal), " -> "))
		}
		if len(stack) >= maxIncludeDepth {
			return nil, f.errAt(key("include"), "includes nested deeper than %d", maxIncludeDepth)
		}
		base, err := l.loadFile(incPath, stack)
		if err != nil {
			return nil, err
		}
		merged.overlay(base)
		files = appendNew(files, base.Files...)
	}
	merged.overlay(own)
	merged.Path = path
	merged.Files = appendNew(files, path)
	// The merged profile has no include key left: it is self-contained,
	// which is what `rcon profile show` prints.
	merged.Include = Value[Includes]{}
	return merged, nil
}

// findInclude resolves an include entry: a path is relative to the including
// file's directory; a name is looked up there first (a base profile usually
// sits next to the profiles using it), then on the search path.
func (l *loader) findInclude(inc, dir string) (string, error) {
	if IsPath(inc) {
		if !filepath.IsAbs(inc) {
			inc = filepath.Join(dir, inc)
		}
		return find(inc, nil)
	}
	if strings.HasPrefix(inc, ".") {
		return "", fmt.Errorf("invalid profile name %q", inc)
	}
	return find(inc, append([]string{dir}, l.dirs...))
}

// read returns the contents of path after the permission check. Both use the
// same open file, so the file checked is the file read.
func (l *loader) read(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("profile %s: not a regular file", path)
	}
	if err := checkOwner(path, fi, l.euid); err != nil {
		return nil, err
	}
	if err := checkPath(path, fi, l.euid); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("profile %s: larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// parse checks one file's own contents: syntax, types, key names, values.
// It does not follow includes, touch the permission check or read anything
// but block-device nodes named in io_* keys; FuzzLoad drives it directly.
func parse(path string, data []byte) (*Profile, error) {
	f := &file{name: path, data: data}
	p, err := decode(f)
	if err != nil {
		return nil, err
	}
	if err := validate(f, p); err != nil {
		return nil, err
	}
	p.setFrom(path)
	p.Path = path
	p.Files = []string{path}
	return p, nil
}

// appendNew appends the elements of add not yet in l: a base included by two
// profiles is listed once.
func appendNew(l []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(l, a) {
			l = append(l, a)
		}
	}
	return l
}
