package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"rcon/cgroupfs"
)

// nameLock is the flock on NAME.lock. The file is removed while still
// locked when done, so a locker that opened the old file checks, once it
// holds the lock, that the path still names the file it locked.
type nameLock struct{ f *os.File }

func lockName(name string) (*nameLock, error) {
	dir, err := makeStateDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name+".lock")
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := flock(f, unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if sameFile(f, path) {
			return &nameLock{f: f}, nil
		}
		f.Close() // removed by the holder before us: lock the new one
	}
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

func sameFile(f *os.File, path string) bool {
	var a, b unix.Stat_t
	return unix.Fstat(int(f.Fd()), &a) == nil && unix.Stat(path, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

// unlock removes the lock file and releases the lock.
func (l *nameLock) unlock() {
	os.Remove(l.f.Name())
	l.f.Close()
}

// sweepLocks removes lock files left by a locker killed between taking
// the lock and removing the file, and record.json.tmp files left by one
// killed inside Record.Update.
func sweepLocks() {
	dir := StateDir()
	if checkStateDir(dir) != nil {
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".json.tmp"); ok {
			if l, err := lockName(name); err == nil {
				os.Remove(filepath.Join(dir, e.Name()))
				l.unlock()
			}
			continue
		}
		if !strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if flock(f, unix.LOCK_EX|unix.LOCK_NB) == nil && sameFile(f, path) {
			os.Remove(path)
		}
		f.Close()
	}
}

// lockRecord takes name's lock and reads its record: nil when there is
// none, or when what is there is a half-written one left long ago (it
// would block the name for ever; removed). On error nothing is held.
func lockRecord(name string) (*nameLock, *Record, error) {
	if err := cgroupfs.ValidName(name); err != nil {
		return nil, nil, err
	}
	l, err := lockName(name)
	if err != nil {
		return nil, nil, err
	}
	rec, err := readRecord(recordPath(name))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return l, nil, nil
	case errors.Is(err, errBadRecord) && removeStale(recordPath(name), name, true):
		return l, nil, nil
	case err != nil:
		l.unlock()
		return nil, nil, fmt.Errorf("state of %s: %w", name, err)
	}
	return l, rec, nil
}
