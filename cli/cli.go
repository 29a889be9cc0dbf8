// Package cli holds the command-line options rcon and capcon share and
// turns them into the flags' layer of a run's spec.Spec, which spec.Build
// puts over the profile's. Precedence: flags > environment > profile >
// built-in defaults.
package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kong"

	"rcon/cgroupfs"
	"rcon/launch"
	"rcon/spec"
)

// Limits are the cgroup flags (rcon only).
type Limits struct {
	CPU         float64        `name:"cpu" placeholder:"PCT" help:"CPU quota in percent of one CPU (20 = a fifth of a CPU, 150 = one and a half)."`
	CPUPeriod   int64          `name:"cpu-period" placeholder:"US" help:"CPU quota period in microseconds (default 100000)."`
	CPUWeight   int64          `name:"cpu-weight" placeholder:"1-10000" help:"Relative CPU weight (v2 cpu.weight; v1 cpu.shares)."`
	Cpuset      string         `name:"cpuset" placeholder:"CPUS" help:"CPUs the command may run on, e.g. 0-1,3."`
	Mem         cgroupfs.Size  `name:"mem" aliases:"memory" placeholder:"SIZE" help:"Hard memory limit (500M, 2G); the OOM killer acts beyond it."`
	MemHigh     cgroupfs.Size  `name:"mem-high" placeholder:"SIZE" help:"Memory throttling threshold (v2 memory.high, v1 soft limit)."`
	Swap        *cgroupfs.Size `name:"swap" placeholder:"SIZE" help:"Swap allowed on top of --mem (0 = none)."`
	Pids        int64          `name:"pids" placeholder:"N" help:"Maximum number of processes and threads."`
	IOReadBPS   []string       `name:"io-read-bps" placeholder:"DEV:RATE" help:"Read bytes/s for a device (/dev/sda:20M or 8:0:20M); repeatable."`
	IOWriteBPS  []string       `name:"io-write-bps" placeholder:"DEV:RATE" help:"Write bytes/s for a device; repeatable."`
	IOReadIOPS  []string       `name:"io-read-iops" placeholder:"DEV:N" help:"Read operations/s for a device; repeatable."`
	IOWriteIOPS []string       `name:"io-write-iops" placeholder:"DEV:N" help:"Write operations/s for a device; repeatable."`
	Read        string         `name:"read" placeholder:"RATE" help:"Read bytes/s for the device --dev names (the short form of --io-read-bps)."`
	Write       string         `name:"write" placeholder:"RATE" help:"Write bytes/s for the device --dev names (the short form of --io-write-bps)."`
	Dev         string         `name:"dev" placeholder:"DEV" help:"The device --read and --write throttle."`
}

// Group are the group placement flags (rcon only).
type Group struct {
	Name      string `name:"name" help:"Name of the group (default: unique per run)."`
	Shared    string `name:"shared" placeholder:"NAME" help:"Run in the group NAME shared with concurrent runs: the first creates it, the others join it, the last one out removes it."`
	Update    bool   `name:"update" help:"With --shared: write this run's limits over those of an existing shared group (default: keep them and warn)."`
	Parent    string `name:"parent" env:"RCON_PARENT" placeholder:"PATH" help:"Parent group: relative (jobs) beneath rcon's own cgroup, absolute (/jobs) from the cgroup root (default: rcon beneath its own cgroup on v1, /rcon on v2)."`
	Driver    string `name:"driver" env:"RCON_DRIVER" placeholder:"DRIVER" help:"What holds the group: auto (the default: systemd on a host with systemd as PID 1, the unified hierarchy and a manager to reach, unless --parent is given; else cgroupfs), systemd (a transient scope rcon-NAME.scope of the system or your user manager, over D-Bus) or cgroupfs (rcon's own cgroup directories)."`
	Slice     string `name:"slice" placeholder:"SLICE" help:"When the group is a systemd scope: the slice it goes in (default rcon.slice)."`
	WaitAll   bool   `name:"wait-all" negatable:"" help:"When the command exits, wait until its group is empty instead of ending what is left."`
	Fit       bool   `name:"fit" negatable:"" help:"Tell the command the CPUs and memory its limits allow, not the host's: GOMAXPROCS, OMP_NUM_THREADS, PYTHON_CPU_COUNT, JAVA_TOOL_OPTIONS, and its own /proc/meminfo and /sys/devices/system/cpu/online (implies --unshare mount)."`
	Stats     bool   `name:"stats" negatable:"" help:"Print CPU, throttling, memory, OOM and I/O figures at exit."`
	StatsJSON string `name:"stats-json" placeholder:"FILE" help:"Append the same figures as one JSON line to FILE (- for standard error)."`
}

