package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	cgroups "github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"
)

// Mountpoint is where the cgroup filesystems live.
const Mountpoint = "/sys/fs/cgroup"

// ParentEnv overrides the default parent group (see Create).
const ParentEnv = "RCON_PARENT"

// ProjectParent is the directory rcon creates to hold its groups when no
// parent is given. It belongs to the project, so rcon may write to it and
// removes it when it becomes empty.
const ProjectParent = "rcon"

// Version is the cgroup layout the host runs.
type Version int

const (
	V1 Version = 1 // legacy or hybrid: controllers in per-controller v1 hierarchies
	V2 Version = 2 // unified
)

// Detect tells which layout the host runs. Hybrid hosts count as V1
// because their controllers live in the v1 hierarchies.
func Detect() Version {
	if cgroups.Mode() == cgroups.Unified {
		return V2
	}
	return V1
}

// backend is what each kind of group implements: the v1 hierarchies and
// the v2 unified one, and whatever else can hold a group (systemd scopes).
// Its verbs are those of containerd's cgroups Manager: create and load
// (createV1/openV1, createV2/openV2), add a process (add, or enterThread
// and cgroupFD to start one inside), set resources (update), read
// accounting (stats, oomKills), kill and delete (remove). Paths are
// absolute directories, one per hierarchy on v1 and exactly one on v2.
type backend interface {
	paths() []string
	// add moves the process pid, with all its threads, in.
	add(pid int) error
	// enterThread moves the calling OS thread into the group (v1 only:
	// v2 starts children with CLONE_INTO_CGROUP instead).
	enterThread() error
	// cgroupFD is a directory fd for CLONE_INTO_CGROUP, or -1.
	cgroupFD() int
	procs() ([]int, error)
	update(r *Resources) error
	stats() (Stats, error)
	// oomKills reads only the OOM-kill counter (0 if unreadable).
	oomKills() uint64
	kill() error
	// remove deletes the group; the group must be empty.
	remove() error
	close()
}

// Group is one cgroup (one directory per v1 hierarchy) that rcon created.
type Group struct {
	Name    string
	Version Version
	b       backend
	// madeParents are the group's directories whose parent directory is
	// rcon's to remove once empty: the project's own parent, or one rcon
	// made because it was missing. A parent the user made (in any one v1
	// hierarchy, maybe with limits of their own) is never removed.
	madeParents []string
}

// ValidName checks a group name: it becomes a directory and a state file
// name, so it must not contain '/' or start with '.'. (Checked by hand: a
// regexp compiled at init costs every run a quarter millisecond.)
func ValidName(name string) error {
	ok := len(name) > 0 && len(name) <= 100 && name[0] != '.' && name[0] != '-'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
	}
	if !ok {
		return fmt.Errorf("invalid group name %q: use letters, digits, '.', '_' and '-' (at most 100, not starting with '.' or '-')", name)
	}
	return nil
}

// Paths returns the group's directories.
func (g *Group) Paths() []string { return g.b.paths() }

// EnterThread moves the calling, locked OS thread into the group, so that
// a child forked from it is born inside. It is a no-op on v2.
func (g *Group) EnterThread() error { return g.b.enterThread() }

// LendStartSlot makes room, in a group of one run on v1, for the start
// thread EnterThread moves in, so that the thread does not take one of
// the command's pids slots; StartDone takes it back. Only for a command
// forked from that thread itself: an init in its place keeps threads of
// its own in the group, which the limit must count.
func (g *Group) LendStartSlot() error {
	if b, ok := g.b.(*v1Group); ok {
		return b.lendStartSlot()
	}
	return nil
}

// StartDone is called once the command started from a thread that
// EnterThread moved in has been started, before that thread leaves the
// group: on v1 it takes back the pids slot LendStartSlot lent the
// thread. An error means the command runs with a limit one too high: end
// it.
func (g *Group) StartDone() error {
	if b, ok := g.b.(*v1Group); ok {
		return b.startDone()
	}
	return nil
}

// CgroupFD is the fd to pass as SysProcAttr.CgroupFD (with UseCgroupFD),
// or -1 when the child must be started from a thread inside the group
// (v1; on v2, -1 only once the group is closed or deleted).
func (g *Group) CgroupFD() int { return g.b.cgroupFD() }

// Close releases what an opened group holds (v2: its directory fd);
// Delete does it too.
func (g *Group) Close() { g.b.close() }

// Procs lists the processes in the group.
func (g *Group) Procs() ([]int, error) { return g.b.procs() }

// Stats reads the group's accounting.
func (g *Group) Stats() (Stats, error) { return g.b.stats() }

// OOMKills reads only the OOM-kill counter: the one figure rcon needs at
// every exit, at the cost of one small file instead of all the stats.
func (g *Group) OOMKills() uint64 { return g.b.oomKills() }

// Update changes the limits of a live group.
func (g *Group) Update(r *Resources) error { return g.b.update(r) }

