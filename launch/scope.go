package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"rcon/cgroupfs"
	"rcon/registry"
	"rcon/sdscope"
)

// chooseDriver decides, once (check), whether the run's group is a
// systemd scope: asked for with --driver systemd, or by default (and
// "auto") on a host where sdscope.Auto says so. --driver cgroupfs never
// is, and never connects to D-Bus.
func (s *job) chooseDriver() {
	switch {
	case s.NoCgroup || s.Driver == "cgroupfs":
	case s.Driver == "systemd":
		s.scope = true
	default:
		s.scope, s.noScope = sdscope.Auto(s.Parent)
		if s.Shared != "" && s.noScope == "" {
			// A live shared group is joined the way it was made (a
			// joiner's --parent is then only warned about).
			if d, ok := registry.DriverOf(s.Shared); ok {
				s.scope = d == registry.DriverSystemd
			}
		}
	}
}

// openScope is the group step of the systemd driver: what it does not
// support yet is refused in one line, the manager is reached and asked
// whether it has the controllers the limits need (a user manager is
// delegated cpu memory pids by default), and the record is claimed. The
// scope itself is made in startScope, since it needs the held pid.
func (s *job) openScope() (*runGroup, error) {
	if cgroupfs.Detect() != cgroupfs.V2 {
		return nil, errors.New("--driver systemd needs the unified cgroup hierarchy (cgroup v2); this host runs v1 or hybrid: use --driver cgroupfs")
	}
	if err := sdscope.CheckPidNS(); err != nil {
		return nil, err
	}
	// The namespace init (pid, user, chroot) needs nothing of its own
	// here: it is the held process (the hold re-exec's /proc/self/exe as
	// the init, in the namespaces it was cloned into). A cgroup namespace
	// is the one exception: its root is fixed when it is made, and the
	// held process is cloned before its scope exists, so the init makes
	// it once released, in the scope (lateCgroupNS).
	// The connection and the delegation check run while the held start
	// starts (startScope waits for them before the scope is made): under
	// TCG a Go start-up and the D-Bus round trips are each tens of ms.
	// The manager is known without asking (root's is the system one).
	limits := s.limits
	pending := sdscope.ConnectAsync(func(c *sdscope.Conn) error { return c.CheckDelegated(&limits) })
	_, _ = registry.GC(false, gcPerStart)
	owner, err := registry.Self()
	if err != nil {
		closePending(pending)
		return nil, fmt.Errorf("identify self: %w", err)
	}
	slice := s.Slice
	if slice == "" {
		slice = sdscope.DefaultSlice
	}
	if s.Shared != "" {
		// Joined in startScope, under the name's lock, with the held
		// pid: systemd collects an emptied scope at any moment, so
		// whether there is one to join is only known there.
		if err := cgroupfs.ValidName(s.Shared); err != nil {
			closePending(pending)
			return nil, err
		}
		return &runGroup{shared: s.Shared, self: owner, sdp: pending, slice: sdscope.RunSlice(slice, s.Shared)}, nil
	}
	name := s.Name
	if name == "" {
		name = fmt.Sprintf("rcon-%d-%d", owner.PID, owner.Start)
	}
	rec := &registry.Record{Owner: owner, Command: s.Argv, Created: time.Now()}
	if err := registry.ClaimScope(name, slice, sdscope.ManagerFor(os.Geteuid()), &s.limits, rec); err != nil {
		closePending(pending)
		return nil, err
	}
	return &runGroup{rec: rec, sdp: pending}, nil
}

// closePending closes a connection being made, once it is.
func closePending(p *sdscope.Pending) {
	if c, err := p.Wait(); err == nil {
		c.Close()
	}
}

// isScope tells whether the run's group is a systemd scope.
func (rg *runGroup) isScope() bool { return rg != nil && (rg.sd != nil || rg.sdp != nil) }

