package registry

import (
	"errors"
	"fmt"
	"path/filepath"
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
