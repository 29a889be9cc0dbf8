package spec

import (
	"reflect"
	"strings"

	"rcon/cgroupfs"
	"rcon/nsjail"
)

// Opt is one optional setting of a Layer. Set tells an absent setting
// from a zero value (`--swap 0` and `keep = []` mean something); From
// names its source for messages: a flag ("--cpu") or a profile file.
type Opt[T any] struct {
	V    T
	Set  bool
	From string
}

// Val is a set Opt.
func Val[T any](v T, from string) Opt[T] { return Opt[T]{V: v, Set: true, From: from} }

// FromFlag tells whether the setting was given on the command line (or in
// the environment variable of a flag).
func (o Opt[T]) FromFlag() bool { return strings.HasPrefix(o.From, "--") }

// Limits are a layer's cgroup limits.
type Limits struct {
	CPU       Opt[float64]
	CPUPeriod Opt[uint64]
	CPUWeight Opt[uint64]
	Cpuset    Opt[string]
	Mem       Opt[int64]
	MemHigh   Opt[int64]
	Swap      Opt[int64]
	Pids      Opt[int64]
	// IO throttles merge per device and kind: a layer's throttle of a
	// device replaces the one below for that device only, so a flag that
	// eases /dev/sda leaves a profile's /dev/sdb throttled.
	IO Opt[[]cgroupfs.IOLimit]
}

// Layer is one source's settings, every one optional.
type Layer struct {
	Argv      Opt[[]string]
	Name      Opt[string]
	Shared    Opt[string]
	Update    Opt[bool]
	Parent    Opt[string]
	Driver    Opt[string]
	Slice     Opt[string]
	WaitAll   Opt[bool]
	Fit       Opt[bool]
	Stats     Opt[bool]
	StatsJSON Opt[string]

	User   Opt[string]
	Group  Opt[string]
	Groups Opt[[]string]

	Limits Limits

	// Keep and Drop are two ways of saying one thing: a layer that sets
	// either replaces both of the layer below.
	Keep       Opt[[]string]
	Drop       Opt[[]string]
	NoNewPrivs Opt[bool]

	// Unshare holds the namespaces picked (its seven booleans only); it
	// replaces the selection below. Mounts add to those below.
	Unshare      Opt[nsjail.Spec]
	Hostname     Opt[string]
	MapUser      Opt[bool]
	Chroot       Opt[string]
	ReadOnlyRoot Opt[bool]
	RoBind       []nsjail.Bind
	Bind         []nsjail.Bind
	Tmpfs        []string
}

// Overlay returns the settings of the layers, later ones winning: the one
// place precedence is decided. It changes none of them. A setting a layer
// sets replaces the one below, except:
//   - name and shared are one choice (a run's own named group, or a shared
//     one), and so are keep and drop: setting either replaces both;
//   - mounts (RoBind, Bind, Tmpfs) add to those below;
//   - I/O throttles merge per device and kind (OverlayLimits).
func Overlay(layers ...Layer) Layer {
	var out Layer
	for _, l := range layers {
		if l.Name.Set || l.Shared.Set {
			out.Name, out.Shared = Opt[string]{}, Opt[string]{}
		}
		if l.Keep.Set || l.Drop.Set {
			out.Keep, out.Drop = Opt[[]string]{}, Opt[[]string]{}
		}
		limits := OverlayLimits(out.Limits, l.Limits)
		overSet(&out, &l)
		out.Limits = limits
		out.RoBind = append(out.RoBind[:len(out.RoBind):len(out.RoBind)], l.RoBind...)
		out.Bind = append(out.Bind[:len(out.Bind):len(out.Bind)], l.Bind...)
		out.Tmpfs = append(out.Tmpfs[:len(out.Tmpfs):len(out.Tmpfs)], l.Tmpfs...)
	}
	return out
}

// OverlayLimits returns base with every limit top sets written over it,
// I/O throttles merged per device and kind.
func OverlayLimits(base, top Limits) Limits {
	out := base
	overSet(&out, &top)
	if top.IO.Set {
		out.IO = Val(MergeIO(base.IO.V, top.IO.V), top.IO.From)
	}
	return out
}

// overSet writes every Opt field of *top that is set over the same field
// of *dst (a Layer or Limits): walked by reflection so that a setting
// added to the types cannot be forgotten here.
func overSet[T any](dst, top *T) {
	d, t := reflect.ValueOf(dst).Elem(), reflect.ValueOf(top).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Kind() != reflect.Struct {
			continue
		}
		if set := f.FieldByName("Set"); set.IsValid() && set.Kind() == reflect.Bool && set.Bool() {
			d.Field(i).Set(f)
		}
	}
}

// MergeIO returns base with top's throttles in place of base's for the
// same device and kind, and top's others added after.
func MergeIO(base, top []cgroupfs.IOLimit) []cgroupfs.IOLimit {
	out := append([]cgroupfs.IOLimit(nil), base...)
next:
	for _, t := range top {
		for i, b := range out {
			if b.Kind == t.Kind && b.Major == t.Major && b.Minor == t.Minor {
				out[i] = t
				continue next
			}
		}
		out = append(out, t)
	}
	return out
}

// LimitsOf is r as a layer's limits, from: every limit r sets (a zero
// means none, as in Resources).
func LimitsOf(r cgroupfs.Resources, from string) Limits {
	var l Limits
	if r.CPUPercent > 0 {
		l.CPU = Val(r.CPUPercent, from)
	}
	if r.CPUPeriod > 0 {
		l.CPUPeriod = Val(r.CPUPeriod, from)
	}
	if r.CPUWeight > 0 {
		l.CPUWeight = Val(r.CPUWeight, from)
	}
	if r.Cpuset != "" {
		l.Cpuset = Val(r.Cpuset, from)
	}
	if r.Mem > 0 {
		l.Mem = Val(r.Mem, from)
	}
	if r.MemHigh > 0 {
		l.MemHigh = Val(r.MemHigh, from)
	}
	if r.SwapSet {
		l.Swap = Val(r.Swap, from)
	}
	if r.Pids > 0 {
		l.Pids = Val(r.Pids, from)
	}
	if len(r.IO) > 0 {
		l.IO = Val(r.IO, from)
	}
	return l
}

// Resources are the limits as a group takes them.
func (l *Limits) Resources() cgroupfs.Resources {
	var r cgroupfs.Resources
	r.CPUPercent = l.CPU.V
	r.CPUPeriod = l.CPUPeriod.V
	r.CPUWeight = l.CPUWeight.V
	r.Cpuset = l.Cpuset.V
	r.Mem = l.Mem.V
	r.MemHigh = l.MemHigh.V
	r.Swap, r.SwapSet = l.Swap.V, l.Swap.Set
	r.Pids = l.Pids.V
	r.IO = l.IO.V
	return r
}
