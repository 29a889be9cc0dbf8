package launch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"rcon/cgroupfs"
	"rcon/nsjail"
	"rcon/registry"
	"rcon/spec"

	"golang.org/x/sys/unix"
)

// Exit statuses, as timeout(1) and env(1) use them.
const (
	ExitFailure     = 125 // the tool itself failed: bad flag, cgroup error
	ExitNotExec     = 126 // command found but could not be run
	ExitNotFound    = 127 // command not found
	exitSignalBase  = 128
	gcPerStart      = 32 // orphan records examined at each start
	waitAllInterval = 50 * time.Millisecond
)

// forwarded are the signals rcon passes on to the command. SIGINT and
// SIGQUIT are special: see fromTerminal.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGINT, syscall.SIGALRM, syscall.SIGWINCH}

// Failure is an error the tool reports with a status of its own.
type Failure struct {
	Status int
	Err    error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

func fail(status int, format string, a ...any) *Failure {
	return &Failure{Status: status, Err: fmt.Errorf(format, a...)}
}

// Run carries out s and returns the exit status for the tool: the
// command's own, 128+N if a signal N ended it, or one of the Exit*
// statuses. Messages go to stderr prefixed with the tool's name.
func Run(sp *spec.Spec) int {
	s := newJob(sp)
	status, err := s.run()
	if err != nil {
		return Exit(s.tool(), err)
	}
	return status
}

// Exit prints err the way both tools (and the namespace init) do and
// returns the exit status it maps to: a Failure's own, else ExitFailure.
func Exit(tool string, err error) int {
	fmt.Fprintf(os.Stderr, "%s: %v\n", tool, err)
	var f *Failure
	if errors.As(err, &f) {
		return f.Status
	}
	return ExitFailure
}

// steps is what run's steps hand on to each other: check makes it, the
// later steps fill it in.
type steps struct {
	cmd        *exec.Cmd
	plan       startPlan // what the start thread does before it forks
	tty        bool      // rcon is in the terminal's foreground process group
	newSession bool      // the command gets a session of its own
	statsFile  *os.File  // --stats-json's, opened before anything runs
	rg         *runGroup // nil: no group
	// reap: without a group, rcon is the subreaper of what the command
	// leaves in its namespaces; inherited are children it had before.
	reap      bool
	inherited map[int]bool
	started   time.Time
}

// run carries the job out, one step after the other.
func (s *job) run() (int, error) {
	if len(s.Argv) == 0 {
		return 0, fail(ExitFailure, "no command given")
	}
	// Signals are caught before anything is created, so one arriving
	// early cannot kill rcon and strand a group; one that comes before the
	// command exists is passed on as soon as it does.
	// (No signal.Stop: rcon exits right after Run, and Stop waits for
	// the signal machinery to go idle, which costs every run.)
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded...)

	st, err := s.check()
	if err != nil {
		return 0, err
	}
	if st.statsFile != nil {
		defer st.statsFile.Close()
	}
	if err := s.group(st); err != nil {
		return 0, err
	}
	if err := s.prepare(st); err != nil {
		st.rg.end(s)
		return 0, err
	}
	if err := s.start(st); err != nil {
		st.rg.end(s)
		return 0, err
	}
	ws := s.wait(st, sigs)
	return s.finish(st, ws), nil
}

