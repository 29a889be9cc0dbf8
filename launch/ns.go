package launch

// Namespaces. Two ways in, chosen per run by nsPrepare:
//
//   - thread path (mount, net, uts, ipc, cgroup on v1 or without a group):
//     no extra process. The start thread, already in the group, calls
//     unshare(2) and does the inside set-up (nsjail.UnshareThread) before
//     the capability plan is applied; the command is forked from it.
//   - init path (pid, user, chroot; cgroup on v2): the command's place is
//     taken by this binary re-executed as /proc/self/exe with the config in
//     a sealed memfd it inherits (initEnv names the fd). It is born in the group and in all new
//     namespaces at once (clone flags, id maps written by the parent), does
//     the inside set-up, then starts the real command with the caller's
//     credential and capability plan from a locked thread (startIn), as Run
//     would have, forwards signals, reaps every orphan, and exits with the
//     command's status (128+N when a signal N ended it). When the command
//     exits it kills what is left: with a pid namespace as PID 1
//     (kill(-1)), without one as a child subreaper (endDescendants).
//
// A run without namespaces pays nothing: MaybeInit is one getenv.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"unsafe"

	"rcon/cgroupfs"
	"rcon/nsjail"
	"rcon/spec"

	"golang.org/x/sys/unix"
)

// initEnv marks the re-executed init and names the fd of the memfd that
// holds its config as JSON. The variable alone proves nothing (anyone who
// starts rcon can set it, and a wrapped command that runs rcon again would
// pass it on): the init is only a process that also inherited, at that
// number, a memfd sealed against writes, which only the launcher makes
// (runc hands its init the config over an inherited pipe the same way).
// The init removes the variable from its environment and closes the fd
// before it starts the command.
const initEnv = "_RCON_NS_INIT"

// initSeals are the seals the launcher puts on the config memfd and the
// init requires: the content is fixed once it was written.
const initSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// initConfigFD is the launcher's copy of the config memfd, closed once the
// init has started (run).
var initConfigFD = -1

// initConfig is what the launcher hands the init.
type initConfig struct {
	Spec *spec.Spec          `json:"spec"` // Argv, Caps, WaitAll
	NS   *nsjail.Spec        `json:"namespaces"`
	Tool string              `json:"tool"`
	Path string              `json:"path,omitempty"` // resolved on the host; empty: look up inside (chroot)
	Dir  string              `json:"dir,omitempty"`
	Cred *syscall.Credential `json:"cred,omitempty"`
	// TermGroup: the launcher passes the terminal's SIGINT and SIGQUIT
	// on to the init's whole process group, the command's too (see
	// jobControl), so the init must not pass them on a second time.
	TermGroup bool `json:"term_group,omitempty"`
	// LateCgroupNS: the init was cloned without the cgroup namespace NS
	// asks for and makes it on its start thread, so that its root is the
	// group the init is in by then (a systemd scope made after the clone,
	// see hold.go), not the launcher's.
	LateCgroupNS bool `json:"late_cgroup_ns,omitempty"`
}

// nsPrepare sets up cmd for the namespaces of the job:
//
//   - thread path: plan unshares and sets up on the start thread, before
//     its capability plan;
//   - init path: cmd is rewritten into the init re-exec and plan keeps no
//     capability step: the plan and the credential apply inside the
//     init, to the real command, not to the init.
//
// Run calls it after the group exists and before the command starts.
func nsPrepare(cmd *exec.Cmd, s *job, plan *startPlan, termGroup bool) error {
	ns := s.jail // normalized and checked by check
	if ns.Empty() {
		return nil
	}
	if s.viaInit {
		plan.caps = nil
		return rewriteInit(cmd, s, ns, termGroup)
	}
	plan.unshare = ns
	return nil
}

func normalizedNS(s *job) (*nsjail.Spec, error) {
	if s.jail == nil {
		return &nsjail.Spec{}, nil
	}
	ns := *s.jail
	if err := ns.Normalize(); err != nil {
		return nil, err
	}
	if err := nsjail.CheckPrivilege(&ns); err != nil {
		return nil, err
	}
	return &ns, nsjail.CheckMapUser(&ns, os.Geteuid())
}

// needsInit: pid, user and chroot always; a cgroup namespace too on cgroup
// v2, where the start thread is not in the group (CLONE_INTO_CGROUP
// places only the child) and the namespace root must follow the child.
func needsInit(s *job, ns *nsjail.Spec) bool {
	return ns.NeedsInit() || (ns.Cgroup && !s.NoCgroup && cgroupfs.Detect() == cgroupfs.V2)
}

