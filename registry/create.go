package registry

import (
	"errors"

	"rcon/cgroupfs"
)

// Create makes the group named name with limits r under parent (see
// cgroupfs.Create) and claims rec as its record (see claim) once the
// group's directories are known and before any is made, so that a crash
// at any point leaves a record that GC can act on. On error nothing is
// left: a record claimed for a group that could not be made is released.
func Create(parent, name string, r *cgroupfs.Resources, rec *Record) (*cgroupfs.Group, error) {
	onPlace := func(p cgroupfs.Placement) error {
		rec.Name, rec.Version, rec.Paths, rec.MadeParents, rec.Limits = name, p.Version, p.Paths, p.MadeParents, *r
		rec.Parent = p.Parent
		return claim(rec)
	}
	g, err := cgroupfs.Create(parent, name, r, cgroupfs.CreateOptions{Claim: onPlace, Shared: rec.Shared})
	if err != nil {
		if rec.file != "" && !errors.Is(err, errNameInUse) {
			rec.Release()
		}
		return nil, err
	}
	return g, nil
}
