package profiles

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"rcon/cgroupfs"
	"rcon/nsjail"
	"rcon/spec"
)

const (
	examplesDir = "../testdata/profiles"
	badDir      = "../testdata/profiles/bad"
)

// testLoader loads without the system directory and without the root-only
// permission check (a checkout may well be group-writable); the check has
// its own tests.
func testLoader(t *testing.T, dirs ...string) *loader {
	t.Helper()
	if len(dirs) == 0 {
		dirs = []string{t.TempDir()}
	}
	return &loader{dirs: dirs, euid: 1000}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every shipped example must load, survive a round trip through TOML(), and
// fill a Spec. The expected settings pin what the examples promise in their
// comments; a test failure here means an example became invalid or changed
// meaning.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.toml"))
	if err != nil || len(files) < 6 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := testLoader(t).load(f)
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, p)
			built(t, p, spec.Layer{})
		})
	}

	want := map[string]func(*spec.Spec) bool{
		"nightly": func(s *spec.Spec) bool {
			return s.Resources.CPUPercent == 20 && s.Resources.Mem == 500<<20 && s.Resources.MemHigh == 400<<20 &&
				s.Resources.SwapSet && s.Resources.Swap == 0 && s.Resources.Pids == 512 &&
				len(s.Resources.IO) == 2 && s.User == "backup" && s.Group == "backup" &&
				reflect.DeepEqual(s.Argv, []string{"/usr/local/bin/backup.sh", "--full"}) &&
				s.Caps != nil && !s.Caps.AllowNewPrivs && s.StatsJSON == "/var/log/rcon/nightly.json"
		},
		"make": func(s *spec.Spec) bool {
			return s.Resources.CPUPercent == 150 && s.Resources.Cpuset == "0-1" && s.Resources.Pids == 2048 &&
				s.WaitAll && s.Stats && s.Parent == "builds"
		},
		"apache-prefork": func(s *spec.Spec) bool {
			return s.Caps != nil && len(s.Caps.Keep) == 6 && s.Caps.KeepSet && s.WaitAll && s.Resources.Pids == 300
		},
		"cgi": func(s *spec.Spec) bool {
			return s.Caps != nil && s.Caps.KeepSet && s.Caps.Keep != nil && len(s.Caps.Keep) == 0 &&
				s.Resources.Pids == 32 && s.Name == ""
		},
		"untrusted": func(s *spec.Spec) bool {
			return s.NS != nil && s.NS.Net && s.NS.PID && s.NS.Mount && !s.NS.User && s.NS.Hostname == "sandbox" &&
				s.Caps != nil && s.Caps.KeepSet && len(s.Caps.Keep) == 0 && s.User == "nobody"
		},
	}
	for name, ok := range want {
		p, err := testLoader(t).load(filepath.Join(examplesDir, name+".toml"))
		if err != nil {
			t.Fatal(err)
		}
		s := built(t, p, spec.Layer{})
		if !ok(s) {
			t.Errorf("%s: unexpected Spec %+v caps=%+v ns=%+v", name, s, s.Caps, s.NS)
		}
	}
}

