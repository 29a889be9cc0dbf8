package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestFlagBounds: numeric flags are held to the bounds profiles are
// (cgroupfs/bounds.go). `--cpu 1e17` used to wrap to a quota of -1, no
// limit at all; NaN, infinities, negative and huge values must each be
// refused (125, naming the flag) before any group or record exists.
func TestFlagBounds(t *testing.T) {
	needRoot(t)
	const name = "rcontest-bounds"
	for _, c := range [][]string{
		{"--cpu", "1e17"}, {"--cpu", "NaN"}, {"--cpu", "-5"}, {"--cpu", "inf"}, {"--cpu", "-Inf"},
		{"--cpu", "100001"}, {"--cpu", "0"},
		{"--cpu-period", "-5"}, {"--cpu-period", "99999999999999999"}, {"--cpu-weight", "0"},
		{"--cpu-weight", "-1"}, {"--cpu-weight", "18446744073709551615"},
		{"--mem", "99999999T"}, {"--mem", "-1"}, {"--mem", "NaN"}, {"--mem-high", "0"}, {"--mem-high", "1e400"},
		{"--swap", "-1M"}, {"--pids", "-1"}, {"--pids", "0"}, {"--pids", "9223372036854775807"},
		{"--io-read-bps", "8:0:-1"}, {"--io-write-iops", "8:0:99999999999999999999"},
	} {
		args := append(append([]string{"--name", name}, c...), "--", "true")
		r := rcon(t, args...)
		if r.Code != 125 || !strings.HasPrefix(r.Stderr, "rcon: ") || !strings.Contains(r.Stderr, c[0]) {
			t.Errorf("rcon %v: exit %d, stderr %q; want 125 naming %s", c, r.Code, r.Stderr, c[0])
		}
		if left := findGroups(name); len(left) > 0 {
			t.Errorf("rcon %v: groups left: %v", c, left)
			for _, d := range left {
				killAndRemove(d)
			}
		}
		stateEmpty(t)
	}
}

// TestSetAndUpdateBounds: the same bounds hold for `rcon set` and for
// --shared --update on a live group, whose quota must stay as it was.
func TestSetAndUpdateBounds(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("rcontest-bounds-%d", os.Getpid())
	cleanupGroup(t, name)
	cleanupGroup(t, name+"-new")
	file, want := cpuLimitFile()
	target := exec.Command("sleep", "60")
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		target.Process.Kill()
		target.Wait()
		rcon(t, "gc")
	})
	if r := rcon(t, "attach", "--cpu", "30", "--name", name, strconv.Itoa(target.Process.Pid)); r.Code != 0 {
		t.Fatalf("attach: exit %d: %s", r.Code, r.Stderr)
	}
	g := psGroupNamed(t, name)
	if g == nil {
		t.Fatal("the attached group is not listed")
	}
	for _, args := range [][]string{
		{"set", name, "--cpu", "1e17"},
		{"set", name, "--cpu", "NaN"},
		{"set", name, "--pids", "-1"},
		{"--shared", name, "--update", "--cpu", "1e17", "--", "true"},
		// attach into the live group, and attach making a new one.
		{"attach", "--cpu", "1e17", "--name", name, strconv.Itoa(target.Process.Pid)},
		{"attach", "--cpu", "1e17", "--name", name + "-new", strconv.Itoa(target.Process.Pid)},
	} {
		r := rcon(t, args...)
		if r.Code != 125 || !strings.Contains(r.Stderr, "--cpu") && !strings.Contains(r.Stderr, "--pids") {
			t.Errorf("rcon %v: exit %d, stderr %q; want 125 naming the flag", args, r.Code, r.Stderr)
		}
		if got := readLimit(t, g, file); got != want(30) {
			t.Errorf("after rcon %v: %s = %q, want %q unchanged", args, file, got, want(30))
		}
	}
	if g := psGroupNamed(t, name+"-new"); g != nil {
		t.Errorf("a refused attach made group %s: %v", name+"-new", g)
	}
}
