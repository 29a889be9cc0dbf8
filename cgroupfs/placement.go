package cgroupfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

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

// CheckPlacement refuses paths that are not those of a group named name
// that rcon could have made under parent (as given when the group was
// made; empty: the default) on the host's cgroup version v:
//
//   - clean absolute paths (no "..", no "//") strictly below the root of
//     a hierarchy rcon uses, of the host's cgroup version;
//   - the last element is name;
//   - the parent is the one given: the project's own ("rcon" beneath some
//     cgroup on v1, /rcon on v2) when none was given, the same absolute
//     path in each hierarchy for an absolute one, a path ending in it for
//     a relative one (beneath the creator's own cgroup, which differs per
//     hierarchy and per caller, so no reader can recompute it).
//
// Expected thus means "consistent with how rcon places groups", not "what
// this caller would use": a shared group lives where its first run made
// it, whatever parent a later joiner asked for, and gc runs without one.
func CheckPlacement(name string, v Version, parent string, paths []string) error {
	if v != Detect() {
		return fmt.Errorf("cgroup v%d, the host runs v%d", v, Detect())
	}
	if parent != "" {
		if slices.Contains(strings.Split(parent, "/"), "..") {
			return fmt.Errorf("parent %q has a '..'", parent)
		}
		parent = filepath.Clean(parent)
	}
	roots := hierarchyRoots()
	for _, p := range paths {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return fmt.Errorf("path %q is not clean and absolute", p)
		}
		if filepath.Base(p) != name {
			return fmt.Errorf("path %s does not end in the group's name %s", p, name)
		}
		root := ""
		for _, r := range roots {
			if strings.HasPrefix(p, r+"/") {
				root = r
			}
		}
		if root == "" {
			return fmt.Errorf("path %s is in no cgroup hierarchy rcon uses", p)
		}
		// The parent's path from the hierarchy's root, "/" for the root.
		rel := "/" + strings.TrimPrefix(parentDir(p), root+"/")
		if parentDir(p) == root {
			rel = "/"
		}
		ok := false
		switch {
		case parent == "":
			ok = filepath.Base(rel) == ProjectParent && (v == V1 || rel == "/"+ProjectParent)
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
			return fmt.Errorf("path %s is not under its recorded parent (%s)", p, want)
		}
	}
	return nil
}

// ParentMoved tells whether a group of version v made under parent (as
// given) would lie elsewhere than the existing group in paths, and where
// that group's parent is. The parent is resolved as Create resolves it (a
// relative one beneath the caller's own cgroup) and compared with the
// directories the group is in, so how it is spelled does not matter.
// When that cannot be told, the answer is no.
func ParentMoved(parent string, v Version, paths []string) (bool, string) {
	if parent == "" && os.Getenv(ParentEnv) == "" {
		// Asked for nothing: on v1 the default lies beneath each
		// caller's own cgroup, so callers from other sessions would all
		// be "elsewhere", yet none chose a place.
		return false, ""
	}
	place, err := resolveParent(parent, v)
	if err != nil {
		return false, ""
	}
	differs, known := place.differsFrom(v, paths)
	if !differs || !known {
		return false, ""
	}
	return true, parentDir(paths[0])
}
