package registry

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"rcon/cgroupfs"
	"rcon/sdscope"
)

// Shared groups (rcon --shared NAME, rcon attach) are kept for a set of
// members rather than one owner. Every change to such a record — join,
// leave, sweep, set — happens under an exclusive flock on NAME.lock in the
// state directory, so any interleaving of starts, exits and SIGKILLs is
// one of these serial histories:
//
//   - join:  lock; drop dead members; create the group if there is none;
//     add self; unlock. The command then starts inside the group, which
//     cannot go away while a live member is recorded.
//   - leave: lock; drop self and dead members; if no live member is left,
//     end what remains in the group, remove it and its record; unlock.
//   - sweep (GC): as leave, without a self, and keeping a group that still
//     holds processes (unless kill).
//
// A member killed with SIGKILL never leaves; the next join, leave or sweep
// sees that its pid+start time is gone. A lock holder killed mid-change
// releases the lock with its last fd; the record is replaced atomically,
// so the next holder sees it before or after the change, never half.

// pruneMembers keeps the live members other than drop.
func pruneMembers(ms []Member, drop *Owner) []Member {
	var out []Member
	for _, m := range ms {
		if (drop != nil && m.Owner == *drop) || !m.Alive() {
			continue
		}
		out = append(out, m)
	}
	return out
}

// JoinInfo says what Join found.
type JoinInfo struct {
	Created bool
	// Limits are the group's limits after the join.
	Limits cgroupfs.Resources
	// Kept is set when the caller asked for other limits than the group
	// has and did not ask to update them: the group kept its own.
	Kept bool
	// Updated is set when the caller's limits were written (--update).
	Updated bool
	// PerRun is set when attach moved processes into a live per-run group.
	PerRun bool
	// ParentIgnored is set when the caller's parent resolves to another
	// directory than the one the existing group lives in (Parent): a
	// live group is not moved.
	ParentIgnored bool
	Parent        string
}

// ParentWarning is what a joiner is told when it asked for another parent
// than the one the group lives under, or "".
func (i *JoinInfo) ParentWarning(name string) string {
	if !i.ParentIgnored {
		return ""
	}
	return fmt.Sprintf("warning: shared group %s lives under %s, where its first run made it; the parent asked for is ignored", name, i.Parent)
}

// Join makes self a member of the shared group name, creating the group
// with limits r under parent if it does not exist. An existing group keeps
// its limits unless update is set, in which case the limits r sets are
// written over them. Leave undoes it.
func Join(parent, name string, r *cgroupfs.Resources, self Member, update bool) (*cgroupfs.Group, JoinInfo, error) {
	if err := r.Check(); err != nil {
		return nil, JoinInfo{}, err
	}
	return join(parent, name, r, []Member{self}, update, nil)
}

// join does Join for several members. move, when not nil, runs under the
// lock once the group exists and returns the members that really are in
// it now (attach); only those are recorded.
func join(parent, name string, r *cgroupfs.Resources, add []Member, update bool, move func(*cgroupfs.Group) []Member) (*cgroupfs.Group, JoinInfo, error) {
	var info JoinInfo
	l, rec, err := lockRecord(name)
	if err != nil {
		return nil, info, err
	}
	defer l.unlock()
	switch {
	case rec == nil:
	case rec.Driver == DriverSystemd:
		// Processes are moved into a scope by systemd only
		// (JoinScope), never by a write of ours into its cgroup.
		return nil, info, fmt.Errorf("%w: %s is a systemd scope (%s), joined with the systemd driver (not with --parent or --driver cgroupfs)", errNameInUse, name, rec.Unit)
	case !rec.Shared && rec.Owner.Alive():
		if move == nil {
			return nil, info, fmt.Errorf("%w: %s is the group of a single run (pid %d), not a shared one", errNameInUse, name, rec.Owner.PID)
		}
		// attach --name: the processes join that run's group and end
		// with it.
		g, err := rec.Group()
		if err != nil {
			return nil, info, err
		}
		if len(move(g)) == 0 {
			return nil, info, errors.New("no process was moved")
		}
		info.PerRun, info.Limits = true, rec.Limits
		return g, info, nil
	case !rec.Shared:
		if n, err := collect(rec, false); err != nil || n > 0 {
			return nil, info, fmt.Errorf("%w: %s is left by a dead rcon with %d process(es) (rcon gc --kill ends them)", errNameInUse, name, n)
		}
		rec = nil
	}
	if rec != nil {
		rec.Members = pruneMembers(rec.Members, nil)
		if !rec.groupExists() {
			// Its creator died before making it, or its last member
			// after removing it.
			rec.Release()
			rec = nil
		}
	}

	if rec == nil {
		owner, err := Self()
		if err != nil {
			return nil, info, err
		}
		rec = &Record{Owner: owner, Command: add[0].Command, Created: time.Now(), Shared: true, Members: add, lockHeld: true}
		g, err := Create(parent, name, r, rec)
		if err != nil {
			return nil, info, err
		}
		info.Created, info.Limits = true, rec.Limits
		if move != nil {
			if rec.Members = move(g); len(rec.Members) == 0 {
				// The group is empty: it goes with its record.
				_ = Reclaim(g, rec, false)
				return nil, info, errors.New("no process was moved")
			}
			if err := rec.Update(); err != nil {
				return nil, info, err
			}
		}
		return g, info, nil
	}

	g, err := rec.Group()
	if err != nil {
		return nil, info, err
	}
	info.ParentIgnored, info.Parent = parentIgnored(parent, rec)
	limits, updated, kept, err := joinLimits(name, rec.Limits, *r, update)
	if err != nil {
		return nil, info, err
	}
	if updated {
		if err := g.Update(&limits); err != nil {
			return nil, info, fmt.Errorf("update limits of %s: %w", name, err)
		}
		rec.Limits = limits
	}
	info.Updated, info.Kept, info.Limits = updated, kept, rec.Limits
	if move != nil {
		add = move(g)
		if len(add) == 0 {
			return nil, info, errors.New("no process was moved")
		}
	}
	rec.Members = append(rec.Members, add...)
	if err := rec.Update(); err != nil {
		return nil, info, err
	}
	return g, info, nil
}

