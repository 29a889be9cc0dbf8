package registry

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rcon/cgroupfs"
)

// A record goes only with its group: when the group cannot be removed,
// the record stays for GC.
func TestReclaimReleasesTheRecordOnlyOnceTheGroupIsGone(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	// A directory outside the cgroup hierarchies stands in for an empty
	// v2 group (no cgroup.procs: no process in it).
	open := func(name string) (*cgroupfs.Group, *Record, string) {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		rec := &Record{Name: name, Owner: me, Version: cgroupfs.V2, Paths: []string{dir}}
		if err := claim(rec); err != nil {
			t.Fatal(err)
		}
		g, err := rec.Group()
		if err != nil {
			t.Fatal(err)
		}
		return g, rec, dir
	}
	for _, kill := range []bool{false, true} {
		g, rec, dir := open("empty")
		if err := Reclaim(g, rec, kill); err != nil {
			t.Fatalf("kill %v: %v", kill, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("kill %v: group left: %v", kill, err)
		}
		if _, err := os.Stat(recordPath("empty")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("kill %v: record left: %v", kill, err)
		}
	}
	g, rec, dir := open("busy")
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil { // rmdir fails
		t.Fatal(err)
	}
	if err := Reclaim(g, rec, false); err == nil {
		t.Fatal("a group that could not be removed was reported reclaimed")
	}
	if _, err := readRecord(recordPath("busy")); err != nil {
		t.Errorf("the record of a group still there was released: %v", err)
	}
}