// rewriteInit turns cmd into the init re-exec.
func rewriteInit(cmd *exec.Cmd, s *job, ns *nsjail.Spec, termGroup bool) error {
	cfg := initConfig{Spec: s.Spec, NS: ns, Tool: s.tool(), Path: cmd.Path, Dir: cmd.Dir, TermGroup: termGroup, LateCgroupNS: s.scope && ns.Cgroup}
	if cmd.SysProcAttr != nil {
		cfg.Cred = cmd.SysProcAttr.Credential
	}
	if ns.Chroot != "" {
		cfg.Path = "" // look the command up inside the new root
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	fd, err := configMemfd(data)
	if err != nil {
		return err
	}
	initConfigFD = fd
	cmd.Path = "/proc/self/exe"
	cmd.Args = []string{s.tool() + "-init"}
	cmd.Env = append(env[:len(env):len(env)], initEnv+"="+strconv.Itoa(fd))
	cmd.Dir = ""
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	clone := ns
	if cfg.LateCgroupNS {
		c := nsCopy(ns)
		c.Cgroup = false
		clone = &c
	}
	nsjail.SetSysProcAttr(cmd.SysProcAttr, clone, os.Geteuid(), os.Getegid())
	return nil
}

// configMemfd returns a sealed memfd holding data, inheritable (not
// close-on-exec): the init finds it at the same number. rcon forks nothing
// else, so no other process gets it.
func configMemfd(data []byte) (int, error) {
	fd, err := unix.MemfdCreate("rcon-init-config", unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("memfd for the init's config: %w", err)
	}
	for b := data; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("write the init's config: %w", err)
		}
		b = b[n:]
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, initSeals); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("seal the init's config: %w", err)
	}
	return fd, nil
}

// readInitConfig reads the config from the fd initEnv names, which must be
// a memfd with initSeals, and closes it.
func readInitConfig(v string) ([]byte, error) {
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s is set but does not name a config fd", initEnv)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&initSeals != initSeals {
		return nil, fmt.Errorf("%s is set but fd %d is not a sealed config memfd (seals %#x, %v)", initEnv, fd, seals, err)
	}
	f := os.NewFile(uintptr(fd), "init-config")
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("read the init's config: %w", err)
	}
	return data, nil
}

// MaybeInit runs the namespace init and exits when this process is one;
// otherwise it returns at once. cmd/rcon and cmd/capcon call it first. A
// process with initEnv set but no config memfd is not the init and is
// refused rather than run as a normal rcon: something set the variable on
// purpose or by mistake, and nothing it asked for should happen.
func MaybeInit() {
	v, ok := os.LookupEnv(initEnv)
	if !ok {
		return
	}
	os.Unsetenv(initEnv)
	data, err := readInitConfig(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: refusing to run: %v\n", os.Args[0], err)
		os.Exit(ExitFailure)
	}
	os.Exit(runInit(data))
}

// notForwarded are the signals the init does not pass on: those it cannot
// catch, SIGCHLD (its own business), SIGURG (Go's preemption), the job
// control stops (as PID 1 it ignores them; the terminal stops the command
// directly) and the two the C library reserves.
var notForwarded = map[syscall.Signal]bool{
	unix.SIGKILL: true, unix.SIGSTOP: true, unix.SIGCHLD: true, unix.SIGURG: true,
	unix.SIGTSTP: true, unix.SIGTTIN: true, unix.SIGTTOU: true, 32: true, 33: true,
}

func runInit(data []byte) int {
	var cfg initConfig
	if err := json.Unmarshal(data, &cfg); err != nil || cfg.Spec == nil || cfg.NS == nil || len(cfg.Spec.Argv) == 0 {
		fmt.Fprintf(os.Stderr, "rcon-init: bad config: %v\n", err)
		return ExitFailure
	}
	cfg.Spec.Tool = cfg.Tool
	ns := cfg.NS
	s := &job{Spec: cfg.Spec, jail: ns, limits: cfg.Spec.Resources}
	status, err := initMain(&cfg, s, ns)
	if err != nil {
		return Exit(s.tool(), err)
	}
	return status
}

