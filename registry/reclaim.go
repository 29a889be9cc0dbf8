package registry

import "rcon/cgroupfs"

// Reclaim is how a group of rcon's goes away: it ends what is left in g
// (when kill is set), removes g, then releases its record rec. A record
// is released only once its group is gone; on error it is kept, so that
// GC finds the group again.
func Reclaim(g *cgroupfs.Group, rec *Record, kill bool) error {
	if kill {
		if err := g.Kill(); err != nil {
			return err
		}
	}
	if err := g.Delete(); err != nil {
		return err
	}
	rec.Release()
	return nil
}