// The CGI profiles name the parent that apache-cgi.conf sets and tells
// root to make: one absolute path, so that what an operator reads in one
// file holds in the other.
func TestCGIParentMatchesApacheConf(t *testing.T) {
	conf, err := os.ReadFile("../testdata/apache/apache-cgi.conf")
	if err != nil {
		t.Fatal(err)
	}
	var env string
	for _, l := range strings.Split(string(conf), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "SetEnv" && f[1] == "RCON_PARENT" {
			env = f[2]
		}
	}
	if !strings.HasPrefix(env, "/") || !strings.Contains(string(conf), "/sys/fs/cgroup/$c"+env) {
		t.Fatalf("apache-cgi.conf: RCON_PARENT %q is not the absolute parent its setup comment makes", env)
	}
	for _, name := range []string{"cgi", "cgi-tenant"} {
		p, err := testLoader(t).load(filepath.Join(examplesDir, name+".toml"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Run.Parent.V != env {
			t.Errorf("%s.toml: parent %q, apache-cgi.conf: RCON_PARENT %s", name, p.Run.Parent.V, env)
		}
	}
}

// checkRoundTrip: what `rcon profile show` prints must load on its own to
// the same settings.
func checkRoundTrip(t *testing.T, p *Profile) {
	t.Helper()
	out := p.TOML()
	q, err := parse(p.Path, []byte(out))
	if err != nil {
		t.Fatalf("TOML() output does not load: %v\n%s", err, out)
	}
	q.Files = p.Files
	if out2 := q.TOML(); stripComments(out2) != stripComments(out) {
		t.Fatalf("round trip changed the profile:\n%s\n---\n%s", out, out2)
	}
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, "  # from "); i >= 0 {
			l = l[:i]
		}
		if !strings.HasPrefix(l, "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// Each file in bad/ is one error class. The message must start with
// FILE:LINE: KEY: so that an operator can go straight to the mistake.
func TestBadFiles(t *testing.T) {
	cases := []struct {
		file     string // loaded
		errFile  string // named in the error (differs for includes)
		line     int
		key      string
		contains string
	}{
		{"syntax.toml", "", 3, "limits.mem", "strings cannot contain newlines"},
		{"unknown-key.toml", "", 4, "limits.memory", `unknown key (did you mean "mem"?)`},
		{"misplaced-key.toml", "", 4, "run.mem", `belongs in [limits]`},
		{"unknown-table.toml", "", 2, "limit", `did you mean "limits"?`},
		{"wrong-case.toml", "", 3, "limits.CPU", `did you mean "cpu"?`},
		{"wrong-type.toml", "", 4, "limits.cpu", `want a number, got string "20"`},
		{"not-a-table.toml", "", 2, "limits", "want a table, got an integer"},
		{"bad-size.toml", "", 4, "limits.mem", `invalid size "10Q"`},
		{"negative-cpu.toml", "", 3, "limits.cpu", "above 0"},
		{"negative-size.toml", "", 3, "limits.swap", "must not be negative"},
		{"unknown-cap.toml", "", 3, "caps.keep", `unknown capability "net_bind_servic"`},
		{"unknown-namespace.toml", "", 3, "run.unshare", `unknown namespace "netw"`},
		{"keep-and-drop.toml", "", 5, "caps.drop", "conflicts with caps.keep on line 3"},
		{"bad-device.toml", "", 3, `limits.io_read_bps."/dev/null"`, "not a block device"},
		{"bad-iops.toml", "", 4, `limits.io_write_iops."8:16"`, `invalid IOPS "fast"`},
		{"missing-include.toml", "", 2, "include", `profile "no-such-base" not found`},
		{"cycle-a.toml", "cycle-b.toml", 3, "include", "cycle: "},
		{"cycle-b.toml", "cycle-a.toml", 2, "include", "cycle: "},
		{"includes-bad.toml", "bad-size.toml", 4, "limits.mem", `invalid size "10Q"`},
		{"relative-path.toml", "", 3, "run.stats_json", "absolute path"},
		{"empty-command.toml", "", 3, "run.command", "must name a program"},
		{"bad-name.toml", "", 3, "run.name", "invalid group name"},
		{"cpu-quota.toml", "", 4, "limits.cpu", "quota of 500 µs, below the kernel's minimum of 1000 µs"},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.file] = true
		t.Run(c.file, func(t *testing.T) {
			_, err := testLoader(t).load(filepath.Join(badDir, c.file))
			if err == nil {
				t.Fatal("loaded without error")
			}
			errFile := c.errFile
			if errFile == "" {
				errFile = c.file
			}
			assertErrAt(t, err, filepath.Join(badDir, errFile), c.line, c.key, c.contains)
		})
	}
	files, _ := filepath.Glob(filepath.Join(badDir, "*.toml"))
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no expectation in TestBadFiles", f)
		}
	}
}