// Common are the flags both tools take.
type Common struct {
	Profile       string   `name:"profile" placeholder:"NAME" help:"Load settings from a TOML profile (NAME in $RCON_PROFILE_PATH or /etc/rcon/profiles, or a file); flags override it."`
	Command       string   `name:"command" placeholder:"SHELL" help:"Run this string with /bin/sh -c (the original rcon's form)."`
	User          string   `name:"user" short:"u" help:"Run the command as this user (name or uid)."`
	GroupID       string   `name:"group" short:"g" help:"Run the command with this primary group."`
	Groups        []string `name:"groups" placeholder:"LIST" help:"Supplementary groups (default: the user's own)."`
	Keep          []string `name:"keep" placeholder:"CAPS" help:"Keep only these capabilities (net_bind_service,... or none); all others are dropped from every set."`
	Drop          []string `name:"drop" placeholder:"CAPS" help:"Drop these capabilities (or all) from every set."`
	NoNewPrivs    bool     `name:"no-new-privs" help:"Set no_new_privs: setuid and file capabilities grant nothing (default with --keep/--drop)."`
	AllowNewPrivs bool     `name:"allow-new-privs" help:"Do not set no_new_privs."`
	Unshare       []string `name:"unshare" placeholder:"NS" help:"Unshare namespaces: pid,mount,net,uts,ipc,user,cgroup or all."`
	Hostname      string   `name:"hostname" help:"Host name inside (implies --unshare uts)."`
	MapUser       bool     `name:"map-user" help:"In the user namespace, map the caller to itself instead of root (implies --unshare user)."`
	RoBind        []string `name:"ro-bind" placeholder:"SRC[:DST]" help:"Bind SRC read-only on DST (implies --unshare mount)."`
	Bind          []string `name:"bind" placeholder:"SRC[:DST]" help:"Bind SRC on DST (implies --unshare mount)."`
	Tmpfs         []string `name:"tmpfs" placeholder:"DIR" help:"Mount an empty tmpfs on DIR (implies --unshare mount)."`
	Chroot        string   `name:"chroot" placeholder:"DIR" help:"Make DIR the root (pivot_root; implies --unshare mount)."`
	ReadOnlyRoot  bool     `name:"ro-root" help:"Make the whole file tree read-only, every mount in it; --tmpfs and --bind on top stay writable (implies --unshare mount)."`
	Args          []string `arg:"" optional:"" passthrough:"" name:"command" help:"The command and its arguments."`
}

// Usage is a bad-input error; the tools exit 125 on it.
type Usage struct{ Err error }

func (u *Usage) Error() string { return u.Err.Error() }

func usage(format string, a ...any) error { return &Usage{fmt.Errorf(format, a...)} }

// explicit lists the flags given on the command line (or from the
// environment), which override a profile.
func explicit(ctx *kong.Context) map[string]bool {
	set := map[string]bool{}
	for _, p := range ctx.Path {
		if p.Flag != nil {
			set[p.Flag.Name] = true
		}
	}
	for _, f := range ctx.Flags() {
		for _, e := range f.Envs {
			if _, ok := os.LookupEnv(e); ok {
				set[f.Name] = true
			}
		}
	}
	return set
}

// argv builds the command line: the positional arguments (kong keeps a
// literal "--" at their head), or sh -c for --command.
func (c *Common) argv() ([]string, error) {
	args := c.Args
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if c.Command != "" {
		if len(args) > 0 {
			return nil, usage("--command and a command after it are exclusive")
		}
		return []string{"/bin/sh", "-c", c.Command}, nil
	}
	return args, nil
}

// layer adds the command and the identity, capability and namespace
// flags that were set to l.
func (c *Common) layer(l *spec.Layer, set map[string]bool) error {
	argv, err := c.argv()
	if err != nil {
		return err
	}
	if len(argv) > 0 {
		l.Argv = spec.Val(argv, "--")
	}
	l.User, l.Group = flag(set, "user", c.User), flag(set, "group", c.GroupID)
	l.Groups = flag(set, "groups", splitList(c.Groups))
	if err := c.capsLayer(l, set); err != nil {
		return err
	}
	return c.nsLayer(l, set)
}

