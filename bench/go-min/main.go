// Command go-min is cgroup-min.c in Go: the lower bound of rcon's job on
// cgroup v1 for any Go program, whatever its libraries. It makes a group
// in three hierarchies, writes three limits, starts the command from a
// locked thread that joined the group (as rcon's start thread does: Go
// cannot run code in the child between fork and exec), waits, rmdirs.
// No parsing, no reporting, no records. Not a tool: a benchmark's floor.
//
// usage: go-min CPUDIR MEMDIR PIDSDIR CMD [ARGS...]
package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

func put(dir, file, val string) error {
	return os.WriteFile(filepath.Join(dir, file), []byte(val), 0)
}

// start runs the command from a locked thread that joined the group. That
// thread is never unlocked, so Go ends it when the goroutine returns and
// the group can be removed; but the main thread can never end, so when
// the goroutine landed there it holds it (keeping the next goroutine off
// it) and starts from a new one, as rcon's startIn does.
func start(cmd *exec.Cmd, dirs []string, started chan<- error) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		inner := make(chan error, 1)
		go start(cmd, dirs, inner)
		err := <-inner
		runtime.UnlockOSThread()
		started <- err
		return
	}
	for _, d := range dirs {
		if err := put(d, "tasks", "0"); err != nil {
			started <- err
			return
		}
	}
	started <- cmd.Start()
}

func main() {
	if len(os.Args) < 5 {
		os.Exit(125)
	}
	dirs := os.Args[1:4]
	for _, d := range dirs {
		if os.Mkdir(d, 0o755) != nil {
			os.Exit(125)
		}
	}
	if put(dirs[0], "cpu.cfs_quota_us", "50000") != nil || put(dirs[1], "memory.limit_in_bytes", "209715200") != nil ||
		put(dirs[2], "pids.max", "100") != nil {
		os.Exit(125)
	}
	cmd := exec.Command(os.Args[4], os.Args[5:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	started := make(chan error, 1)
	go start(cmd, dirs, started)
	if <-started != nil {
		os.Exit(125)
	}
	err := cmd.Wait()
	for _, d := range dirs {
		// EBUSY while the start thread is still exiting.
		for i := 0; os.Remove(d) != nil && i < 1000; i++ {
			time.Sleep(50 * time.Microsecond)
		}
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		os.Exit(125)
	}
}
