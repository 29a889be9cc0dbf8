package cgroupfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ownFromProc reads the test's own cgroups independently of ownCgroups.
func ownFromProc(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(l, ":", 3)
		for _, c := range strings.Split(f[1], ",") {
			m[c] = f[2]
		}
	}
	return m
}

// placed is a group as its record tells where it is.
type placed struct {
	Name    string
	Version Version
	Paths   []string
}

// A joiner is warned only when its parent, resolved as Create resolves
// it, names another directory than the one the group lives in: not for
// another spelling, not for a record written before parents were
// recorded, and not when nothing can be told.
func TestJoinerParentComparedByDirectory(t *testing.T) {
	t.Setenv(ParentEnv, "")
	own := ownFromProc(t)
	// A v1 group made under parent (relative: beneath the caller's own
	// cgroup in each hierarchy), as Create lays it out.
	v1Rec := func(parent string) *placed {
		rec := &placed{Name: "g", Version: V1}
		for _, s := range v1Subsystems(&Resources{}) {
			c := string(s.Name())
			root := filepath.Join(Mountpoint, c)
			if real, err := filepath.EvalSymlinks(root); err == nil {
				root = real
			}
			base := parent
			if !filepath.IsAbs(parent) {
				base = filepath.Join(own[c], parent)
			}
			rec.Paths = append(rec.Paths, filepath.Join(root, base, "g"))
		}
		if len(rec.Paths) == 0 {
			t.Skip("no v1 hierarchy mounted")
		}
		return rec
	}
	v2Rec := &placed{Name: "g", Version: V2, Paths: []string{"/sys/fs/cgroup/rcon/g"}}
	abs := filepath.Join(own["memory"], "jobs") // "jobs", spelled from the root
	for _, c := range []struct {
		what   string
		joiner string
		env    string
		rec    *placed
		warn   bool
	}{
		{"same relative parent", "jobs", "", v1Rec("jobs"), false},
		{"trailing slash", "jobs/", "", v1Rec("jobs"), false},
		{"dot segments", "./x/../jobs", "", v1Rec("jobs"), false},
		{"other parent", "other", "", v1Rec("jobs"), true},
		{"default, joined with no parent", "", "", v1Rec("rcon"), false},
		{"default, named by the joiner", "rcon", "", v1Rec("rcon"), false},
		{"default, from RCON_PARENT", "", "rcon", v1Rec("rcon"), false},
		{"RCON_PARENT elsewhere", "", "other", v1Rec("rcon"), true},
		{"default, joiner names another", "jobs", "", v1Rec("rcon"), true},
		{"absolute spelling of the memory parent", abs, "", v1Rec("jobs"), !sameEverywhere(own)},
		{"v2 default", "", "", v2Rec, false},
		{"v2 default spelled out", "/rcon/", "", v2Rec, false},
		{"v2 other", "/jobs", "", v2Rec, true},
		{"nothing recorded", "other", "", &placed{Name: "g", Version: V1}, false},
		// A joiner in another cgroup (another login session) that asks
		// for no parent chose no place, so it is not warned.
		{"no parent asked, group elsewhere", "", "", v1Rec("other"), false},
	} {
		t.Setenv(ParentEnv, c.env)
		warn, dir := ParentMoved(c.joiner, c.rec.Version, c.rec.Paths)
		if warn != c.warn {
			t.Errorf("%s: joiner %q (RCON_PARENT %q), group at %v: warned %v, want %v", c.what, c.joiner, c.env, c.rec.Paths, warn, c.warn)
		}
		if warn && dir != filepath.Dir(c.rec.Paths[0]) {
			t.Errorf("%s: warning names %q, want the group's parent %q", c.what, dir, filepath.Dir(c.rec.Paths[0]))
		}
	}
}

// sameEverywhere tells whether the caller is in the same cgroup in every
// v1 hierarchy (then an absolute parent can equal a relative one).
func sameEverywhere(own map[string]string) bool {
	for _, s := range v1Subsystems(&Resources{Cpuset: "all"}) {
		if own[string(s.Name())] != own["memory"] {
			return false
		}
	}
	return true
}