func assertErrAt(t *testing.T, err error, file string, line int, key, contains string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q is %T, not *Error", err, err)
	}
	prefix := fmt.Sprintf("%s:%d: %s: ", file, line, key)
	if !strings.HasPrefix(err.Error(), prefix) || e.File != file || e.Line != line || e.Key != key {
		t.Fatalf("error %q: want prefix %q", err, prefix)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not contain %q", err, contains)
	}
}

// cpu × period / 100 must reach the kernel's 1000 µs minimum quota, with
// the period of the merged profile: a base may set either key.
func TestCPUQuotaMinimum(t *testing.T) {
	for _, c := range []struct {
		name       string
		base, prof string
		errFile    string // "" = loads; else "base" or "prof"
		line       int
		contains   string
	}{
		{"default period", "", "[limits]\ncpu = 0.5\n", "prof", 2, "0.5% of a 100000 µs period (the default) is a quota of 500 µs"},
		{"exactly the minimum", "", "[limits]\ncpu = 1\n", "", 0, ""},
		{"own short period", "", "[limits]\ncpu = 5\ncpu_period_us = 10000\n", "prof", 2, "raise cpu to at least 10"},
		{"own long period", "", "[limits]\ncpu = 0.5\ncpu_period_us = 200000\n", "", 0, ""},
		{"base's long period", "[limits]\ncpu_period_us = 1000000\n", "include = \"base\"\n[limits]\ncpu = 0.5\n", "", 0, ""},
		{"base's short period", "[limits]\ncpu_period_us = 10000\n", "include = \"base\"\n[limits]\ncpu = 5\n", "prof", 3, "cpu_period_us from "},
		{"base's cpu", "[limits]\ncpu = 0.5\n", "include = \"base\"\n[run]\nname = \"x\"\n", "base", 2, "or cpu_period_us to at least 200000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.base != "" {
				write(t, dir, "base.toml", c.base)
			}
			prof := write(t, dir, "prof.toml", c.prof)
			_, err := testLoader(t).load(prof)
			if c.errFile == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded without error")
			}
			assertErrAt(t, err, filepath.Join(dir, c.errFile+".toml"), c.line, "limits.cpu", c.contains)
		})
	}
}

// Profile values replace built-in defaults; what the profile leaves out
// keeps its default.
func TestApplyProfileOverDefaults(t *testing.T) {
	p, err := parse("p.toml", []byte(`
[limits]
cpu = 20
swap = "0"
io_read_bps = { "8:0" = "1M" }
[run]
name = "job"
[caps]
keep = []
`))
	if err != nil {
		t.Fatal(err)
	}
	s := built(t, p, spec.Layer{
		Argv: spec.Val([]string{"true"}, ""),
		Name: spec.Val("default", ""),
		Limits: spec.Limits{CPU: spec.Val(100.0, ""), CPUPeriod: spec.Val(uint64(100000), ""), Mem: spec.Val(int64(1<<30), ""),
			IO: spec.Val([]cgroupfs.IOLimit{{Major: 8, Minor: 0, Kind: cgroupfs.ReadBPS, Rate: 5}, {Major: 8, Minor: 16, Kind: cgroupfs.ReadBPS, Rate: 7}}, "")},
		Drop: spec.Val([]string{"sys_admin"}, ""),
		User: spec.Val("alice", ""),
	})
	r := s.Resources
	if r.CPUPercent != 20 || r.CPUPeriod != 100000 || r.Mem != 1<<30 || !r.SwapSet || r.Swap != 0 {
		t.Errorf("resources %+v", r)
	}
	wantIO := []cgroupfs.IOLimit{{Major: 8, Minor: 0, Kind: cgroupfs.ReadBPS, Rate: 1 << 20}, {Major: 8, Minor: 16, Kind: cgroupfs.ReadBPS, Rate: 7}}
	if !reflect.DeepEqual(r.IO, wantIO) {
		t.Errorf("io %+v, want %+v", r.IO, wantIO)
	}
	if s.Name != "job" || s.User != "alice" || !reflect.DeepEqual(s.Argv, []string{"true"}) {
		t.Errorf("spec %+v", s)
	}
	// keep replaces the default drop instead of conflicting with it.
	if s.Caps.Drop != nil || !s.Caps.KeepSet || s.Caps.Keep == nil || len(s.Caps.Keep) != 0 {
		t.Errorf("caps %+v", s.Caps)
	}
	if err := s.Caps.Validate(); err != nil {
		t.Errorf("applied caps do not validate: %v", err)
	}

	// An empty profile changes nothing.
	empty, err := parse("e.toml", []byte("# nothing\n"))
	if err != nil {
		t.Fatal(err)
	}
	if z, err := empty.Layer(); err != nil || !reflect.DeepEqual(z, spec.Layer{}) {
		t.Errorf("empty profile sets something: %+v %v", z, err)
	}
}

