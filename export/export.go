// Package export writes a run's settings, as a profile gives them, in the
// terms of another engine: a systemd service unit, an OCI runtime-spec
// config.json, a Kubernetes container, a Nomad task, Slurm #SBATCH lines.
// A fleet that outgrows cron on one host carries the same limits to the
// engine it moves to.
//
// The package knows nothing of profiles or of how rcon runs: it takes an
// Input, plain data the CLI fills from a loaded profile, and returns the
// text and one warning for every setting the target cannot express. A
// conversion is exact or warned about, never silently approximate.
package export

import (
	"fmt"
	"rcon/cgroupfs"
	"sort"
	"strings"
)

// Input is what a target is told: limits, identity, capabilities and
// namespaces, already validated (profiles did that when they loaded).
type Input struct {
	// Name names the unit, container, task or job.
	Name string
	// Source is the profile it came from, for the comment atop the text.
	Source string
	// Argv is the command; empty when the profile names none.
	Argv []string

	Limits Limits

	// User, Group, Groups switch identity; empty keeps the engine's default.
	User   string
	Group  string
	Groups []string

	Caps Caps
	NS   NS

	// MHzPerCPU is the clock of one CPU the nomad target converts CPU
	// percentages with (Nomad counts MHz); 0 means 1000.
	MHzPerCPU float64

	// RconOnly lists settings set in the profile that only rcon itself
	// acts on (run.fit, run.stats, ...): every target warns about each.
	RconOnly []string
}

// Limits are the cgroup limits; zero means "no limit" as in rcon.
type Limits struct {
	CPUPercent  float64 // percent of one CPU: 150 = one and a half
	CPUPeriodUS uint64  // 0: the default (100000 µs)
	CPUWeight   uint64  // 1..10000, cgroup v2's cpu.weight
	Cpuset      string  // "0-1,3"
	Mem         int64   // bytes: the hard limit
	MemHigh     int64   // bytes: the throttling threshold
	Swap        int64   // bytes of swap on top of Mem
	SwapSet     bool    // Swap is set (0 = no swap)
	Pids        int64
	IO          []IO
}

// IOKind is which throttle an IO limit sets: cgroupfs's kinds, the names
// rcon gives them everywhere.
type IOKind = cgroupfs.IOKind

// The throttles.
const (
	ReadBPS   = cgroupfs.ReadBPS
	WriteBPS  = cgroupfs.WriteBPS
	ReadIOPS  = cgroupfs.ReadIOPS
	WriteIOPS = cgroupfs.WriteIOPS
)

// IO throttles one block device, named by its numbers (a profile's
// "/dev/sda" was resolved when it loaded).
type IO struct {
	Major, Minor int64
	Kind         IOKind
	Rate         uint64 // bytes or operations per second
}

// Caps are the capability settings. Without Prune no set is changed.
type Caps struct {
	// Prune says the profile keeps or drops capabilities at all.
	Prune bool
	// Keep lists what is kept (Prune and no Drop: keep only these; empty
	// keeps none); Drop what is dropped from all the command would hold.
	// Names as the profile wrote them, parsed by package caps.
	Keep []string
	Drop []string
	// NoNewPrivs: setuid binaries and file capabilities grant nothing.
	NoNewPrivs bool
}

// NS are the namespaces and the file tree of the command.
type NS struct {
	PID, Mount, Net, UTS, IPC, User, Cgroup bool

	Hostname     string
	ReadOnlyRoot bool
	RoBind, Bind []Bind
	Tmpfs        []string
	Chroot       string
}

// Bind is one bind mount: Src on the host on Dst inside (empty: Src).
type Bind struct{ Src, Dst string }

func (b Bind) dst() string {
	if b.Dst == "" {
		return b.Src
	}
	return b.Dst
}

// Result is one export: the text for standard output and the warnings,
// one line each without a trailing newline, for standard error.
type Result struct {
	Text     string
	Warnings []string
}

// Targets are the engines Export writes for, in the order help lists them.
var Targets = []string{"systemd", "oci", "kubernetes", "nomad", "slurm"}

// UnknownTargetError is Export's error for a target it does not know.
type UnknownTargetError struct{ Target string }

func (e *UnknownTargetError) Error() string {
	return fmt.Sprintf("unknown target %q: want one of %s", e.Target, strings.Join(Targets, ", "))
}

