package export

import (
	"encoding/json"
	"fmt"
	"os/user"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"rcon/caps"
)

// oci writes an OCI runtime-spec config.json: the limits as
// linux.resources in the runtime-spec's v1 terms (which runc and crun
// translate for v2 hosts), the capabilities in all five sets as capcon
// sets them, the identity as numbers, the namespaces. The root is
// "rootfs" beside config.json (or the profile's chroot), with the mounts
// a container needs (/proc, /dev, /sys read-only) and the profile's own.
func oci(in *Input, w *warner) (string, error) {
	l := &in.Limits
	res := &specs.LinuxResources{}
	if l.CPUPercent > 0 || l.CPUWeight > 0 || l.Cpuset != "" {
		res.CPU = &specs.LinuxCPU{}
	}
	if l.CPUPercent > 0 {
		// rcon's own rule (cgroupfs.CPUQuotaUS): P/100 × period, in whole µs.
		period := l.period()
		quota := int64(l.CPUPercent * float64(period) / 100)
		res.CPU.Period, res.CPU.Quota = &period, &quota
	} else if l.CPUPeriodUS != 0 {
		w.add("limits.cpu_period_us %d: without limits.cpu there is no quota for linux.resources.cpu.period to time; left out", l.CPUPeriodUS)
	}
	if l.CPUWeight > 0 {
		// runc's mapping from the v2 weight to v1 shares, which rcon uses too.
		shares := 2 + (l.CPUWeight-1)*262142/9999
		res.CPU.Shares = &shares
		if back := 1 + (shares-2)*9999/262142; back != l.CPUWeight {
			w.add("limits.cpu_weight %d: written as cpu.shares %d, which runtimes on cgroup v2 hosts turn back into cpu.weight %d", l.CPUWeight, shares, back)
		}
	}
	if l.Cpuset != "" {
		res.CPU.Cpus = l.Cpuset
	}
	if l.Mem > 0 || l.MemHigh > 0 || l.SwapSet {
		res.Memory = &specs.LinuxMemory{}
	}
	if l.Mem > 0 {
		mem := l.Mem
		res.Memory.Limit = &mem
	}
	if l.MemHigh > 0 {
		high := l.MemHigh
		res.Memory.Reservation = &high
		w.add("limits.mem_high: written as memory.reservation, v1's soft limit as rcon writes it; on cgroup v2 hosts runtimes write it to memory.low (a protection), not memory.high")
	}
	if l.SwapSet {
		if l.Mem > 0 {
			// The runtime-spec's swap is v1's memsw: memory plus swap.
			memsw := l.Mem + l.Swap
			res.Memory.Swap = &memsw
		} else {
			w.add("limits.swap: memory.swap counts memory plus swap, so it needs limits.mem; left out")
		}
	}
	if l.Pids > 0 {
		pids := l.Pids
		res.Pids = &specs.LinuxPids{Limit: &pids}
	}
	if len(l.IO) > 0 {
		b := &specs.LinuxBlockIO{}
		for _, k := range []struct {
			kind IOKind
			dst  *[]specs.LinuxThrottleDevice
		}{{ReadBPS, &b.ThrottleReadBpsDevice}, {WriteBPS, &b.ThrottleWriteBpsDevice}, {ReadIOPS, &b.ThrottleReadIOPSDevice}, {WriteIOPS, &b.ThrottleWriteIOPSDevice}} {
			for _, io := range l.ioByKind(k.kind) {
				d := specs.LinuxThrottleDevice{Rate: io.Rate}
				d.Major, d.Minor = io.Major, io.Minor
				*k.dst = append(*k.dst, d)
			}
		}
		res.BlockIO = b
	}

	u, err := ociUser(in, w)
	if err != nil {
		return "", err
	}
	c, err := ociCaps(in, u.UID, w)
	if err != nil {
		return "", err
	}
	if len(in.Argv) == 0 {
		w.add("run.command: the profile names no command: fill in process.args (or export with -- COMMAND)")
	}
	spec := specs.Spec{
		Version: ociVersion,
		Process: &specs.Process{
			Args:            in.Argv,
			Env:             []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cwd:             "/",
			User:            u,
			Capabilities:    c,
			NoNewPrivileges: in.Caps.NoNewPrivs,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: in.NS.ReadOnlyRoot},
		Hostname: in.NS.Hostname,
		Mounts:   ociMounts(&in.NS),
		Linux:    &specs.Linux{Resources: res, Namespaces: ociNamespaces(&in.NS, w)},
	}
	if in.NS.Chroot != "" {
		spec.Root.Path = in.NS.Chroot
	}
	out, err := json.MarshalIndent(&spec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode config.json: %w", err)
	}
	return string(out) + "\n", nil
}

// ociVersion is the runtime-spec version the config claims: every field
// written here is in 1.0.2, and runtimes check the version before anything
// else (Debian 12's crun 1.8.1 refuses all but 1.0.x), so the config
// claims the oldest version that has them, not the library's newest.
const ociVersion = "1.0.2"