func TestApplyNamespaces(t *testing.T) {
	p, err := parse("p.toml", []byte(`
[run]
unshare = ["pid", "net"]
hostname = "box"
ro_bind = ["/usr", "/etc/ssl:/ssl"]
chroot = "/srv/jail"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := built(t, p, spec.Layer{Unshare: spec.Val(nsjail.Spec{IPC: true}, ""), Tmpfs: []string{"/tmp"}})
	ns := s.NS
	// unshare replaces the defaults' namespace list; other keys stay.
	if !ns.PID || !ns.Net || ns.IPC || ns.Hostname != "box" || ns.Chroot != "/srv/jail" ||
		!reflect.DeepEqual(ns.Tmpfs, []string{"/tmp"}) ||
		!reflect.DeepEqual(ns.RoBind, []nsjail.Bind{{Src: "/usr"}, {Src: "/etc/ssl", Dst: "/ssl"}}) {
		t.Errorf("ns %+v", ns)
	}
}

// Includes: a later include overrides an earlier one, the including file
// overrides all of them, lists are replaced, io tables merge per device, and
// keep/drop replace each other.
func TestIncludePrecedence(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "one.toml", `
[limits]
cpu = 10
mem = "100M"
pids = 10
io_read_bps = { "8:0" = "1M", "8:16" = "2M" }
[run]
unshare = ["pid", "net"]
user = "one"
[caps]
drop = ["sys_admin"]
`)
	write(t, dir, "two.toml", `
[limits]
cpu = 20
mem = "200M"
io_read_bps = { "8:16" = "3M" }
[run]
user = "two"
`)
	top := write(t, dir, "top.toml", `
include = ["one", "two"]
[limits]
cpu = 30
[run]
unshare = ["mount"]
[caps]
keep = ["net_raw"]
`)
	p, err := testLoader(t).load(top)
	if err != nil {
		t.Fatal(err)
	}
	l := p.Limits
	if l.CPU.V != 30 || l.CPU.From != top {
		t.Errorf("cpu = %v from %s, want 30 from the including file", l.CPU.V, l.CPU.From)
	}
	if l.Mem.V != 200<<20 || l.Pids.V != 10 || p.Run.User.V != "two" {
		t.Errorf("mem %v pids %v user %v: later include must win, earlier must fill gaps", l.Mem.V, l.Pids.V, p.Run.User.V)
	}
	if !reflect.DeepEqual(l.IOReadBPS.V, IOTable{"8:0": "1M", "8:16": "3M"}) {
		t.Errorf("io tables merge per device: %v", l.IOReadBPS.V)
	}
	if !reflect.DeepEqual(p.Run.Unshare.V, []string{"mount"}) {
		t.Errorf("lists replace: %v", p.Run.Unshare.V)
	}
	if p.Caps.Drop.Set || !reflect.DeepEqual(p.Caps.Keep.V, []string{"net_raw"}) {
		t.Errorf("keep replaces an included drop: %+v", p.Caps)
	}
	if want := []string{filepath.Join(dir, "one.toml"), filepath.Join(dir, "two.toml"), top}; !reflect.DeepEqual(p.Files, want) {
		t.Errorf("files %v, want %v", p.Files, want)
	}
	if p.Include.Set {
		t.Error("the merged profile still has an include key")
	}
	checkRoundTrip(t, p)

	// The included profiles themselves are unchanged by the merge (a base
	// shared by two profiles must not leak one's settings into the other).
	one, err := testLoader(t).load(filepath.Join(dir, "one.toml"))
	if err != nil || !reflect.DeepEqual(one.Limits.IOReadBPS.V, IOTable{"8:0": "1M", "8:16": "2M"}) {
		t.Errorf("one.toml: %v %v", one, err)
	}
}

func TestIncludeSearch(t *testing.T) {
	here, onPath := t.TempDir(), t.TempDir()
	write(t, onPath, "base.toml", "[limits]\npids = 1\n")
	top := write(t, here, "top.toml", "include = \"base\"\n")
	p, err := testLoader(t, onPath).load(top)
	if err != nil || p.Limits.Pids.V != 1 {
		t.Fatalf("include from the search path: %v %v", p, err)
	}
	// A base next to the including file comes first.
	write(t, here, "base.toml", "[limits]\npids = 2\n")
	p, err = testLoader(t, onPath).load(top)
	if err != nil || p.Limits.Pids.V != 2 {
		t.Fatalf("include from the same directory: %v %v", p, err)
	}
	// A path is relative to the including file, not to the working directory.
	sub := filepath.Join(here, "sub")
	os.Mkdir(sub, 0o755)
	write(t, sub, "x.toml", "include = [\"../base.toml\"]\n")
	p, err = testLoader(t).load(filepath.Join(sub, "x.toml"))
	if err != nil || p.Limits.Pids.V != 2 {
		t.Fatalf("include by relative path: %v %v", p, err)
	}
	// Including oneself is a cycle.
	self := write(t, here, "self.toml", "include = [\"self\"]\n")
	_, err = testLoader(t).load(self)
	assertErrAt(t, err, self, 1, "include", "cycle")
	// A diamond (two bases sharing one) is not a cycle.
	write(t, here, "l.toml", "include = [\"base\"]\n")
	write(t, here, "r.toml", "include = [\"base\"]\n")
	d := write(t, here, "d.toml", "include = [\"l\", \"r\"]\n")
	if _, err = testLoader(t).load(d); err != nil {
		t.Fatalf("diamond: %v", err)
	}
}

func TestFind(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write(t, a, "job.toml", "")
	write(t, b, "job.toml", "")
	write(t, b, "other.toml", "")
	t.Setenv(PathEnv, a+"::"+b)
	for name, want := range map[string]string{
		"job":   filepath.Join(a, "job.toml"),
		"other": filepath.Join(b, "other.toml"),
	} {
		if got, err := Find(name); err != nil || got != want {
			t.Errorf("Find(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	// A '/' or a .toml suffix makes it a path, searched nowhere.
	if _, err := Find("other.toml"); err == nil {
		t.Error("Find(other.toml) found a file relative to the search path")
	}
	if got, err := Find(filepath.Join(b, "other.toml")); err != nil || got != filepath.Join(b, "other.toml") {
		t.Errorf("Find(path) = %q, %v", got, err)
	}
	_, err := Find("nope")
	if err == nil || !strings.Contains(err.Error(), `profile "nope" not found`) || !strings.Contains(err.Error(), SystemDir) {
		t.Errorf("Find(nope): %v", err)
	}
	if got := SearchPath(); !reflect.DeepEqual(got, []string{a, b, SystemDir}) {
		t.Errorf("SearchPath() = %v", got)
	}
}

// The root-only permission check, on real files with real owners.
func TestPermissionCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown test files")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	ok := write(t, dir, "ok.toml", "[limits]\npids = 5\n")

	cases := []struct {
		name   string
		mode   os.FileMode
		uid    int
		refuse string
	}{
		{"root-0644.toml", 0o644, 0, ""},
		{"root-0600.toml", 0o600, 0, ""},
		{"group-writable.toml", 0o664, 0, "chmod go-w"},
		{"world-writable.toml", 0o646, 0, "chmod go-w"},
		{"user-owned.toml", 0o644, 1000, "chown root"},
	}
	for _, c := range cases {
		p := write(t, dir, c.name, "[limits]\npids = 5\n")
		os.Chmod(p, c.mode)
		os.Chown(p, c.uid, -1)
		_, err := (&loader{euid: 0}).load(p)
		if c.refuse == "" {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		var pe *PermError
		if !errors.As(err, &pe) || pe.File != p || !strings.Contains(err.Error(), c.refuse+" "+p) {
			t.Errorf("%s: got %v, want a refusal naming the file and %q", c.name, err, c.refuse)
		}
		// Not root: the profile grants nothing the user lacks.
		if _, err := (&loader{euid: 1000}).load(p); err != nil {
			t.Errorf("%s: refused for a non-root user: %v", c.name, err)
		}
	}

	// An included file is checked too.
	bad := filepath.Join(dir, "group-writable.toml")
	inc := write(t, dir, "inc.toml", "include = [\"group-writable\"]\n")
	if _, err := (&loader{euid: 0}).load(inc); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("include of a group-writable file: %v", err)
	}

	// The directory: writable by others means replaceable by others,
	// unless sticky.
	os.Chmod(dir, 0o777)
	if _, err := (&loader{euid: 0}).load(ok); err == nil || !strings.Contains(err.Error(), "chmod go-w "+dir) {
		t.Errorf("file in a world-writable directory: %v", err)
	}
	os.Chmod(dir, 0o777|os.ModeSticky)
	if _, err := (&loader{euid: 0}).load(ok); err != nil {
		t.Errorf("file in a sticky directory: %v", err)
	}
	os.Chmod(dir, 0o755)
	os.Chown(dir, 1000, -1)
	if _, err := (&loader{euid: 0}).load(ok); err == nil || !strings.Contains(err.Error(), "chown root "+dir) {
		t.Errorf("file in a user-owned directory: %v", err)
	}
	os.Chown(dir, 0, -1)
}

// As root, every directory a profile's path goes through, and every
// symlink on it, must be out of others' reach, not only the directory of
// the resolved file: whoever can write /etc/rcon can swap profiles/.
func TestPermissionCheckWholePath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown test files")
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// top/mid/leaf/p.toml, all root's and 0755 to begin with; each case
	// changes one thing and puts it back.
	top := t.TempDir()
	must(os.Chmod(top, 0o755))
	mid := filepath.Join(top, "mid")
	leaf := filepath.Join(mid, "leaf")
	must(os.MkdirAll(leaf, 0o755))
	prof := write(t, leaf, "p.toml", "[limits]\npids = 5\n")
	other := filepath.Join(top, "other") // a second tree for symlink targets
	must(os.Mkdir(other, 0o755))
	target := write(t, other, "t.toml", "[limits]\npids = 6\n")
	root := &loader{euid: 0}

	refused := func(name, path, fix string) {
		t.Helper()
		_, err := root.load(path)
		var pe *PermError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), fix) {
			t.Errorf("%s: got %v, want a refusal with %q", name, err, fix)
		}
	}
	accepted := func(name string, l *loader, path string) {
		t.Helper()
		if _, err := l.load(path); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}

	accepted("all root's, 0755", root, prof)
	accepted("with .. on the way", root, filepath.Join(leaf, "..", "leaf", ".", "p.toml"))

	// An ancestor, not the file's own directory.
	must(os.Chmod(mid, 0o777))
	refused("world-writable grandparent", prof, "chmod go-w "+mid)
	must(os.Chmod(mid, 0o775))
	refused("group-writable grandparent", prof, "chmod go-w "+mid)
	must(os.Chmod(mid, 0o755))
	must(os.Chown(top, 1000, -1))
	// Refused: only root's files are trusted when rcon runs as root.
	refused("user-owned great-grandparent", prof, "chown root "+top)
	must(os.Chown(top, 0, -1))

	// Sticky and world-writable (/tmp) is fine only when root owns it.
	must(os.Chmod(mid, 0o777|os.ModeSticky))
	accepted("root's sticky grandparent", root, prof)
	must(os.Chown(mid, 1000, -1))
	refused("user-owned sticky grandparent", prof, "chown root "+mid)
	must(os.Chown(mid, 0, -1))
	must(os.Chmod(mid, 0o755))

	// A symlink to a good file, sitting in a directory others may write:
	// the old check looked only at the target's directory.
	link := filepath.Join(leaf, "link.toml")
	must(os.Symlink(target, link))
	accepted("symlink in a safe directory", root, link)
	must(os.Chmod(leaf, 0o777))
	refused("symlink in a world-writable directory", link, "chmod go-w "+leaf)
	// In a sticky directory, the symlink's owner could replace it.
	must(os.Chmod(leaf, 0o777|os.ModeSticky))
	must(os.Lchown(link, 1000, -1))
	refused("user-owned symlink in a sticky directory", link, "chown -h root "+link)
	must(os.Chmod(leaf, 0o755))
	must(os.Lchown(link, 0, -1))

	// The target's path, above its own directory: a symlinked directory
	// whose target tree someone else controls.
	dirLink := filepath.Join(leaf, "profiles")
	must(os.Symlink(other, dirLink))
	via := filepath.Join(dirLink, "t.toml")
	accepted("through a symlinked directory", root, via)
	deep := filepath.Join(top, "deep")
	must(os.MkdirAll(filepath.Join(deep, "x"), 0o755))
	deepFile := write(t, filepath.Join(deep, "x"), "d.toml", "[limits]\npids = 7\n")
	relLink := filepath.Join(leaf, "rel.toml")
	must(os.Symlink("../../deep/x/d.toml", relLink)) // relative, with ..
	accepted("relative symlink with ..", root, relLink)
	must(os.Chown(deep, 1000, -1))
	refused("relative symlink into a user-owned tree", relLink, "chown root "+deep)
	refused("the same file by its own path", deepFile, "chown root "+deep)
	must(os.Chown(deep, 0, -1))
	must(os.Chmod(other, 0o757))
	refused("symlinked directory's target writable by others", via, "chmod go-w "+other)
	must(os.Chmod(other, 0o755))

	// Not root: nothing is checked, the profile grants nothing new.
	must(os.Chmod(mid, 0o777))
	accepted("not root", &loader{euid: 1000}, prof)
	must(os.Chmod(mid, 0o755))
}

// keyLine must find keys in every shape TOML allows for our schema.
func TestKeyLine(t *testing.T) {
	data := []byte(`# 1
include = ["x"]           # 2
[limits]                  # 3
cpu = 1                   # 4
io_read_bps = { "8:0" = "1M" }  # 5

[limits.io_write_bps]     # 7
"/dev/sda" = "1M"         # 8
[run]                     # 9
caps.keep = []            # 10 (a key "caps" inside [run])
`)
	for _, c := range []struct {
		key  []string
		line int
	}{
		{[]string{"include"}, 2},
		{[]string{"limits"}, 3},
		{[]string{"limits", "cpu"}, 4},
		{[]string{"limits", "io_read_bps", "8:0"}, 5},
		{[]string{"limits", "io_write_bps"}, 7},
		{[]string{"limits", "io_write_bps", "/dev/sda"}, 8},
		{[]string{"run", "caps", "keep"}, 10},
		{[]string{"nope"}, 1},
	} {
		if got := keyLine(data, c.key); got != c.line {
			t.Errorf("keyLine(%v) = %d, want %d", c.key, got, c.line)
		}
	}
}

func TestValues(t *testing.T) {
	good := []string{
		`limits.mem = 1048576`,
		`limits.mem = "1.5G"`,
		`limits.cpu = 12.5`,
		`limits.cpuset = "0-1,3"`,
		`include = "base"`,
		`caps.keep = ["CAP_NET_RAW", "chown"]`,
		`run.unshare = ["all"]`,
		`run.groups = ["adm", "1001"]`,
		`run.shared = "cgi-alice"`,
	}
	for _, g := range good {
		if _, err := parse("g.toml", []byte(g)); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	bad := map[string]string{
		`limits.cpu = nan`:                             "limits.cpu",
		`limits.cpu = 0`:                               "limits.cpu",
		`limits.cpu = inf`:                             "limits.cpu",
		`limits.cpu = 100001`:                          "limits.cpu",
		`limits.mem = "0"`:                             "limits.mem",
		`limits.cpuset = "1-0"`:                        "limits.cpuset",
		`limits.cpu_weight = 0`:                        "limits.cpu_weight",
		`limits.cpu_period_us = 10`:                    "limits.cpu_period_us",
		`limits.pids = 0`:                              "limits.pids",
		`limits.io_read_bps = {}`:                      "limits.io_read_bps",
		`limits.io_read_bps = { a = 1.5 }`:             "limits.io_read_bps",
		`run.parent = "a/../../b"`:                     "run.parent",
		`run.slice = "rcon"`:                           "run.slice",
		`run.slice = "a/b.slice"`:                      "run.slice",
		"run.slice = \"a.slice\"\nrun.parent = \"/x\"": "run.slice",
		`run.hostname = "a b"`:                         "run.hostname",
		`run.user = ""`:                                "run.user",
		`run.groups = ["-x"]`:                          "run.groups",
		`run.unshare = []`:                             "run.unshare",
		`run.command = ["", "x"]`:                      "run.command",
		`run.tmpfs = ["tmp"]`:                          "run.tmpfs",
		`run.ro_bind = ["/a:b"]`:                       "run.ro_bind",
		`run.wait_all = "yes"`:                         "run.wait_all",
		`run.shared = "a/b"`:                           "run.shared",
		"run.shared = \"y\"\nrun.name = \"x\"":         "run.shared",
		`include = []`:                                 "include",
		`include = [1]`:                                "include",
		`run.groups = ["a", 1]`:                        "run.groups",
		`run = []`:                                     "run",
		`limits.io_read_bps.x.y = 1`:                   "limits.io_read_bps",
	}
	for src, key := range bad {
		_, err := parse("b.toml", []byte("\n"+src))
		if err == nil {
			t.Errorf("%s: accepted", src)
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Line != 2 || !strings.HasPrefix(e.Key, key) {
			t.Errorf("%s: %v, want line 2 and key %s", src, err, key)
		}
	}
}

// Locating the line of an implicit table's error must not cost a decode per
// key (it once did: a 5000-key table took seconds).
func TestImplicitTableErrorIsCheap(t *testing.T) {
	var b strings.Builder
	b.WriteString("# big\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "limits.io_read_bps.\"8:%d\" = \"1M\"\n", i)
	}
	b.WriteString("limits.io_read_bps.x.y = 1\n")
	start := time.Now()
	_, err := parse("big.toml", []byte(b.String()))
	var e *Error
	if !errors.As(err, &e) || e.Line != 2 || e.Key != "limits.io_read_bps" {
		t.Fatalf("got %v, want line 2 (where the table starts)", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

// built is the spec of p over defaults, as a run gets it; with a command
// when neither gives one (Build wants one).
func built(t *testing.T, p *Profile, defaults spec.Layer) *spec.Spec {
	t.Helper()
	l, err := p.Layer()
	if err != nil {
		t.Fatal(err)
	}
	if !defaults.Argv.Set {
		defaults.Argv = spec.Val([]string{"true"}, "")
	}
	s, err := spec.Build("rcon", defaults, l)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
