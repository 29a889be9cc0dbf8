package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"
)

// v2Group is a group in the unified hierarchy.
type v2Group struct {
	m   *cgroup2.Manager
	dir string
	fd  int
}

// controllersFor lists the v2 controllers a run needs: required ones carry
// a requested limit; the rest only feed the statistics.
func controllersFor(r *Resources) (required, optional []string) {
	need := func(c string, yes bool) {
		if yes {
			required = append(required, c)
		} else {
			optional = append(optional, c)
		}
	}
	need("cpu", r.CPUPercent > 0 || r.CPUWeight > 0)
	need("memory", r.Mem > 0 || r.MemHigh > 0 || r.SwapSet)
	need("pids", r.Pids > 0)
	need("io", len(r.IO) > 0)
	if r.Cpuset != "" {
		required = append(required, "cpuset")
	}
	return required, optional
}

func createV2(place *parentPlace, name string, r *Resources, claim func(paths, made []string) error) (backend, error) {
	own := place.project
	if own && os.Geteuid() != 0 {
		return nil, fmt.Errorf("cgroup v2: not root, so rcon has no parent group it may write to: pass --parent or set %s to a cgroup delegated to you (see README, \"Without root\")", ParentEnv)
	}
	// A relative parent lies beneath rcon's own cgroup, which must then
	// hold no processes itself, so absolute parents are the usual v2 case.
	pdir := place.dirV2()
	if !own {
		if st, err := os.Stat(pdir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("parent group %s does not exist", pdir)
		}
	}
	dir := filepath.Join(pdir, name)
	var made []string
	if own {
		made = []string{dir}
	}
	if err := claim([]string{dir}, made); err != nil {
		return nil, err
	}
	if own {
		if err := readyViewRoot(filepath.Dir(pdir), r); err != nil {
			return nil, err
		}
	}
	if err := makeV2Leaf(pdir, dir, own, func() error { return enableControllers(pdir, r) }); err != nil {
		restoreSelf()
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("group %s already exists (%s)", name, dir)
		}
		return nil, err
	}
	g, err := openV2(dir)
	if err == nil {
		if err = g.update(r); err != nil {
			g.close()
		}
	}
	if err != nil {
		_ = rmdir(dir)
		if own {
			_ = rmdir(pdir)
			restoreSelf()
		}
		return nil, fmt.Errorf("create group %s: %w", name, err)
	}
	return g, nil
}

