package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// StateEnv overrides the state directory.
const StateEnv = "RCON_STATE_DIR"

// StateDir is where records live: $RCON_STATE_DIR, else /run/rcon for
// root, else $XDG_RUNTIME_DIR/rcon, else /tmp/rcon-UID.
func StateDir() string {
	if d := os.Getenv(StateEnv); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/run/rcon"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "rcon")
	}
	return fmt.Sprintf("/tmp/rcon-%d", os.Geteuid())
}

// makeStateDir makes the state directory if it is missing and checks it
// (see checkStateDir), for a caller about to write to it.
func makeStateDir() (string, error) {
	dir := StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state directory %s: %w", dir, err)
	}
	return dir, checkStateDir(dir)
}

// checkStateDir refuses a state directory that is a symlink, or that
// someone else owns or may write: its records tell rcon gc what to kill
// and remove, and the non-root default (/tmp/rcon-UID) is a name anyone
// could take first.
func checkStateDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("state directory %s: not a directory (a symlink?)", dir)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("state directory %s: owned by uid %d, not by us (%d); remove it or set %s", dir, st.Uid, os.Geteuid(), StateEnv)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("state directory %s: writable by others (mode %o); chmod go-w it", dir, st.Mode&0o777)
	}
	return nil
}

// staleAge is how old a temporary file or an unreadable record must be
// before it is removed: records are published whole (see publish), so an
// unreadable one is not being written by this version, but one written in
// place by an older rcon may still be.
const staleAge = 5 * time.Second

// claimTempPrefix names the temporary files claim publishes records from.
const claimTempPrefix = ".claim-"

// stateFiles lists the records' paths, sorted (ReadDir sorts), and the
// temporary files claim publishes them from.
func stateFiles() (records, temps []string, err error) {
	dir := StateDir()
	if err := checkStateDir(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range ents {
		switch {
		case strings.HasSuffix(e.Name(), ".json"):
			records = append(records, filepath.Join(dir, e.Name()))
		case strings.HasPrefix(e.Name(), claimTempPrefix):
			temps = append(temps, filepath.Join(dir, e.Name()))
		}
	}
	return records, temps, nil
}

// sweepTemps removes claim's temporary files left by writers killed
// before removing them. Each is used by its writer for microseconds; one
// that is stale has none left, and a writer merely stopped that long
// finds its link failing and tries again.
func sweepTemps(temps []string) {
	for _, p := range temps {
		if st, err := os.Lstat(p); err == nil && time.Since(st.ModTime()) > staleAge {
			os.Remove(p)
		}
	}
}
