package registry

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"rcon/cgroupfs"
	"rcon/sdscope"
)

// Shared scopes: --shared NAME and rcon attach on the systemd driver.
// The rules are those of shared.go (every change under NAME.lock; members
// counted; the last one out ends what is left), with two differences that
// come from systemd owning the cgroup:
//
//   - processes go in through systemd (AttachProcessesToUnit on a live
//     scope, which systemd allows only for a delegated one, so shared
//     scopes are Delegate=yes; StartTransientUnit when there is none),
//     never by a write of rcon's into the scope's cgroup.procs;
//   - systemd removes a scope the moment it is empty, also while members
//     are recorded (their commands ended, their rcons not yet out), so a
//     joiner that finds the scope gone makes it again, under the lock,
//     with the group's limits. Members already out of it leave as usual:
//     they are not the last, the joiner is.

// Placement is one process to put into a shared scope and the member it
// is recorded as: a run's held start and its rcon, or a process of rcon
// attach (both the same pid).
type Placement struct {
	PID    int
	Member Member
}

// JoinScope puts the processes of add into the shared scope name (of c's
// manager, in slice, a run slice of name), making the scope with limits r
// if there is none. As Join: an existing scope keeps its limits unless
// update is set. It returns the group's record as it is after the join
// (its Paths the scope's cgroup), what the join found, and one error per
// process that could not be moved; only those moved are members.
func JoinScope(c *sdscope.Conn, name, slice, desc string, r *cgroupfs.Resources, add []Placement, update bool) (*Record, JoinInfo, []error, error) {
	var info JoinInfo
	if len(add) == 0 {
		return nil, info, nil, errors.New("no process to move")
	}
	l, rec, err := lockRecord(name)
	if err != nil {
		return nil, info, nil, err
	}
	defer l.unlock()
	switch {
	case rec == nil:
	case rec.Driver != DriverSystemd && rec.Live():
		return nil, info, nil, fmt.Errorf("%w: %s is a group of rcon's own cgroup directories, not a systemd scope (join it with --driver cgroupfs)", errNameInUse, name)
	case !rec.Shared && rec.Owner.Alive():
		return nil, info, nil, fmt.Errorf("%w: %s is the scope of a single run (pid %d), not a shared one", errNameInUse, name, rec.Owner.PID)
	case rec.Driver != DriverSystemd || !rec.Shared:
		// Left by a dead rcon: collected if empty, as claim would.
		n, err := 0, error(nil)
		if rec.Shared {
			res := collectSharedLocked(name, false)
			n, err = res.Procs, res.Err
		} else {
			n, err = collect(rec, false)
		}
		if err != nil || n > 0 {
			return nil, info, nil, fmt.Errorf("%w: %s is left by a dead rcon with %d process(es) (rcon gc --kill ends them)", errNameInUse, name, n)
		}
		rec = nil
	case rec.Manager != string(c.Manager):
		return nil, info, nil, fmt.Errorf("%w: %s is a scope of the %s manager; this rcon talks to the %s manager", errNameInUse, name, rec.Manager, c.Manager)
	}

	// The limits the group is to have: its own, or with update the
	// caller's written over them.
	limits := *r
	if rec != nil {
		rec.Members = pruneMembers(rec.Members, nil)
		if limits, info.Updated, info.Kept, err = joinLimits(name, rec.Limits, *r, update); err != nil {
			return nil, info, nil, err
		}
	}

	var errs []error
	var moved []Member
	rest := add
	live := false
	if rec != nil && len(rec.Paths) > 0 {
		// The first process that can be moved tells whether the scope
		// is still there.
		for len(rest) > 0 && !live {
			err := c.Attach(rec.Unit, rest[0].PID)
			if errors.Is(err, sdscope.ErrGone) {
				break
			}
			if err != nil {
				errs = append(errs, err)
			} else {
				moved, live = append(moved, rest[0].Member), true
			}
			rest = rest[1:]
		}
	}
	switch {
	case live && info.Updated:
		if err := setScopeLimitsVia(c, rec, &limits, r); err != nil {
			rec.Members = append(rec.Members, moved...)
			_ = rec.Update() // what moved is in the scope: recorded
			return nil, info, errs, fmt.Errorf("update limits of %s: %w", name, err)
		}
	case live:
	case len(rest) == 0:
		return nil, info, errs, errors.New("no process was moved")
	default:
		// No scope, or gone with all its processes (members still
		// recorded are rcons on their way out; they stay counted, so
		// none of them is the last): made now, with the first process.
		if rec == nil {
			owner, err := Self()
			if err != nil {
				return nil, info, errs, err
			}
			rec = &Record{Owner: owner, Command: rest[0].Member.Command, Created: time.Now(), Shared: true, lockHeld: true}
			rec.Name, rec.Version = name, cgroupfs.V2
			rec.Driver, rec.Unit, rec.Manager, rec.Slice = DriverSystemd, sdscope.UnitFor(name), string(c.Manager), slice
			// Claimed before the scope is made, without members: a
			// crash from here on leaves a record GC releases.
			if err := claim(rec); err != nil {
				return nil, info, errs, err
			}
			info.Created = true
		}
		p := rest[0]
		rest = rest[1:]
		dir, err := c.Start(rec.Unit, rec.Slice, desc, p.PID, &limits, true)
		if err == nil && InScope(p.PID, dir) != nil {
			// The computed path is not the scope's: ask systemd.
			if dir, err = c.ScopeCgroup(rec.Unit); err == nil {
				err = InScope(p.PID, dir)
			}
		}
		if err != nil {
			if len(rec.Members) == 0 {
				// Its run slice too: the record goes, so nothing
				// else would stop it.
				_ = c.StopRunSlice(rec.Slice, rec.Unit, true)
				rec.Release()
			}
			return nil, info, errs, err
		}
		rec.Paths = []string{dir}
		moved = append(moved, p.Member)
	}
	for _, p := range rest {
		if err := c.Attach(rec.Unit, p.PID); err != nil {
			errs = append(errs, err)
			continue
		}
		moved = append(moved, p.Member)
	}
	rec.Limits, info.Limits = limits, limits
	rec.Members = append(rec.Members, moved...)
	if err := rec.Update(); err != nil {
		return nil, info, errs, err
	}
	out := *rec
	return &out, info, errs, nil
}

// InScope checks that pid is in dir, a cgroup of the unified hierarchy
// (a scope holds it).
func InScope(pid int, dir string) error {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return fmt.Errorf("read the cgroup of pid %d: %w", pid, err)
	}
	want := "0::" + strings.TrimPrefix(dir, cgroupfs.Mountpoint)
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == want {
			return nil
		}
	}
	return fmt.Errorf("systemd made the scope but pid %d is not in it (%s, want %s)", pid, strings.TrimSpace(string(data)), want)
}

// PeekSharedScope is the limits and the group of the live shared scope
// name, if there is one now, read without the lock: for figures told to a
// joiner's command (--fit), not for acting on the group.
func PeekSharedScope(name string) (cgroupfs.Resources, *cgroupfs.Group, bool) {
	rec, err := readRecord(recordPath(name))
	if err != nil || !rec.Shared || rec.Driver != DriverSystemd || !rec.Live() || !rec.groupExists() {
		return cgroupfs.Resources{}, nil, false
	}
	g, err := rec.Group()
	if err != nil {
		return cgroupfs.Resources{}, nil, false
	}
	return rec.Limits, g, true
}