// check is step 1: everything that can be checked without side effects,
// so bad input never leaves a half-made group behind.
func (s *job) check() (*steps, error) {
	path, err := lookPath(s.Argv[0])
	if err != nil {
		return nil, err
	}
	cred, err := s.credential()
	if err != nil {
		return nil, fail(ExitFailure, "%v", err)
	}
	if s.protectSys(cred) {
		if !s.jail.WantsUser() && !nsjail.HasSysAdmin() {
			return nil, fail(ExitFailure, "%v", errProtectNeedsSysAdmin)
		}
		s.jail = withProtectSys(s.jail)
	}
	s.chooseDriver()
	if s.Fit && !s.NoCgroup {
		if !s.jail.WantsUser() && !nsjail.HasSysAdmin() {
			return nil, fail(ExitFailure, "--fit binds the files it tells the command in a mount namespace, which needs CAP_SYS_ADMIN (root); add --unshare user to use it unprivileged")
		}
		s.jail = withMount(s.jail) // for the files fitFiles binds
	}
	s.hideState()
	s.hideManagers(cred)
	// The namespaces normalized and checked once, here: what nsPrepare
	// would refuse is refused before any group, and whether the init
	// takes the command's place is known from now on.
	if s.jail != nil {
		ns, err := normalizedNS(s)
		if err != nil {
			return nil, fail(ExitFailure, "%v", err)
		}
		s.jail, s.viaInit = ns, !ns.Empty() && needsInit(s, ns)
	}
	st := &steps{cmd: &exec.Cmd{Path: path, Args: s.Argv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}}
	st.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if s.viaInit {
		// The init applies the plan to the command (initMain), not this
		// process to the init; in a new user namespace the capabilities
		// are even the init's there (all of them, for its root), not the
		// caller's on the host. Here only the names are checked, so bad
		// input still fails before anything starts.
		if s.Caps != nil {
			err = s.Caps.Validate()
		}
	} else {
		st.plan.caps, err = s.capsPlan(st.cmd)
	}
	if err != nil {
		return nil, fail(ExitFailure, "%v", err)
	}
	// tty: rcon is in the terminal's foreground process group, and the
	// command with it unless it gets a session of its own.
	st.tty = fromTerminal()
	st.newSession = s.newSession(cred)
	if st.statsFile, err = openStatsJSON(s.StatsJSON); err != nil {
		return nil, err
	}
	return st, nil
}

// group is step 2: the run's own group, or a shared one it joins.
// Orphans of killed runs are swept first (bounded).
func (s *job) group(st *steps) error {
	if s.NoCgroup {
		return nil
	}
	if s.scope {
		// Asked for by name: no falling back to running without a group.
		rg, err := s.openScope()
		if err != nil {
			return fail(ExitFailure, "%v", err)
		}
		st.rg = rg
		return nil
	}
	rg, err := s.openGroup()
	if err != nil {
		if s.noScope != "" {
			// The scope the default would have made was not to be had.
			err = fmt.Errorf("%w; not a systemd scope either: %s", err, s.noScope)
		}
		if !s.groupOptional() {
			return fail(ExitFailure, "%v", err)
		}
		fmt.Fprintf(os.Stderr, "%s: note: running without a cgroup, so without accounting: %v\n", s.tool(), err)
		return nil
	}
	st.rg = rg
	return nil
}

// prepare is step 3: what the command is to be told (--fit), its
// namespaces and its session.
func (s *job) prepare(st *steps) error {
	if s.Fit && st.rg != nil {
		// The figures come from the limits that hold (a shared group's)
		// and what the group uses already, so only now. A scope is made
		// only at the start, with the held pid (scope.go): it uses
		// nothing yet.
		g := st.rg.group()
		if st.rg.isScope() && st.rg.shared != "" {
			// A live shared scope is joined only at the start: its
			// limits and usage are those to tell now (a scope made at
			// the start uses nothing and has the run's limits).
			if lim, sg, ok := registry.PeekSharedScope(st.rg.shared); ok {
				s.limits, g = lim, sg
				defer sg.Close()
			}
		}
		if err := s.fit(st.cmd, g); err != nil {
			return fail(ExitFailure, "--fit: %v", err)
		}
	}
	if s.jail != nil {
		// Namespaces come before the capability plan on the start thread,
		// or move it into an init that applies the plan to the command.
		if err := nsPrepare(st.cmd, s, &st.plan, st.newSession && st.tty); err != nil {
			return fail(ExitFailure, "%v", err)
		}
	}
	// After nsPrepare, which may replace SysProcAttr with the init's: then
	// the init is the session leader, and the command is in its session.
	st.cmd.SysProcAttr.Setsid = st.newSession
	// Without a group nothing ends what the command leaves in its
	// namespaces (the init does only on the init path): be its subreaper.
	st.reap = st.rg == nil && s.jail != nil && !s.jail.Empty()
	if st.reap {
		st.inherited = inheritedChildren()
		if err := becomeSubreaper(); err != nil {
			return fail(ExitFailure, "prctl(PR_SET_CHILD_SUBREAPER): %v", err)
		}
	}
	return nil
}

