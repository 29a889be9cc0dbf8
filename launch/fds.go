package launch

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseInheritedFDs marks every descriptor above stderr that this process
// inherited close-on-exec, so none reaches the command: a directory fd to
// the host's / left open by whoever started rcon would otherwise let the
// command fchdir past --tmpfs or --chroot. cmd/rcon and cmd/capcon call it
// first thing, before anything of rcon's own is open (Go opens its own fds
// close-on-exec anyway, so marking them too changes nothing).
//
// Kept open are the fds systemd's socket activation hands over
// (LISTEN_FDS, fds 3..3+N-1) when LISTEN_PID names this process. The
// command has a pid of its own, unknown before the fork, so LISTEN_PID is
// left as it is: a program that checks it (sd_listen_fds does) must be
// started through a shell that sets it, `sh -c 'LISTEN_PID=$$ exec prog'`.
func CloseInheritedFDs() {
	first := uint(3) + uint(listenFDs())
	if err := unix.CloseRange(first, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return
	}
	// Before Linux 5.11: walk the fds one by one.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < int(first) {
			continue
		}
		unix.CloseOnExec(fd)
	}
}

// listenFDs is how many fds socket activation passed to this process.
func listenFDs() int {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return 0
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 0 || n > 1<<16 {
		return 0
	}
	return n
}
