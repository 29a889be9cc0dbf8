package export

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// systemd writes a service unit (with the command as ExecStart=) or, for
// a profile without a command, a drop-in of the [Service] settings for an
// existing unit. Settings follow systemd.resource-control(5) and
// systemd.exec(5); sizes are exact (bytes, or a suffix that divides them:
// MemoryMax= reads K/M/G/T as powers of 1024, but IO*BandwidthMax= reads
// them as powers of 1000, so bandwidths are written as plain bytes).
func systemd(in *Input, w *warner) (string, error) {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	l := &in.Limits
	if len(in.Argv) > 0 {
		p("# %s.service, from rcon profile %s", in.Name, in.Source)
		p("[Unit]")
		p("Description=%s (from rcon profile %s)", in.Name, in.Source)
		p("")
		p("[Service]")
		p("ExecStart=%s", execLine(in.Argv))
	} else {
		p("# A drop-in for an existing unit, from rcon profile %s, e.g. as", in.Source)
		p("# /etc/systemd/system/UNIT.service.d/rcon-%s.conf", in.Name)
		p("# (the profile names no command; rcon profile export NAME -- COMMAND writes a whole unit)")
		p("[Service]")
	}

	if l.CPUPercent > 0 {
		pct := math.Round(l.CPUPercent*100) / 100
		if pct != l.CPUPercent {
			w.add("limits.cpu %g: CPUQuota= takes hundredths of a percent, written as %g%%", l.CPUPercent, pct)
		}
		p("CPUQuota=%s%%", strconv.FormatFloat(pct, 'f', -1, 64))
		if l.CPUPeriodUS != 0 {
			p("CPUQuotaPeriodSec=%dus", l.CPUPeriodUS)
		}
	} else if l.CPUPeriodUS != 0 {
		w.add("limits.cpu_period_us %d: without limits.cpu there is no quota for CPUQuotaPeriodSec= to time; left out", l.CPUPeriodUS)
	}
	if l.CPUWeight > 0 {
		p("CPUWeight=%d", l.CPUWeight)
		if sd, rc := l.CPUWeight*1024/100, 2+(l.CPUWeight-1)*262142/9999; sd != rc {
			w.add("limits.cpu_weight %d: on cgroup v1 hosts systemd writes cpu.shares %d (weight × 1024 / 100) where rcon writes %d (runc's mapping); on v2 both write cpu.weight %d", l.CPUWeight, sd, rc, l.CPUWeight)
		}
	}
	if l.Cpuset != "" {
		p("AllowedCPUs=%s", l.Cpuset)
		w.add("limits.cpuset: AllowedCPUs= holds on cgroup v2 hosts only (systemd has no v1 cpuset)")
	}
	if l.Mem > 0 {
		p("MemoryMax=%s", size1024(l.Mem))
	}
	if l.MemHigh > 0 {
		p("MemoryHigh=%s", size1024(l.MemHigh))
		w.add("limits.mem_high: MemoryHigh= holds on cgroup v2 hosts only (rcon writes v1's soft limit there)")
	}
	if l.SwapSet {
		p("MemorySwapMax=%s", size1024(l.Swap))
		w.add("limits.swap: MemorySwapMax= holds on cgroup v2 hosts only")
	}
	if l.Pids > 0 {
		p("TasksMax=%d", l.Pids)
	}
	for _, k := range []struct {
		kind IOKind
		key  string
	}{{ReadBPS, "IOReadBandwidthMax"}, {WriteBPS, "IOWriteBandwidthMax"}, {ReadIOPS, "IOReadIOPSMax"}, {WriteIOPS, "IOWriteIOPSMax"}} {
		for _, io := range l.ioByKind(k.kind) {
			// systemd takes a device path; /dev/block/MAJ:MIN is udev's
			// name for every block device on a systemd host.
			p("%s=/dev/block/%d:%d %d", k.key, io.Major, io.Minor, io.Rate)
		}
	}

	if in.User != "" {
		p("User=%s", in.User)
	}
	if in.Group != "" {
		p("Group=%s", in.Group)
	}
	if len(in.Groups) > 0 {
		p("SupplementaryGroups=%s", strings.Join(in.Groups, " "))
	}

	if err := systemdCaps(in, p); err != nil {
		return "", err
	}

	ns := &in.NS
	if ns.Net {
		p("PrivateNetwork=yes")
	}
	if ns.IPC {
		p("PrivateIPC=yes")
	}
	if ns.User {
		p("PrivateUsers=yes")
	}
	if ns.UTS {
		p("ProtectHostname=yes")
	}
	if ns.Mount {
		p("PrivateMounts=yes")
	}
	if ns.PID {
		w.add("run.unshare pid: systemd before v257 has no PID namespace for a service (v257: PrivatePIDs=yes)")
	}
	if ns.Cgroup {
		w.add("run.unshare cgroup: systemd before v257 has no cgroup namespace for a service (v257: ProtectControlGroups=private)")
	}
	if ns.Hostname != "" {
		w.add("run.hostname %q: a service's UTS namespace (ProtectHostname=yes) keeps the host's name; systemd sets no other", ns.Hostname)
	}
	if ns.Chroot != "" {
		p("RootDirectory=%s", ns.Chroot)
	}
	if ns.ReadOnlyRoot {
		p("ReadOnlyPaths=/")
	}
	for _, bd := range ns.RoBind {
		p("BindReadOnlyPaths=%s:%s", bd.Src, bd.dst())
	}
	for _, bd := range ns.Bind {
		p("BindPaths=%s:%s", bd.Src, bd.dst())
	}
	for _, d := range ns.Tmpfs {
		p("TemporaryFileSystem=%s", d)
	}
	return b.String(), nil
}

// systemdCaps writes the capability settings the way capcon applies them:
// the kept capabilities in the bounding and ambient sets (so a command
// run as another user holds them), root's regain on exec locked off.
func systemdCaps(in *Input, p func(string, ...any)) error {
	c := &in.Caps
	if c.Prune {
		list, inverted, err := capList(c)
		if err != nil {
			return err
		}
		names := make([]string, len(list))
		for i, n := range list {
			names[i] = "CAP_" + strings.ToUpper(n)
		}
		set := strings.Join(names, " ")
		if inverted {
			set = "~" + set
		}
		if set == "" {
			p("# empty: no capabilities at all")
		}
		p("CapabilityBoundingSet=%s", set)
		p("AmbientCapabilities=%s", set)
		p("SecureBits=noroot noroot-locked")
	}
	if c.NoNewPrivs {
		p("NoNewPrivileges=yes")
	} else if c.Prune {
		p("NoNewPrivileges=no")
	}
	return nil
}

// execLine quotes argv for ExecStart=: systemd splits on spaces, reads
// C-style escapes in double quotes, and expands $VAR and %-specifiers,
// which a literal argument must not have done to it.
func execLine(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		a = strings.ReplaceAll(a, "%", "%%")
		a = strings.ReplaceAll(a, "$", "$$")
		// A word that is a lone ";" would separate commands; the
		// first word's leading @-:+! would be prefixes, not its name.
		if a == ";" {
			out[i] = `\;`
			continue
		}
		plain := a != "" && !(i == 0 && strings.ContainsAny(a[:1], "@-:+!")) && !strings.ContainsAny(a, " \t\n\\\"'")
		if plain {
			out[i] = a
			continue
		}
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
		out[i] = `"` + r.Replace(a) + `"`
	}
	return strings.Join(out, " ")
}
