package cgroupfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Shared groups (rcon --shared NAME, rcon attach) are kept for a set of
// members rather than one owner. Every change to such a record — join,
// leave, sweep, set — happens under an exclusive flock on NAME.lock in the
// state directory, so any interleaving of starts, exits and SIGKILLs is
// one of these serial histories:
//
//   - join:  lock; drop dead members; create the group if there is none;
//     add self; unlock. The command then starts inside the group, which
//     cannot go away while a live member is recorded.
//   - leave: lock; drop self and dead members; if no live member is left,
//     end what remains in the group, remove it and its record; unlock.
//   - sweep (GC): as leave, without a self, and keeping a group that still
//     holds processes (unless kill).
//
// A member killed with SIGKILL never leaves; the next join, leave or sweep
// sees that its pid+start time is gone. A lock holder killed mid-change
// releases the lock with its last fd; the record is replaced atomically,
// so the next holder sees it before or after the change, never half.

// nameLock is the flock on NAME.lock. The file is removed while still
// locked when done, so a locker that opened the old file checks, once it
// holds the lock, that the path still names the file it locked.
type nameLock struct{ f *os.File }

func lockName(name string) (*nameLock, error) {
	dir := StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := checkStateDir(dir); err != nil {
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

func recordPath(name string) string { return filepath.Join(StateDir(), name+".json") }

// pruneMembers keeps the live members other than drop.
func pruneMembers(ms []Member, drop *Owner) []Member {
	var out []Member
	for _, m := range ms {
		if (drop != nil && m.Owner == *drop) || !m.Alive() {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (rec *Record) groupExists() bool {
	for _, p := range rec.Paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// JoinInfo says what Join found.
type JoinInfo struct {
	Created bool
	// Limits are the group's limits after the join.
	Limits Resources
	// Kept is set when the caller asked for other limits than the group
	// has and did not ask to update them: the group kept its own.
	Kept bool
	// Updated is set when the caller's limits were written (--update).
	Updated bool
	// PerRun is set when attach moved processes into a live per-run group.
	PerRun bool
	// ParentIgnored is set when the caller's parent resolves to another
	// directory than the one the existing group lives in (Parent): a
	// live group is not moved.
	ParentIgnored bool
	Parent        string
}

// ParentWarning is what a joiner is told when it asked for another parent
// than the one the group lives under, or "".
func (i *JoinInfo) ParentWarning(name string) string {
	if !i.ParentIgnored {
		return ""
	}
	return fmt.Sprintf("warning: shared group %s lives under %s, where its first run made it; the parent asked for is ignored", name, i.Parent)
}

// Join makes self a member of the shared group name, creating the group
// with limits r under parent if it does not exist. An existing group keeps
// its limits unless update is set, in which case the limits r sets are
// written over them. Leave undoes it.
func Join(parent, name string, r *Resources, self Member, update bool) (*Group, JoinInfo, error) {
	if err := r.Check(); err != nil {
		return nil, JoinInfo{}, err
	}
	return join(parent, name, r, []Member{self}, update, nil)
}

// join does Join for several members. move, when not nil, runs under the
// lock once the group exists and returns the members that really are in
// it now (attach); only those are recorded.
func join(parent, name string, r *Resources, add []Member, update bool, move func(*Group) []Member) (*Group, JoinInfo, error) {
	var info JoinInfo
	if err := ValidName(name); err != nil {
		return nil, info, err
	}
	l, err := lockName(name)
	if err != nil {
		return nil, info, err
	}
	defer l.unlock()

	rec, err := readRecord(recordPath(name))
	switch {
	case errors.Is(err, os.ErrNotExist):
		rec = nil
	case errors.Is(err, errBadRecord) && removeStale(recordPath(name), name, true):
		rec = nil // left half-written long ago; it would block the name for ever
	case err != nil:
		return nil, info, fmt.Errorf("state of %s: %w", name, err)
	case !rec.Shared && rec.Owner.Alive():
		if move == nil {
			return nil, info, fmt.Errorf("%w: %s is the group of a single run (pid %d), not a shared one", ErrNameInUse, name, rec.Owner.PID)
		}
		// attach --name: the processes join that run's group and end
		// with it.
		g, err := rec.Group()
		if err != nil {
			return nil, info, err
		}
		if len(move(g)) == 0 {
			return nil, info, errors.New("no process was moved")
		}
		info.PerRun, info.Limits = true, rec.Limits
		return g, info, nil
	case !rec.Shared:
		if n, err := collect(rec, false); err != nil || n > 0 {
			return nil, info, fmt.Errorf("%w: %s is left by a dead rcon with %d process(es) (rcon gc --kill ends them)", ErrNameInUse, name, n)
		}
		rec = nil
	}
	if rec != nil {
		rec.Members = pruneMembers(rec.Members, nil)
		if !rec.groupExists() {
			// Its creator died before making it, or its last member
			// after removing it.
			rec.Release()
			rec = nil
		}
	}

	if rec == nil {
		owner, err := Self()
		if err != nil {
			return nil, info, err
		}
		rec = &Record{Owner: owner, Command: add[0].Command, Created: time.Now(), Shared: true, Members: add, lockHeld: true}
		g, err := Create(parent, name, r, rec)
		if err != nil {
			return nil, info, err
		}
		info.Created, info.Limits = true, rec.Limits
		if move != nil {
			if rec.Members = move(g); len(rec.Members) == 0 {
				g.Delete()
				rec.Release()
				return nil, info, errors.New("no process was moved")
			}
			if err := rec.Update(); err != nil {
				return nil, info, err
			}
		}
		return g, info, nil
	}

	g, err := rec.Group()
	if err != nil {
		return nil, info, err
	}
	info.ParentIgnored, info.Parent = parentIgnored(parent, rec)
	if !r.Empty() && !sameLimits(MergeLimits(rec.Limits, *r), rec.Limits) {
		if update {
			merged := MergeLimits(rec.Limits, *r)
			if err := checkMergedQuota(name, &merged); err != nil {
				return nil, info, err
			}
			if err := g.Update(&merged); err != nil {
				return nil, info, fmt.Errorf("update limits of %s: %w", name, err)
			}
			rec.Limits, info.Updated = merged, true
		} else {
			info.Kept = true
		}
	}
	info.Limits = rec.Limits
	if move != nil {
		add = move(g)
		if len(add) == 0 {
			return nil, info, errors.New("no process was moved")
		}
	}
	rec.Members = append(rec.Members, add...)
	if err := rec.Update(); err != nil {
		return nil, info, err
	}
	return g, info, nil
}

// parentIgnored tells whether a joiner asking for parent (as given) would
// have had the group rec describes made elsewhere, and where it is. The
// parent is resolved as Create resolves it (a relative one beneath the
// joiner's own cgroup) and compared with the directories the group is in,
// so how it is spelled does not matter, nor whether rec predates the
// recording of parents. When that cannot be told, nobody is warned.
func parentIgnored(parent string, rec *Record) (bool, string) {
	if parent == "" && os.Getenv(ParentEnv) == "" {
		// Asked for nothing: on v1 the default lies beneath each
		// caller's own cgroup, so joiners from other sessions would all
		// be "elsewhere", yet none chose a place.
		return false, ""
	}
	place, err := resolveParent(parent, rec.Version)
	if err != nil {
		return false, ""
	}
	differs, known := place.differsFrom(rec.Version, rec.Paths)
	if !differs || !known {
		return false, ""
	}
	return true, parentDir(rec.Paths[0])
}

// LeaveInfo says what Leave did.
type LeaveInfo struct {
	Removed bool // self was the last live member: the group is gone
	Killed  int  // processes the last member ended before removing it
}

// Leave removes self from the shared group name. The last live member out
// ends whatever is still in the group (processes of members that were
// killed, or that the commands left behind) and removes it. joined are the
// group's paths as self joined it: a record that names other directories
// now was rewritten meanwhile and is not acted on.
func Leave(name string, self Owner, joined []string) (LeaveInfo, error) {
	var info LeaveInfo
	l, err := lockName(name)
	if err != nil {
		return info, err
	}
	defer l.unlock()
	rec, err := readRecord(recordPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("state of %s: %w", name, err)
	}
	if !rec.Shared {
		return info, fmt.Errorf("%s is not a shared group", name)
	}
	if joined != nil && !slices.Equal(rec.Paths, joined) {
		return info, fmt.Errorf("%s: %w: its paths %v are not those of the group this run joined (%v)", rec.file, ErrRecordRefused, rec.Paths, joined)
	}
	if rec.Members = pruneMembers(rec.Members, &self); len(rec.Members) > 0 {
		return info, rec.Update()
	}
	if !rec.groupExists() {
		rec.Release()
		return info, nil
	}
	g, err := rec.Group()
	if err != nil {
		return info, err
	}
	defer g.Close()
	if ps, _ := g.Procs(); len(ps) > 0 {
		info.Killed = len(ps)
		if err := g.Kill(); err != nil {
			rec.Update()
			return info, err
		}
	}
	if err := g.Delete(); err != nil {
		rec.Update()
		return info, err
	}
	rec.Release()
	info.Removed = true
	return info, nil
}

// collectShared is GC for a shared record: under the lock, drop dead
// members; with none left, remove the group if it is empty (or kill is
// set), else keep it and report how many processes it holds. The result's
// Record is nil when there was nothing to report.
func collectShared(name string, kill bool) GCResult {
	l, err := lockName(name)
	if err != nil {
		return GCResult{Record: &Record{Name: name}, Err: err}
	}
	defer l.unlock()
	return collectSharedLocked(name, kill)
}

// collectSharedLocked is collectShared for a caller holding the lock.
func collectSharedLocked(name string, kill bool) GCResult {
	rec, err := readRecord(recordPath(name))
	if err != nil || !rec.Shared {
		return GCResult{}
	}
	if rec.Members = pruneMembers(rec.Members, nil); len(rec.Members) > 0 {
		rec.Update()
		return GCResult{}
	}
	res := GCResult{Record: rec}
	if !rec.groupExists() {
		rec.Release()
		res.Removed = true
		return res
	}
	g, err := rec.Group()
	if err != nil {
		res.Err = err
		return res
	}
	defer g.Close()
	if ps, _ := g.Procs(); len(ps) > 0 {
		if !kill {
			res.Procs = len(ps)
			res.Err = rec.Update()
			return res
		}
		if res.Err = g.Kill(); res.Err != nil {
			return res
		}
	}
	if res.Err = g.Delete(); res.Err == nil {
		rec.Release()
		res.Removed = true
	}
	return res
}

// MergeLimits returns old with every limit that r sets written over it.
func MergeLimits(old, r Resources) Resources {
	out := old
	if r.CPUPercent > 0 {
		out.CPUPercent = r.CPUPercent
	}
	if r.CPUPeriod > 0 {
		out.CPUPeriod = r.CPUPeriod
	}
	if r.CPUWeight > 0 {
		out.CPUWeight = r.CPUWeight
	}
	if r.Cpuset != "" {
		out.Cpuset = r.Cpuset
	}
	if r.Mem > 0 {
		out.Mem = r.Mem
	}
	if r.MemHigh > 0 {
		out.MemHigh = r.MemHigh
	}
	if r.SwapSet {
		out.Swap, out.SwapSet = r.Swap, true
	}
	if r.Pids > 0 {
		out.Pids = r.Pids
	}
	for _, l := range r.IO {
		kept := out.IO[:0:0]
		for _, o := range out.IO {
			if o.Kind != l.Kind || o.Major != l.Major || o.Minor != l.Minor {
				kept = append(kept, o)
			}
		}
		out.IO = append(kept, l)
	}
	return out
}

// sameLimits compares limits as they are recorded.
func sameLimits(a, b Resources) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Find returns the record of a live group by name, and the group.
func Find(name string) (*Record, *Group, error) {
	if err := ValidName(name); err != nil {
		return nil, nil, err
	}
	rec, err := readRecord(recordPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("no group %s (rcon ps lists them)", name)
	}
	if err != nil {
		return nil, nil, err
	}
	if !rec.groupExists() {
		return nil, nil, fmt.Errorf("group %s is recorded but does not exist (yet, or any more)", name)
	}
	g, err := rec.Group()
	return rec, g, err
}

// ErrBelowUsage refuses a memory limit below what the group uses now.
var ErrBelowUsage = errors.New("memory limit below current usage")

// checkMergedQuota refuses a CPU quota below the kernel's minimum in the
// limits a live group is about to get: checked on the merged limits, as a
// new --cpu meets the group's own period, a new --cpu-period its own
// percentage (rcon set, --update).
func checkMergedQuota(name string, merged *Resources) error {
	if period, quota := merged.quota(); merged.CPUPercent > 0 && quota < MinCPUQuotaUS {
		return fmt.Errorf("%w: %s: %g%% of its %d µs period is a quota of %d µs, below the kernel's minimum of %d µs",
			ErrBadLimits, name, merged.CPUPercent, period, quota, MinCPUQuotaUS)
	}
	return nil
}

// ErrBadLimits is a limit the kernel would refuse, found before writing it.
var ErrBadLimits = errors.New("invalid limits")

// SetLimits writes the limits r sets over those of the live group name
// and records them, under the name's lock. A hard memory limit below the
// group's current usage is refused with ErrBelowUsage unless force is set;
// on cgroup v1 the kernel then tries to reclaim down to it and refuses
// with EBUSY if it cannot, which is reported as such.
func SetLimits(name string, r *Resources, force bool) (*Record, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	l, err := lockName(name)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	rec, g, err := Find(name)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	merged := MergeLimits(rec.Limits, *r)
	if err := checkMergedQuota(name, &merged); err != nil {
		return nil, err
	}
	if r.Mem > 0 {
		if st, err := g.Stats(); err == nil && uint64(r.Mem) < st.MemCurrent && !force {
			return nil, fmt.Errorf("%w: %s uses %s now, the new limit is %s; on cgroup v%d the kernel would %s (--force does it anyway)",
				ErrBelowUsage, name, FormatSize(int64(st.MemCurrent)), FormatSize(r.Mem), g.Version, belowUsageEffect(g.Version))
		}
	}
	if err := g.Update(&merged); err != nil {
		if errors.Is(err, syscall.EBUSY) && r.Mem > 0 {
			return nil, fmt.Errorf("%w: the kernel could not reclaim %s down to %s (EBUSY); the limit is unchanged", ErrBelowUsage, name, FormatSize(r.Mem))
		}
		return nil, fmt.Errorf("set limits of %s: %w", name, err)
	}
	rec.Limits = merged
	if err := rec.Update(); err != nil {
		return nil, err
	}
	return rec, nil
}

func belowUsageEffect(v Version) string {
	if v == V1 {
		return "try to reclaim down to it and refuse (EBUSY) if it cannot"
	}
	return "reclaim down to it and, failing that, OOM-kill processes in the group"
}

// Attach moves the processes pids, with all their threads, into the group
// name: a new shared group with limits r if there is none (its members are
// these processes), an existing shared group (they join it; update as in
// Join), or the live group of a single run (they become part of that run
// and end with it). It returns the group, what the join found, and one
// error per pid that could not be moved.
func Attach(parent, name string, r *Resources, pids []int, update bool) (*Group, JoinInfo, []error, error) {
	if err := r.Check(); err != nil {
		return nil, JoinInfo{}, nil, err
	}
	var errs []error
	var add []Member
	for _, pid := range pids {
		m, err := attachable(pid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		add = append(add, m)
	}
	if len(add) == 0 {
		return nil, JoinInfo{}, errs, errors.New("no process to attach")
	}
	if name == "" {
		name = fmt.Sprintf("rcon-attach-%d-%d", add[0].PID, add[0].Start)
	}
	move := func(g *Group) []Member {
		var moved []Member
		for _, m := range add {
			if err := g.move(m); err != nil {
				errs = append(errs, err)
				continue
			}
			moved = append(moved, m)
		}
		return moved
	}
	g, info, err := join(parent, name, r, add, update, move)
	return g, info, errs, err
}

// attachable checks that pid may be moved by the caller: not pid 1, not
// rcon itself, and (unless root) a process of the caller's own uid.
func attachable(pid int) (Member, error) {
	if pid <= 1 || pid == os.Getpid() {
		return Member{}, fmt.Errorf("pid %d: refusing to move it", pid)
	}
	start, err := startTime(pid)
	if err != nil {
		return Member{}, fmt.Errorf("pid %d: no such process", pid)
	}
	if euid := os.Geteuid(); euid != 0 {
		var st unix.Stat_t
		if err := unix.Stat("/proc/"+strconv.Itoa(pid), &st); err != nil || int(st.Uid) != euid {
			return Member{}, fmt.Errorf("pid %d: not your process (only root moves other users' processes)", pid)
		}
	}
	// The pid was looked up in /proc, so it is of /proc's namespace.
	view, err := procView()
	if err != nil {
		return Member{}, err
	}
	m := Member{Owner: Owner{PID: pid, Start: start, PidNS: view.PidNS}, Attached: true}
	if data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		m.Command = strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
	}
	return m, nil
}

// move writes the process to cgroup.procs of each of the group's
// directories, which moves all its threads at once (v1 and v2).
func (g *Group) move(m Member) error {
	if !m.Alive() {
		return fmt.Errorf("pid %d: exited", m.PID)
	}
	for _, d := range g.Paths() {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(m.PID)), 0); err != nil {
			return fmt.Errorf("pid %d: move into %s: %w", m.PID, d, err)
		}
	}
	return nil
}