// start is step 4: the command starts inside its group: it must be there
// before it execs (on v1, memory it touches before a move stays charged
// outside).
func (s *job) start(st *steps) error {
	st.started = time.Now()
	if st.rg.isScope() {
		return s.startScope(st)
	}
	g := st.rg.group()
	if g != nil && !s.viaInit {
		if err := g.LendStartSlot(); err != nil {
			return fail(ExitFailure, "%v", err)
		}
	}
	err := startIn(st.cmd, g, &st.plan)
	if initConfigFD >= 0 {
		unix.Close(initConfigFD) // the init has its own copy
		initConfigFD = -1
	}
	if err != nil {
		return startFailure(s.Argv[0], st.cmd, err)
	}
	return nil
}

// wait is step 5: until the command exits (and with --wait-all what it
// left), passing signals on.
func (s *job) wait(st *steps, sigs <-chan os.Signal) syscall.WaitStatus {
	cmd, tty := st.cmd, st.tty
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var jobs *jobControl
	if st.newSession {
		// The terminal signals rcon only: forward everything.
		if tty {
			jobs = relayJobControl()
		}
		tty = false
	}
	sample, stopSample := s.sampleTicker(st.rg)
	defer stopSample()
	for waiting := true; waiting; {
		select {
		case <-sample:
			st.rg.sampleLevel()
		case sig := <-sigs:
			if terminalSent(sig, tty) || jobs.fromTerminal(sig, cmd.Process.Pid) {
				continue
			}
			_ = cmd.Process.Signal(sig)
		case sig := <-jobs.channel():
			jobs.handle(sig, cmd.Process.Pid)
		case <-done:
			waiting = false
			if sample != nil {
				// Now, before systemd removes the emptied scope.
				st.rg.sampleLevel()
			}
		}
	}
	jobs.stop()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	g := st.rg.group()
	switch {
	case st.reap && s.WaitAll:
		waitDescendants(sigs, waitAllInterval, st.inherited, tty)
	case st.reap:
		endDescendants(nil, st.inherited)
	case s.WaitAll && g != nil:
		waitGone(g.Procs, sigs, waitAllInterval, tty)
	}
	return ws
}

// finish is step 6: account, end what is left, remove (or leave) the
// group, report. It returns rcon's exit status.
func (s *job) finish(st *steps, ws syscall.WaitStatus) int {
	wall := time.Since(st.started)
	var stats cgroupfs.Stats
	left := 0
	var endErr error
	if st.rg != nil {
		stats, left = st.rg.stats(s.Stats || s.StatsJSON != ""), st.rg.leftover()
		endErr = st.rg.end(s)
	}
	status := exitStatus(ws)
	r := &Report{job: s, Status: status, WaitStatus: ws, Wall: wall, Stats: stats, LeftOver: left, statsFile: st.statsFile}
	r.tell()
	if endErr != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", s.tool(), endErr)
		return afterCleanupFailure(status)
	}
	return status
}

// afterCleanupFailure is the exit status of a run whose command ended
// with status but whose group could not be ended or removed afterwards
// (both are reported on stderr, with the OOM report and the stats). A
// command that failed keeps its own status: that is what a caller
// scripts against, and it already says "failed". A command that
// succeeded gives 125: a status of 0 would hide that rcon left a group
// (and its record, for gc) behind.
func afterCleanupFailure(status int) int {
	if status != 0 {
		return status
	}
	return ExitFailure
}

