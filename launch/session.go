package launch

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// newSession is the one rule for when the command gets a session of its
// own (setsid, as bwrap --new-session does): whenever it runs with less
// than the caller has. Such a command must not share the caller's
// controlling terminal: with it, TIOCSTI (on kernels before 6.2, or with
// dev.tty.legacy_tiocsti=1) pushes keystrokes into the input of the
// caller's shell, which runs them with the caller's privileges once rcon
// has exited. In a session of its own the terminal is no longer its
// controlling one, and the kernel allows TIOCSTI on it only with
// CAP_SYS_ADMIN.
//
// Less privileged means: another identity (--user, --group, --groups, even
// one that happens to equal the caller's), pruned capability sets (--keep,
// --drop), or a user namespace. A run with the caller's full privileges
// keeps today's behaviour: the same session and process group, so the
// terminal's Ctrl-C, Ctrl-\ and Ctrl-Z reach it directly. (A zero caps
// spec only sets no_new_privs: capcon's default.)
func (s *job) newSession(cred *syscall.Credential) bool {
	return cred != nil || (s.Caps != nil && s.Caps.ChangesSets()) || s.jail.WantsUser()
}

// jobControl relays the terminal's job control to a command in a session
// of its own, which the terminal no longer reaches (a nil one: rcon is not
// on a terminal). Ctrl-C and Ctrl-\ come to rcon (in the foreground) and
// are passed on once, to the command's whole process group as the
// terminal would have (a shell waiting for its child ignores a SIGINT the
// child did not get). Ctrl-Z (SIGTSTP) stops the command's process group
// first (with SIGSTOP: the terminal cannot stop it, and it does not get
// the chance to catch it), then rcon itself, so the shell sees the job
// stopped; SIGCONT (fg, bg) continues rcon and is passed on to the group.
// A command that put processes in process groups of their own (a shell
// with job control) has those out of reach, as under a terminal.
type jobControl struct {
	sigs chan os.Signal
}

func relayJobControl() *jobControl {
	j := &jobControl{sigs: make(chan os.Signal, 4)}
	signal.Notify(j.sigs, unix.SIGTSTP, unix.SIGCONT)
	return j
}

// channel is nil (never ready) for a nil jobControl.
func (j *jobControl) channel() <-chan os.Signal {
	if j == nil {
		return nil
	}
	return j.sigs
}

// fromTerminal passes a signal the terminal generates (SIGINT, SIGQUIT) on
// to the process group pid leads, and reports whether it did.
func (j *jobControl) fromTerminal(sig os.Signal, pid int) bool {
	if j == nil || (sig != unix.SIGINT && sig != unix.SIGQUIT) {
		return false
	}
	_ = unix.Kill(-pid, sig.(syscall.Signal))
	return true
}

// handle acts on one signal from channel for the command whose process
// group leader is pid.
func (j *jobControl) handle(sig os.Signal, pid int) {
	switch sig {
	case unix.SIGTSTP:
		_ = unix.Kill(-pid, unix.SIGSTOP)
		_ = unix.Kill(os.Getpid(), unix.SIGSTOP)
	case unix.SIGCONT:
		_ = unix.Kill(-pid, unix.SIGCONT)
	}
}

// stop gives SIGTSTP its default action back, once the command has exited.
func (j *jobControl) stop() {
	if j != nil {
		signal.Reset(unix.SIGTSTP, unix.SIGCONT)
	}
}