// startScope is the start step of the systemd driver (see hold.go): the
// command is started held, its scope made with the held pid, the limits
// read back, and only then is it let go. On error the held process has
// been killed (it never ran the command); run's end of the group stops
// the scope and releases the record.
func (s *job) startScope(st *steps) error {
	rg := st.rg
	h, err := holdCmd(st)
	if err != nil {
		return fail(ExitFailure, "%v", err)
	}
	defer h.close()
	if err := h.guard(); err != nil {
		return fail(ExitFailure, "%v", err)
	}
	defer h.unguard()
	err = startIn(st.cmd, nil, &st.plan)
	h.started()
	if err != nil {
		return startFailure(s.Argv[0], st.cmd, err)
	}
	abort := func(err error) error {
		// What the held process was made to fork ends with it (guard
		// made rcon their subreaper); the held one is reaped here too.
		_ = st.cmd.Process.Kill()
		endDescendants(nil, h.inherited)
		_ = st.cmd.Wait()
		return fail(ExitFailure, "%v", err)
	}
	c, err := rg.sdp.Wait()
	if err != nil {
		return abort(err)
	}
	rg.sd = c
	if err := h.ready(); err != nil {
		return abort(err)
	}
	pid := st.cmd.Process.Pid
	var dir string
	if rg.shared != "" {
		if dir, err = s.joinScope(rg, c, pid); err != nil {
			return abort(err)
		}
	} else {
		if dir, err = c.Start(rg.rec.Unit, rg.rec.Slice, sdscope.Description("rcon", s.Argv), pid, &s.limits, false); err != nil {
			return abort(err)
		}
		if registry.InScope(pid, dir) != nil {
			// The computed path is not the scope's (an escaped name, a
			// manager elsewhere): ask systemd; InScope below checks again.
			if dir, err = c.ScopeCgroup(rg.rec.Unit); err != nil {
				return abort(err)
			}
		}
		if err := registry.SetScopePath(rg.rec, dir); err != nil {
			return abort(err)
		}
	}
	g, err := cgroupfs.Open(rg.rec.Name, cgroupfs.V2, []string{dir}, nil)
	if err != nil {
		return abort(fmt.Errorf("open the cgroup of %s: %w", rg.rec.Unit, err))
	}
	rg.g = g
	if rg.acct, err = cgroupfs.Open(rg.rec.Slice, cgroupfs.V2, []string{filepath.Dir(dir)}, nil); err != nil {
		return abort(fmt.Errorf("open the cgroup of %s: %w", rg.rec.Slice, err))
	}
	if err := registry.InScope(pid, dir); err != nil {
		return abort(err)
	}
	if err := sdscope.Verify(dir, &s.limits); err != nil {
		return abort(err)
	}
	if rg.shared != "" {
		rg.oom0 = rg.acct.OOMKills()
	}
	if err := h.checkAlone(pid); err != nil {
		return abort(err)
	}
	h.unguard()
	if err := h.release(); err != nil {
		return abort(err)
	}
	return nil
}

// joinScope puts the held start into the shared scope (registry.JoinScope)
// and tells what the join found, as openGroup does for cgroupfs. The
// limits that hold are the group's from now on (the report, Verify).
func (s *job) joinScope(rg *runGroup, c *sdscope.Conn, pid int) (string, error) {
	add := []registry.Placement{{PID: pid, Member: registry.Member{Owner: rg.self, Command: s.Argv}}}
	rec, info, errs, err := registry.JoinScope(c, rg.shared, rg.slice, sdscope.Description("rcon", s.Argv), &s.limits, add, s.Update)
	if err == nil && len(errs) > 0 {
		err = errs[0]
	}
	if err != nil {
		return "", err
	}
	if info.Kept {
		fmt.Fprintf(os.Stderr, "%s: warning: shared group %s keeps its limits (%s), not the ones asked for (--update changes them)\n",
			s.tool(), rg.shared, cgroupfs.LimitsText(&info.Limits))
	}
	if s.Parent != "" {
		info.ParentIgnored, info.Parent = true, filepath.Dir(rec.Paths[0])
		fmt.Fprintf(os.Stderr, "%s: %s\n", s.tool(), info.ParentWarning(rg.shared))
	}
	s.limits = info.Limits
	rg.rec = rec
	return rec.Paths[0], nil
}

// endScope ends what is left in the scope, stops it and releases the
// record once systemd has let it go.
func (rg *runGroup) endScope(tool string) error {
	if rg.sd == nil {
		// Never got to startScope's wait: no scope was made, nothing
		// but the record to release (a joiner has none yet).
		closePending(rg.sdp)
		if rg.shared == "" {
			rg.rec.Release()
		}
		return nil
	}
	defer rg.sd.Close()
	if rg.acct != nil {
		rg.acct.Close()
	}
	if rg.shared != "" {
		if rg.rec == nil {
			return nil // never joined
		}
		if rg.g != nil {
			rg.g.Close()
		}
		info, err := registry.Leave(rg.sd, rg.shared, rg.self, rg.rec.Paths)
		if err != nil {
			return fail(ExitFailure, "leave shared group %s: %v", rg.shared, err)
		}
		if info.Killed > 0 {
			fmt.Fprintf(os.Stderr, "%s: last member out of shared group %s: ended %d process(es) left in it\n", tool, rg.shared, info.Killed)
		}
		return nil
	}
	if err := registry.EndScope(rg.sd, rg.g, rg.rec); err != nil {
		return fail(ExitFailure, "%v (the record stays for rcon gc)", err)
	}
	return nil
}