func initMain(cfg *initConfig, s *job, ns *nsjail.Spec) (int, error) {
	pid1 := os.Getpid() == 1
	// Name the init in ps (its executable is /proc/self/exe, "exe").
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&append([]byte(s.tool()+"-init"), 0)[0])), 0, 0, 0)
	var proc *os.File
	if !pid1 {
		// Without a pid namespace, orphans of the command still come to
		// us, not to the host's init, and are ended when it exits (see
		// endDescendants). /proc is opened now: a chroot hides it.
		if err := becomeSubreaper(); err != nil {
			return 0, fail(ExitFailure, "prctl(PR_SET_CHILD_SUBREAPER): %v", err)
		}
		if f, err := os.Open("/proc"); err == nil {
			proc = f
			defer f.Close()
		}
	}
	// Catch before the command exists, so nothing is lost in between.
	sigs := make(chan os.Signal, 64)
	var catch []os.Signal
	for n := syscall.Signal(1); n <= 64; n++ {
		if !notForwarded[n] {
			catch = append(catch, n)
		}
	}
	signal.Notify(sigs, append(catch, unix.SIGCHLD)...)

	if err := nsjail.SetupInside(ns); err != nil {
		return 0, fail(ExitFailure, "namespace set-up: %v", err)
	}
	if ns.MapUser && os.Geteuid() != 0 {
		if err := nsjail.DropAmbient(); err != nil {
			return 0, fail(ExitFailure, "%v", err)
		}
	}

	path := cfg.Path
	if path == "" {
		var err error
		if path, err = lookPath(s.Argv[0]); err != nil {
			return 0, err
		}
	}
	cmd := &exec.Cmd{Path: path, Args: s.Argv, Dir: cfg.Dir, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cfg.Cred}
	plan := startPlan{denyUserNS: ns.NeedsUserNSFilter()}
	if cfg.LateCgroupNS {
		plan.unshare = &nsjail.Spec{Cgroup: true}
	}
	var err error
	if plan.caps, err = s.capsPlan(cmd); err != nil {
		return 0, fail(ExitFailure, "%v", err)
	}
	if err := startIn(cmd, nil, &plan); err != nil {
		return 0, startFailure(s.Argv[0], cmd, err)
	}
	child := cmd.Process.Pid
	tty := fromTerminal() || cfg.TermGroup

	var ws unix.WaitStatus
	for exited := false; !exited; {
		sig := <-sigs
		if sig != unix.SIGCHLD {
			if terminalSent(sig, tty) {
				continue
			}
			_ = unix.Kill(child, sig.(syscall.Signal))
			continue
		}
		reapExited(func(pid int, w unix.WaitStatus) {
			if pid == child {
				ws, exited = w, true
			}
		})
	}
	if s.WaitAll {
		// --wait-all: what the command left (a daemon, say) runs on
		// until it exits by itself, as it would in a group.
		waitAllInit(sigs, pid1, proc, tty)
	}
	if pid1 {
		// End what the command left in the namespace and reap it; the
		// kernel would kill it when we exit, but not wait for it.
		_ = unix.Kill(-1, unix.SIGKILL)
		for {
			var w unix.WaitStatus
			if _, err := unix.Wait4(-1, &w, 0, nil); err != nil && err != unix.EINTR {
				break
			}
		}
	} else {
		// Not PID 1: nobody else would end what the command left (it
		// is reparented to us, then to the host's init when we exit),
		// and kill(-1) would reach the host's processes.
		endDescendants(proc, nil) // a fresh process: it inherited no children
	}
	if ws.Signaled() {
		return exitSignalBase + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// waitAllInit is --wait-all in the init, once the command has exited: it
// reaps until it has no child left, passing signals on meanwhile. Orphans
// come to the init (PID 1, or a subreaper), so no child means nothing of
// the command's is left anywhere below it.
func waitAllInit(sigs <-chan os.Signal, pid1 bool, proc *os.File, tty bool) {
	for {
		reapExited(nil)
		if !hasChildren() {
			return
		}
		sig := <-sigs
		if sig == unix.SIGCHLD || terminalSent(sig, tty) {
			continue
		}
		if pid1 {
			// As PID 1, kill(-1) reaches every process of the
			// namespace but the init itself.
			_ = unix.Kill(-1, sig.(syscall.Signal))
			continue
		}
		for _, pid := range children(proc) {
			_ = unix.Kill(pid, sig.(syscall.Signal))
		}
	}
}
