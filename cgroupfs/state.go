package cgroupfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// StateEnv overrides the state directory.
const StateEnv = "RCON_STATE_DIR"

// Record is the state file of one group. It is written before the group is
// created and removed after the group is, so every group rcon made has one;
// that is how `rcon gc` and `rcon ps` find groups and their owners without
// scanning cgroup trees.
type Record struct {
	Name    string   `json:"name"`
	Version Version  `json:"version"`
	Paths   []string `json:"paths"`
	// MadeParents lists the Paths whose parent directory rcon may remove
	// once empty (see Group). OwnParent is what rcons before it wrote:
	// true meant all of them.
	MadeParents []string  `json:"made_parents,omitempty"`
	OwnParent   bool      `json:"own_parent,omitempty"`
	Owner       Owner     `json:"owner"`
	Command     []string  `json:"command"`
	Limits      Resources `json:"limits"`
	Created     time.Time `json:"created"`
	// Shared groups (rcon --shared, rcon attach) outlive any one run: they
	// live while a member lives. Members are changed only under the
	// name's lock (see shared.go); Owner is then the creator.
	Shared  bool     `json:"shared,omitempty"`
	Members []Member `json:"members,omitempty"`
	// Parent is the parent as asked when the group was made (empty: the
	// default), for people reading records. Whether a joiner asked for
	// another is told from Paths, which records of every version have.
	Parent string `json:"parent,omitempty"`
	file   string
	// lockHeld: the caller holds the name's lock (join), so Claim must not
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

// Owner identifies the rcon process that owns a group. A pid alone can be
// reused after the owner dies; pid plus start time (in clock ticks since
// boot, /proc/PID/stat field 22) cannot. A pid means something only in
// one pid namespace: PID is the pid as the /proc rcon sees shows it, and
// PidNS the inode of that /proc's pid namespace (0 in records of older
// rcons, which ran in the initial one as far as can be told).
type Owner struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	PidNS uint64 `json:"pidns,omitempty"`
}

// initPidNS is the inode of the initial pid namespace (the kernel's fixed
// PROC_PID_INIT_INO).
const initPidNS = 0xEFFFFFFC

// procView is how this process sees pids through /proc: its own pid there
// and the pid namespace /proc belongs to. Inside a pid namespace /proc
// may still be the host's (getpid() says 2, /proc/2 is someone else) or
// a fresh one (every host pid is missing): rcon names itself, and judges
// owners, in /proc's terms only.
var procView = sync.OnceValues(func() (view Owner, err error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return view, fmt.Errorf("read /proc/self/status: %w", err)
	}
	var nspid []string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			nspid = strings.Fields(v)
		}
	}
	if len(nspid) == 0 { // kernels before 4.1: /proc is taken to be ours
		nspid = []string{strconv.Itoa(os.Getpid())}
	}
	// NSpid lists the pid from /proc's namespace down to our own: one
	// entry means /proc is of our namespace; more, of an ancestor's.
	if view.PID, err = strconv.Atoi(nspid[0]); err != nil {
		return view, fmt.Errorf("/proc/self/status: NSpid %q: %w", nspid, err)
	}
	if len(nspid) == 1 {
		view.PidNS, err = pidNSOf("self")
		return view, err
	}
	view.PidNS, err = ancestorPidNS(view.PID)
	return view, err
})

func pidNSOf(pid string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+pid+"/ns/pid", &st); err != nil {
		return 0, fmt.Errorf("pid namespace of %s: %w", pid, err)
	}
	return st.Ino, nil
}

// ancestorPidNS finds the pid namespace of /proc when it is not ours: that
// of the nearest ancestor process /proc shows as being in it (one NSpid
// entry) whose namespace link we may read (/proc/1's often is not: init
// is more privileged).
func ancestorPidNS(pid int) (uint64, error) {
	for i := 0; i < 64 && pid > 1; i++ {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		f := StatFields(data)
		if err != nil || len(f) < 2 {
			break
		}
		if pid, err = strconv.Atoi(f[1]); err != nil || pid == 0 {
			break
		}
		status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			break
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "NSpid:"); ok && len(strings.Fields(v)) == 1 {
				if ns, err := pidNSOf(strconv.Itoa(pid)); err == nil {
					return ns, nil
				}
			}
		}
	}
	return 0, errors.New("this pid namespace's /proc is an outer namespace's, which cannot be identified from here: mount a /proc of its own (rcon --unshare pid,mount does)")
}

// Self is the calling process as an Owner.
func Self() (Owner, error) {
	o, err := procView()
	if err != nil {
		return Owner{}, err
	}
	if o.Start, err = startTime(o.PID); err != nil {
		return Owner{}, err
	}
	return o, nil
}

