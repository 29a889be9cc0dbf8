package cgroupfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// parentPlace is a parent group resolved once, for creating groups under
// it and for telling a shared group's joiner whether it asked for the
// parent the group lives under: the two must not disagree.
type parentPlace struct {
	given   string // as asked, $RCON_PARENT applied ("": the default)
	path    string // the default applied; relative or absolute
	project bool   // the project's own parent, rcon's to make and remove
	own     map[string]string
}

// resolveParent resolves a parent as given (--parent; empty: $RCON_PARENT,
// else the project's own: "rcon" beneath rcon's own cgroup on v1, /rcon on
// v2). A relative parent lies beneath the caller's own cgroup in each
// hierarchy, so it is read here, once.
func resolveParent(given string, v Version) (*parentPlace, error) {
	if given == "" {
		given = os.Getenv(ParentEnv)
	}
	p := &parentPlace{given: given, path: given}
	if given == "" {
		p.project = true
		p.path = ProjectParent
		if v == V2 {
			p.path = "/" + ProjectParent
		}
	}
	if !filepath.IsAbs(p.path) {
		own, err := ownCgroups()
		if err != nil {
			return nil, err
		}
		p.own = own
	}
	return p, nil
}

// in is the parent's path from the root of controller c's hierarchy ("c"
// is "" for the v2 one).
func (p *parentPlace) in(c string) string {
	if p.own == nil {
		return filepath.Clean(p.path)
	}
	return filepath.Join("/", p.own[c], p.path)
}

// dirV1 is the parent's directory in controller c's v1 hierarchy, with
// the mount's symlinks resolved (cpu -> cpu,cpuacct) as the kernel names it.
func (p *parentPlace) dirV1(c string) string { return filepath.Join(v1Root(c), p.in(c)) }

// v1Root is the mount directory of controller c's v1 hierarchy as the
// kernel names it: on a stock hybrid host cpu and cpuacct are symlinks to
// the co-mounted cpu,cpuacct, and group paths are recorded resolved, so
// everything that maps a path back to its controller must resolve too.
func v1Root(c string) string {
	root := filepath.Join(Mountpoint, c)
	if real, err := filepath.EvalSymlinks(root); err == nil {
		return real
	}
	return root
}

// dirV2 is the parent's directory in the unified hierarchy.
func (p *parentPlace) dirV2() string { return filepath.Join(Mountpoint, p.in("")) }

// differsFrom tells whether a group recorded with paths (a version v
// group) lies under another parent than this one. known is false when it
// cannot be told (no paths recorded).
func (p *parentPlace) differsFrom(v Version, paths []string) (differs, known bool) {
	if len(paths) == 0 {
		return false, false
	}
	want := map[string]bool{}
	if v == V2 {
		want[p.dirV2()] = true
	} else {
		// Every hierarchy rcon may use: the recorded group may have
		// one (cpuset) that this joiner would not.
		for _, s := range v1Subsystems(&Resources{Cpuset: "all"}) {
			want[p.dirV1(string(s.Name()))] = true
		}
	}
	for _, path := range paths {
		if !want[parentDir(path)] {
			return true, true
		}
	}
	return false, true
}

// ownCgroups maps each controller to the caller's cgroup in its hierarchy,
// from /proc/self/cgroup ("4:memory:/a/b", "3:cpu,cpuacct:/"); the v2
// hierarchy ("0::/a") is under "".
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			m[c] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	return m, nil
}

// OwnV2Cgroup is the caller's cgroup in the unified hierarchy, as
// /proc/self/cgroup names it (relative to its cgroup namespace's root).
func OwnV2Cgroup() (string, error) {
	m, err := ownCgroups()
	if err != nil {
		return "", err
	}
	p, ok := m[""]
	if !ok {
		return "", errors.New("read own cgroup: no unified hierarchy entry")
	}
	return p, nil
}
