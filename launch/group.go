package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"rcon/cgroupfs"
	"rcon/registry"
	"rcon/sdscope"
)

// runGroup is the group one run uses: its own (created and removed by the
// run) or a shared one (joined and left).
type runGroup struct {
	g      *cgroupfs.Group
	rec    *registry.Record // own group
	shared string           // shared group's name
	self   registry.Owner
	oom0   uint64 // the shared group's OOM kills when this run joined
	// sd: the group is a systemd scope of this manager (rec.Unit); g is
	// its cgroup once startScope made it, nil before.
	sd *sdscope.Conn
	// sdp is the connection being made while the held start starts
	// (openScope); startScope waits for it and sets sd.
	sdp *sdscope.Pending
	// acct, when set, is read for the figures instead of g: a scope's run
	// slice, which outlives the scope (see sdscope.RunSlice).
	acct *cgroupfs.Group
	// level holds the scope's own figures as last read (see stats).
	level cgroupfs.Stats
	// slice is a shared scope's run slice, for its join (startScope).
	slice string
}

// levelSample is how often a scope's own figures are read while its
// command runs, when they are to be reported (--stats, --stats-json):
// what is told is at most that old when the final read loses the race
// with systemd removing the emptied scope.
const levelSample = 250 * time.Millisecond

// sampleLevel reads the scope's own figures, if it is still there.
func (rg *runGroup) sampleLevel() {
	if rg.g == nil {
		return
	}
	if l, ok := cgroupfs.LevelStats(rg.g.Paths()[0]); ok {
		rg.level = l
	}
}

// sampleTicker ticks while the command runs when a scope's own figures
// are to be reported (a nil channel otherwise: a plain run never wakes
// for it).
func (s *job) sampleTicker(rg *runGroup) (<-chan time.Time, func()) {
	if rg == nil || rg.acct == nil || !(s.Stats || s.StatsJSON != "") {
		return nil, func() {}
	}
	t := time.NewTicker(levelSample)
	return t.C, t.Stop
}

// openGroup sweeps orphans of killed runs (bounded), then creates the
// run's group or joins the shared one.
func (s *job) openGroup() (*runGroup, error) {
	_, _ = registry.GC(false, gcPerStart)
	if s.Shared == "" {
		g, rec, err := s.createGroup()
		if err != nil {
			return nil, err
		}
		return &runGroup{g: g, rec: rec}, nil
	}
	self, err := registry.Self()
	if err != nil {
		return nil, fmt.Errorf("identify self: %w", err)
	}
	g, info, err := registry.Join(s.Parent, s.Shared, &s.limits, registry.Member{Owner: self, Command: s.Argv}, s.Update)
	if err != nil {
		return nil, err
	}
	if w := info.ParentWarning(s.Shared); w != "" {
		fmt.Fprintf(os.Stderr, "%s: %s\n", s.tool(), w)
	}
	if info.Kept {
		fmt.Fprintf(os.Stderr, "%s: warning: shared group %s keeps its limits (%s), not the ones asked for (--update changes them)\n",
			s.tool(), s.Shared, cgroupfs.LimitsText(&info.Limits))
	}
	s.limits = info.Limits // what holds, for the report
	rg := &runGroup{g: g, shared: s.Shared, self: self}
	rg.oom0 = g.OOMKills()
	return rg, nil
}

// hideState hides the state directory from a command that gets a mount
// namespace. The records there tell rcon (and rcon gc) what to kill and
// remove, and a command of rcon's own uid could rewrite them (make its
// shared group's record name another tenant's group) or hold a name's
// lock to stall its runs. Without a mount namespace nothing hides them:
// such a command could as well ptrace rcon, so it is not contained
// against records (docs/SECURITY.md). Hidden whatever the command's uid:
// one mount is cheaper than telling whether it could reach the directory.
func (s *job) hideState() {
	if s.NoCgroup || s.jail == nil {
		return
	}
	if ns := *s.jail; ns.Normalize() != nil || !ns.Mount {
		return // no mount namespace (binds, tmpfs and chroot imply one)
	}
	dir, err := filepath.Abs(registry.StateDir())
	if err != nil {
		return
	}
	ns := *s.jail // the caller's Spec may be shared; change a copy
	ns.Hide = append(append([]string(nil), ns.Hide...), dir)
	s.jail = &ns
}

