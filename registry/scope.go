package registry

import (
	"errors"
	"fmt"
	"os"

	"rcon/cgroupfs"
	"rcon/sdscope"
)

// DriverSystemd marks the record of a transient scope (sdscope).
const DriverSystemd = "systemd"

// ClaimScope claims rec as the record of the scope of name, before the
// scope exists (as Create claims before any directory is made): a crash
// at any point leaves a record that GC can act on.
func ClaimScope(name, slice string, m sdscope.Manager, r *cgroupfs.Resources, rec *Record) error {
	if err := cgroupfs.ValidName(name); err != nil {
		return err
	}
	rec.Name, rec.Version, rec.Limits = name, cgroupfs.V2, *r
	rec.Driver, rec.Unit, rec.Manager, rec.Slice = DriverSystemd, sdscope.UnitFor(name), string(m), sdscope.RunSlice(slice, name)
	return claim(rec)
}

// SetScopePath records the cgroup systemd made for rec's scope, under the
// name's lock, so that rcon ps, rcon set and GC find its files.
func SetScopePath(rec *Record, dir string) error {
	l, err := lockName(rec.Name)
	if err != nil {
		return err
	}
	defer l.unlock()
	rec.Paths = []string{dir}
	return rec.Update()
}

// ReclaimScope is how a scope of rcon's goes away: what is left in g is
// ended (kill), the scope and its run slice are stopped (systemd removes
// an empty scope by itself too; stopping one that is gone is no error),
// and the record is released only once the unit is gone.
func ReclaimScope(c *sdscope.Conn, g *cgroupfs.Group, rec *Record, kill bool) error {
	if kill && g != nil {
		if err := g.Kill(); err != nil {
			return err
		}
	}
	if g != nil {
		g.Close()
	}
	if err := c.Stop(rec.Unit); err != nil {
		return err
	}
	if err := c.StopRunSlice(rec.Slice, rec.Unit, true); err != nil {
		return err
	}
	rec.Release()
	return nil
}

// EndScope is a run's end of its own scope: what is left in g is ended
// (kill) and the run slice is stopped (which stops the scope in it too:
// a unit in a slice Requires= it), without waiting for the stop job, and
// the record released. Not waiting is safe for the record: the command
// and everything it left have been killed, the stop is systemd's to
// finish (also if rcon exits now), and systemd collects an empty scope
// and an inactive slice by itself; a rerun of the same name that meets
// them still going away waits for them (sdscope.Start). gc keeps the
// waiting ReclaimScope.
func EndScope(c *sdscope.Conn, g *cgroupfs.Group, rec *Record) error {
	if g != nil {
		err := g.Kill()
		g.Close()
		if err != nil {
			return err
		}
	}
	if err := c.StopRunSlice(rec.Slice, rec.Unit, false); err != nil {
		return err
	}
	rec.Release()
	return nil
}

// collectScope is collect for a scope record: it connects to the
// record's manager (only here: a sweep that meets no scope record never
// touches D-Bus).
func collectScope(rec *Record, kill bool) (int, error) {
	if want := sdscope.ManagerFor(os.Geteuid()); rec.Manager != string(want) {
		return 0, fmt.Errorf("%s: a scope of the %s manager; this rcon talks to the %s manager", rec.Name, rec.Manager, want)
	}
	c, err := sdscope.Connect()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if !c.Exists(rec.Unit) {
		// Never made, or systemd collected it (empty): what may be left
		// is its run slice.
		if err := c.StopRunSlice(rec.Slice, rec.Unit, true); err != nil {
			return 0, err
		}
		rec.Release()
		return 0, nil
	}
	var g *cgroupfs.Group
	n := 0
	if rec.groupExists() {
		if g, err = rec.Group(); err != nil {
			return 0, err
		}
		ps, err := g.Procs()
		if err != nil {
			g.Close()
			return 0, err
		}
		n = len(ps)
	}
	if n > 0 && !kill {
		g.Close()
		return n, nil
	}
	if err := ReclaimScope(c, g, rec, n > 0); err != nil {
		return n, err
	}
	return 0, nil
}

// setScopeLimits is SetLimits for a scope: through systemd
// (SetUnitProperties, runtime), then read back from the scope's files.
func setScopeLimits(rec *Record, merged *cgroupfs.Resources, r *cgroupfs.Resources) error {
	if want := sdscope.ManagerFor(os.Geteuid()); rec.Manager != string(want) {
		return fmt.Errorf("%s: a scope of the %s manager; this rcon talks to the %s manager", rec.Name, rec.Manager, want)
	}
	c, err := sdscope.Connect()
	if err != nil {
		return err
	}
	defer c.Close()
	return setScopeLimitsVia(c, rec, merged, r)
}

// setScopeLimitsVia is setScopeLimits on a connection of the caller's.
func setScopeLimitsVia(c *sdscope.Conn, rec *Record, merged *cgroupfs.Resources, r *cgroupfs.Resources) error {
	if err := c.CheckDelegated(r); err != nil {
		return err
	}
	// The CPU quota is a pair for systemd (a rate per second and the
	// period it is spread over): a change of either sends both, from the
	// merged limits, or a new period alone would be dropped.
	delta := *r
	if r.CPUPercent > 0 || r.CPUPeriod > 0 {
		delta.CPUPercent, delta.CPUPeriod = merged.CPUPercent, merged.CPUPeriod
	}
	if err := c.SetLimits(rec.Unit, &delta); err != nil {
		return err
	}
	if err := sdscope.Verify(rec.Paths[0], merged); err != nil {
		// The record keeps the old limits: the scope gets them back, or
		// the record, systemd and the files would each say another thing.
		msg := err.Error() + " (systemd accepted the change but it does not hold"
		if rerr := c.RestoreLimits(rec.Unit, &rec.Limits, &delta); rerr != nil {
			return fmt.Errorf("%s; and the old limits could not be put back: %w)", msg, rerr)
		}
		if rerr := sdscope.Verify(rec.Paths[0], &rec.Limits); rerr != nil {
			return fmt.Errorf("%s; the old limits were put back, but: %w)", msg, rerr)
		}
		return errors.New(msg + "; the old limits are back)")
	}
	return nil
}
