package cgroupfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOwnerIdentity(t *testing.T) {
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if !me.Alive() {
		t.Fatal("the test process is not alive by its own record")
	}
	// Same pid, other start time: a reused pid is not the owner.
	if (Owner{PID: me.PID, Start: me.Start + 1}).Alive() {
		t.Error("a different start time counts as the same owner")
	}
	if (Owner{PID: 1 << 30, Start: 1}).Alive() {
		t.Error("a pid that cannot exist is alive")
	}
}

func TestClaimIsExclusiveAndGCKeepsLiveOwners(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	me, _ := Self()
	live := &Record{Name: "live", Owner: me}
	if err := Claim(live); err != nil {
		t.Fatal(err)
	}
	if err := Claim(&Record{Name: "live", Owner: me}); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("second claim of a live name: %v, want ErrNameInUse", err)
	}
	// A dead owner's record whose group never got made (or is gone):
	// the name is free again, and GC removes the record.
	dead := Owner{PID: me.PID, Start: me.Start + 1}
	gone := filepath.Join(t.TempDir(), "no-such-group")
	if err := Claim(&Record{Name: "orphan", Owner: dead, Paths: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	if err := Claim(&Record{Name: "orphan", Owner: me, Paths: []string{gone}}); err != nil {
		t.Fatalf("claim over a dead owner's record: %v", err)
	}
	if err := Claim(&Record{Name: "orphan2", Owner: dead, Paths: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	res, err := GC(false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Record.Name != "orphan2" || !res[0].Removed {
		t.Fatalf("GC results: %+v", res)
	}
	recs, _ := Records()
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	if len(names) != 2 || names[0] != "live" || names[1] != "orphan" {
		t.Errorf("records after GC: %v, want [live orphan]", names)
	}
	live.Release()
	if _, err := os.Stat(filepath.Join(StateDir(), "live.json")); !os.IsNotExist(err) {
		t.Errorf("Release left the record: %v", err)
	}
}

func TestGCBound(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	me, _ := Self()
	dead := Owner{PID: me.PID, Start: me.Start + 1}
	for _, n := range []string{"a", "b", "c"} {
		if err := Claim(&Record{Name: n, Owner: dead, Paths: []string{"/nonexistent/" + n}}); err != nil {
			t.Fatal(err)
		}
	}
	res, _ := GC(false, 2)
	if len(res) != 2 {
		t.Errorf("GC with max 2 examined %d records", len(res))
	}
	recs, _ := Records()
	if len(recs) != 1 {
		t.Errorf("%d records left, want 1", len(recs))
	}
}

func TestStateDirMustBeOurs(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	link := filepath.Join(base, "link")
	os.Symlink(base, link)
	for _, dir := range []string{open, link} {
		t.Setenv(StateEnv, dir)
		me, _ := Self()
		if err := Claim(&Record{Name: "x", Owner: me}); err == nil {
			t.Errorf("claim in %s accepted", dir)
		}
		if _, err := Records(); err == nil {
			t.Errorf("records read from %s", dir)
		}
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		os.Mkdir(other, 0o700)
		os.Chown(other, 65534, 65534)
		t.Setenv(StateEnv, other)
		if _, err := Records(); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("records from a directory nobody owns: %v", err)
		}
	}
}

// With more live records than the bound, an orphan is still reached: the
// window of a bounded sweep moves from one start to the next.
func TestGCBoundReachesOrphansPastLiveRecords(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	me, _ := Self()
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if err := Claim(&Record{Name: n, Owner: me}); err != nil {
			t.Fatal(err)
		}
	}
	dead := Owner{PID: me.PID, Start: me.Start + 1}
	if err := Claim(&Record{Name: "z", Owner: dead, Paths: []string{"/nonexistent/z"}}); err != nil {
		t.Fatal(err)
	}
	defer func(f func(int) int) { gcOffset = f }(gcOffset)
	collected := -1
	for off := 0; off < 6 && collected < 0; off++ {
		gcOffset = func(int) int { return off }
		res, err := GC(false, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 1 && res[0].Record.Name == "z" && res[0].Removed {
			collected = off
		}
	}
	if collected < 0 {
		t.Fatal("no bounded sweep reached the orphan behind five live records")
	}
	if collected == 0 {
		t.Error("the window at offset 0 should hold only live records (a, b)")
	}
	if recs, _ := Records(); len(recs) != 5 {
		t.Errorf("%d records left, want the 5 live ones", len(recs))
	}
}