// groupOptional tells whether a run may go on without its group: an
// unprivileged caller who asked for no limit and named no group (as in
// `rcon --unshare user,pid -- cmd`) loses only accounting and cleanup.
func (s *job) groupOptional() bool {
	return os.Geteuid() != 0 && s.limits.Empty() && s.Name == "" && s.Shared == ""
}

// createGroup names the group, records its owner and makes it.
func (s *job) createGroup() (*cgroupfs.Group, *registry.Record, error) {
	owner, err := registry.Self()
	if err != nil {
		return nil, nil, fmt.Errorf("identify self: %w", err)
	}
	name := s.Name
	if name == "" {
		// Unique per run: a pid is unique among live processes, the
		// start time makes it unique over time.
		name = fmt.Sprintf("rcon-%d-%d", owner.PID, owner.Start)
	}
	rec := &registry.Record{Owner: owner, Command: s.Argv, Created: time.Now()}
	g, err := registry.Create(s.Parent, name, &s.limits, rec)
	if err != nil {
		return nil, nil, err
	}
	return g, rec, nil
}

// group is the cgroup to start the command in (nil without one).
func (rg *runGroup) group() *cgroupfs.Group {
	if rg == nil {
		return nil
	}
	return rg.g
}

// stats reads the group's figures (all, or only the OOM kills, which is
// cheaper); for a shared group the OOM kills are counted from this run's
// join, the rest are the whole group's.
func (rg *runGroup) stats(all bool) cgroupfs.Stats {
	var st cgroupfs.Stats
	g := rg.g
	if rg.acct != nil {
		g = rg.acct
	}
	if g == nil {
		return st
	}
	if all {
		st, _ = g.Stats()
		if rg.acct != nil {
			// The figures cgroupfs.LevelStats reads are the scope's
			// own: read there, unless systemd has removed the emptied
			// scope first; then the last sample (sampleTicker) stands.
			rg.sampleLevel()
			l := rg.level
			st.NrPeriods, st.NrThrottled, st.ThrottledNS = l.NrPeriods, l.NrThrottled, l.ThrottledNS
			st.IOReadBytes, st.IOWriteBytes = max(st.IOReadBytes, l.IOReadBytes), max(st.IOWriteBytes, l.IOWriteBytes)
		}
	} else {
		st.OOMKills = g.OOMKills()
	}
	if rg.shared != "" {
		st.OOMKills -= min(st.OOMKills, rg.oom0)
	}
	return st
}

// leftover counts the processes this run will end at exit. Runs in a
// shared group end none of their own: the last one out ends what is left.
func (rg *runGroup) leftover() int {
	if rg.shared != "" || rg.g == nil {
		return 0
	}
	ps, _ := rg.g.Procs()
	return len(ps)
}

// end ends what is left in an own group and removes it, then its record
// (kept if the group could not be removed, for GC), or leaves the shared
// group (removing it if this run was its last live member).
func (rg *runGroup) end(s *job) error {
	if rg == nil {
		return nil
	}
	if rg.isScope() {
		return rg.endScope(s.tool())
	}
	if rg.shared != "" {
		info, err := registry.Leave(nil, rg.shared, rg.self, rg.g.Paths())
		if err != nil {
			return fail(ExitFailure, "leave shared group %s: %v", rg.shared, err)
		}
		if info.Killed > 0 {
			fmt.Fprintf(os.Stderr, "%s: last member out of shared group %s: ended %d process(es) left in it\n", s.tool(), rg.shared, info.Killed)
		}
		return nil
	}
	if err := registry.Reclaim(rg.g, rg.rec, true); err != nil {
		return fail(ExitFailure, "%v", err)
	}
	return nil
}
