package cgroupfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ErrRecordRefused marks a record whose paths rcon will not act on: they
// do not name a group of that record's own name, in a hierarchy rcon
// uses, under the parent it records. Records tell rcon what to kill and
// remove, and whoever can write the state directory can write them, so
// they are checked before every use; a refused one is left as it is and
// reported (rcon gc), never acted on.
var ErrRecordRefused = errors.New("record refused")

// hierarchyRoots are the mount points of the hierarchies rcon uses, both
// as named under Mountpoint and with symlinks resolved (cpu ->
// cpu,cpuacct), as paths are recorded resolved.
var hierarchyRoots = sync.OnceValue(func() []string {
	if Detect() == V2 {
		return []string{Mountpoint}
	}
	var roots []string
	for _, s := range v1Subsystems(&Resources{Cpuset: "all"}) {
		root := filepath.Join(Mountpoint, string(s.Name()))
		roots = append(roots, root)
		if real := v1Root(string(s.Name())); real != root {
			roots = append(roots, real)
		}
	}
	return roots
})

// recordCheck is checkRecord; a variable so that the record tests, which
// use directories outside cgroupfs, can leave it out.
var recordCheck = checkRecord

// checkRecord refuses a record whose name is not its file's, or whose
// paths are not those of a group rcon could have made for it:
//
//   - clean absolute paths (no "..", no "//") strictly below the root of
//     a hierarchy rcon uses, of the host's cgroup version;
//   - the last element is the record's name (so a record can only ever
//     name a group of its own name: rewriting cgi-A.json cannot make it
//     name cgi-B's group);
//   - the parent is the one recorded (Parent, as given when the group
//     was made): the project's own ("rcon" beneath some cgroup on v1,
//     /rcon on v2) when none was given, the same absolute path in each
//     hierarchy for an absolute one, a path ending in it for a relative
//     one (beneath the creator's own cgroup, which differs per hierarchy
//     and per caller, so no reader can recompute it);
//   - MadeParents (which rcon may rmdir the parents of) among the paths.
//
// Expected thus means "consistent with the record and with how rcon
// places groups", not "what this caller would use": a shared group lives
// where its first run made it, whatever parent a later joiner asked for,
// and gc runs without one. Together with the name check it bounds what a
// rewritten record can point at to a directory of the record's own name.
func checkRecord(rec *Record, file string) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: %s", file, ErrRecordRefused, fmt.Sprintf(format, a...))
	}
	if want := strings.TrimSuffix(filepath.Base(file), ".json"); rec.Name != want {
		return refuse("it names group %q, not %q", rec.Name, want)
	}
	if err := ValidName(rec.Name); err != nil {
		return refuse("%v", err)
	}
	if len(rec.Paths) == 0 && len(rec.MadeParents) == 0 {
		return nil // names no directory: there is nothing to act on
	}
	if rec.Version != Detect() {
		return refuse("cgroup v%d, the host runs v%d", rec.Version, Detect())
	}
	parent := rec.Parent
	if parent != "" {
		if slices.Contains(strings.Split(parent, "/"), "..") {
			return refuse("parent %q has a '..'", parent)
		}
		parent = filepath.Clean(parent)
	}
	roots := hierarchyRoots()
	for _, p := range rec.Paths {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return refuse("path %q is not clean and absolute", p)
		}
		if filepath.Base(p) != rec.Name {
			return refuse("path %s does not end in the group's name %s", p, rec.Name)
		}
		root := ""
		for _, r := range roots {
			if strings.HasPrefix(p, r+"/") {
				root = r
			}
		}
		if root == "" {
			return refuse("path %s is in no cgroup hierarchy rcon uses", p)
		}
		// The parent's path from the hierarchy's root, "/" for the root.
		rel := "/" + strings.TrimPrefix(parentDir(p), root+"/")
		if parentDir(p) == root {
			rel = "/"
		}
		ok := false
		switch {
		case parent == "":
			ok = filepath.Base(rel) == ProjectParent && (rec.Version == V1 || rel == "/"+ProjectParent)
		case filepath.IsAbs(parent):
			ok = rel == parent
		default:
			ok = rel == "/"+parent || strings.HasSuffix(rel, "/"+parent)
		}
		if !ok {
			want := parent
			if want == "" {
				want = "the project's " + ProjectParent
			}
			return refuse("path %s is not under its recorded parent (%s)", p, want)
		}
	}
	for _, m := range rec.MadeParents {
		if !slices.Contains(rec.Paths, m) {
			return refuse("made parent %s is not one of its paths", m)
		}
	}
	if rec.OwnParent && rec.Parent != "" {
		return refuse("own_parent with a parent of the user's (%s)", rec.Parent)
	}
	return nil
}
