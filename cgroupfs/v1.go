package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Group is a group in the per-controller hierarchies of cgroup v1.
type v1Group struct {
	cg   cgroup1.Cgroup // nil for a group opened from a state file
	dirs []string       // one per distinct hierarchy
	// startPids is the group's pids limit when its start thread's slot
	// is to be made up for (see enterThread), else 0.
	startPids int64
	raised    bool
}

// v1Subsystems picks the controllers rcon uses, skipping ones the host
// does not mount. cpuset is only used when asked for: joining it means
// copying cpus/mems into every new parent.
func v1Subsystems(r *Resources) []cgroup1.Subsystem {
	subs := []cgroup1.Subsystem{
		cgroup1.NewCpu(Mountpoint), cgroup1.NewCpuacct(Mountpoint),
		cgroup1.NewMemory(Mountpoint, cgroup1.OptionalSwap()),
		cgroup1.NewPids(Mountpoint), cgroup1.NewBlkio(Mountpoint),
	}
	if r.Cpuset != "" {
		subs = append(subs, cgroup1.NewCpuset(Mountpoint))
	}
	var out []cgroup1.Subsystem
	for _, s := range subs {
		if _, err := os.Stat(filepath.Join(Mountpoint, string(s.Name()))); err == nil {
			out = append(out, s)
		}
	}
	return out
}

func createV1(place *parentPlace, name string, r *Resources, claim func(paths, made []string) error) (backend, error) {
	subs := v1Subsystems(r)
	if len(subs) == 0 {
		return nil, fmt.Errorf("cgroup v1: no cpu, memory, pids or blkio hierarchy mounted under %s", Mountpoint)
	}
	g := &v1Group{}
	seen := map[string]bool{}
	for _, s := range subs {
		dir := filepath.Join(place.dirV1(string(s.Name())), name)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		g.dirs = append(g.dirs, dir)
	}
	res, err := v1Spec(r)
	if err != nil {
		return nil, err
	}
	// rcon makes at most the parent itself, never a chain of directories
	// it would then not know to remove.
	var missing []string
	for _, d := range g.dirs {
		p := parentDir(d)
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, d) // a leaf whose parent rcon makes
			if _, err := os.Stat(parentDir(p)); err != nil {
				return nil, fmt.Errorf("parent group %s: %s does not exist", place.path, parentDir(p))
			}
		}
	}
	// The project's parent is rcon's in every hierarchy; another one only
	// where rcon makes it.
	made := missing
	if place.project {
		made = g.dirs
	}
	if err := claim(g.dirs, made); err != nil {
		return nil, err
	}
	for _, dir := range g.dirs {
		if _, err := os.Stat(dir); err == nil {
			return nil, fmt.Errorf("group %s already exists (%s) and rcon has no record of it", name, dir)
		}
	}
	path := func(n cgroup1.Name) (string, error) { return filepath.Join(place.in(string(n)), name), nil }
	hier := func() ([]cgroup1.Subsystem, error) { return subs, nil }
	// A concurrent rcon may remove the empty project parent between our
	// mkdir of it and of the leaf; that shows as ENOENT (or ENODEV, a file
	// of it read as it went: gone) and a retry fixes it.
	for try := 0; ; try++ {
		g.cg, err = cgroup1.New(path, res, cgroup1.WithHierarchy(hier))
		if err == nil {
			return g, nil
		}
		for _, d := range g.dirs {
			_ = rmdir(d)
		}
		removeParents(made) // only if empty: other runs' groups keep it
		if !gone(err) || try == 3 {
			return nil, fmt.Errorf("create group %s: %w", name, err)
		}
	}
}

func openV1(dirs []string) *v1Group { return &v1Group{dirs: dirs} }