// Visible tells whether this process can judge the owner: its pid is of
// the pid namespace this process's /proc shows.
func (o Owner) Visible() bool {
	view, err := procView()
	if err != nil {
		return false
	}
	ns := o.PidNS
	if ns == 0 {
		ns = initPidNS
	}
	return ns == view.PidNS
}

// Alive reports whether the owner process still runs. A zombie does not:
// it can no longer act, and its parent may be slow to reap it. An owner
// of another pid namespace than this process's /proc cannot be looked up,
// so it counts as alive: nothing of its is ever collected from here.
func (o Owner) Alive() bool {
	if !o.Visible() {
		return true
	}
	st, state, err := procStat(o.PID)
	return err == nil && st == o.Start && state != "Z" && state != "X"
}

func startTime(pid int) (uint64, error) {
	st, _, err := procStat(pid)
	return st, err
}

// procStat reads a process's start time and state from /proc/PID/stat.
func procStat(pid int) (uint64, string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", err
	}
	f := StatFields(data)
	if len(f) < 20 {
		return 0, "", fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	return st, f[0], err
}

// StatFields splits the contents of /proc/PID/stat after the command name
// (field 2, which may hold spaces and parentheses, so it ends at the last
// ')'): [0] is the state, [1] the parent pid, [19] the start time. Nil
// if malformed.
func StatFields(data []byte) []string {
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

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

// ErrNameInUse means a live run already owns a group of that name.
var ErrNameInUse = errors.New("group name in use")

// staleAge is how old a temporary file or an unreadable record must be
// before it is removed: records are published whole (see publish), so an
// unreadable one is not being written by this version, but one written in
// place by an older rcon may still be.
const staleAge = 5 * time.Second

// claimTempPrefix names the temporary files Claim publishes records from.
const claimTempPrefix = ".claim-"

// Claim writes rec's state file, failing with ErrNameInUse if a live owner
// holds the name. A record left by a dead owner is collected first. The
// exclusive publish is what keeps two runs from sharing a name.
func Claim(rec *Record) error {
	dir := StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := checkStateDir(dir); err != nil {
		return err
	}
	// rec.file is set only once the record is ours: a Claim that fails
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
				return fmt.Errorf("%w: %s has an unreadable record (%v), kept until it is %v old", ErrNameInUse, rec.Name, rerr, staleAge)
			}
			continue
		case rerr != nil:
			return fmt.Errorf("state of %s: %w", rec.Name, rerr)
		}
		if old.Shared {
			// Shared records change under their lock only.
			if old.Live() {
				return fmt.Errorf("%w: %s is a shared group with live members", ErrNameInUse, rec.Name)
			}
			collect := collectShared
			if rec.lockHeld {
				collect = collectSharedLocked
			}
			if r := collect(rec.Name, false); r.Err != nil || r.Procs > 0 {
				return fmt.Errorf("%w: %s is a shared group left with %d process(es)", ErrNameInUse, rec.Name, r.Procs)
			}
			continue
		}
		if old.Owner.Alive() {
			return fmt.Errorf("%w: %s is run by pid %d", ErrNameInUse, rec.Name, old.Owner.PID)
		}
		if n, _, err := collectDead(old, false, rec.lockHeld); err != nil || n > 0 {
			return fmt.Errorf("%w: %s is left by a dead rcon and still busy (%d process(es)): %v", ErrNameInUse, rec.Name, n, err)
		}
	}
	return fmt.Errorf("%w: %s", ErrNameInUse, rec.Name)
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

// Update rewrites an existing record in one step, for readers and for
// its owner alike: the new content is swapped in (RENAME_EXCHANGE), so if
// the owner removed the record meanwhile nothing is re-created and the
// error wraps os.ErrNotExist. Callers hold the name's lock (shared.go),
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

// stateFiles lists the records' paths, sorted (ReadDir sorts), and the
// temporary files Claim publishes them from.
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

// sweepTemps removes Claim's temporary files left by writers killed
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
func (rec *Record) Group() (*Group, error) {
	made := rec.MadeParents
	if made == nil && rec.OwnParent {
		made = rec.Paths
	}
	return Open(rec.Name, rec.Version, rec.Paths, made)
}

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
		if errors.Is(err, ErrRecordRefused) {
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			out = append(out, GCResult{Record: &Record{Name: name}, Err: fmt.Errorf("%w; nothing was done with it (remove the file once you know who wrote it)", err)})
			continue
		}
		if err == nil && max == 0 && !rec.Shared && !rec.Owner.Visible() {
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
	exists := false
	for _, p := range rec.Paths {
		if _, err := os.Stat(p); err == nil {
			exists = true
		}
	}
	if !exists {
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
	if len(ps) > 0 {
		if !kill {
			return len(ps), nil
		}
		if err := g.Kill(); err != nil {
			return len(ps), err
		}
	}
	if err := g.Delete(); err != nil {
		return 0, err
	}
	rec.Release()
	return 0, nil
}
