package launch

import (
	"os"
	"syscall"
	"time"

	"rcon/caps"
	"rcon/nsjail"

	"golang.org/x/sys/unix"
)

// startPlan is what the start thread does after it entered the group and
// before it forks the command, always in this order: unshare (the
// namespaces of the thread path), refuse new user namespaces (while the
// thread still holds CAP_SYS_ADMIN, so seccomp needs no no_new_privs),
// then prune the capability sets, last, since the steps before need
// capabilities the command may not keep.
type startPlan struct {
	unshare    *nsjail.Spec // nil: no namespaces on this thread
	denyUserNS bool
	caps       *caps.Plan // nil: capabilities left alone
}

func (p *startPlan) empty() bool {
	return p == nil || (p.unshare == nil && !p.denyUserNS && p.caps == nil)
}

func (p *startPlan) apply() error {
	if p == nil {
		return nil
	}
	if p.unshare != nil {
		if err := nsjail.UnshareThread(p.unshare); err != nil {
			return err
		}
	}
	if p.denyUserNS {
		if err := nsjail.DenyUserNS(); err != nil {
			return err
		}
	}
	if p.caps != nil {
		return p.caps.ApplyToThread()
	}
	return nil
}

// terminalSent tells whether the terminal sent sig to the command as well
// as to rcon (both in its foreground process group), so passing it on
// would deliver it twice.
func terminalSent(sig os.Signal, tty bool) bool {
	return tty && (sig == syscall.SIGINT || sig == syscall.SIGQUIT)
}

// waitGone is --wait-all's wait: until members lists nobody, passing the
// signals rcon gets on to whoever members lists at that moment (listed
// again, not the list of a tick ago: a pid may have exited and been
// reused elsewhere since).
func waitGone(members func() ([]int, error), sigs <-chan os.Signal, every time.Duration, tty bool) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if ps, err := members(); err != nil || len(ps) == 0 {
			return
		}
		select {
		case sig := <-sigs:
			if terminalSent(sig, tty) {
				continue
			}
			ps, _ := members()
			for _, p := range ps {
				_ = unix.Kill(p, sig.(syscall.Signal))
			}
		case <-t.C:
		}
	}
}