// makeV2Leaf makes the group directory dir in pdir, after making pdir
// first when it is the project's (own) and readying it (ready enables the
// controllers). Another run's Delete removes the project's parent once it
// is empty, which may fall between our making it and making dir: that
// shows as ENOENT, or as ENODEV when a file of it was opened just before
// (gone), and making both again fixes it (as on v1). On error
// nothing of ours is left.
func makeV2Leaf(pdir, dir string, own bool, ready func() error) error {
	for try := 0; ; try++ {
		err := func() error {
			if own {
				if err := os.Mkdir(pdir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
					return fmt.Errorf("create parent group %s: %w", pdir, err)
				}
			}
			if err := ready(); err != nil {
				return err
			}
			if err := os.Mkdir(dir, 0o755); err != nil {
				return fmt.Errorf("create group %s: %w", dir, err)
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		if own {
			_ = rmdir(pdir) // only if empty: other runs' groups keep it
		}
		if !own || !gone(err) || try == 3 {
			return err
		}
	}
}

// enableControllers turns on in pdir's subtree_control what the run needs.
// It only writes when something is missing, and fails naming a required
// controller the parent cannot give.
func enableControllers(pdir string, r *Resources) error {
	avail, on, err := controllerLists(pdir)
	if err != nil {
		return err
	}
	required, optional := controllersFor(r)
	var add []string
	for _, c := range required {
		if !slices.Contains(avail, c) {
			return fmt.Errorf("cgroup v2: the %s controller is not available in %s (enable it in the parent's cgroup.subtree_control)", c, pdir)
		}
		if !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	for _, c := range optional {
		if slices.Contains(avail, c) && !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	err = os.WriteFile(filepath.Join(pdir, "cgroup.subtree_control"), []byte(strings.Join(add, " ")), 0)
	if errors.Is(err, syscall.EBUSY) {
		return fmt.Errorf("cgroup v2: cannot enable %s in %s: it holds processes itself (the \"no internal processes\" rule); use a parent without processes", strings.Join(add, " "), pdir)
	}
	if err != nil {
		return fmt.Errorf("enable %s in %s: %w", strings.Join(add, " "), pdir, err)
	}
	return nil
}

// controllerLists reads which controllers dir may give its children
// (cgroup.controllers) and which it gives them now (cgroup.subtree_control).
func controllerLists(dir string) (avail, on []string, err error) {
	a, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, nil, fmt.Errorf("read controllers of %s: %w", dir, err)
	}
	o, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return nil, nil, fmt.Errorf("read subtree_control of %s: %w", dir, err)
	}
	return strings.Fields(string(a)), strings.Fields(string(o)), nil
}

// openV2 opens the group with its directory fd: on v2 that fd is the only
// way a command is started inside (CLONE_INTO_CGROUP; there is no start
// thread to move), so a group without one is an error, not a fallback.
func openV2(dir string) (*v2Group, error) {
	rel := strings.TrimPrefix(dir, Mountpoint)
	m, err := cgroup2.Load(rel, cgroup2.WithMountpoint(Mountpoint))
	if err != nil {
		return nil, fmt.Errorf("load group %s: %w", dir, err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open group %s: %w", dir, err)
	}
	return &v2Group{m: m, dir: dir, fd: fd}, nil
}

// v2Resources translates Resources into what cgroup2 writes.
func v2Resources(r *Resources) *cgroup2.Resources {
	res := &cgroup2.Resources{}
	if r.CPUPercent > 0 || r.CPUWeight > 0 || r.Cpuset != "" {
		res.CPU = &cgroup2.CPU{Cpus: r.Cpuset}
		if r.CPUPercent > 0 {
			period, quota := r.Quota()
			res.CPU.Max = cgroup2.NewCPUMax(&quota, &period)
		}
		if r.CPUWeight > 0 {
			w := r.CPUWeight
			res.CPU.Weight = &w
		}
	}
	if r.Mem > 0 || r.MemHigh > 0 || r.SwapSet {
		res.Memory = &cgroup2.Memory{}
		if r.Mem > 0 {
			res.Memory.Max = &r.Mem
		}
		if r.MemHigh > 0 {
			res.Memory.High = &r.MemHigh
		}
		if r.SwapSet {
			res.Memory.Swap = &r.Swap
		}
	}
	if r.Pids > 0 {
		res.Pids = &cgroup2.Pids{Max: r.Pids}
	}
	if len(r.IO) > 0 {
		res.IO = &cgroup2.IO{}
		for _, l := range r.IO {
			res.IO.Max = append(res.IO.Max, cgroup2.Entry{Type: cgroup2.IOType(l.Kind), Major: l.Major, Minor: l.Minor, Rate: l.Rate})
		}
	}
	return res
}

func (g *v2Group) paths() []string   { return []string{g.dir} }
func (g *v2Group) add(pid int) error { return addProc([]string{g.dir}, pid) }
func (g *v2Group) oomKills() uint64  { return oomKillsIn([]string{g.dir}, "memory.events") }

// enterThread has nothing to do while the fd is open: the command is born
// in the group through it (CLONE_INTO_CGROUP). Without it a thread cannot
// take the command in on v2, and starting it anyway would run it outside.
func (g *v2Group) enterThread() error {
	if g.fd < 0 {
		return fmt.Errorf("group %s: no directory fd to start the command in; not starting it outside its group", g.dir)
	}
	return nil
}

func (g *v2Group) cgroupFD() int { return g.fd }

func (g *v2Group) close() {
	if g.fd >= 0 {
		unix.Close(g.fd)
		g.fd = -1
	}
}

func (g *v2Group) procs() ([]int, error) {
	ps, err := g.m.Procs(true)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = int(p)
	}
	return out, nil
}

func (g *v2Group) kill() error { return g.m.Kill() }

func (g *v2Group) remove() error {
	// Manager.Delete would also refuse while tasks remain, but its error
	// hides EBUSY, which Group.Delete retries on.
	err := rmdir(g.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (g *v2Group) update(r *Resources) error {
	if err := g.m.Update(v2Resources(r)); err != nil {
		return fmt.Errorf("set limits: %w", err)
	}
	return nil
}

func (g *v2Group) stats() (Stats, error) {
	var s Stats
	m, err := g.m.Stat()
	if err != nil {
		return s, fmt.Errorf("read stats: %w", err)
	}
	if c := m.CPU; c != nil {
		s.CPUUserNS, s.CPUSystemNS, s.CPUTotalNS = c.UserUsec*1000, c.SystemUsec*1000, c.UsageUsec*1000
		s.NrPeriods, s.NrThrottled, s.ThrottledNS = c.NrPeriods, c.NrThrottled, c.ThrottledUsec*1000
	}
	if mem := m.Memory; mem != nil {
		s.MemCurrent, s.MemPeak = mem.Usage, mem.MaxUsage
	}
	if e := m.MemoryEvents; e != nil {
		s.OOMKills = e.OomKill
	}
	if p := m.Pids; p != nil {
		s.PidsCurrent = p.Current
	}
	if kv, err := readKV(filepath.Join(g.dir, "pids.peak")); err == nil {
		s.PidsPeak = kv[""]
	}
	if io := m.Io; io != nil {
		for _, e := range io.Usage {
			s.IOReadBytes += e.Rbytes
			s.IOWriteBytes += e.Wbytes
		}
	}
	return s, nil
}
