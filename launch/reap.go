package launch

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"rcon/procfs"

	"golang.org/x/sys/unix"
)

// Ending what a command leaves behind when no pid namespace and no group
// do it: the namespace init without a pid namespace (user only, say) and
// a run without a group (capcon --unshare net). The process is made a
// child subreaper before the command starts, so everything the command
// orphans is reparented to it rather than to the host's init, and after
// the command exits endDescendants kills and reaps them.

// becomeSubreaper makes orphaned descendants of this process its children.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// endDescendants SIGKILLs this process's children and reaps them, over
// and over, until none is left but those in keep. A subreaper's
// descendants become its children as their parents die, so this ends the
// whole tree, including what forks while it runs. proc is an open /proc
// of a pid namespace this process is in (kept open from before a
// pivot_root that may have hidden it); nil opens /proc. keep holds the
// children this process had before it started the command (see
// inheritedChildren): they are not the command's, so they are neither
// killed nor waited for.
//
// Killing by pid is safe here: a pid listed as our child stays ours (at
// worst a zombie) until we reap it, so it cannot be reused in between.
// It returns how many processes it reaped.
func endDescendants(proc *os.File, keep map[int]bool) int {
	if !hasChildren() {
		return 0 // the usual case: the command left nothing
	}
	if proc == nil {
		f, err := os.Open("/proc")
		if err != nil {
			// Nothing can be listed, hence killed: reap what has
			// exited and leave the rest, rather than wait for it.
			return reapExited(nil)
		}
		proc = f
		defer f.Close()
	}
	n := 0
	for {
		kids := ours(children(proc), keep)
		if len(kids) == 0 {
			return n
		}
		for _, pid := range kids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		// Each is reaped by pid, so an inherited child is never waited
		// for. A killed child's orphans are ours before it is reapable,
		// so the next listing has them.
		for _, pid := range kids {
			var w unix.WaitStatus
			for {
				_, err := unix.Wait4(pid, &w, 0, nil)
				if err != unix.EINTR {
					break
				}
			}
			n++
		}
	}
}

// inheritedChildren lists the children this process has before it starts
// anything: those of a shell that exec'd it (sh -c 'job & exec rcon ...').
// Almost always there are none, which one waitid tells without a look at
// /proc.
func inheritedChildren() map[int]bool {
	if !hasChildren() {
		return nil
	}
	f, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer f.Close()
	keep := map[int]bool{}
	for _, pid := range children(f) {
		keep[pid] = true
	}
	return keep
}

// hasChildren tells, without reaping anything, whether this process has a
// child at all, running or exited: one waitid, where listing them means
// reading /proc (on kernels without children files, every process's stat).
func hasChildren() bool {
	var info unix.Siginfo
	return unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil) != unix.ECHILD
}

func ours(pids []int, keep map[int]bool) []int {
	out := pids[:0]
	for _, pid := range pids {
		if !keep[pid] {
			out = append(out, pid)
		}
	}
	return out
}

// reapExited reaps the children that have exited, without waiting,
// telling each to seen (when not nil); it returns how many it reaped.
func reapExited(seen func(pid int, w unix.WaitStatus)) int {
	n := 0
	for {
		var w unix.WaitStatus
		pid, err := unix.Wait4(-1, &w, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return n
		}
		if seen != nil {
			seen(pid, w)
		}
		n++
	}
}

// children lists this process's children: from the threads' children
// files where the kernel has them (CONFIG_PROC_CHILDREN, not on every
// kernel: this project's host lacks it), else by the parent pid of every
// process in /proc.
func children(proc *os.File) []int { return childrenOf(proc, os.Getpid()) }

// childrenOf lists the children of process pid, as children does.
func childrenOf(proc *os.File, self int) []int {
	if !noChildrenFiles.Load() {
		pids, err := childrenFiles(proc, self)
		if err == nil {
			return pids
		}
		// A kernel without the files lacks them on every call (every
		// tick of --wait-all): probe once.
		noChildrenFiles.Store(errors.Is(err, errNoChildrenFile))
	}
	names, err := readDirNames(proc)
	if err != nil {
		return nil
	}
	var out []int
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self {
			continue
		}
		if ppid, ok := parentOf(proc, name); ok && ppid == self {
			out = append(out, pid)
		}
	}
	return out
}

var errNoChildrenFile = errors.New("no /proc/PID/task/TID/children")

// noChildrenFiles: the kernel has no per-thread children files
// (CONFIG_PROC_CHILDREN off), found by the first call of children.
var noChildrenFiles atomic.Bool

func childrenFiles(proc *os.File, self int) ([]int, error) {
	dir := strconv.Itoa(self) + "/task"
	fd, err := unix.Openat(int(proc.Fd()), dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	tasks := os.NewFile(uintptr(fd), dir)
	defer tasks.Close()
	tids, err := tasks.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, tid := range tids {
		data, err := readAt(proc, dir+"/"+tid+"/children")
		if errors.Is(err, unix.ENOENT) {
			if _, serr := statAt(proc, dir+"/"+tid); serr == nil {
				return nil, errNoChildrenFile // the kernel lacks the file
			}
			continue // the thread has gone
		}
		for _, f := range bytes.Fields(data) {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out, nil
}

// parentOf reads the parent pid from /proc/PID/stat, after the command
// name, which may hold spaces and parentheses.
func parentOf(proc *os.File, pid string) (int, bool) {
	data, err := readAt(proc, pid+"/stat")
	if err != nil {
		return 0, false
	}
	f := procfs.StatFields(data)
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

func readDirNames(proc *os.File) ([]string, error) {
	fd, err := unix.Openat(int(proc.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), "/proc")
	defer d.Close()
	return d.Readdirnames(-1)
}

func readAt(proc *os.File, name string) ([]byte, error) {
	fd, err := unix.Openat(int(proc.Fd()), name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(f)
	return buf.Bytes(), err
}

func statAt(proc *os.File, name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(int(proc.Fd()), name, &st, 0)
	return st, err
}

// waitDescendants is --wait-all for a run without a group: as their
// subreaper it waits until every process the command left has exited,
// passing signals sent to rcon on to them (to the ones that are its
// children by then: orphans come to it as their parents die). keep is as
// for endDescendants; tty drops SIGINT and SIGQUIT, which the terminal
// sent them itself.
func waitDescendants(sigs <-chan os.Signal, every time.Duration, keep map[int]bool, tty bool) {
	proc, err := os.Open("/proc")
	if err != nil {
		endDescendants(nil, keep) // cannot watch them, so do not leave them
		return
	}
	defer proc.Close()
	live := func() ([]int, error) {
		var out []int
		for _, pid := range ours(children(proc), keep) {
			var w unix.WaitStatus
			if got, _ := unix.Wait4(pid, &w, unix.WNOHANG, nil); got != pid {
				out = append(out, pid)
			}
		}
		return out, nil
	}
	waitGone(live, sigs, every, tty)
}
