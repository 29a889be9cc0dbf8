package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeProfile writes a profile root owns and only root may write, in a
// directory of its own, so the permission check lets it through.
func writeProfile(t *testing.T, name, text string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProfileCPUHoldsBusyLoopLikeTheFlag(t *testing.T) {
	needRoot(t)
	p := writeProfile(t, "spin", "[limits]\ncpu = 20\n")
	r := rcon(t, append([]string{"--profile", p, "--"}, helperArgs(t, "spin", "3")...)...)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	var cpu, wall float64
	if _, err := fmt.Sscanf(r.Stdout, "cpu=%f wall=%f", &cpu, &wall); err != nil {
		t.Fatalf("helper output %q: %v", r.Stdout, err)
	}
	if pct := 100 * cpu / wall; pct < 17 || pct > 23 {
		t.Errorf("profile cpu = 20: busy loop got %.1f%% of one CPU, want 20 ± 3", pct)
	}
}

// statsLimits runs rcon with args and returns the limits it applied, as
// --stats-json reports them.
func statsLimits(t *testing.T, args ...string) (map[string]any, result) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "stats.json")
	r := rcon(t, append([]string{"--stats-json", file}, args...)...)
	var j struct {
		Limits map[string]any `json:"limits"`
	}
	if data, err := os.ReadFile(file); err == nil {
		json.Unmarshal(data, &j)
	}
	return j.Limits, r
}

func TestProfilePrecedence(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "base.toml"), []byte("[limits]\nmem = \"64M\"\npids = 50\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "job.toml"), []byte("include = [\"base\"]\n[limits]\ncpu = 20\npids = 40\n[run]\ncommand = [\"sh\", \"-c\", \"exit 6\"]\n"), 0o644)
	t.Setenv("RCON_PROFILE_PATH", dir)

	// Profile (with its include) over built-in defaults; the profile's
	// command runs when none is given.
	lim, r := statsLimits(t, "--profile", "job")
	if r.Code != 6 {
		t.Fatalf("profile command: exit %d %q, want 6", r.Code, r.Stderr)
	}
	if lim["cpu_percent"] != 20.0 || lim["mem"] != float64(64<<20) || lim["pids"] != 40.0 {
		t.Errorf("profile limits: %v; want cpu 20, mem 64M (from base), pids 40 (job over base)", lim)
	}
	// A flag over the profile, and a command line over its command.
	lim, r = statsLimits(t, "--profile", "job", "--cpu", "80", "--mem", "128M", "--", "true")
	if r.Code != 0 || lim["cpu_percent"] != 80.0 || lim["mem"] != float64(128<<20) || lim["pids"] != 40.0 {
		t.Errorf("flags over profile: exit %d, limits %v; want cpu 80, mem 128M, pids 40", r.Code, lim)
	}
}

func TestProfileErrorsCreateNothing(t *testing.T) {
	needRoot(t)
	bad := writeProfile(t, "bad", "[limits]\ncpu = 20\nmem = \"10Q\"\n")
	r := rcon(t, "--profile", bad, "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, bad+":3: limits.mem") {
		t.Errorf("bad size: exit %d %q; want 125 naming %s:3: limits.mem", r.Code, r.Stderr, bad)
	}
	unknown := writeProfile(t, "unknown", "[limits]\ncpu = 20\n\n[caps]\nkeep = [\"bogus\"]\n")
	r = rcon(t, "--profile", unknown, "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, unknown+":5: caps.keep") {
		t.Errorf("unknown capability: exit %d %q", r.Code, r.Stderr)
	}
	// As root, a profile others may write is refused: they could change
	// what root runs.
	open := writeProfile(t, "open", "[limits]\ncpu = 20\n")
	os.Chmod(open, 0o666)
	r = rcon(t, "--profile", open, "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "writable") {
		t.Errorf("world-writable profile: exit %d %q; want 125 and a refusal", r.Code, r.Stderr)
	}
	r = rcon(t, "--profile", "no-such-profile-rcontest", "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "no-such-profile-rcontest") {
		t.Errorf("missing profile: exit %d %q", r.Code, r.Stderr)
	}
	stateEmpty(t)
}

func TestShippedProfilesCheck(t *testing.T) {
	files, _ := filepath.Glob("../testdata/profiles/*.toml")
	if len(files) == 0 && os.Getenv("TESTVM") != "" {
		t.Skip("the VM runs the test binary without the source tree; the host run checks the shipped profiles")
	}
	if len(files) < 5 {
		t.Fatalf("only %d shipped profiles", len(files))
	}
	for i := range files {
		files[i], _ = filepath.Abs(files[i])
	}
	r := rcon(t, append([]string{"profile", "check"}, files...)...)
	if r.Code != 0 || strings.Count(r.Stdout, ": ok") != len(files) {
		t.Errorf("rcon profile check: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	bad, _ := filepath.Glob("../testdata/profiles/bad/*.toml")
	if len(bad) == 0 {
		t.Fatal("no bad profiles shipped")
	}
	if r := rcon(t, "profile", "check", bad[0]); r.Code != 125 || !strings.Contains(r.Stderr, ".toml:") {
		t.Errorf("profile check of %s: exit %d %q; want 125 with file:line", bad[0], r.Code, r.Stderr)
	}
}
