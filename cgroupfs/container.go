package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// selfLeaf is the group rcon moves itself into when it is the only process
// in the root group of a container's cgroup namespace (see readyViewRoot).
const selfLeaf = "rcon.self"

// selfMove remembers that this rcon moved itself into selfLeaf and which
// controllers it then enabled in the root, so that the last step of its
// run can put both back.
var selfMove *struct {
	root, leaf string
	enabled    []string
}

// readyViewRoot makes the controllers the run needs available beneath the
// root of the unified hierarchy as rcon sees it, where the project's parent
// lives. Inside a container (a cgroup namespace whose root is the
// container's group, which holds the container's processes) they usually
// are not: the runtime enabled them for the container's group, not below
// it, and the "no internal processes" rule forbids enabling them while the
// root holds processes. When rcon is the only process there (a container's
// entrypoint or PID 1) it moves itself, and only itself, into a leaf and
// enables them; with others there it moves nobody and says so. The host's
// real root (no cgroup.type file) is never written: there it is the
// administrator's (or systemd's) to set up.
func readyViewRoot(root string, r *Resources) error {
	if _, err := os.Stat(filepath.Join(root, "cgroup.type")); err != nil {
		return nil // the real root
	}
	avail, on, err := controllerLists(root)
	if err != nil {
		return err
	}
	required, optional := controllersFor(r)
	var add []string
	for _, c := range append(required, optional...) {
		if slices.Contains(avail, c) && !slices.Contains(on, c) {
			add = append(add, c)
		}
	}
	missing := false
	for _, c := range required {
		missing = missing || slices.Contains(add, c)
	}
	if !missing {
		return nil // what the run needs is on, or cannot be had at all (enableControllers says which)
	}
	procs, err := os.ReadFile(filepath.Join(root, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("read processes of %s: %w", root, err)
	}
	self := strconv.Itoa(os.Getpid())
	var others []string
	for _, p := range strings.Fields(string(procs)) {
		if p != self {
			others = append(others, p)
		}
	}
	if len(others) == 0 && !slices.Contains(strings.Fields(string(procs)), self) {
		return nil // an empty root: enableControllers names what to enable
	}
	if len(others) > 0 {
		return fmt.Errorf("cgroup v2: cannot enable %s beneath this cgroup namespace's root group (a container's): it holds processes (pids %s), and the \"no internal processes\" rule forbids controllers for its children; move them into a leaf group, run rcon as the container's first process, or pass --parent a group with the controllers enabled",
			strings.Join(add, " "), strings.Join(strings.Fields(string(procs)), " "))
	}
	leaf := filepath.Join(root, selfLeaf)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create %s: %w", leaf, err)
	}
	// "0" moves the writer's whole thread group: every thread of rcon.
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte("0"), 0); err != nil {
		_ = rmdir(leaf)
		return fmt.Errorf("move rcon into %s: %w", leaf, err)
	}
	move := &struct {
		root, leaf string
		enabled    []string
	}{root: root, leaf: leaf}
	selfMove = move
	plus := "+" + strings.Join(add, " +")
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte(plus), 0); err != nil {
		restoreSelf()
		return fmt.Errorf("enable %s in %s: %w", plus, root, err)
	}
	move.enabled = add
	return nil
}

// restoreSelf undoes readyViewRoot once rcon's groups are gone: the
// controllers it enabled are disabled again, rcon moves back to the root
// and its leaf is removed, leaving the container's group as it was. While
// another run still uses a controller (the kernel refuses with EBUSY) all
// of it stays, for that run. A no-op when rcon did not move.
func restoreSelf() {
	m := selfMove
	if m == nil {
		return
	}
	if len(m.enabled) > 0 {
		minus := "-" + strings.Join(m.enabled, " -")
		if err := os.WriteFile(filepath.Join(m.root, "cgroup.subtree_control"), []byte(minus), 0); err != nil {
			if !errors.Is(err, syscall.EBUSY) {
				fmt.Fprintf(os.Stderr, "rcon: warning: could not disable %s again in %s: %v\n", minus, m.root, err)
			}
			return
		}
	}
	if err := os.WriteFile(filepath.Join(m.root, "cgroup.procs"), []byte("0"), 0); err != nil {
		return
	}
	selfMove = nil
	_ = rmdir(m.leaf)
}
