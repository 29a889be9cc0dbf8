package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// errNameInUse means a live run already owns a group of that name.
var errNameInUse = errors.New("group name in use")

// claim writes rec's state file, failing with errNameInUse if a live owner
// holds the name. A record left by a dead owner is collected first. The
// exclusive publish is what keeps two runs from sharing a name.
func claim(rec *Record) error {
	dir, err := makeStateDir()
	if err != nil {
		return err
	}
	// rec.file is set only once the record is ours: a claim that fails
	// must not make Release remove the file of the run that holds the name.
	path := filepath.Join(dir, rec.Name+".json")
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	for try := 0; try < 2; try++ {
		err := publish(dir, path, data)
		if err == nil {
			rec.file = path
			return nil
		}
		if errors.Is(err, os.ErrNotExist) {
			continue // our temporary file was swept while we were stopped
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("write state %s: %w", path, err)
		}
		old, rerr := readRecord(path)
		switch {
		case errors.Is(rerr, os.ErrNotExist):
			continue // released meanwhile
		case errors.Is(rerr, errBadRecord):
			if !removeStale(path, rec.Name, rec.lockHeld) {
				return fmt.Errorf("%w: %s has an unreadable record (%v), kept until it is %v old", errNameInUse, rec.Name, rerr, staleAge)
			}
			continue
		case rerr != nil:
			return fmt.Errorf("state of %s: %w", rec.Name, rerr)
		}
		if old.Shared {
			// Shared records change under their lock only.
			if old.Live() {
				return fmt.Errorf("%w: %s is a shared group with live members", errNameInUse, rec.Name)
			}
			collect := collectShared
			if rec.lockHeld {
				collect = collectSharedLocked
			}
			if r := collect(rec.Name, false); r.Err != nil || r.Procs > 0 {
				return fmt.Errorf("%w: %s is a shared group left with %d process(es)", errNameInUse, rec.Name, r.Procs)
			}
			continue
		}
		if old.Owner.Alive() {
			return fmt.Errorf("%w: %s is run by pid %d", errNameInUse, rec.Name, old.Owner.PID)
		}
		if n, _, err := collectDead(old, false, rec.lockHeld); err != nil || n > 0 {
			return fmt.Errorf("%w: %s is left by a dead rcon and still busy (%d process(es)): %v", errNameInUse, rec.Name, n, err)
		}
	}
	return fmt.Errorf("%w: %s", errNameInUse, rec.Name)
}

// publish makes path a record holding data, or fails with EEXIST if path
// is taken. The record is written to a temporary file first and then
// linked in, so path never names a partly written record, whenever the
// writer is killed; a temporary file left by a killed writer is swept by
// GC once stale.
func publish(dir, path string, data []byte) error {
	f, err := os.CreateTemp(dir, claimTempPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Link(f.Name(), path)
}

// removeStale removes the unreadable record at path once it is stale,
// under the name's lock (unless the caller holds it), so that no other
// remover can take away a record published after this one judged it.
// It reports whether the record is gone.
func removeStale(path, name string, lockHeld bool) bool {
	if !lockHeld {
		l, err := lockName(name)
		if err != nil {
			return false
		}
		defer l.unlock()
	}
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil || time.Since(st.ModTime()) < staleAge {
		return false
	}
	if _, err := readRecord(path); !errors.Is(err, errBadRecord) {
		return errors.Is(err, os.ErrNotExist)
	}
	return os.Remove(path) == nil
}
