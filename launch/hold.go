package launch

// The held start of the systemd driver. A transient scope needs a PID at
// its creation (StartTransientUnit with PIDs=[...]), and the command must
// not run one instruction of its own outside its limits. So rcon starts
// this binary again, as /proc/self/exe in "hold" mode, in the command's
// place: with the command's credentials, capability sets, ambient caps,
// no_new_privs, seccomp filter, session and namespaces of the thread path
// already applied by the ordinary start path (all of which survive the
// second execve). The held process says it is ready on an inherited
// socket, waits for one byte, then execve's the real command, which is
// then born in the scope. rcon meanwhile makes the scope with the held
// pid, waits for the job to be done and reads the limits back from the
// scope's files; only then does it send the byte. If anything fails the
// held process is killed: it never ran the command.
//
// Why not Delegate=yes with rcon itself in the scope (and clone3 into a
// leaf of it): rcon's own threads and memory would then count against
// --pids and --mem, and a delegated scope is the user's to write, so
// rcon would be writing a cgroup systemd calls its own subtree again.
// The held process's Go runtime threads exist before the scope does (it
// signals ready only once it is blocked), and a move into a group is not
// refused by pids.max, so even a tiny --pids holds; its few pages are
// charged where it was born (v2 charges do not move), and execve
// replaces all of it with the command.
//
// A run with no systemd driver pays one getenv for this (MaybeHold).

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"rcon/procfs"

	"golang.org/x/sys/unix"
)

// holdEnv names the fd of the held process's socket. Set alone it
// achieves nothing: the held process only ever exec's the argv it was
// given, as whoever started it, which anyone who can run rcon can do.
const holdEnv = "_RCON_HOLD"

// Bytes on the hold socket.
const (
	holdReady = 'r' // held process -> rcon: blocked, waiting
	holdGo    = 'g' // rcon -> held process: exec the command
)

// MaybeHold runs the hold mode and never returns when this process is a
// held start; otherwise it returns at once (one getenv). cmd/rcon calls
// it first thing, before fds are closed.
func MaybeHold() {
	v, ok := syscall.Getenv(holdEnv)
	if !ok {
		return
	}
	os.Exit(holdMain(v, os.Args))
}

// holdMain: args are [name, path, argv...].
func holdMain(v string, args []string) int {
	// First, before anything can wait: the held process has the
	// command's credentials and is not in its scope yet, so a process of
	// that uid could ptrace it and make it fork outside every group.
	// Undumpable, it cannot be attached to (but by CAP_SYS_PTRACE); the
	// execve of the command makes it dumpable again. What could attach
	// before this line (Go's start-up) rcon finds in checkAlone.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "rcon: held start: prctl(PR_SET_DUMPABLE): %v\n", err)
		return ExitFailure
	}
	fd, err := strconv.Atoi(v)
	var st unix.Stat_t
	if err != nil || fd < 3 || unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK || len(args) < 3 {
		fmt.Fprintf(os.Stderr, "rcon: refusing to run: %s is set but this is no held start\n", holdEnv)
		return ExitFailure
	}
	env := make([]string, 0, len(os.Environ()))
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, holdEnv+"=") {
			env = append(env, e)
		}
	}
	if _, err := unix.Write(fd, []byte{holdReady}); err != nil {
		return ExitFailure
	}
	b := []byte{0}
	if n, _ := unix.Read(fd, b); n != 1 || b[0] != holdGo {
		// rcon gave up (or died): the command never runs. rcon reports.
		return ExitFailure
	}
	unix.Close(fd)
	path, argv := args[1], args[2:]
	err = unix.Exec(path, argv, env)
	status := ExitNotExec
	if errors.Is(err, unix.ENOENT) {
		status = ExitNotFound
	}
	fmt.Fprintf(os.Stderr, "rcon: %s: %v\n", argv[0], err)
	return status
}

// held is rcon's end of a held start.
type held struct {
	parent, child int // socket ends; child is closed once it started
	// rcon is a child subreaper while the start is held (see guard), so
	// that whatever the held process was made to fork stays in reach.
	guarded, wasSubreaper bool
	inherited             map[int]bool // rcon's children from before (inheritedChildren)
}

// guard makes rcon a child subreaper until unguard: an orphan of
// anything the held process forks comes to rcon, not to the host's init,
// where checkAlone finds it.
func (h *held) guard() error {
	var v int32
	if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_GET_CHILD_SUBREAPER): %w", err)
	}
	h.wasSubreaper = v != 0
	h.inherited = inheritedChildren()
	if !h.wasSubreaper {
		if err := becomeSubreaper(); err != nil {
			return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
		}
	}
	h.guarded = true
	return nil
}