// layer returns the limits that were set, each checked against its bound
// (cgroupfs/bounds.go, the one the profiles use). The CPU quota, which
// needs the percentage and the period wherever they come from, is checked
// by spec.Validate (a run) or on the group's merged limits (rcon set).
func (l *Limits) layer(set map[string]bool) (spec.Limits, error) {
	var out spec.Limits
	for _, c := range []struct {
		flag string
		err  func() error
	}{
		{"cpu", func() error { return cgroupfs.CheckCPUPercent(l.CPU) }},
		{"cpu-period", func() error { return cgroupfs.CheckCPUPeriod(l.CPUPeriod) }},
		{"cpu-weight", func() error { return cgroupfs.CheckCPUWeight(l.CPUWeight) }},
		{"mem", func() error { return cgroupfs.CheckMemLimit(int64(l.Mem)) }},
		{"mem-high", func() error { return cgroupfs.CheckMemLimit(int64(l.MemHigh)) }},
		{"pids", func() error { return cgroupfs.CheckPids(l.Pids) }},
	} {
		if set[c.flag] {
			if err := c.err(); err != nil {
				return out, usage("--%s: %v", c.flag, err)
			}
		}
	}
	out.CPU = flag(set, "cpu", l.CPU)
	out.CPUPeriod = flag(set, "cpu-period", uint64(l.CPUPeriod))
	out.CPUWeight = flag(set, "cpu-weight", uint64(l.CPUWeight))
	out.Cpuset = flag(set, "cpuset", l.Cpuset)
	out.Mem = flag(set, "mem", int64(l.Mem))
	out.MemHigh = flag(set, "mem-high", int64(l.MemHigh))
	if l.Swap != nil {
		out.Swap = flag(set, "swap", int64(*l.Swap))
	}
	out.Pids = flag(set, "pids", l.Pids)
	var io []cgroupfs.IOLimit
	for _, f := range []struct {
		flag string
		kind cgroupfs.IOKind
		vals []string
	}{
		{"io-read-bps", cgroupfs.ReadBPS, l.IOReadBPS}, {"io-write-bps", cgroupfs.WriteBPS, l.IOWriteBPS},
		{"io-read-iops", cgroupfs.ReadIOPS, l.IOReadIOPS}, {"io-write-iops", cgroupfs.WriteIOPS, l.IOWriteIOPS},
	} {
		if !set[f.flag] {
			continue
		}
		for _, v := range f.vals {
			lim, err := cgroupfs.ParseIOLimit(f.kind, v)
			if err != nil {
				return out, usage("--%s: %v", f.flag, err)
			}
			io = spec.MergeIO(io, []cgroupfs.IOLimit{lim})
		}
	}
	if l.Read != "" || l.Write != "" {
		if l.Dev == "" {
			return out, usage("--read/--write need --dev DEV")
		}
		for _, rw := range []struct {
			flag, rate string
			kind       cgroupfs.IOKind
		}{{"read", l.Read, cgroupfs.ReadBPS}, {"write", l.Write, cgroupfs.WriteBPS}} {
			if rw.rate == "" {
				continue
			}
			lim, err := cgroupfs.NewIOLimit(rw.kind, l.Dev, rw.rate)
			if err != nil {
				return out, usage("--%s/--dev: %v", rw.flag, err)
			}
			io = spec.MergeIO(io, []cgroupfs.IOLimit{lim})
		}
	} else if l.Dev != "" {
		return out, usage("--dev needs --read or --write")
	}
	if io != nil {
		out.IO = spec.Val(io, "--io")
	}
	return out, nil
}

// layer adds the placement and output flags that were set to l.
func (g *Group) layer(l *spec.Layer, set map[string]bool) error {
	if set["name"] && set["shared"] {
		return usage("--name and --shared are exclusive")
	}
	if set["name"] {
		if err := cgroupfs.ValidName(g.Name); err != nil {
			return usage("--name: %v", err)
		}
		l.Name = flag(set, "name", g.Name)
	}
	if set["shared"] {
		if err := cgroupfs.ValidName(g.Shared); err != nil {
			return usage("--shared: %v", err)
		}
		l.Shared = flag(set, "shared", g.Shared)
	}
	l.Update, l.WaitAll, l.Fit, l.Stats = flag(set, "update", g.Update), flag(set, "wait-all", g.WaitAll), flag(set, "fit", g.Fit), flag(set, "stats", g.Stats)
	l.Parent, l.StatsJSON = flag(set, "parent", g.Parent), flag(set, "stats-json", g.StatsJSON)
	l.Driver, l.Slice = flag(set, "driver", g.Driver), flag(set, "slice", g.Slice)
	return nil
}

// flag is the setting of a flag, set only when the flag was given (on the
// command line or in its environment variable).
func flag[T any](set map[string]bool, name string, v T) spec.Opt[T] {
	if !set[name] {
		return spec.Opt[T]{}
	}
	return spec.Val(v, "--"+name)
}

// splitList flattens repeated and comma-separated values.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// Exit prints err the way both tools do and returns the exit status.
func Exit(tool string, err error) int { return launch.Exit(tool, err) }
