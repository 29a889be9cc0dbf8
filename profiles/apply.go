package profiles

import (
	"fmt"

	"rcon/cgroupfs"
	"rcon/nsjail"
	"rcon/spec"
)

// Layer returns p's settings as the profile layer of a run's spec
// (spec.Build puts the environment and the flags over it). Every value
// carries its file in From.
//
// Layer only fails if the system changed since Load (a device node named
// in an io_* key vanished).
func (p *Profile) Layer() (spec.Layer, error) {
	var s spec.Layer
	l, r, c := &p.Limits, &p.Run, &p.Caps
	lim := &s.Limits
	lim.CPU = opt(l.CPU)
	if l.CPUPeriodUS.Set {
		lim.CPUPeriod = spec.Val(uint64(l.CPUPeriodUS.V), l.CPUPeriodUS.From)
	}
	if l.CPUWeight.Set {
		lim.CPUWeight = spec.Val(uint64(l.CPUWeight.V), l.CPUWeight.From)
	}
	lim.Cpuset = opt(l.Cpuset)
	for _, m := range []struct {
		dst *spec.Opt[int64]
		v   Value[cgroupfs.Size]
	}{{&lim.Mem, l.Mem}, {&lim.MemHigh, l.MemHigh}, {&lim.Swap, l.Swap}} {
		if m.v.Set {
			*m.dst = spec.Val(int64(m.v.V), m.v.From)
		}
	}
	lim.Pids = opt(l.Pids)
	for _, t := range ioTables(l) {
		if !t.v.Set {
			continue
		}
		for _, dev := range sortedKeys(t.v.V) {
			io, err := cgroupfs.NewIOLimit(t.kind, dev, t.v.V[dev])
			if err != nil {
				return s, fmt.Errorf("%s: limits.%s: %w", t.v.From, t.name, err)
			}
			// Two names of one device ("/dev/sda", "8:0") write one throttle.
			lim.IO = spec.Val(spec.MergeIO(lim.IO.V, []cgroupfs.IOLimit{io}), t.v.From)
		}
	}

	if r.Name.Set && r.Shared.Set {
		return s, fmt.Errorf("%s: run.shared: name and shared are exclusive (one comes from an include)", r.Shared.From)
	}
	s.Argv = opt(r.Command)
	s.Name, s.Shared, s.Parent, s.Slice = opt(r.Name), opt(r.Shared), opt(r.Parent), opt(r.Slice)
	s.User, s.Group, s.Groups = opt(r.User), opt(r.Group), opt(r.Groups)
	s.WaitAll, s.Fit, s.Stats, s.StatsJSON = opt(r.WaitAll), opt(r.Fit), opt(r.Stats), opt(r.StatsJSON)

	if err := p.nsLayer(&s); err != nil {
		return s, err
	}
	if c.Keep.Set {
		// Non-nil even when empty: `keep = []` means "keep nothing".
		s.Keep = spec.Val(append([]string{}, c.Keep.V...), c.Keep.From)
	}
	s.Drop = opt(c.Drop)
	s.NoNewPrivs = opt(c.NoNewPrivs)
	return s, nil
}

func (p *Profile) nsLayer(s *spec.Layer) error {
	r := &p.Run
	if r.Unshare.Set {
		sel, err := nsjail.Parse(r.Unshare.V)
		if err != nil {
			return fmt.Errorf("%s: run.unshare: %w", r.Unshare.From, err)
		}
		s.Unshare = spec.Val(sel, r.Unshare.From)
	}
	s.Hostname, s.MapUser, s.Chroot, s.ReadOnlyRoot = opt(r.Hostname), opt(r.MapUser), opt(r.Chroot), opt(r.ReadOnly)
	s.Tmpfs = append([]string(nil), r.Tmpfs.V...)
	for _, b := range []struct {
		dst *[]nsjail.Bind
		v   Value[[]string]
	}{{&s.RoBind, r.RoBind}, {&s.Bind, r.Bind}} {
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

// opt is v as a layer's setting: a copy, so the profile is never shared
// with the spec made from it.
func opt[T any](v Value[T]) spec.Opt[T] {
	if !v.Set {
		return spec.Opt[T]{}
	}
	if l, ok := any(v.V).([]string); ok {
		return spec.Opt[T]{V: any(append([]string(nil), l...)).(T), Set: true, From: v.From}
	}
	return spec.Val(v.V, v.From)
}