// unguard ends guard. From then on the held process is in its scope, and
// so is everything it forks.
func (h *held) unguard() {
	if h.guarded && !h.wasSubreaper {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	}
	h.guarded = false
}

// checkAlone tells whether the held process pid, now in its scope, is
// still only what rcon started: not traced (but by whoever traces rcon:
// strace -f), undumpable, and with no process made of it outside the
// scope. Such a process would be a child of the held one (alive or a
// zombie: it reaps nothing), or, once its parent died, rcon's (the
// subreaper). The held process's children are read before rcon's, so an
// orphan moving from one list to the other between the reads is in the
// second. The trace is checked before and after: an attach in between
// needs a dumpable process, which the first check excludes.
func (h *held) checkAlone(pid int) error {
	if err := untraced(pid); err != nil {
		return err
	}
	proc, err := os.Open("/proc")
	if err != nil {
		return fmt.Errorf("check the held start: %w", err)
	}
	defer proc.Close()
	if kids := childrenOf(proc, pid); len(kids) > 0 {
		return fmt.Errorf("the held start (pid %d) has child processes it never made (%v): something took it over before its scope held it; refusing to run the command", pid, kids)
	}
	keep := map[int]bool{pid: true}
	for k := range h.inherited {
		keep[k] = true
	}
	if strays := ours(children(proc), keep); len(strays) > 0 {
		return fmt.Errorf("processes came from the held start (pid %d) outside its scope (%v): something took it over; refusing to run the command", pid, strays)
	}
	return untraced(pid)
}

// untraced: pid is traced by nobody but rcon's own tracer, and is
// undumpable, so that its uid cannot attach to it (CAP_SYS_PTRACE over
// it can, root or its user namespace's owner: they could anyway). An
// undumpable process's /proc files belong to the uid its user
// namespace's root maps to (0 without one); where that is its own uid
// (uid 0, or a user mapped to root inside), dumpability cannot be read
// there and only the trace is checked.
func untraced(pid int) error {
	p := strconv.Itoa(pid)
	tracer, euid, err := procfs.TracerPid(p)
	if err != nil {
		return fmt.Errorf("check the held start: %w", err)
	}
	own, _, err := procfs.TracerPid("self")
	if err != nil {
		return fmt.Errorf("check the held start: %w", err)
	}
	if tracer != 0 && tracer != own {
		return fmt.Errorf("the held start (pid %d) is being traced by pid %d; refusing to run the command", pid, tracer)
	}
	if euid == procfs.RootOf(p) {
		return nil
	}
	if owner, err := procfs.DumpOwner(pid); err != nil {
		return fmt.Errorf("check the held start: %w", err)
	} else if owner == euid {
		return fmt.Errorf("the held start (pid %d) was made dumpable again; refusing to run the command", pid)
	}
	return nil
}

// holdCmd turns st.cmd into a held start of itself. The child's end of
// the socket is inherited at its own number (not close-on-exec), as the
// init's config memfd is: rcon forks nothing else meanwhile.
func holdCmd(st *steps) (*held, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair for the held start: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fds[1]), unix.F_SETFD, 0); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, fmt.Errorf("hold socket: %w", err)
	}
	cmd := st.cmd
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env[:len(env):len(env)], holdEnv+"="+strconv.Itoa(fds[1]))
	cmd.Args = append([]string{"rcon-hold", cmd.Path}, cmd.Args...)
	cmd.Path = "/proc/self/exe"
	return &held{parent: fds[0], child: fds[1]}, nil
}

// started closes rcon's copy of the child's end, so that a read sees EOF
// if the held process dies.
func (h *held) started() {
	if h.child >= 0 {
		unix.Close(h.child)
		h.child = -1
	}
}

// ready waits until the held process is blocked waiting.
func (h *held) ready() error {
	b := []byte{0}
	n, err := unix.Read(h.parent, b)
	if n != 1 || b[0] != holdReady {
		if err == nil {
			err = errors.New("it exited")
		}
		return fmt.Errorf("held start did not get ready: %w", err)
	}
	return nil
}

// release lets the held process exec the command.
func (h *held) release() error {
	_, err := unix.Write(h.parent, []byte{holdGo})
	unix.Close(h.parent)
	h.parent = -1
	if err != nil {
		return fmt.Errorf("release the held start: %w", err)
	}
	return nil
}

// close gives up: the held process reads EOF and exits without running
// the command.
func (h *held) close() {
	h.started()
	if h.parent >= 0 {
		unix.Close(h.parent)
		h.parent = -1
	}
}
