package export

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// nomad writes a task for a Nomad job's group, run by the docker driver
// (whose config takes capabilities, a pids limit and a hard CPU limit;
// exec and raw_exec take fewer). Field names are the job specification's
// (TestNomadFieldNames checks them).
func nomad(in *Input, w *warner) (string, error) {
	var b strings.Builder
	l := &in.Limits
	fmt.Fprintf(&b, "# A task for a Nomad job's group, from rcon profile %s (docker driver).\n", in.Source)
	fmt.Fprintf(&b, "task %s {\n", hclString(in.Name))
	fmt.Fprintf(&b, "  driver = \"docker\"\n")
	if in.User != "" {
		u := in.User
		if in.Group != "" {
			u += ":" + in.Group
		}
		fmt.Fprintf(&b, "  user   = %s\n", hclString(u))
	} else if in.Group != "" {
		w.add("run.group %q: docker takes a group only with a user (user:group)", in.Group)
	}
	if len(in.Groups) > 0 {
		w.add("run.groups: the docker driver's task has no supplementary groups setting")
	}

	b.WriteString("\n  config {\n")
	b.WriteString("    image = \"IMAGE\" # the image the task runs: rcon runs the host's files\n")
	if len(in.Argv) > 0 {
		fmt.Fprintf(&b, "    command = %s\n", hclString(in.Argv[0]))
		if len(in.Argv) > 1 {
			fmt.Fprintf(&b, "    args    = %s\n", hclList(in.Argv[1:]))
		}
	}
	if l.CPUPercent > 0 {
		// Without it resources.cpu is only a share; with it, a CFS quota
		// of cpu/MHz-per-core of a core, rcon's quota on a node alike.
		b.WriteString("    cpu_hard_limit = true\n")
		if l.CPUPeriodUS != 0 {
			fmt.Fprintf(&b, "    cpu_cfs_period = %d\n", l.CPUPeriodUS)
		}
	} else if l.CPUPeriodUS != 0 {
		w.add("limits.cpu_period_us %d: without limits.cpu there is no quota for cpu_cfs_period to time; left out", l.CPUPeriodUS)
	}
	if l.Pids > 0 {
		fmt.Fprintf(&b, "    pids_limit = %d\n", l.Pids)
	}
	if in.Caps.Prune {
		names, inverted, err := capList(&in.Caps)
		if err != nil {
			return "", err
		}
		if inverted {
			fmt.Fprintf(&b, "    cap_drop = %s\n", hclList(names))
		} else {
			fmt.Fprintf(&b, "    cap_drop = [\"all\"]\n")
			if len(names) > 0 {
				fmt.Fprintf(&b, "    cap_add  = %s\n", hclList(names))
			}
		}
	}
	if in.Caps.NoNewPrivs {
		b.WriteString("    security_opt = [\"no-new-privileges\"]\n")
	}
	ns := &in.NS
	if ns.Net {
		b.WriteString("    network_mode = \"none\"\n") // loopback only, as rcon's
	}
	if ns.Hostname != "" {
		fmt.Fprintf(&b, "    hostname = %s\n", hclString(ns.Hostname))
	}
	if ns.ReadOnlyRoot {
		b.WriteString("    readonly_rootfs = true\n")
	}
	var vols []string
	for _, bd := range ns.RoBind {
		vols = append(vols, bd.Src+":"+bd.dst()+":ro")
	}
	for _, bd := range ns.Bind {
		vols = append(vols, bd.Src+":"+bd.dst())
	}
	if len(vols) > 0 {
		fmt.Fprintf(&b, "    volumes = %s\n", hclList(vols))
	}
	b.WriteString("  }\n")

	var res []string
	if l.CPUPercent > 0 {
		mhz := in.MHzPerCPU
		if mhz <= 0 {
			mhz = 1000
		}
		v := int64(math.Ceil(l.CPUPercent / 100 * mhz))
		res = append(res, fmt.Sprintf("    cpu    = %d # MHz", v))
		w.add("limits.cpu %g: Nomad's resources.cpu is MHz, a share the scheduler reserves, not a cap: written as %g/100 × %g MHz per core (this host's) = %d; cpu_hard_limit = true caps it at that fraction of a core on a node whose cores run at %g MHz", l.CPUPercent, l.CPUPercent, mhz, v, mhz)
	}
	if l.Mem > 0 {
		mb := (l.Mem + 1<<20 - 1) >> 20
		if mb<<20 != l.Mem {
			w.add("limits.mem %d bytes: Nomad counts memory in MB (MiB); rounded up to %d", l.Mem, mb)
		}
		res = append(res, fmt.Sprintf("    memory = %d # MB", mb))
	}
	if len(res) > 0 {
		b.WriteString("\n  resources {\n" + strings.Join(res, "\n") + "\n  }\n")
	}
	b.WriteString("}\n")

	w.unsupported(l, map[string]string{
		"cpu_weight": "a docker task's CPU shares follow resources.cpu",
		"cpuset":     "Nomad pins whole cores it chooses (resources.cores), not named CPUs",
		"mem_high":   "no throttling threshold in Nomad (memory is the limit; memory_max only with oversubscription)",
		"swap":       "the docker driver gives a task no swap setting",
	})
	warnIO(w, l, "Nomad's docker driver")
	if ns.User {
		w.add("run.unshare user: user namespaces are the docker daemon's (userns-remap), not a task's")
	}
	if ns.Cgroup {
		w.add("run.unshare cgroup: docker gives a container a cgroup namespace of its own on cgroup v2 hosts only")
	}
	if len(ns.Tmpfs) > 0 {
		w.add("run.tmpfs: add a mount block with type = \"tmpfs\" for each of %s", strings.Join(ns.Tmpfs, ", "))
	}
	if ns.Chroot != "" {
		w.add("run.chroot %q: a task's root is its image", ns.Chroot)
	}
	return b.String(), nil
}

// hclString quotes s for HCL: JSON-like escapes, and the template
// sequences ${ and %{ doubled so they stay literal.
func hclString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}

func hclList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = hclString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// HostMHzPerCPU reads this host's CPU clock from /proc/cpuinfo, the
// figure Nomad fingerprints, for the MHz the nomad target writes; 0 when
// it cannot tell.
func HostMHzPerCPU() float64 {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			if mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && mhz > 0 {
				return math.Round(mhz)
			}
		}
	}
	return 0
}