// parentIgnored tells whether a joiner asking for parent (as given) would
// have had the group rec describes made elsewhere, and where it is (see
// cgroupfs.ParentMoved: nobody is warned when that cannot be told).
func parentIgnored(parent string, rec *Record) (bool, string) {
	return cgroupfs.ParentMoved(parent, rec.Version, rec.Paths)
}

// LeaveInfo says what Leave did.
type LeaveInfo struct {
	Removed bool // self was the last live member: the group is gone
	Killed  int  // processes the last member ended before removing it
}

// kindOf names what a record's group is, for messages.
func kindOf(rec *Record) string {
	if rec.Driver == DriverSystemd {
		return "systemd scope"
	}
	return "cgroupfs group"
}

// Leave removes self from the shared group name. The last live member out
// ends whatever is still in the group (processes of members that were
// killed, or that the commands left behind) and removes it: a cgroupfs
// group itself, a shared scope through c, its manager (which then stops
// its run slice, without waiting: see EndScope). joined are the group's
// paths as self joined it: a record that names other directories now was
// rewritten meanwhile and is not acted on. c is nil for a cgroupfs run.
func Leave(c *sdscope.Conn, name string, self Owner, joined []string) (LeaveInfo, error) {
	var info LeaveInfo
	l, err := lockName(name)
	if err != nil {
		return info, err
	}
	defer l.unlock()
	rec, err := readRecord(recordPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("state of %s: %w", name, err)
	}
	if !rec.Shared {
		return info, fmt.Errorf("%s is not a shared group", name)
	}
	if (rec.Driver == DriverSystemd) != (c != nil) {
		return info, fmt.Errorf("%s: %w: it names a %s, not the kind of group this run joined", rec.file, errRecordRefused, kindOf(rec))
	}
	if joined != nil && !slices.Equal(rec.Paths, joined) {
		return info, fmt.Errorf("%s: %w: its paths %v are not those of the group this run joined (%v)", rec.file, errRecordRefused, rec.Paths, joined)
	}
	if rec.Members = pruneMembers(rec.Members, &self); len(rec.Members) > 0 {
		return info, rec.Update()
	}
	var g *cgroupfs.Group
	if rec.groupExists() {
		// A scope may be removed by systemd between the two looks (it
		// empties as its last command exits): gone, it holds nothing.
		if g, err = rec.Group(); errors.Is(err, os.ErrNotExist) {
			g = nil
		} else if err != nil {
			return info, err
		}
	}
	if g != nil {
		defer g.Close()
		ps, _ := g.Procs()
		info.Killed = len(ps)
	}
	switch {
	case c != nil:
		err = EndScope(c, g, rec)
	case g == nil:
		rec.Release()
	default:
		err = Reclaim(g, rec, info.Killed > 0)
	}
	if err != nil {
		_ = rec.Update() // kept without its dead members, for GC
		return info, err
	}
	info.Removed = g != nil || c != nil
	return info, nil
}

// collectShared is GC for a shared record: under the lock, drop dead
// members; with none left, remove the group if it is empty (or kill is
// set), else keep it and report how many processes it holds. The result's
// Record is nil when there was nothing to report.
func collectShared(name string, kill bool) GCResult {
	l, err := lockName(name)
	if err != nil {
		return GCResult{Record: &Record{Name: name}, Err: err}
	}
	defer l.unlock()
	return collectSharedLocked(name, kill)
}

// collectSharedLocked is collectShared for a caller holding the lock.
func collectSharedLocked(name string, kill bool) GCResult {
	rec, err := readRecord(recordPath(name))
	if err != nil || !rec.Shared {
		return GCResult{}
	}
	if rec.Members = pruneMembers(rec.Members, nil); len(rec.Members) > 0 {
		rec.Update()
		return GCResult{}
	}
	res := GCResult{Record: rec}
	if rec.Driver == DriverSystemd {
		// A scope: systemd removed it if it emptied; else it is ended
		// (kill) or kept, as below.
		n, err := collectScope(rec, kill)
		res.Procs, res.Err, res.Removed = n, err, err == nil && n == 0
		if n > 0 && err == nil {
			res.Err = rec.Update()
		}
		return res
	}
	if !rec.groupExists() {
		rec.Release()
		res.Removed = true
		return res
	}
	g, err := rec.Group()
	if err != nil {
		res.Err = err
		return res
	}
	defer g.Close()
	ps, _ := g.Procs()
	if len(ps) > 0 && !kill {
		res.Procs = len(ps)
		res.Err = rec.Update()
		return res
	}
	if res.Err = Reclaim(g, rec, len(ps) > 0); res.Err == nil {
		res.Removed = true
	}
	return res
}
