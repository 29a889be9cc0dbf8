package launch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"rcon/cgroupfs"
	"rcon/fit"
	"rcon/nsjail"

	"golang.org/x/sys/unix"
)

// Where programs count CPUs and memory (see package fit).
const (
	cpuOnlineFile = "/sys/devices/system/cpu/online"
	meminfoFile   = "/proc/meminfo"
)

// lxcfsDir is where LXCFS serves its per-cgroup files on the host. Its
// meminfo is live and the reader's own group's, so it is bound when
// present. Its cpu/online follows the cpuset only (the quota with
// --enable-cfs, which rcon cannot tell), so rcon's own figure is kept.
const lxcfsDir = "/var/lib/lxcfs"

// fit tells the command what its group allows: the variables runtimes
// honour in cmd's environment, and the files most others read bound over
// the host's in its mount namespace. The figures come from the limits
// that hold (s.limits, a shared group's once joined) and the group's
// usage now (none for a group yet to be made: g nil), so it runs once
// the group is open.
func (s *job) fit(cmd *exec.Cmd, g *cgroupfs.Group) error {
	r := s.limits
	var used int64
	if g != nil {
		if st, err := g.Stats(); err == nil {
			used = int64(st.MemCurrent)
		}
	}
	affinity := 0
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		affinity = set.Count()
	}
	f, err := fit.Compute(fit.Limits{CPUPercent: r.CPUPercent, Cpuset: r.Cpuset, Mem: r.Mem, MemHigh: r.MemHigh, Swap: r.Swap, SwapSet: r.SwapSet}, affinity, used)
	if err != nil {
		return err
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = fit.Env(env, f)
	ns := *s.jail
	ns.Files = append([]nsjail.File(nil), ns.Files...)
	if f.CPUs > 0 {
		ns.Files = append(ns.Files, nsjail.File{Dst: cpuOnlineFile, Data: []byte(fit.CPUOnline(f.CPUs))})
	}
	s.fitShown = fmt.Sprintf("told %s", f)
	if live := filepath.Join(lxcfsDir, meminfoFile); (f.MemBytes > 0 || f.SwapSet) && isFUSE(live) {
		ns.Files = append(ns.Files, nsjail.File{Dst: meminfoFile, Src: live})
		s.fitShown += ", /proc/meminfo from LXCFS (live)"
	} else if f.MemBytes > 0 || f.SwapSet {
		s.fitShown += ", /proc/meminfo from rcon (as at the start)"
		host, err := os.ReadFile(meminfoFile)
		if err != nil {
			return fmt.Errorf("read %s: %w", meminfoFile, err)
		}
		ns.Files = append(ns.Files, nsjail.File{Dst: meminfoFile, Data: fit.Meminfo(host, f)})
	}
	s.jail = &ns
	return nil
}

// isFUSE tells whether path is a file on a FUSE file system (LXCFS).
func isFUSE(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.FUSE_SUPER_MAGIC
}

// withMount returns ns (a copy) with a mount namespace.
func withMount(ns *nsjail.Spec) *nsjail.Spec {
	out := nsCopy(ns)
	out.Mount = true
	return &out
}