// Kill ends every process in the group and waits (bounded) until the
// group is empty.
func (g *Group) Kill() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := g.b.procs()
		if gone(err) {
			// Removed (a systemd scope is, the moment it empties): a
			// cgroup that is gone holds nothing.
			return nil
		}
		if err != nil {
			return fmt.Errorf("list processes of %s: %w", g.Name, err)
		}
		if len(p) == 0 {
			return nil
		}
		if err := g.b.kill(); err != nil && !gone(err) {
			return fmt.Errorf("kill processes of %s: %w", g.Name, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill processes of %s: %d still there after 5s", g.Name, len(p))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Delete removes the group, retrying while the kernel still counts exiting
// tasks, and the project's parent directory if it became empty.
func (g *Group) Delete() error {
	var err error
	for i := 0; i < 200; i++ {
		if err = g.b.remove(); err == nil || !errors.Is(err, syscall.EBUSY) {
			break
		}
		time.Sleep(time.Duration(i+1) * 100 * time.Microsecond)
	}
	g.b.close()
	if err != nil {
		return fmt.Errorf("remove group %s: %w", g.Name, err)
	}
	removeParents(g.madeParents)
	restoreSelf()
	return nil
}

// removeParents removes the project's parent directory above each path
// when it is empty; another run may be using it, which is fine.
func removeParents(paths []string) {
	for _, p := range paths {
		_ = rmdir(parentDir(p))
	}
}

func parentDir(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return p
}

// Placement is where Create is about to make a group, told to its Claim
// before any directory is made.
type Placement struct {
	Version Version
	Paths   []string
	// MadeParents are the Paths whose parent directory is rcon's to
	// remove once empty (see Group).
	MadeParents []string
	// Parent is the parent as asked, $RCON_PARENT applied ("": the
	// default).
	Parent string
}

// CreateOptions are what Create needs beyond the group's name and limits.
type CreateOptions struct {
	// Claim, when not nil, is called once the group's directories are
	// known and before any is made; its error ends Create. The registry
	// claims the group's record there, so that a crash at any point
	// leaves a record that GC can act on.
	Claim func(Placement) error
	// Shared: the group is for several runs. On v1 a start slot is then
	// never lent (see LendStartSlot): raising a shared group's limit
	// while one member starts would lend the slot to the others too.
	Shared bool
}

// Create makes a group named name with limits r under parent: a relative
// parent ("jobs") lies beneath the caller's own cgroup, an absolute one
// ("/jobs") is from the cgroup root; empty means $RCON_PARENT, else the
// project's own parent: "rcon" under the caller's cgroup on v1, /rcon on v2.
// On error nothing is left.
func Create(parent, name string, r *Resources, opt CreateOptions) (*Group, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	g := &Group{Name: name, Version: Detect()}
	place, err := resolveParent(parent, g.Version)
	if err != nil {
		return nil, err
	}
	// made: the directories whose parent is rcon's to remove once empty
	// (the project's, or one it makes because it is missing).
	claim := func(paths, made []string) error {
		g.madeParents = made
		if opt.Claim == nil {
			return nil
		}
		return opt.Claim(Placement{Version: g.Version, Paths: paths, MadeParents: made, Parent: place.given})
	}
	if g.Version == V2 {
		g.b, err = createV2(place, name, r, claim)
	} else {
		g.b, err = createV1(place, name, r, claim)
	}
	if err != nil {
		if errors.Is(err, os.ErrPermission) && os.Geteuid() != 0 {
			err = fmt.Errorf("%w (cgroup limits need root, or a cgroup delegated to you: --parent or %s)", err, ParentEnv)
		}
		return nil, err
	}
	if b, ok := g.b.(*v1Group); ok && !opt.Shared {
		b.startPids = r.Pids
	}
	return g, nil
}

// Open finds an existing group from its directories (as recorded in its
// state file) without changing it.
func Open(name string, v Version, paths, madeParents []string) (*Group, error) {
	g := &Group{Name: name, Version: v, madeParents: madeParents}
	if v == V2 {
		if len(paths) != 1 {
			return nil, fmt.Errorf("group %s: v2 group with %d paths", name, len(paths))
		}
		b, err := openV2(paths[0])
		if err != nil {
			return nil, err
		}
		g.b = b
	} else {
		g.b = openV1(paths)
	}
	return g, nil
}

// rmdir removes an empty cgroup directory. A cgroup is only ever a
// directory, so rmdir(2) says everything: os.Remove would first try
// unlink(2) (one wasted call per directory, and it would remove a file
// found where a group was expected).
func rmdir(path string) error {
	if err := unix.Rmdir(path); err != nil {
		return &os.PathError{Op: "rmdir", Path: path, Err: err}
	}
	return nil
}

// Add moves the process pid, with all its threads, into the group.
func (g *Group) Add(pid int) error { return g.b.add(pid) }

// addProc writes pid to cgroup.procs of each of dirs, which moves all its
// threads at once (v1 and v2).
func addProc(dirs []string, pid int) error {
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("pid %d: move into %s: %w", pid, d, err)
		}
	}
	return nil
}

// oomKillsIn reads the "oom_kill" counter of file in the first of dirs
// that has it.
func oomKillsIn(dirs []string, file string) uint64 {
	for _, d := range dirs {
		if kv, err := readKV(d + "/" + file); err == nil {
			return kv["oom_kill"]
		}
	}
	return 0
}

// gone tells an error of a cgroup that was removed: its directory is not
// there (ENOENT), or a file of it held open is dead (ENODEV).
func gone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV)
}
