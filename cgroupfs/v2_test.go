package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A v2 group is opened with its directory fd or not at all: without the
// fd the command could only be started outside it.
func TestV2OpenNeedsTheDirectoryFD(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "g")
	if _, err := Open("g", V2, []string{dir}, nil); err == nil {
		t.Fatal("opened a v2 group whose directory cannot be opened")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	g, err := Open("g", V2, []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.CgroupFD() < 0 {
		t.Fatal("an opened v2 group has no fd")
	}
	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
	if fd := g.CgroupFD(); fd >= 0 {
		t.Errorf("a deleted v2 group still gives fd %d", fd)
	}
}

// The project's parent removed by another run between its mkdir and the
// leaf's (as a concurrent Delete does once it is empty) is made again.
func TestV2LeafRetriesWhenTheProjectParentVanishes(t *testing.T) {
	pdir := filepath.Join(t.TempDir(), "rcon")
	dir := filepath.Join(pdir, "g")
	readies := 0
	vanish := func() error {
		readies++
		if readies == 1 {
			return os.Remove(pdir) // the other run's Delete
		}
		return nil
	}
	if err := makeV2Leaf(pdir, dir, true, vanish); err != nil {
		t.Fatalf("leaf after the parent vanished once: %v", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("no group directory: %v", err)
	}
	if readies != 2 {
		t.Errorf("parent readied %d times, want 2", readies)
	}

	// Removed while its controllers were being read: the kernel's ENODEV
	// for a file opened before the removal (found by TestSIGKILLStorm in
	// the v2 VM), made again too.
	pdir = filepath.Join(t.TempDir(), "rcon")
	readies = 0
	midRead := func() error {
		readies++
		if readies == 1 {
			os.Remove(pdir)
			return fmt.Errorf("read controllers of %s: %w", pdir, &os.PathError{Op: "read", Path: pdir + "/cgroup.controllers", Err: syscall.ENODEV})
		}
		return nil
	}
	if err := makeV2Leaf(pdir, filepath.Join(pdir, "g"), true, midRead); err != nil || readies != 2 {
		t.Errorf("parent removed mid-read: %v after %d tries, want it made again", err, readies)
	}

	// Bounded: a parent that always vanishes ends in ENOENT, and nothing
	// is left.
	pdir = filepath.Join(t.TempDir(), "rcon")
	readies = 0
	always := func() error { readies++; return os.Remove(pdir) }
	err := makeV2Leaf(pdir, filepath.Join(pdir, "g"), true, always)
	if !errors.Is(err, os.ErrNotExist) || readies != 4 {
		t.Errorf("always vanishing: %v after %d tries, want ENOENT after 4", err, readies)
	}
	if _, err := os.Stat(pdir); !os.IsNotExist(err) {
		t.Errorf("parent left: %v", err)
	}

	// A parent that is not the project's is not rcon's to make again.
	pdir = filepath.Join(t.TempDir(), "jobs")
	os.Mkdir(pdir, 0o755)
	readies = 0
	if err := makeV2Leaf(pdir, filepath.Join(pdir, "g"), false, always); !errors.Is(err, os.ErrNotExist) || readies != 1 {
		t.Errorf("named parent removed: %v after %d tries, want ENOENT after 1", err, readies)
	}
}
