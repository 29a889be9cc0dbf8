package shellcomp

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
)

// app is a small CLI of rcon's shape: a default run and subcommands;
// flags and args name their predictors as cli's maps do.
type app struct {
	Run struct {
		CPU     float64  `name:"cpu"`
		Keep    []string `name:"keep"`
		Unshare []string `name:"unshare"`
		Profile string   `name:"profile"`
		Args    []string `arg:"" optional:"" passthrough:""`
	} `cmd:"" default:"withargs"`
	Set struct {
		Force bool   `name:"force"`
		Name  string `arg:""`
	} `cmd:""`
	PS struct {
		JSON bool `name:"json"`
	} `cmd:"" name:"ps"`
	Export struct {
		To      string   `name:"to" enum:"systemd,oci" required:""`
		Name    string   `arg:""`
		Command []string `arg:"" optional:""`
	} `cmd:""`
}

// candidates completes line (cursor at its end) as bash would ask.
func candidates(t *testing.T, line string) []string {
	t.Helper()
	var a app
	k, err := kong.New(&a, kong.Name("rcon"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("COMP_LINE", line)
	t.Setenv("COMP_POINT", strconv.Itoa(len(line)))
	var out bytes.Buffer
	if err := Complete(k, &out, flags, args); err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(out.String())
	slices.Sort(got)
	return got
}

var (
	flags = map[string]string{"keep": "caps", "unshare": "namespaces", "profile": "profile"}
	args  = map[string]string{"set": "group", "export": "profile"}
)

// A name that is no predictor is an error, not a silent nothing.
func TestUnknownPredictor(t *testing.T) {
	var a app
	k, err := kong.New(&a, kong.Name("rcon"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Command(k, map[string]string{"keep": "capz"}, nil); err == nil || !strings.Contains(err.Error(), "capz") {
		t.Errorf("unknown predictor: %v", err)
	}
}

func want(t *testing.T, line string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := candidates(t, line); !slices.Equal(got, want) {
		t.Errorf("%q: got %q, want %q", line, got, want)
	}
}

func TestFlagsOfTheRunAtTheTop(t *testing.T) {
	want(t, "rcon --ke", "--keep")
	want(t, "rcon --c", "--cpu")
	// Not offered under another subcommand.
	want(t, "rcon ps --", "--help", "--json")
	want(t, "rcon s", "set")
}

// The line split as posener/complete splits it.
func TestArgs(t *testing.T) {
	for line, want := range map[string]complete.Args{
		"rcon":             {},
		"rcon ":            {All: []string{""}, Completed: []string{}, Last: ""},
		"rcon --cpu 5":     {All: []string{"--cpu", "5"}, Completed: []string{"--cpu"}, Last: "5", LastCompleted: "--cpu"},
		"rcon --keep=net_": {All: []string{"--keep", "net_"}, Completed: []string{"--keep"}, Last: "net_", LastCompleted: "--keep"},
	} {
		got := newArgs(line)
		if !slices.Equal(got.All, want.All) || !slices.Equal(got.Completed, want.Completed) || got.Last != want.Last || got.LastCompleted != want.LastCompleted {
			t.Errorf("newArgs(%q) = %+v, want %+v", line, got, want)
		}
	}
	want(t, "rcon --unshare=pid,ne", "pid,net")
}

func TestCapabilityListsComplete(t *testing.T) {
	want(t, "rcon --keep net_bind", "net_bind_service")
	want(t, "rcon --keep net_raw,sys_ad", "net_raw,sys_admin")
	// A name already in the list is not offered again.
	if got := candidates(t, "rcon --keep net_raw,net_r"); len(got) != 0 {
		t.Errorf("net_raw offered twice: %q", got)
	}
	want(t, "rcon --unshare pid,mo", "pid,mount")
}

func TestNothingOfOursAfterDoubleDash(t *testing.T) {
	if got := candidates(t, "rcon --cpu 50 -- --ke"); len(got) != 0 {
		t.Errorf("after --: %q", got)
	}
}

func TestProfilesFromTheSearchPath(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, f := range []string{filepath.Join(a, "nightly.toml"), filepath.Join(b, "night-owl.toml"), filepath.Join(b, "nightly.toml"), filepath.Join(b, "notes.txt")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("RCON_PROFILE_PATH", a+":"+b)
	if got, w := ProfileNames(), []string{"night-owl", "nightly"}; !slices.Contains(got, w[0]) || !slices.Contains(got, w[1]) || slices.Contains(got, "notes") {
		t.Errorf("ProfileNames() = %q, want %q among them and no notes", got, w)
	}
	t.Chdir(t.TempDir()) // no *.toml files here to add
	want(t, "rcon --profile nigh", "night-owl", "nightly")
	// Only the first argument is a profile: export NAME COMMAND...
	want(t, "rcon export --to oci nigh", "night-owl", "nightly")
	want(t, "rcon export --to oci nightly nigh")
	want(t, "rcon export --to ", "oci", "systemd")
}

// Live groups come from the records in the state directory; asking
// must make nothing, not even a missing state directory.
func TestLiveGroupsReadOnly(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "state")
	t.Setenv("RCON_STATE_DIR", missing)
	if got := candidates(t, "rcon set "); len(got) != 0 {
		t.Errorf("groups without a state directory: %q", got)
	}
	if _, err := os.Lstat(missing); !os.IsNotExist(err) {
		t.Errorf("completion made the state directory %s (%v)", missing, err)
	}
}

func TestScripts(t *testing.T) {
	for _, sh := range Shells {
		s, err := Script(sh, "capcon")
		if err != nil || !strings.Contains(s, "capcon __complete") || strings.Contains(s, "TOOL") {
			t.Errorf("%s script (%v):\n%s", sh, err, s)
		}
	}
	if _, err := Script("tcsh", "rcon"); err == nil || !strings.Contains(err.Error(), "tcsh") {
		t.Errorf("unknown shell: %v", err)
	}
}