// v1Spec translates Resources into the OCI form cgroup1 writes.
func v1Spec(r *Resources) (*specs.LinuxResources, error) {
	res := &specs.LinuxResources{}
	if r.CPUPercent > 0 || r.CPUWeight > 0 || r.Cpuset != "" {
		res.CPU = &specs.LinuxCPU{}
	}
	if r.CPUPercent > 0 {
		period, quota := r.Quota()
		res.CPU.Period, res.CPU.Quota = &period, &quota
	}
	if r.CPUWeight > 0 {
		// runc's mapping between v2 weight [1,10000] and v1 shares [2,262144].
		shares := 2 + ((r.CPUWeight-1)*262142)/9999
		res.CPU.Shares = &shares
	}
	if r.Cpuset != "" {
		res.CPU.Cpus = r.Cpuset
	}
	if r.Mem > 0 || r.MemHigh > 0 || r.SwapSet {
		res.Memory = &specs.LinuxMemory{}
		if r.Mem > 0 {
			res.Memory.Limit = &r.Mem
		}
		if r.MemHigh > 0 {
			res.Memory.Reservation = &r.MemHigh
		}
		if r.SwapSet {
			if r.Mem <= 0 {
				return nil, fmt.Errorf("a swap limit needs a memory limit on cgroup v1 (memsw counts memory plus swap)")
			}
			memsw := r.Mem + r.Swap
			res.Memory.Swap = &memsw
		}
	}
	if r.Pids > 0 {
		res.Pids = &specs.LinuxPids{Limit: &r.Pids}
	}
	if len(r.IO) > 0 {
		res.BlockIO = &specs.LinuxBlockIO{}
		for _, l := range r.IO {
			d := specs.LinuxThrottleDevice{Rate: l.Rate}
			d.Major, d.Minor = l.Major, l.Minor
			b := res.BlockIO
			switch l.Kind {
			case ReadBPS:
				b.ThrottleReadBpsDevice = append(b.ThrottleReadBpsDevice, d)
			case WriteBPS:
				b.ThrottleWriteBpsDevice = append(b.ThrottleWriteBpsDevice, d)
			case ReadIOPS:
				b.ThrottleReadIOPSDevice = append(b.ThrottleReadIOPSDevice, d)
			case WriteIOPS:
				b.ThrottleWriteIOPSDevice = append(b.ThrottleWriteIOPSDevice, d)
			}
		}
	}
	return res, nil
}

func (g *v1Group) paths() []string   { return g.dirs }
func (g *v1Group) add(pid int) error { return addProc(g.dirs, pid) }
func (g *v1Group) oomKills() uint64  { return oomKillsIn(g.dirs, "memory.oom_control") }
func (g *v1Group) cgroupFD() int     { return -1 }
func (g *v1Group) close()            {}

// lendStartSlot raises the pids limit by one for the start thread. On v1
// a thread counts against pids.max like any task, so the start thread
// would take one of the command's slots (`--pids 1 -- true` could not
// fork at all). Done while the group is still empty; startDone lowers it
// back before the thread leaves: the command never has more than its
// limit.
func (g *v1Group) lendStartSlot() error {
	if g.startPids <= 0 {
		return nil
	}
	if err := g.writePidsMax(g.startPids + 1); err != nil {
		return fmt.Errorf("lend the start thread a pids slot: %w", err)
	}
	g.raised = true
	return nil
}

func (g *v1Group) enterThread() error {
	// "0" is the writing thread itself. Naming it by tid instead makes the
	// kernel take the global threadgroup lock, which waits for an RCU grace
	// period unless one just passed: 5.5-24.8 ms for a lone write here,
	// against 0.02 ms for "0" (the kernel skips the lock for current
	// moving only itself; docs/BENCHMARKS.md).
	self := []byte("0")
	for _, d := range g.dirs {
		if err := os.WriteFile(filepath.Join(d, "tasks"), self, 0); err != nil {
			return fmt.Errorf("enter group: %w", err)
		}
	}
	return nil
}

// startDone puts back the pids limit lendStartSlot raised. It runs once the
// command is started, while the start thread still holds its slot, so
// there is no moment when the command could have one more than its limit;
// until that thread is gone the command has one less.
func (g *v1Group) startDone() error {
	if !g.raised {
		return nil
	}
	if err := g.writePidsMax(g.startPids); err != nil {
		return fmt.Errorf("restore pids limit: %w", err)
	}
	g.raised = false
	return nil
}