// Export writes in for target. Warnings do not fail it; an error means
// nothing usable could be written (an unknown target, a capability name
// that does not parse, a user OCI needs as a number that this host cannot
// resolve).
func Export(target string, in *Input) (*Result, error) {
	w := &warner{}
	var text string
	var err error
	switch target {
	case "systemd":
		text, err = systemd(in, w)
	case "oci":
		text, err = oci(in, w)
	case "kubernetes":
		text, err = kubernetes(in, w)
	case "nomad":
		text, err = nomad(in, w)
	case "slurm":
		text, err = slurm(in, w)
	default:
		return nil, &UnknownTargetError{target}
	}
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", target, err)
	}
	for _, k := range in.RconOnly {
		w.add("%s: acted on by rcon itself; %s has no such setting", k, target)
	}
	return &Result{Text: text, Warnings: w.lines}, nil
}

// warner collects the warnings of one export in the order the settings
// are met, so they read like the profile.
type warner struct{ lines []string }

func (w *warner) add(format string, a ...any) { w.lines = append(w.lines, fmt.Sprintf(format, a...)) }

// unsupported warns, in one fixed order, about each limit l sets that a
// target cannot express at all; why maps the limit's key to the reason.
func (w *warner) unsupported(l *Limits, why map[string]string) {
	for _, k := range []struct {
		key string
		set bool
		val string // shown after the key ("": nothing)
	}{
		{"cpu_period_us", l.CPUPeriodUS != 0, fmt.Sprint(l.CPUPeriodUS)},
		{"cpu_weight", l.CPUWeight > 0, fmt.Sprint(l.CPUWeight)},
		{"cpuset", l.Cpuset != "", fmt.Sprintf("%q", l.Cpuset)},
		{"mem_high", l.MemHigh > 0, ""},
		{"swap", l.SwapSet, ""},
		{"pids", l.Pids > 0, fmt.Sprint(l.Pids)},
	} {
		reason, ok := why[k.key]
		switch {
		case !ok || !k.set:
		case k.val == "":
			w.add("limits.%s: %s", k.key, reason)
		default:
			w.add("limits.%s %s: %s", k.key, k.val, reason)
		}
	}
}

// nsNames lists the namespaces in as profiles name them.
func (ns *NS) names() []string {
	var out []string
	for _, n := range []struct {
		on   bool
		name string
	}{{ns.PID, "pid"}, {ns.Mount, "mount"}, {ns.Net, "net"}, {ns.UTS, "uts"}, {ns.IPC, "ipc"}, {ns.User, "user"}, {ns.Cgroup, "cgroup"}} {
		if n.on {
			out = append(out, n.name)
		}
	}
	return out
}

// hasMounts reports whether ns changes the file tree.
func (ns *NS) hasMounts() bool {
	return len(ns.RoBind) > 0 || len(ns.Bind) > 0 || len(ns.Tmpfs) > 0 || ns.Chroot != "" || ns.ReadOnlyRoot
}

// period is the CPU quota period in µs, rcon's default when unset.
func (l *Limits) period() uint64 {
	if l.CPUPeriodUS == 0 {
		return 100000
	}
	return l.CPUPeriodUS
}

// ioByKind returns the limits of one kind, ordered by device.
func (l *Limits) ioByKind(k IOKind) []IO {
	var out []IO
	for _, io := range l.IO {
		if io.Kind == k {
			out = append(out, io)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Major != out[j].Major {
			return out[i].Major < out[j].Major
		}
		return out[i].Minor < out[j].Minor
	})
	return out
}

// ioKeys are the profile keys of the IO kinds, for warnings.
var ioKeys = map[IOKind]string{ReadBPS: "io_read_bps", WriteBPS: "io_write_bps", ReadIOPS: "io_read_iops", WriteIOPS: "io_write_iops"}

// warnIO warns about every IO limit of in, for targets without throttles.
func warnIO(w *warner, l *Limits, target string) {
	for _, k := range []IOKind{ReadBPS, WriteBPS, ReadIOPS, WriteIOPS} {
		for _, io := range l.ioByKind(k) {
			w.add("limits.%s %d:%d = %d: %s has no block-I/O throttle", ioKeys[k], io.Major, io.Minor, io.Rate, target)
		}
	}
}

// size1024 writes bytes with the largest binary suffix that divides them
// exactly ("500M"), else as bytes: systemd, Slurm and Nomad read K, M, G,
// T as powers of 1024 there, and exact is what a limit must stay.
func size1024(n int64) string {
	for _, u := range []struct {
		s string
		v int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return fmt.Sprintf("%d%s", n/u.v, u.s)
		}
	}
	return fmt.Sprint(n)
}
