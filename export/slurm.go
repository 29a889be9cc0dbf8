package export

import (
	"fmt"
	"math"
	"strings"
)

// slurm writes a batch script head: #SBATCH lines sbatch reads, then the
// command. Slurm allocates whole CPUs and memory (enforced by its cgroup
// plugin when the site's cgroup.conf constrains them); most else of a
// profile has no Slurm equivalent and is warned about.
func slurm(in *Input, w *warner) (string, error) {
	var b strings.Builder
	l := &in.Limits
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# sbatch options from rcon profile %s\n", in.Source)
	fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", in.Name)
	if l.CPUPercent > 0 {
		n := int64(math.Ceil(l.CPUPercent / 100))
		fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", n)
		if float64(n*100) != l.CPUPercent {
			w.add("limits.cpu %g: Slurm allocates whole CPUs, no percentage of one; rounded up to --cpus-per-task=%d", l.CPUPercent, n)
		}
	}
	if l.Mem > 0 {
		mb := (l.Mem + 1<<20 - 1) >> 20
		if mb<<20 != l.Mem {
			w.add("limits.mem %d bytes: Slurm counts memory in whole megabytes (MiB); rounded up to %dM", l.Mem, mb)
		}
		fmt.Fprintf(&b, "#SBATCH --mem=%s\n", size1024(mb<<20))
	}
	if len(in.Argv) > 0 {
		q := make([]string, len(in.Argv))
		for i, a := range in.Argv {
			q[i] = shQuote(a)
		}
		b.WriteString("exec " + strings.Join(q, " ") + "\n")
	}

	w.unsupported(l, map[string]string{
		"cpu_period_us": "Slurm sets no CPU quota, so no period",
		"cpu_weight":    "Slurm's shares are its fair-share and QOS policy, not a job's",
		"cpuset":        "Slurm chooses the CPUs it allocates (--cpu-bind binds among them)",
		"mem_high":      "Slurm has no memory throttling threshold",
		"swap":          "swap is the site's cgroup.conf (AllowedSwapSpace), not a job's",
		"pids":          "Slurm has no per-job task limit",
	})
	warnIO(w, l, "Slurm")
	if in.User != "" || in.Group != "" || len(in.Groups) > 0 {
		w.add("run.user, group, groups: a Slurm job runs as whoever submits it (sbatch --uid/--gid are root's)")
	}
	if in.Caps.Prune {
		w.add("caps: Slurm has no capability settings")
	}
	if in.Caps.NoNewPrivs {
		w.add("caps.no_new_privs: Slurm does not set no_new_privs for a job")
	}
	if n := in.NS.names(); len(n) > 0 {
		w.add("run.unshare %s: Slurm gives a job no namespaces of its own (job_container plugins are the site's)", strings.Join(n, ","))
	}
	if in.NS.Hostname != "" || in.NS.hasMounts() {
		w.add("run.hostname, ro_bind, bind, tmpfs, chroot, read_only_root: Slurm has no such job settings")
	}
	return b.String(), nil
}

// shQuote quotes s for sh when it needs it.
func shQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
