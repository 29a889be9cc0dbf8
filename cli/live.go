package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kong"

	"rcon/cgroupfs"
	"rcon/registry"
	"rcon/sdscope"
	"rcon/spec"
)

// AttachCmd is `rcon attach [limits] [--name NAME] PID...`.
type AttachCmd struct {
	Limits `embed:""`
	Name   string `name:"name" aliases:"shared" help:"Group to move them into: an existing group (shared, or a live run's), or a new shared group of that name (default: a new group rcon-attach-PID-START)."`
	Parent string `name:"parent" env:"RCON_PARENT" placeholder:"PATH" help:"Parent of a new group: relative (jobs) beneath rcon's own cgroup, absolute (/jobs) from the cgroup root (default: rcon beneath its own cgroup on v1, /rcon on v2)."`
	Driver string `name:"driver" env:"RCON_DRIVER" placeholder:"DRIVER" help:"What holds a new group: auto (the default: a systemd scope where systemd runs, as for a run), systemd or cgroupfs. An existing group is joined the way it was made."`
	Update bool   `name:"update" help:"Write the given limits over those of an existing shared group (default: keep them and warn)."`
	PIDs   []int  `arg:"" name:"pid" help:"Processes to move, with all their threads."`
}

// Run moves the processes and returns at once: the group is then kept for
// them (they are its members) and removed once they are gone and it is
// empty, by the next rcon run, leave or gc.
func (c *AttachCmd) Run(tool string, ctx *kong.Context) int {
	lim, err := c.Limits.layer(explicit(ctx))
	if err != nil {
		return Exit(tool, err)
	}
	if err := spec.CheckQuota(&lim); err != nil {
		return Exit(tool, usage("%v", err))
	}
	r := lim.Resources()
	if c.Name != "" {
		if err := cgroupfs.ValidName(c.Name); err != nil {
			return Exit(tool, usage("--name: %v", err))
		}
	}
	if !slices.Contains(spec.Drivers, c.Driver) && c.Driver != "" {
		return Exit(tool, usage("--driver: unknown driver %q (cgroupfs, systemd or auto)", c.Driver))
	}
	if c.Driver == "systemd" && c.Parent != "" {
		return Exit(tool, usage("--parent is for the cgroupfs driver, not --driver systemd"))
	}
	_, _ = registry.GC(false, 32)
	scope := c.Driver == "systemd"
	if c.Driver == "" || c.Driver == "auto" {
		scope, _ = sdscope.Auto(c.Parent)
	}
	if d, ok := registry.DriverOf(c.Name); c.Name != "" && ok {
		scope = d == registry.DriverSystemd
	}
	var (
		name string
		info registry.JoinInfo
		errs []error
	)
	if scope {
		name, info, errs, err = registry.AttachScope(sdscope.DefaultSlice, c.Name, &r, c.PIDs, c.Update)
	} else {
		var g *cgroupfs.Group
		if g, info, errs, err = registry.Attach(c.Parent, c.Name, &r, c.PIDs, c.Update); err == nil {
			name = g.Name
		}
	}
	for _, e := range errs {
		fmt.Fprintf(os.Stderr, "%s: attach: %v\n", tool, e)
	}
	if err != nil {
		return Exit(tool, err)
	}
	if w := info.ParentWarning(name); w != "" {
		fmt.Fprintf(os.Stderr, "%s: %s\n", tool, w)
	}
	if info.Kept {
		fmt.Fprintf(os.Stderr, "%s: warning: group %s keeps its limits (%s), not the ones asked for (--update changes them)\n",
			tool, name, cgroupfs.LimitsText(&info.Limits))
	}
	if info.PerRun {
		fmt.Fprintf(os.Stderr, "%s: note: %s is the group of a single run; the processes end with that run\n", tool, name)
	}
	fmt.Printf("%s %s\n", name, cgroupfs.LimitsText(&info.Limits))
	if len(errs) > 0 {
		return 1
	}
	return 0
}

// SetCmd is `rcon set NAME [limits]`.
type SetCmd struct {
	Limits `embed:""`
	Force  bool   `name:"force" help:"Lower a memory limit below the group's current usage anyway (v2: reclaim, then the OOM killer)."`
	Name   string `arg:"" help:"The group (rcon ps lists them)."`
}

// Run changes the limits the flags set, leaves the others, and records
// them so rcon ps shows them. A memory limit below the current usage is
// refused with status 1 (see registry.SetLimits).
func (c *SetCmd) Run(tool string, ctx *kong.Context) int {
	set := explicit(ctx)
	lim, err := c.Limits.layer(set)
	if err != nil {
		return Exit(tool, err)
	}
	r := lim.Resources()
	if r.Empty() && !set["cpu-period"] {
		return Exit(tool, usage("set %s: give at least one limit (--cpu, --mem, --pids, ...)", c.Name))
	}
	rec, err := registry.SetLimits(c.Name, &r, c.Force)
	if errors.Is(err, registry.ErrBelowUsage) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tool, err)
		return 1
	}
	if err != nil {
		return Exit(tool, err)
	}
	fmt.Printf("%s %s\n", rec.Name, cgroupfs.LimitsText(&rec.Limits))
	return 0
}

// memberText is a short summary of a shared group's members for rcon ps.
func memberText(ms []psMember) string {
	var p []string
	for _, m := range ms {
		s := fmt.Sprint(m.PID)
		if m.Attached {
			s += "(attached)"
		}
		if !m.Alive {
			s += "(gone)"
		}
		p = append(p, s)
	}
	return strings.Join(p, " ")
}
