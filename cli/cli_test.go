package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"rcon/cgroupfs"
	"rcon/spec"
)

type testRun struct {
	Limits `embed:""`
	Group  `embed:""`
	Common `embed:""`
}

// parse runs the real flag model over args and builds the Spec, as
// cmd/rcon does.
func parse(t *testing.T, args ...string) (*spec.Spec, error) {
	t.Helper()
	var r testRun
	p, err := kong.New(&r, kong.Name("rcon"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := p.Parse(args)
	if err != nil {
		return nil, err
	}
	return Spec("rcon", ctx, &r.Common, &r.Limits, &r.Group)
}

func TestFlagsToSpec(t *testing.T) {
	s, err := parse(t, "--cpu", "150", "--memory", "2G", "--swap", "0", "--pids", "512",
		"--io-write-bps", "8:0:10M", "--io-read-iops", "8:16:500", "--name", "job",
		"--stats", "--user", "nobody", "--", "make", "-j4")
	if err != nil {
		t.Fatal(err)
	}
	r := s.Resources
	if r.CPUPercent != 150 || r.Mem != 2<<30 || !r.SwapSet || r.Swap != 0 || r.Pids != 512 || len(r.IO) != 2 {
		t.Errorf("resources: %+v", r)
	}
	if r.IO[0] != (cgroupfs.IOLimit{Major: 8, Minor: 0, Kind: cgroupfs.WriteBPS, Rate: 10 << 20}) {
		t.Errorf("io[0] = %+v", r.IO[0])
	}
	if strings.Join(s.Argv, " ") != "make -j4" || s.Name != "job" || !s.Stats || s.User != "nobody" {
		t.Errorf("spec: %+v", s)
	}
	if s.Caps != nil || s.NS != nil {
		t.Errorf("caps or namespaces set without flags: %+v %+v", s.Caps, s.NS)
	}
}

func TestShellFormAndOriginalIOFlags(t *testing.T) {
	s, err := parse(t, "--command", "yes > /dev/null", "--write", "1M", "--dev", "8:0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.Argv, "|") != "/bin/sh|-c|yes > /dev/null" {
		t.Errorf("argv %q", s.Argv)
	}
	if len(s.Resources.IO) != 1 || s.Resources.IO[0].Kind != cgroupfs.WriteBPS || s.Resources.IO[0].Rate != 1<<20 {
		t.Errorf("--write/--dev: %+v", s.Resources.IO)
	}
}

func TestBadInputNamesTheFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--mem", "10Q", "--", "true"}, "--mem"},
		{[]string{"--cpu", "0", "--", "true"}, "--cpu"},
		{[]string{"--cpu", "0.5", "--", "true"}, "--cpu 0.5 with the default period of 100000 µs: a quota of 500 µs"},
		{[]string{"--cpu", "5", "--cpu-period", "10000", "--", "true"}, "--cpu 5 with --cpu-period 10000: a quota of 500 µs"},
		{[]string{"--cpu-weight", "0", "--", "true"}, "--cpu-weight"},
		{[]string{"--pids", "x", "--", "true"}, "--pids"},
		{[]string{"--write", "1M", "--", "true"}, "--dev"},
		{[]string{"--dev", "8:0", "--", "true"}, "--read or --write"},
		{[]string{"--io-read-bps", "8:0", "--", "true"}, "--io-read-bps"},
		{[]string{"--name", "a/b", "--", "true"}, "--name"},
		{[]string{"--keep", "net_raw", "--drop", "net_raw", "--", "true"}, "exclusive"},
		{[]string{"--keep", "bogus", "--", "true"}, "bogus"},
		{[]string{"--unshare", "pid,bogus", "--", "true"}, "bogus"},
		{[]string{"--command", "x", "--", "true"}, "exclusive"},
		{[]string{"--cpu", "20"}, "no command"},
	} {
		_, err := parse(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want an error mentioning %q", c.args, err, c.want)
		}
	}
}

