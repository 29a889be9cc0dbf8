package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"rcon/cgroupfs"
)

// Record is the state file of one group. It is written before the group is
// created and removed after the group is, so every group rcon made has one;
// that is how `rcon gc` and `rcon ps` find groups and their owners without
// scanning cgroup trees.
type Record struct {
	Name    string           `json:"name"`
	Version cgroupfs.Version `json:"version"`
	Paths   []string         `json:"paths"`
	// MadeParents lists the Paths whose parent directory rcon may remove
	// once empty (see cgroupfs.Group). OwnParent is read for records that
	// have no MadeParents (written before that field existed, by a run
	// that may outlive an upgrade): true means all of the Paths, so such
	// a group is still collected with its parents.
	MadeParents []string           `json:"made_parents,omitempty"`
	OwnParent   bool               `json:"own_parent,omitempty"`
	Owner       Owner              `json:"owner"`
	Command     []string           `json:"command"`
	Limits      cgroupfs.Resources `json:"limits"`
	Created     time.Time          `json:"created"`
	// Shared groups (rcon --shared, rcon attach) outlive any one run: they
	// live while a member lives. Members are changed only under the
	// name's lock (see shared.go); Owner is then the creator.
	Shared  bool     `json:"shared,omitempty"`
	Members []Member `json:"members,omitempty"`
	// Parent is the parent as asked when the group was made (empty: the
	// default), for people reading records. Whether a joiner asked for
	// another is told from Paths, which records of every version have.
	Parent string `json:"parent,omitempty"`
	// Driver is "systemd" for a transient scope (empty: cgroupfs, a
	// directory rcon made). Unit is then the scope, Manager the systemd
	// instance it belongs to (system, user) and Slice its slice; Paths is
	// the scope's cgroup once systemd made it (empty before).
	Driver  string `json:"driver,omitempty"`
	Unit    string `json:"unit,omitempty"`
	Manager string `json:"manager,omitempty"`
	Slice   string `json:"slice,omitempty"`
	file    string
	// lockHeld: the caller holds the name's lock (join), so claim must not
	// take it again: a second flock on the file blocks even in the same
	// process.
	lockHeld bool
}

// Member is one process a shared group is kept for: an rcon run that
// joined it, or a process moved in by rcon attach.
type Member struct {
	Owner
	Attached bool     `json:"attached,omitempty"`
	Command  []string `json:"command,omitempty"`
}

// Live reports whether the record's group still has an owner: its rcon
// for a per-run group, any live member for a shared one.
func (rec *Record) Live() bool {
	if !rec.Shared {
		return rec.Owner.Alive()
	}
	for _, m := range rec.Members {
		if m.Alive() {
			return true
		}
	}
	return false
}

// Update rewrites an existing record in one step, for readers and for
// its owner alike: the new content is swapped in (RENAME_EXCHANGE), so if
// the owner removed the record meanwhile nothing is re-created and the
// error wraps os.ErrNotExist. Callers hold the name's lock (lock.go),
// which is what makes one fixed temporary name safe; one left by a caller
// killed here is overwritten by the next, or swept by rcon gc.
func (rec *Record) Update() error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := rec.file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer os.Remove(tmp)
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, rec.file, unix.RENAME_EXCHANGE); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("write state %s: %w", rec.file, os.ErrNotExist)
		}
		return fmt.Errorf("write state %s: %w", rec.file, err)
	}
	return nil
}

// Release removes the state file; call it after the group is gone.
func (rec *Record) Release() {
	if rec.file != "" {
		os.Remove(rec.file)
	}
}

// errBadRecord marks a record file that was read but does not parse.
var errBadRecord = errors.New("unreadable record")

func readRecord(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rec := &Record{}
	if err := json.Unmarshal(data, rec); err != nil {
		// Only a record cut short or garbled is garbage (a writer
		// killed mid-way, by an older rcon). One that parses but does
		// not fit, say from another version of rcon, may belong to a
		// live run: it is an error, never removed for being stale.
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("%s: %w: %w", path, errBadRecord, err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := recordCheck(rec, path); err != nil {
		return nil, err
	}
	rec.file = path
	return rec, nil
}

// Records lists every state file, sorted by name. Unreadable files are
// skipped (GC removes them once stale).
func Records() ([]*Record, error) {
	files, _, err := stateFiles()
	if err != nil {
		return nil, err
	}
	return readRecords(files), nil
}

func readRecords(files []string) []*Record {
	var out []*Record
	for _, f := range files {
		if rec, err := readRecord(f); err == nil {
			out = append(out, rec)
		}
	}
	return out
}

// Group opens the group a record describes.
func (rec *Record) Group() (*cgroupfs.Group, error) {
	made := rec.MadeParents
	if made == nil && rec.OwnParent {
		made = rec.Paths
	}
	return cgroupfs.Open(rec.Name, rec.Version, rec.Paths, made)
}

func recordPath(name string) string { return filepath.Join(StateDir(), name+".json") }

func (rec *Record) groupExists() bool {
	for _, p := range rec.Paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