// startIn starts cmd so that it is born inside g, with plan applied to
// the thread it is forked from.
func startIn(cmd *exec.Cmd, g *cgroupfs.Group, plan *startPlan) error {
	if g != nil {
		if fd := g.CgroupFD(); fd >= 0 {
			cmd.SysProcAttr.UseCgroupFD = true
			cmd.SysProcAttr.CgroupFD = fd
		}
	}
	// Without an fd the command is born in its group by a start thread
	// that enters it first (v1; on v2 EnterThread refuses instead).
	needThread := !plan.empty() || (g != nil && !cmd.SysProcAttr.UseCgroupFD)
	if !needThread {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	// release lets the start thread go once the group no longer needs it
	// to hold the slot it took (see Group.StartDone).
	release := make(chan struct{})
	defer close(release)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			startLocked(cmd, g, plan, errc, release)
			return
		}
		// This is the main thread, which can never exit, so it must not be
		// changed. Holding it locked keeps the nested goroutine off it;
		// then it is given back untouched.
		inner := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			startLocked(cmd, g, plan, inner, release)
		}()
		err := <-inner
		runtime.UnlockOSThread()
		errc <- err
	}()
	err := <-errc
	if err == nil && g != nil {
		// From this goroutine, not the start thread: the plan may have
		// dropped that thread's right to write the group's files.
		if err := g.StartDone(); err != nil {
			return &Failure{Status: ExitFailure, Err: err}
		}
	}
	return err
}

// startLocked runs on a locked thread other than the main one, which it
// never unlocks: the thread's cgroup or credentials are changed, so Go
// must end it when the goroutine returns instead of reusing it. Once the
// command is started it waits for release: the thread is still in the
// group until then.
func startLocked(cmd *exec.Cmd, g *cgroupfs.Group, plan *startPlan, errc chan<- error, release <-chan struct{}) {
	if g != nil {
		if err := g.EnterThread(); err != nil {
			errc <- &Failure{Status: ExitFailure, Err: err}
			return
		}
	}
	if err := plan.apply(); err != nil {
		errc <- &Failure{Status: ExitFailure, Err: err}
		return
	}
	errc <- cmd.Start()
	<-release
}

// startFailure maps a failed cmd.Start to an exit status. Go reports an
// error of its child (after the fork, before the exec) and one of execve
// itself the same way, a bare errno, so the errno and what the child had
// to do decide:
//
//   - 127: ENOENT. Only execve can give it (the file or its interpreter is
//     missing): we never set Dir or Chroot, the child's only steps that
//     look up paths.
//   - 126 ("found but could not be run", as shells say): errnos only
//     execve gives here: EACCES (no x bit, a noexec mount, an LSM),
//     ENOEXEC, EISDIR, ETXTBSY, ENOTDIR, ELOOP, ENAMETOOLONG, E2BIG,
//     ELIBBAD.
//   - EPERM is both. execve gives it for a file whose capabilities (with
//     the effective bit) exceed the bounding set, which capcon itself
//     prunes: `capcon --keep none -- ping`. But setgroups, setgid, setuid,
//     the ambient raise and clone(CLONE_NEW*) in Go's child give it too,
//     and those are the tool's failures (125): `--user` in a user
//     namespace with one id mapped, say. So EPERM is 126 when the child
//     had none of those steps, or when the file has file capabilities
//     (what makes execve say EPERM); else 125. An LSM or seccomp filter
//     refusing the exec with EPERM after such steps is misreported as 125.
//   - Everything else is ours, 125: EINVAL (an id that does not map),
//     EAGAIN (fork against a pids limit, or RLIMIT_NPROC for the new
//     user, which execve checks), ENOMEM, EBADF (the cgroup fd), ...
//
// lookPath has already refused what it could tell (missing, directory,
// no x bit), so these are races, interpreters and the kernel's own
// reasons.
func startFailure(name string, cmd *exec.Cmd, err error) error {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	if a := cmd.SysProcAttr; a != nil && a.UseCgroupFD &&
		(errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)) && runnable(cmd.Path) {
		// clone3(CLONE_INTO_CGROUP) says EACCES when the caller may not
		// write the cgroup.procs of the common ancestor (an unprivileged
		// user's group in another session's subtree), ENOENT across an
		// nsdelegate boundary: the group's fault, not the file's, which
		// is still there and runnable.
		return &Failure{Status: ExitFailure, Err: fmt.Errorf("start %s in its group (clone3 into the cgroup): %w", name, err)}
	}
	switch {
	case errors.Is(err, syscall.ENOENT):
		return &Failure{Status: ExitNotFound, Err: fmt.Errorf("%s: %w", name, err)}
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.ENOEXEC), errors.Is(err, syscall.EISDIR),
		errors.Is(err, syscall.ETXTBSY), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ELOOP),
		errors.Is(err, syscall.ENAMETOOLONG), errors.Is(err, syscall.E2BIG), errors.Is(err, syscall.ELIBBAD):
		return &Failure{Status: ExitNotExec, Err: fmt.Errorf("%s: %w", name, err)}
	case errors.Is(err, syscall.EPERM):
		if !childSetup(cmd.SysProcAttr) || execDenies(cmd.Path) {
			return &Failure{Status: ExitNotExec, Err: fmt.Errorf("%s: %w", name, err)}
		}
		return &Failure{Status: ExitFailure, Err: fmt.Errorf("start %s: %w (switching user or groups, raising ambient capabilities or creating namespaces before the exec)", name, err)}
	}
	return &Failure{Status: ExitFailure, Err: fmt.Errorf("start %s: %w", name, err)}
}

