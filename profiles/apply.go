package profiles

import (
	"fmt"

	"rcon/caps"
	"rcon/cgroupfs"
	"rcon/launch"
	"rcon/nsjail"
)

// Apply writes every setting of p into s, leaving whatever p does not set
// as it was. The CLI calls it on a Spec holding the built-in defaults, then
// applies the environment and the flags the user gave, so the precedence is
// flags > environment > profile > defaults.
//
// Apply only fails if the system changed since Load (a device node named in
// an io_* key vanished).
func (p *Profile) Apply(s *launch.Spec) error {
	l, r, c := &p.Limits, &p.Run, &p.Caps
	res := &s.Resources
	set(&res.CPUPercent, l.CPU)
	if l.CPUPeriodUS.Set {
		res.CPUPeriod = uint64(l.CPUPeriodUS.V)
	}
	if l.CPUWeight.Set {
		res.CPUWeight = uint64(l.CPUWeight.V)
	}
	set(&res.Cpuset, l.Cpuset)
	if l.Mem.Set {
		res.Mem = int64(l.Mem.V)
	}
	if l.MemHigh.Set {
		res.MemHigh = int64(l.MemHigh.V)
	}
	if l.Swap.Set {
		res.Swap, res.SwapSet = int64(l.Swap.V), true
	}
	set(&res.Pids, l.Pids)
	for _, t := range ioTables(l) {
		if !t.v.Set {
			continue
		}
		for _, dev := range sortedKeys(t.v.V) {
			lim, err := cgroupfs.NewIOLimit(t.kind, dev, t.v.V[dev])
			if err != nil {
				return fmt.Errorf("%s: limits.%s: %w", t.v.From, t.name, err)
			}
			res.IO = putIO(res.IO, lim)
		}
	}

	if r.Command.Set {
		s.Argv = append([]string(nil), r.Command.V...)
	}
	set(&s.Name, r.Name)
	set(&s.Shared, r.Shared)
	if s.Name != "" && s.Shared != "" {
		return fmt.Errorf("%s: run.shared: name and shared are exclusive (one comes from an include)", r.Shared.From)
	}
	set(&s.Parent, r.Parent)
	set(&s.User, r.User)
	set(&s.Group, r.Group)
	if r.Groups.Set {
		s.Groups = append([]string(nil), r.Groups.V...)
	}
	set(&s.WaitAll, r.WaitAll)
	set(&s.Fit, r.Fit)
	set(&s.Stats, r.Stats)
	set(&s.StatsJSON, r.StatsJSON)

	if err := p.applyNS(s); err != nil {
		return err
	}

	if c.Keep.Set || c.Drop.Set || c.NoNewPrivs.Set {
		if s.Caps == nil {
			s.Caps = &caps.Spec{}
		}
		// keep and drop are alternatives: the profile's choice replaces
		// the defaults' rather than combining into a conflict.
		if c.Keep.Set {
			// Non-nil even when empty: `keep = []` means "keep nothing".
			s.Caps.Keep = append([]string{}, c.Keep.V...)
			s.Caps.KeepSet = true
			s.Caps.Drop = nil
		}
		if c.Drop.Set {
			s.Caps.Drop = append([]string(nil), c.Drop.V...)
			s.Caps.Keep, s.Caps.KeepSet = nil, false
		}
		if c.NoNewPrivs.Set {
			s.Caps.AllowNewPrivs = !c.NoNewPrivs.V
		}
	}
	return nil
}

func (p *Profile) applyNS(s *launch.Spec) error {
	r := &p.Run
	if !(r.Unshare.Set || r.Hostname.Set || r.MapUser.Set || r.RoBind.Set || r.Bind.Set || r.Tmpfs.Set || r.Chroot.Set || r.ReadOnly.Set) {
		return nil
	}
	if s.NS == nil {
		s.NS = &nsjail.Spec{}
	}
	ns := s.NS
	if r.Unshare.Set {
		// The profile's list replaces the defaults' selection.
		sel, err := nsjail.Parse(r.Unshare.V)
		if err != nil {
			return fmt.Errorf("%s: run.unshare: %w", r.Unshare.From, err)
		}
		ns.PID, ns.Mount, ns.Net, ns.UTS, ns.IPC, ns.User, ns.Cgroup =
			sel.PID, sel.Mount, sel.Net, sel.UTS, sel.IPC, sel.User, sel.Cgroup
	}
	set(&ns.Hostname, r.Hostname)
	set(&ns.MapUser, r.MapUser)
	set(&ns.Chroot, r.Chroot)
	set(&ns.ReadOnlyRoot, r.ReadOnly)
	if r.Tmpfs.Set {
		ns.Tmpfs = append([]string(nil), r.Tmpfs.V...)
	}
	for _, b := range []struct {
		dst *[]nsjail.Bind
		v   Value[[]string]
	}{{&ns.RoBind, r.RoBind}, {&ns.Bind, r.Bind}} {
		if !b.v.Set {
			continue
		}
		*b.dst = nil
		for _, arg := range b.v.V {
			bd, err := nsjail.ParseBind(arg)
			if err != nil {
				return fmt.Errorf("%s: %w", b.v.From, err)
			}
			*b.dst = append(*b.dst, bd)
		}
	}
	return nil
}

func set[T any](dst *T, v Value[T]) {
	if v.Set {
		*dst = v.V
	}
}

// putIO replaces the limit of the same device and kind, or appends: a
// profile throttle replaces a default one instead of writing both.
func putIO(l []cgroupfs.IOLimit, lim cgroupfs.IOLimit) []cgroupfs.IOLimit {
	for i, e := range l {
		if e.Major == lim.Major && e.Minor == lim.Minor && e.Kind == lim.Kind {
			l[i] = lim
			return l
		}
	}
	return append(l, lim)
}