// A quota below the kernel's minimum is refused before the run, naming
// where each half came from: the profile's file:line when the profile
// alone is wrong, the flag only when a flag was given.
func TestCPUQuotaNamesItsSource(t *testing.T) {
	dir := t.TempDir()
	low := filepath.Join(dir, "low.toml")
	if err := os.WriteFile(low, []byte("[limits]\ncpu = 0.5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(dir, "one.toml")
	if err := os.WriteFile(one, []byte("[limits]\ncpu = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args      []string
		want, not string
	}{
		{[]string{"--profile", low, "--", "true"}, low + ":2: limits.cpu: 0.5% of a 100000 µs period", "--cpu"},
		{[]string{"--profile", one, "--cpu-period", "10000", "--", "true"},
			"--cpu-period 10000 with the profile's cpu = 1: a quota of 100 µs", "--cpu "},
	} {
		_, err := parse(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.not) {
			t.Errorf("%v: %v; want an error with %q and without %q", c.args, err, c.want, c.not)
		}
	}
	// A profile's small cpu with a flag's longer period is fine.
	if _, err := parse(t, "--profile", one, "--cpu-period", "200000", "--cpu", "0.5", "--", "true"); err != nil {
		t.Errorf("--cpu 0.5 --cpu-period 200000: %v", err)
	}
}

func TestPrecedenceFlagsEnvProfile(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.toml")
	os.WriteFile(prof, []byte("[limits]\ncpu = 20\nmem = \"64M\"\n[run]\nparent = \"fromprofile\"\nwait_all = true\n[caps]\ndrop = [\"net_raw\"]\n"), 0o644)

	s, err := parse(t, "--profile", prof, "--", "true")
	if err != nil {
		t.Fatal(err)
	}
	if s.Resources.CPUPercent != 20 || s.Parent != "fromprofile" || !s.WaitAll || s.Caps == nil || s.Caps.Drop[0] != "net_raw" {
		t.Errorf("profile over defaults: %+v caps %+v", s, s.Caps)
	}
	t.Setenv(cgroupfs.ParentEnv, "fromenv")
	s, _ = parse(t, "--profile", prof, "--", "true")
	if s.Parent != "fromenv" {
		t.Errorf("environment over profile: parent %q", s.Parent)
	}
	s, _ = parse(t, "--profile", prof, "--parent", "fromflag", "--cpu", "80", "--no-wait-all", "--keep", "none", "--", "true")
	if s.Parent != "fromflag" || s.Resources.CPUPercent != 80 || s.Resources.Mem != 64<<20 || s.WaitAll {
		t.Errorf("flags over environment and profile: parent %q cpu %v mem %d wait_all %v", s.Parent, s.Resources.CPUPercent, s.Resources.Mem, s.WaitAll)
	}
	if s.Caps == nil || !s.Caps.KeepSet || len(s.Caps.Drop) != 0 {
		t.Errorf("--keep over the profile's drop: %+v", s.Caps)
	}
}

// Flags layer over a profile per device for I/O throttles and add to its
// mounts (spec.Overlay): easing one device must not lift another's limit.
func TestFlagsLayerOverProfileIOAndMounts(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "p.toml")
	os.WriteFile(prof, []byte("[limits]\nio_read_bps = { \"8:0\" = \"1M\", \"8:16\" = \"2M\" }\n[run]\ntmpfs = [\"/tmp\"]\n"), 0o644)
	s, err := parse(t, "--profile", prof, "--io-read-bps", "8:0:5M", "--io-write-bps", "8:16:3M", "--tmpfs", "/run", "--", "true")
	if err != nil {
		t.Fatal(err)
	}
	want := []cgroupfs.IOLimit{
		{Major: 8, Minor: 0, Kind: cgroupfs.ReadBPS, Rate: 5 << 20},
		{Major: 8, Minor: 16, Kind: cgroupfs.ReadBPS, Rate: 2 << 20},
		{Major: 8, Minor: 16, Kind: cgroupfs.WriteBPS, Rate: 3 << 20},
	}
	if !reflect.DeepEqual(s.Resources.IO, want) {
		t.Errorf("io %+v, want %+v", s.Resources.IO, want)
	}
	if s.NS == nil || !reflect.DeepEqual(s.NS.Tmpfs, []string{"/tmp", "/run"}) || !s.NS.Mount {
		t.Errorf("mounts %+v: the flag's tmpfs adds to the profile's", s.NS)
	}
}

// --parent means the same for a run and for rcon attach (both end in
// cgroupfs.Create), so their help must explain it the same way, after a
// lead that differs (attach's parent only matters for a new group).
func TestParentHelpAgrees(t *testing.T) {
	help := func(v any) string {
		f, _ := reflect.TypeOf(v).FieldByName("Parent")
		_, meaning, _ := strings.Cut(f.Tag.Get("help"), ": ")
		return meaning
	}
	run, attach := help(Group{}), help(AttachCmd{})
	if run != attach || !strings.Contains(run, "beneath rcon's own cgroup") {
		t.Errorf("--parent help differs:\nrun:    %s\nattach: %s", run, attach)
	}
}

// A plain run may be parsed against the run command alone; anything that
// names a subcommand or asks for help before "--" goes to the whole CLI.
func TestPlainRun(t *testing.T) {
	subs := []string{"gc", "ps", "attach", "set", "profile"}
	for _, c := range []struct {
		args  []string
		plain bool
	}{
		{[]string{"--cpu", "20", "--", "make"}, true},
		{[]string{"--cpu", "20", "make", "-h"}, false}, // no "--": the whole CLI decides, as always
		{[]string{"--command", "yes > /dev/null"}, true},
		{[]string{"--", "gc"}, true}, // a command named gc
		{[]string{"gc", "--kill"}, false},
		{[]string{"--cpu", "20", "ps"}, false},
		{[]string{"--help"}, false},
		{[]string{"-h", "--", "x"}, false},
		{[]string{"help"}, false},
		{nil, true},
	} {
		if got := plainRun(c.args, subs); got != c.plain {
			t.Errorf("plainRun(%q) = %v, want %v", c.args, got, c.plain)
		}
	}
}

// Parse gives a plain run the same result as the whole CLI, and leaves
// what the run command alone would misread (an unknown flag taken for
// the command) to the whole CLI, which refuses it.
func TestParseRunAloneAgreesWithWhole(t *testing.T) {
	type runT struct {
		Flag bool     `name:"flag"`
		Args []string `arg:"" optional:"" passthrough:""`
	}
	var whole struct {
		Run runT     `cmd:"" default:"withargs"`
		GC  struct{} `cmd:"" name:"gc"`
		PS  struct{} `cmd:""` // named by kong after the field
	}
	parse := func(args ...string) (*kong.Context, error) {
		whole.Run = runT{}
		return Parse(args, &whole, &whole.Run, func() []string { return whole.Run.Args }, "t")
	}
	ctx, err := parse("--flag", "--", "x", "--flag")
	if err != nil {
		t.Fatalf("plain run: %v", err)
	}
	if strings.HasPrefix(ctx.Command(), "gc") || !whole.Run.Flag || strings.Join(whole.Run.Args, " ") != "-- x --flag" {
		t.Errorf("plain run: command %q, %+v", ctx.Command(), whole.Run)
	}
	// The run alone takes --bogus for the command, having set --flag.
	if _, err := parse("--flag", "--bogus", "--", "x"); err == nil || !strings.Contains(err.Error(), "--bogus") {
		t.Errorf("unknown flag: %v, want the whole CLI's refusal naming it", err)
	}
	if whole.Run.Flag || len(whole.Run.Args) > 0 {
		t.Errorf("the refused run-only parse leaked into the result: %+v", whole.Run)
	}
	for _, sub := range []string{"gc", "ps"} {
		if ctx, err := parse(sub); err != nil || ctx.Command() != sub {
			t.Errorf("subcommand %s: %v, %v", sub, err, ctx)
		}
	}
}

func TestCommandTextEscapes(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"make", "-j4"}, "make -j4"},
		{[]string{"sh", "-c", "echo \x1b]0;pwned\x07"}, `sh -c echo \x1b]0;pwned\x07`},
		{[]string{"a\tb\nc", "\xff", "\u009b2J", "é"}, `a\x09b\x0ac \xff \x9b2J é`},
		{[]string{"\u202e"}, `\u202e`},
	} {
		if got := commandText(c.in); got != c.want {
			t.Errorf("commandText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