// runnable tells whether execve could run path as far as one can see
// from outside: a regular file we may execute, and for a script an
// interpreter that is there too.
func runnable(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || unix.Access(path, unix.X_OK) != nil {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := f.Read(head)
	line, ok := bytes.CutPrefix(head[:n], []byte("#!"))
	if !ok {
		return true
	}
	line, _, _ = bytes.Cut(line, []byte("\n"))
	fields := bytes.Fields(line)
	return len(fields) > 0 && unix.Access(string(fields[0]), unix.X_OK) == nil
}

// childSetup reports whether Go's child does anything that can fail with
// EPERM between fork and exec.
func childSetup(a *syscall.SysProcAttr) bool {
	return a != nil && (a.Credential != nil || len(a.AmbientCaps) > 0 || a.Cloneflags != 0 ||
		a.Unshareflags != 0 || a.UidMappings != nil || a.GidMappings != nil || a.Chroot != "" ||
		a.Setsid || a.Setpgid || a.Setctty || a.Ptrace || a.Foreground)
}

// execDenies reports whether the file has what makes execve fail with
// EPERM: file capabilities (security.capability). (The set-id cases the
// man page lists, nosuid or traced, are downgrades on current kernels,
// not errors.)
func execDenies(path string) bool {
	_, err := unix.Getxattr(path, "security.capability", nil)
	return err == nil
}

// lookPath finds the command as execvp would, telling "not there" (127)
// from "there but not runnable" (126).
func lookPath(name string) (string, error) {
	check := func(p string) (bool, error) {
		st, err := os.Stat(p)
		if err != nil {
			return false, nil
		}
		if st.IsDir() {
			return true, fail(ExitNotExec, "%s: is a directory", p)
		}
		if unix.Access(p, unix.X_OK) != nil {
			return true, fail(ExitNotExec, "%s: permission denied", p)
		}
		return true, nil
	}
	if strings.Contains(name, "/") {
		found, err := check(name)
		if !found {
			return "", fail(ExitNotFound, "%s: no such file or directory", name)
		}
		return name, err
	}
	var denied error
	for _, dir := range strings.Split(os.Getenv("PATH"), ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		found, err := check(p)
		if found && err == nil {
			return p, nil
		}
		if found && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", fail(ExitNotFound, "%s: command not found", name)
}

// fromTerminal reports whether rcon runs in the foreground process group
// of a terminal. Then Ctrl-C and Ctrl-\ reach the command directly from
// the terminal (it shares rcon's process group), and forwarding them
// would deliver them twice.
func fromTerminal() bool {
	pgrp := unix.Getpgrp()
	for fd := 0; fd <= 2; fd++ {
		if fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP); err == nil && fg == pgrp {
			return true
		}
	}
	return false
}

func exitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return exitSignalBase + int(ws.Signal())
	}
	return ws.ExitStatus()
}
