package launch

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// atSecure is the auxiliary vector's AT_SECURE entry (<linux/auxvec.h>):
// nonzero when the kernel ran this binary with more privilege than its
// caller had (set-id bits, file capabilities, an LSM transition).
const atSecure = 23

// RefuseSetID ends the tool with ExitFailure when it was started with
// privileges its caller does not have: installed setuid or setgid, or with
// file capabilities. Neither tool has a restricted mode: every flag
// (--user root, --parent, --bind, a profile) is trusted as coming from the
// one who runs it, so a set-id install would hand root to anyone who can
// run it. It must be called first in main, before anything reads the
// environment or the command line (the namespace init's configuration
// included: MaybeInit).
func RefuseSetID(tool string) {
	secure := false
	if auxv, err := unix.Auxv(); err == nil {
		for _, kv := range auxv {
			if kv[0] == atSecure {
				secure = kv[1] != 0
			}
		}
	}
	// Without an auxiliary vector (never seen on Linux) the ids still
	// catch the set-id install; only file capabilities would pass.
	if why := setIDReason(os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid(), secure); why != "" {
		fmt.Fprintf(os.Stderr, "%s: refusing to run %s: it is not made to be installed setuid, setgid or with file capabilities; run it through sudo (or as root), or, without root, in a cgroup delegated to you (README, \"Without root\")\n", tool, why)
		os.Exit(ExitFailure)
	}
}

// setIDReason says why a process with these ids and AT_SECURE value runs
// with privileges its caller does not have, or "" when it does not.
func setIDReason(ruid, euid, rgid, egid int, secure bool) string {
	switch {
	case ruid != euid:
		return fmt.Sprintf("with effective uid %d for real uid %d", euid, ruid)
	case rgid != egid:
		return fmt.Sprintf("with effective gid %d for real gid %d", egid, rgid)
	case secure:
		return "in secure-execution mode (AT_SECURE: set-id or file capabilities)"
	}
	return ""
}
