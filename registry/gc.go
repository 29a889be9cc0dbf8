package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// gcOffset picks where a bounded sweep starts; a variable for the tests.
var gcOffset = func(n int) int { return os.Getpid() % n }

// GCResult says what a sweep did with one orphaned group.
type GCResult struct {
	Record  *Record
	Removed bool
	Procs   int // processes still inside (not removed)
	Err     error
	// Unreadable: the record did not parse (left half-written by an older
	// rcon, say) and was removed; Record holds only its name.
	Unreadable bool
	// Foreign: the owner is of another pid namespace than this process's
	// /proc, so whether it lives cannot be told; the group was left alone.
	Foreign bool
}

// GC sweeps groups whose owner is gone. Empty ones are removed; ones that
// still hold processes keep limiting them and are reported, unless kill is
// set, in which case their processes are ended first.
//
// max bounds the records read (0: all), so the sweep at every start stays
// cheap however many runs are live. The window starts at an offset that
// differs per process, so with more records than max every orphan is still
// reached by some later start.
func GC(kill bool, max int) ([]GCResult, error) {
	files, temps, err := stateFiles()
	if err != nil {
		return nil, err
	}
	sweepTemps(temps)
	if max > 0 && len(files) > max {
		off := gcOffset(len(files))
		files = append(files[off:], files[:off]...)[:max]
	}
	var out []GCResult
	for _, f := range files {
		rec, err := readRecord(f)
		if errors.Is(err, errBadRecord) {
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			if removeStale(f, name, false) {
				out = append(out, GCResult{Record: &Record{Name: name}, Removed: true, Unreadable: true})
			}
			continue
		}
		if errors.Is(err, errRecordRefused) {
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			out = append(out, GCResult{Record: &Record{Name: name}, Err: fmt.Errorf("%w; nothing was done with it (remove the file once you know who wrote it)", err)})
			continue
		}
		if err == nil && max == 0 && !rec.Shared && !rec.Owner.visible() {
			out = append(out, GCResult{Record: rec, Foreign: true})
			continue
		}
		if err != nil || rec.Live() {
			continue
		}
		if rec.Shared {
			if r := collectShared(rec.Name, kill); r.Record != nil {
				out = append(out, r)
			}
			continue
		}
		n, done, err := collectDead(rec, kill, false)
		if !done && err == nil {
			continue // taken over by a live run meanwhile
		}
		out = append(out, GCResult{Record: rec, Removed: err == nil && n == 0, Procs: n, Err: err})
	}
	if max == 0 {
		sweepLocks()
	}
	return out, nil
}

// collectDead collects seen, a record judged dead, under the name's lock
// and only if the record is still that one. Between the judging and the
// collecting a run may take the name over (an explicit --name): its
// fresh group is empty until its command starts, and an unlocked collect
// would remove it and its record. done is false when there was nothing
// left to collect.
func collectDead(seen *Record, kill, lockHeld bool) (n int, done bool, err error) {
	if !lockHeld {
		l, err := lockName(seen.Name)
		if err != nil {
			return 0, false, err
		}
		defer l.unlock()
	}
	cur, err := readRecord(seen.file)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if cur.Shared || cur.Owner != seen.Owner || cur.Owner.Alive() {
		return 0, false, nil
	}
	n, err = collect(cur, kill)
	return n, true, err
}

// collect removes a dead owner's group if it is empty (or kill is set) and
// then its record. It returns how many processes kept it alive.
func collect(rec *Record, kill bool) (int, error) {
	if rec.Driver == DriverSystemd {
		return collectScope(rec, kill)
	}
	if !rec.groupExists() {
		// The owner died before creating the group or after removing it.
		rec.Release()
		return 0, nil
	}
	g, err := rec.Group()
	if err != nil {
		return 0, err
	}
	defer g.Close()
	ps, err := g.Procs()
	if err != nil {
		return 0, err
	}
	if len(ps) > 0 && !kill {
		return len(ps), nil
	}
	if err := Reclaim(g, rec, len(ps) > 0); err != nil {
		return len(ps), err
	}
	return 0, nil
}
