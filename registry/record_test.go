package registry

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	if err := claim(live); err != nil {
		t.Fatal(err)
	}
	if err := claim(&Record{Name: "live", Owner: me}); !errors.Is(err, errNameInUse) {
		t.Fatalf("second claim of a live name: %v, want errNameInUse", err)
	}
	// A dead owner's record whose group never got made (or is gone):
	// the name is free again, and GC removes the record.
	dead := Owner{PID: me.PID, Start: me.Start + 1}
	gone := filepath.Join(t.TempDir(), "no-such-group")
	if err := claim(&Record{Name: "orphan", Owner: dead, Paths: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	if err := claim(&Record{Name: "orphan", Owner: me, Paths: []string{gone}}); err != nil {
		t.Fatalf("claim over a dead owner's record: %v", err)
	}
	if err := claim(&Record{Name: "orphan2", Owner: dead, Paths: []string{gone}}); err != nil {
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
		if err := claim(&Record{Name: n, Owner: dead, Paths: []string{"/nonexistent/" + n}}); err != nil {
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
		if err := claim(&Record{Name: "x", Owner: me}); err == nil {
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
		if err := claim(&Record{Name: n, Owner: me}); err != nil {
			t.Fatal(err)
		}
	}
	dead := Owner{PID: me.PID, Start: me.Start + 1}
	if err := claim(&Record{Name: "z", Owner: dead, Paths: []string{"/nonexistent/z"}}); err != nil {
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

// A reader never sees a claimed name's record half written: what it
// reads parses, however claim and Release interleave with it.
func TestClaimPublishesWholeRecords(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	me, _ := Self()
	path := filepath.Join(StateDir(), "w.json")
	stop := make(chan struct{})
	bad := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(bad)
				return
			default:
			}
			if _, err := readRecord(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				bad <- err.Error()
				close(bad)
				return
			}
		}
	}()
	for i := 0; i < 3000; i++ {
		rec := &Record{Name: "w", Owner: me, Command: []string{strings.Repeat("x", 4096)}}
		if err := claim(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	close(stop)
	if msg, ok := <-bad; ok {
		t.Errorf("a reader saw a partial record: %s", msg)
	}
}

// ageFile makes a state file look written d ago.
func ageFile(t *testing.T, path string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// A record left empty (its writer killed between create and write, as
// before records were published whole) and temporary files of killed
// writers are removed once stale, and the name can be claimed again;
// fresh ones, which may be being written now, are left alone.
func TestGCRemovesStaleUnreadableRecordsAndTemps(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	dir := StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		ageFile(t, p, age)
		return p
	}
	staleRec := write("stale.json", time.Minute)
	freshRec := write("fresh.json", 0)
	staleTmp := write(claimTempPrefix+"111", time.Minute)
	freshTmp := write(claimTempPrefix+"222", 0)

	me, _ := Self()
	if err := claim(&Record{Name: "fresh", Owner: me}); !errors.Is(err, errNameInUse) {
		t.Errorf("claim over a fresh unreadable record: %v, want errNameInUse", err)
	}
	res, err := GC(false, 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Record.Name != "stale" || !res[0].Removed || !res[0].Unreadable {
		t.Errorf("GC results: %+v, want the stale record removed", res)
	}
	for p, want := range map[string]bool{staleRec: false, freshRec: true, staleTmp: false, freshTmp: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	// claim over a stale one, without GC.
	ageFile(t, freshRec, time.Minute)
	rec := &Record{Name: "fresh", Owner: me}
	if err := claim(rec); err != nil {
		t.Errorf("claim over a stale unreadable record: %v", err)
	}
	if got, err := readRecord(freshRec); err != nil || got.Owner != me {
		t.Errorf("record after the claim: %+v, %v", got, err)
	}
	rec.Release()
}

// claim called by join, which holds the name's lock, meets a dead shared
// record: collecting it must not take the lock a second time (a second
// flock on the file blocks, even in the same process).
func TestClaimUnderTheNameLockDoesNotRelock(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	me, _ := Self()
	dead := Owner{PID: me.PID, Start: me.Start + 1}
	gone := filepath.Join(t.TempDir(), "no-such-group")
	old := &Record{Name: "s", Owner: dead, Shared: true, Members: []Member{{Owner: dead}}, Paths: []string{gone}}
	if err := claim(old); err != nil {
		t.Fatal(err)
	}
	l, err := lockName("s")
	if err != nil {
		t.Fatal(err)
	}
	defer l.unlock()
	done := make(chan error, 1)
	rec := &Record{Name: "s", Owner: me, Shared: true, Members: []Member{{Owner: me}}, Paths: []string{gone}, lockHeld: true}
	go func() { done <- claim(rec) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("claim over a dead shared record under the lock: %v", err)
		}
		rec.Release()
	case <-time.After(3 * time.Second):
		t.Fatal("claim under the name's lock deadlocked on it")
	}
}

// A sweep that judged a record dead must not collect the name once a live
// run has taken it over (an explicit --name reused after its owner died):
// the new run's group is empty until its command starts, and collecting
// it would remove that group and the new record.
func TestCollectDeadSkipsANameTakenOver(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	me, _ := Self()
	dead := Owner{PID: me.PID, Start: me.Start + 1}
	group := t.TempDir() // stands for the new run's still empty group
	if err := claim(&Record{Name: "job", Owner: dead, Paths: []string{group}}); err != nil {
		t.Fatal(err)
	}
	recs, _ := Records()
	if len(recs) != 1 {
		t.Fatalf("records: %+v", recs)
	}
	seen := recs[0] // what a sweep read before the take-over
	// The take-over, as claim does it: collect the dead record, publish.
	if err := os.Remove(seen.file); err != nil {
		t.Fatal(err)
	}
	if err := claim(&Record{Name: "job", Owner: me, Paths: []string{group}}); err != nil {
		t.Fatal(err)
	}
	n, done, err := collectDead(seen, false, false)
	if done || err != nil || n != 0 {
		t.Errorf("collectDead after a take-over: n=%d done=%v err=%v, want nothing done", n, done, err)
	}
	if _, err := os.Stat(group); err != nil {
		t.Errorf("the new run's group was removed: %v", err)
	}
	recs, _ = Records()
	if len(recs) != 1 || recs[0].Owner != me {
		t.Errorf("the new run's record is gone or changed: %+v", recs)
	}
	// Still the dead one: collected.
	os.Remove(recs[0].file)
	gone := filepath.Join(t.TempDir(), "no-such-group")
	if err := claim(&Record{Name: "job", Owner: dead, Paths: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	recs, _ = Records()
	if _, done, err := collectDead(recs[0], false, false); !done || err != nil {
		t.Errorf("collectDead of a record still dead: done=%v err=%v", done, err)
	}
	if recs, _ := Records(); len(recs) != 0 {
		t.Errorf("dead record not collected: %+v", recs)
	}
}

// A claim that fails for any reason but a live owner leaves rec unbound
// to the file, so Create's Release on error cannot remove a record that
// belongs to the run holding the name.
func TestFailedClaimDoesNotBindTheFile(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	me, _ := Self()
	rec := &Record{Name: strings.Repeat("x", 300), Owner: me} // NAME.json: ENAMETOOLONG at link(2)
	if err := claim(rec); err == nil || errors.Is(err, errNameInUse) {
		t.Fatalf("claim of an over-long name: %v, want a write error", err)
	}
	if rec.file != "" {
		t.Errorf("a failed claim bound the record to %s", rec.file)
	}
}

// A record that parses but does not fit this rcon (another version's,
// say) is not garbage: it may be a live run's, and stays however old.
func TestRecordOfAnotherShapeIsNotGarbage(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(StateEnv, dir)
	f := filepath.Join(dir, "other.json")
	if err := os.WriteFile(f, []byte(`{"name": "other", "owner": "pid 1234"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ageFile(t, f, time.Hour)
	if _, err := readRecord(f); err == nil || errors.Is(err, errBadRecord) {
		t.Errorf("readRecord of a record of another shape: %v, want an error that is not errBadRecord", err)
	}
	if _, err := GC(false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f); err != nil {
		t.Errorf("gc removed a record it could parse but not fit: %v", err)
	}
	// Cut short: garbage, removed once stale.
	if err := os.WriteFile(f, []byte(`{"name": "oth`), 0o600); err != nil {
		t.Fatal(err)
	}
	ageFile(t, f, time.Hour)
	if _, err := readRecord(f); !errors.Is(err, errBadRecord) {
		t.Errorf("readRecord of a truncated record: %v, want errBadRecord", err)
	}
	if _, err := GC(false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("gc kept a stale truncated record: %v", err)
	}
}