// ociNamespaces lists the profile's namespaces. A container always has
// its own mount namespace (its root is not the host's), so mount is added
// when the profile lacks it.
func ociNamespaces(ns *NS, w *warner) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	add := func(t specs.LinuxNamespaceType) { out = append(out, specs.LinuxNamespace{Type: t}) }
	if ns.PID {
		add(specs.PIDNamespace)
	}
	if !ns.Mount {
		w.add("run.unshare: a container always has a mount namespace of its own (its root); added")
	}
	add(specs.MountNamespace)
	if ns.Net {
		add(specs.NetworkNamespace)
	}
	if ns.UTS || ns.Hostname != "" {
		add(specs.UTSNamespace)
	}
	if ns.IPC {
		add(specs.IPCNamespace)
	}
	if ns.User {
		add(specs.UserNamespace)
		w.add("run.unshare user: linux.uidMappings and gidMappings are the host's choice; rcon maps the caller to root (or to itself with map_user): add them")
	}
	if ns.Cgroup {
		add(specs.CgroupNamespace)
	}
	return out
}

// ociMounts are the mounts every container needs (as `crun spec` and
// `runc spec` write them, /sys read-only), then the profile's.
func ociMounts(ns *NS) []specs.Mount {
	m := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
	for _, b := range ns.RoBind {
		m = append(m, specs.Mount{Destination: b.dst(), Type: "bind", Source: b.Src, Options: []string{"rbind", "ro"}})
	}
	for _, b := range ns.Bind {
		m = append(m, specs.Mount{Destination: b.dst(), Type: "bind", Source: b.Src, Options: []string{"rbind", "rw"}})
	}
	for _, d := range ns.Tmpfs {
		m = append(m, specs.Mount{Destination: d, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}})
	}
	return m
}

// ociUser turns the identity into the numbers the runtime-spec takes.
// Names are resolved on this host (and said so): the bundle carries no
// names. The supplementary groups default to the user's own, as rcon's.
func ociUser(in *Input, w *warner) (specs.User, error) {
	var u specs.User
	if in.User == "" {
		if in.Group != "" || len(in.Groups) > 0 {
			gid, err := lookupGroup(in.Group, w, "run.group")
			if err != nil {
				return u, err
			}
			u.GID = gid
			u.AdditionalGids, err = lookupGroups(in.Groups, w)
			return u, err
		}
		return u, nil
	}
	uid, primary, name, err := lookupUser(in.User, w)
	if err != nil {
		return u, err
	}
	u.UID, u.GID = uid, primary
	if in.Group != "" {
		if u.GID, err = lookupGroup(in.Group, w, "run.group"); err != nil {
			return u, err
		}
	}
	if len(in.Groups) > 0 {
		u.AdditionalGids, err = lookupGroups(in.Groups, w)
		return u, err
	}
	if name != "" {
		if pw, err := user.Lookup(name); err == nil {
			if ids, err := pw.GroupIds(); err == nil {
				for _, id := range ids {
					if g, err := strconv.ParseUint(id, 10, 32); err == nil && uint32(g) != u.GID {
						u.AdditionalGids = append(u.AdditionalGids, uint32(g))
					}
				}
			}
		}
	}
	return u, nil
}

func lookupUser(s string, w *warner) (uid, gid uint32, name string, err error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		if pw, err := user.LookupId(s); err == nil {
			g, _ := strconv.ParseUint(pw.Gid, 10, 32)
			return uint32(n), uint32(g), pw.Username, nil
		}
		return uint32(n), uint32(n), "", nil
	}
	pw, err := user.Lookup(s)
	if err != nil {
		return 0, 0, "", fmt.Errorf("run.user %q: not a user on this host, and OCI's process.user takes numbers: write the uid", s)
	}
	u, _ := strconv.ParseUint(pw.Uid, 10, 32)
	g, _ := strconv.ParseUint(pw.Gid, 10, 32)
	w.add("run.user %q: resolved on this host to uid %d, gid %d (process.user takes numbers)", s, u, g)
	return uint32(u), uint32(g), pw.Username, nil
}

func lookupGroup(s string, w *warner, key string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	gr, err := user.LookupGroup(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: not a group on this host, and OCI's process.user takes numbers: write the gid", key, s)
	}
	g, _ := strconv.ParseUint(gr.Gid, 10, 32)
	w.add("%s %q: resolved on this host to gid %d", key, s, g)
	return uint32(g), nil
}

func lookupGroups(l []string, w *warner) ([]uint32, error) {
	var out []uint32
	for _, s := range l {
		g, err := lookupGroup(s, w, "run.groups")
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// ociCaps fills the five sets as capcon leaves them: the kept set in
// bounding, effective, permitted, inheritable and ambient. A profile
// that prunes nothing leaves the command what a plain exec would: every
// capability in the bounding set, and in effective and permitted for
// root only.
func ociCaps(in *Input, uid uint32, w *warner) (*specs.LinuxCapabilities, error) {
	if !in.Caps.Prune {
		all := ociCapNames(caps.All())
		c := &specs.LinuxCapabilities{Bounding: all}
		if uid == 0 {
			c.Effective, c.Permitted = all, all
			w.add("caps: the profile prunes no capabilities, so the container gets all of them, as root under rcon would (caps.keep or caps.drop prunes them)")
		}
		return c, nil
	}
	s, err := capSet(&in.Caps)
	if err != nil {
		return nil, err
	}
	n := ociCapNames(s)
	return &specs.LinuxCapabilities{Bounding: n, Effective: n, Permitted: n, Inheritable: n, Ambient: n}, nil
}

func ociCapNames(s caps.Set) []string {
	out := []string{}
	for _, n := range s.Names() {
		out = append(out, strings.ToUpper(n))
	}
	return out
}
