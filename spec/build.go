package spec

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"rcon/sdscope"

	"rcon/caps"
	"rcon/cgroupfs"
	"rcon/nsjail"
)

// Build makes the Spec of one run of tool from its layers, lowest first
// (defaults, profile, environment and flags), and validates it. An error
// is bad input: nothing has been created.
func Build(tool string, layers ...Layer) (*Spec, error) {
	l := Overlay(layers...)
	s := assemble(tool, &l)
	if err := Validate(s, &l); err != nil {
		return nil, err
	}
	return s, nil
}

// Assemble is the Spec the layers make, not validated: for describing
// settings (rcon profile export), never for running them.
func Assemble(tool string, layers ...Layer) *Spec {
	l := Overlay(layers...)
	return assemble(tool, &l)
}

func assemble(tool string, l *Layer) *Spec {
	s := &Spec{
		Tool:      tool,
		Argv:      l.Argv.V,
		Name:      l.Name.V,
		Shared:    l.Shared.V,
		Update:    l.Update.V,
		Parent:    l.Parent.V,
		Driver:    l.Driver.V,
		Slice:     l.Slice.V,
		Resources: l.Limits.Resources(),
		WaitAll:   l.WaitAll.V,
		Fit:       l.Fit.V,
		User:      l.User.V,
		Group:     l.Group.V,
		Groups:    l.Groups.V,
		Stats:     l.Stats.V,
		StatsJSON: l.StatsJSON.V,
	}
	if l.Keep.Set || l.Drop.Set || l.NoNewPrivs.Set {
		s.Caps = &caps.Spec{Keep: l.Keep.V, KeepSet: l.Keep.Set, Drop: l.Drop.V, AllowNewPrivs: l.NoNewPrivs.Set && !l.NoNewPrivs.V}
		if l.Keep.Set && s.Caps.Keep == nil {
			s.Caps.Keep = []string{} // `keep = []`, `--keep none`: keep nothing
		}
	}
	if l.Unshare.Set || l.Hostname.Set || l.MapUser.Set || l.Chroot.Set || l.ReadOnlyRoot.Set ||
		len(l.RoBind) > 0 || len(l.Bind) > 0 || len(l.Tmpfs) > 0 {
		ns := l.Unshare.V
		ns.Hostname, ns.MapUser, ns.Chroot, ns.ReadOnlyRoot = l.Hostname.V, l.MapUser.V, l.Chroot.V, l.ReadOnlyRoot.V
		ns.RoBind, ns.Bind, ns.Tmpfs = l.RoBind, l.Bind, l.Tmpfs
		s.NS = &ns
	}
	if tool == "capcon" {
		// capcon makes a group only when a profile asks for limits, and
		// always sets no_new_privs unless told not to: a setuid binary it
		// runs must not gain what capcon took away.
		s.NoCgroup = s.Resources.Empty()
		if s.Caps == nil {
			s.Caps = &caps.Spec{}
		}
	}
	return s
}

// Validate holds the rules between settings, checked on the overlaid
// result: each setting's own bounds were checked where it was read (a
// flag, a profile key), against cgroupfs's bounds. l is where the
// settings came from, for messages. It normalizes s.NS (what its mounts
// and host name imply).
func Validate(s *Spec, l *Layer) error {
	if err := CheckQuota(&l.Limits); err != nil {
		return err
	}
	if s.Caps != nil {
		if err := s.Caps.Validate(); err != nil {
			return err // names the flag and the capability itself
		}
	}
	if s.NS != nil {
		if err := s.NS.Normalize(); err != nil {
			return err
		}
	}
	if len(s.Argv) == 0 {
		return fmt.Errorf("no command given: %s [flags] -- COMMAND [ARGS...]", s.ToolName())
	}
	if s.Shared != "" && s.WaitAll {
		return errors.New("--shared and --wait-all are exclusive: a shared group is emptied by its last member out")
	}
	if s.Update && s.Shared == "" {
		return errors.New("--update needs --shared")
	}
	if err := validateDriver(s, l); err != nil {
		return err
	}
	return nil
}

// CheckQuota refuses a CPU quota below the kernel's minimum before
// anything is created. The percentage and the period may each come from a
// flag or from a profile (which checked its own pair when it was loaded),
// so the message names the flags that were given and says where the other
// value came from, never a flag nobody typed.
func CheckQuota(l *Limits) error {
	if l.CPU.V <= 0 {
		return nil
	}
	period := l.CPUPeriod.V
	if period == 0 {
		period = cgroupfs.DefaultCPUPeriodUS
	}
	q, err := cgroupfs.CheckCPUQuota(l.CPU.V, period)
	if err == nil {
		return nil
	}
	cpu := fmt.Sprintf("the profile's cpu = %v", l.CPU.V)
	if l.CPU.FromFlag() {
		cpu = fmt.Sprintf("--cpu %v", l.CPU.V)
	}
	per := fmt.Sprintf("the default period of %d µs", period)
	switch {
	case l.CPUPeriod.FromFlag():
		per = fmt.Sprintf("--cpu-period %d", period)
	case l.CPUPeriod.V != 0:
		per = fmt.Sprintf("the profile's cpu_period_us = %d", period)
	}
	what := cpu + " with " + per
	if l.CPUPeriod.FromFlag() && !l.CPU.FromFlag() {
		what = per + " with " + cpu
	}
	return fmt.Errorf("%s: a quota of %g µs per %d µs period, below the kernel's minimum of %d µs",
		what, q, period, cgroupfs.MinCPUQuotaUS)
}

// Jail is a copy of the namespaces s asks for (nil: none), for the
// launcher to add to without touching s; Validate normalized them.
func (s *Spec) Jail() *nsjail.Spec {
	if s.NS == nil {
		return nil
	}
	ns := *s.NS
	return &ns
}

// Drivers are the values of --driver (RCON_DRIVER).
var Drivers = []string{"cgroupfs", "systemd", "auto"}

// validateDriver: a known driver; a slice only for a scope (and a valid
// one); --parent names a cgroupfs group, so not with the systemd driver.
func validateDriver(s *Spec, l *Layer) error {
	if s.Driver != "" && !slices.Contains(Drivers, s.Driver) {
		return fmt.Errorf("%s: unknown driver %q (cgroupfs, systemd or auto)", from(l.Driver.From, "--driver", "run.driver"), s.Driver)
	}
	if s.Slice != "" {
		if err := sdscope.CheckSlice(s.Slice); err != nil {
			return fmt.Errorf("%s: %w", from(l.Slice.From, "--slice", "run.slice"), err)
		}
		// A slice is used where the run is a scope and unused elsewhere
		// (a profile, a wrapper script, is for every host); only a
		// --slice typed beside --driver cgroupfs is a mistake.
		if l.Slice.FromFlag() && s.Driver == "cgroupfs" {
			return fmt.Errorf("%s is for the systemd driver, not --driver cgroupfs", from(l.Slice.From, "--slice", "run.slice"))
		}
	}
	if s.Driver == "systemd" && s.Parent != "" {
		return fmt.Errorf("%s names a cgroupfs group: not with --driver systemd (use --slice)", from(l.Parent.From, "--parent", "run.parent"))
	}
	return nil
}

// from names the source of a setting: the flag, or the profile it came from.
func from(src, flag, key string) string {
	if src == "" || strings.HasPrefix(src, "--") {
		return flag
	}
	return src + ": " + key
}