func (g *v1Group) writePidsMax(n int64) error {
	for _, d := range g.dirs {
		f := filepath.Join(d, "pids.max")
		if _, err := os.Stat(f); err != nil {
			continue
		}
		return os.WriteFile(f, []byte(strconv.FormatInt(n, 10)), 0)
	}
	return errors.New("no pids hierarchy")
}

// procs is the union over hierarchies, so a process that left one of
// them still keeps the group from being removed. rcon itself is left out:
// its start thread sits in the group until it exits, which makes rcon's
// pid show in cgroup.procs for a moment.
func (g *v1Group) procs() ([]int, error) {
	var out []int
	seen := map[int]bool{os.Getpid(): true}
	for _, d := range g.dirs {
		ps, err := readPids(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// kill signals every member; v1 has no cgroup.kill, so Group.Kill loops
// until nothing is left (a fork racing the scan is caught next round).
func (g *v1Group) kill() error {
	ps, err := g.procs()
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := unix.Kill(p, unix.SIGKILL); err != nil && err != unix.ESRCH {
			return fmt.Errorf("kill %d: %w", p, err)
		}
	}
	return nil
}

func (g *v1Group) remove() error {
	var first error
	for _, d := range g.dirs {
		if err := rmdir(d); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	return first
}

func (g *v1Group) update(r *Resources) error {
	res, err := v1Spec(r)
	if err != nil {
		return err
	}
	cg, err := g.load(r)
	if err != nil {
		return err
	}
	return cg.Update(res)
}

// load returns the containerd handle, opening it by path when the group
// came from a state file.
func (g *v1Group) load(r *Resources) (cgroup1.Cgroup, error) {
	if g.cg != nil {
		return g.cg, nil
	}
	subs := v1Subsystems(r)
	byName := map[cgroup1.Name]string{}
	for _, s := range subs {
		root := v1Root(string(s.Name()))
		for _, d := range g.dirs {
			if rel, ok := strings.CutPrefix(d, root+"/"); ok {
				byName[s.Name()] = "/" + rel
			}
		}
	}
	path := func(n cgroup1.Name) (string, error) {
		if p, ok := byName[n]; ok {
			return p, nil
		}
		return "", cgroup1.ErrControllerNotActive
	}
	cg, err := cgroup1.Load(path, cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return subs, nil }))
	if err != nil {
		return nil, fmt.Errorf("load group: %w", err)
	}
	g.cg = cg
	return cg, nil
}

func (g *v1Group) stats() (Stats, error) {
	var s Stats
	cg, err := g.load(&Resources{})
	if err != nil {
		return s, err
	}
	m, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return s, fmt.Errorf("read stats: %w", err)
	}
	if c := m.CPU; c != nil {
		if u := c.Usage; u != nil {
			s.CPUUserNS, s.CPUSystemNS, s.CPUTotalNS = u.User, u.Kernel, u.Total
		}
		if t := c.Throttling; t != nil {
			s.NrPeriods, s.NrThrottled, s.ThrottledNS = t.Periods, t.ThrottledPeriods, t.ThrottledTime
		}
	}
	if mem := m.Memory; mem != nil && mem.Usage != nil {
		s.MemCurrent, s.MemPeak = mem.Usage.Usage, mem.Usage.Max
	}
	if p := m.Pids; p != nil {
		s.PidsCurrent = p.Current
	}
	if b := m.Blkio; b != nil {
		for _, e := range b.IoServiceBytesRecursive {
			switch e.Op {
			case "Read":
				s.IOReadBytes += e.Value
			case "Write":
				s.IOWriteBytes += e.Value
			}
		}
	}
	for _, d := range g.dirs {
		if kv, err := readKV(filepath.Join(d, "memory.oom_control")); err == nil {
			s.OOMKills = kv["oom_kill"]
		}
	}
	return s, nil
}
