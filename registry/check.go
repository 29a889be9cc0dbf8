package registry

import (
	"errors"
	"fmt"
	"path/filepath"
	"rcon/sdscope"
	"slices"
	"strings"

	"rcon/cgroupfs"
)

// errRecordRefused marks a record whose paths rcon will not act on: they
// do not name a group of that record's own name, in a hierarchy rcon
// uses, under the parent it records. Records tell rcon what to kill and
// remove, and whoever can write the state directory can write them, so
// they are checked before every use; a refused one is left as it is and
// reported (rcon gc), never acted on.
var errRecordRefused = errors.New("record refused")

// recordCheck is checkRecord; a variable so that the record tests, which
// use directories outside the cgroup hierarchies, can leave it out.
var recordCheck = checkRecord

// checkRecord refuses a record whose name is not its file's, or whose
// paths are not those of a group rcon could have made for it (see
// cgroupfs.CheckPlacement): the last element of each path is the
// record's name, so a record can only ever name a group of its own name
// (rewriting cgi-A.json cannot make it name cgi-B's group), and
// MadeParents (which rcon may rmdir the parents of) are among the paths.
// Together with the placement check it bounds what a rewritten record
// can point at to a directory of the record's own name.
func checkRecord(rec *Record, file string) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: %s", file, errRecordRefused, fmt.Sprintf(format, a...))
	}
	if want := strings.TrimSuffix(filepath.Base(file), ".json"); rec.Name != want {
		return refuse("it names group %q, not %q", rec.Name, want)
	}
	if err := cgroupfs.ValidName(rec.Name); err != nil {
		return refuse("%v", err)
	}
	if rec.Driver == DriverSystemd {
		return checkScopeRecord(rec, refuse)
	}
	if rec.Driver != "" {
		return refuse("unknown driver %q", rec.Driver)
	}
	if len(rec.Paths) == 0 && len(rec.MadeParents) == 0 {
		return nil // names no directory: there is nothing to act on
	}
	if err := cgroupfs.CheckPlacement(rec.Name, rec.Version, rec.Parent, rec.Paths); err != nil {
		return refuse("%v", err)
	}
	for _, m := range rec.MadeParents {
		if !slices.Contains(rec.Paths, m) {
			return refuse("made parent %s is not one of its paths", m)
		}
	}
	if rec.OwnParent && rec.Parent != "" {
		return refuse("own_parent with a parent of the user's (%s)", rec.Parent)
	}
	return nil
}

// checkScopeRecord: a scope record names the scope of its own name
// (sdscope.UnitFor), of a manager rcon talks to, and at most one path, a
// directory of that scope's name in the unified hierarchy (a shared
// scope's members are checked as any shared record's); rcon never
// removes a directory of a scope (systemd does), so there are no
// MadeParents.
func checkScopeRecord(rec *Record, refuse func(string, ...any) error) error {
	if want := sdscope.UnitFor(rec.Name); rec.Unit != want {
		return refuse("it names unit %q, not %q", rec.Unit, want)
	}
	if rec.Manager != string(sdscope.System) && rec.Manager != string(sdscope.User) {
		return refuse("unknown manager %q", rec.Manager)
	}
	if !sdscope.IsRunSlice(rec.Slice, rec.Name) {
		return refuse("slice %q is not a run slice of %s", rec.Slice, rec.Name)
	}
	if len(rec.MadeParents) > 0 || len(rec.Paths) > 1 {
		return refuse("a scope record with made parents or several paths")
	}
	for _, p := range rec.Paths {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || !strings.HasPrefix(p, cgroupfs.Mountpoint+"/") || filepath.Base(p) != rec.Unit || filepath.Base(filepath.Dir(p)) != rec.Slice {
			return refuse("path %s is not the cgroup of %s", p, rec.Unit)
		}
	}
	return nil
}
