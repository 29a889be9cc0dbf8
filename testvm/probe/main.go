// Command probe checks, inside the test VM, that cgroup v2 works the way the
// rcon integration tests need: controllers enabled at the root, cpu.max
// throttling, memory.max OOM kill, cgroup.kill, and (with --delegated) a
// subtree delegated to an unprivileged user the way systemd does it.
//
// It is only a proof of the testvm harness. Exit 0 on success, 1 with a
// message otherwise. --break checks for a wrong value so the run must fail.
//
// Build: CGO_ENABLED=0 GOAMD64=v1 go build -o testvm/cache/probe ./testvm/probe
// Run:   testvm/run.sh testvm/cache/probe --delegated
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const root = "/sys/fs/cgroup"

var (
	breakIt   = flag.Bool("break", false, "expect a wrong cpu.max share, so the probe fails")
	delegated = flag.Bool("delegated", false, "also check a subtree delegated to uid 1000")
	alloc     = flag.Int("alloc", 0, "internal: allocate and touch this many MiB, then exit")
	delegKid  = flag.String("deleg-child", "", "internal: the unprivileged side of --delegated")
)

func main() {
	flag.Parse()
	switch {
	case *alloc > 0:
		allocate(*alloc)
		return
	case *delegKid != "":
		if err := delegChild(*delegKid); err != nil {
			fmt.Printf("probe: delegated child (uid %d): %v\n", os.Getuid(), err)
			os.Exit(1)
		}
		return
	}
	checks := []struct {
		name string
		fn   func() error
	}{
		{"cgroup2 mounted, controllers enabled", checkMount},
		{"cpu.max throttles", checkCPU},
		{"memory.max OOM kill", checkMemory},
		{"cgroup.kill", checkKill},
	}
	if *delegated {
		checks = append(checks, struct {
			name string
			fn   func() error
		}{"delegated subtree (uid 1000)", checkDelegated})
	}
	failed := 0
	for _, c := range checks {
		t := time.Now()
		if err := c.fn(); err != nil {
			fmt.Printf("probe: FAIL %s: %v\n", c.name, err)
			failed++
			continue
		}
		fmt.Printf("probe: ok   %s (%.1fs)\n", c.name, time.Since(t).Seconds())
	}
	if failed > 0 {
		fmt.Printf("probe: %d of %d checks failed\n", failed, len(checks))
		os.Exit(1)
	}
	fmt.Printf("probe: all %d checks passed\n", len(checks))
}

func read(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

func write(path, v string) error {
	if err := os.WriteFile(path, []byte(v), 0); err != nil {
		return fmt.Errorf("write %q to %s: %w", v, path, err)
	}
	return nil
}

// keyed reads a "key value" file such as cpu.stat or memory.events.
func keyed(path, key string) (int64, error) {
	s, err := read(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == key {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// mkgroup creates a fresh child group of the root.
func mkgroup(name string) (string, error) {
	p := filepath.Join(root, name)
	_ = syscall.Rmdir(p)
	if err := os.Mkdir(p, 0o755); err != nil {
		return "", err
	}
	return p, nil
}

// rmgroup kills what is left in the group and removes it.
func rmgroup(p string) {
	_ = write(filepath.Join(p, "cgroup.kill"), "1")
	for i := 0; i < 100; i++ {
		if syscall.Rmdir(p) == nil || errors.Is(syscall.Rmdir(p), syscall.ENOENT) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startIn starts cmd born in the group (clone3 CLONE_INTO_CGROUP).
func startIn(group string, cmd *exec.Cmd) (func(), error) {
	fd, err := syscall.Open(group, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = fd
	err = cmd.Start()
	syscall.Close(fd)
	if err != nil {
		return nil, fmt.Errorf("start %v in %s: %w", cmd.Args, group, err)
	}
	return func() { _ = cmd.Wait() }, nil
}

func checkMount() error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		return err
	}
	const cgroup2Magic = 0x63677270
	if st.Type != cgroup2Magic {
		return fmt.Errorf("%s is not cgroup2 (fs magic %#x)", root, st.Type)
	}
	for _, f := range []string{"cgroup.controllers", "cgroup.subtree_control"} {
		s, err := read(filepath.Join(root, f))
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, c := range strings.Fields(s) {
			have[c] = true
		}
		for _, c := range []string{"cpu", "memory", "pids", "io"} {
			if !have[c] {
				return fmt.Errorf("%s lacks %s: %q", f, c, s)
			}
		}
		fmt.Printf("probe: %s: %s\n", f, s)
	}
	return nil
}

func checkCPU() error {
	g, err := mkgroup("probe-cpu")
	if err != nil {
		return err
	}
	defer rmgroup(g)
	if err := write(filepath.Join(g, "cpu.max"), "20000 100000"); err != nil {
		return err
	}
	u0, _ := keyed(filepath.Join(g, "cpu.stat"), "usage_usec")
	cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
	wait, err := startIn(g, cmd)
	if err != nil {
		return err
	}
	t0 := time.Now()
	time.Sleep(3 * time.Second)
	u1, err := keyed(filepath.Join(g, "cpu.stat"), "usage_usec")
	wall := time.Since(t0)
	_ = cmd.Process.Kill()
	wait()
	if err != nil {
		return err
	}
	thr, err := keyed(filepath.Join(g, "cpu.stat"), "nr_throttled")
	if err != nil {
		return err
	}
	share := 100 * float64(u1-u0) / float64(wall.Microseconds())
	want := 20.0
	if *breakIt {
		want = 50 // deliberately wrong
	}
	fmt.Printf("probe: cpu.max 20000 100000: %.1f%% of %.1fs, nr_throttled %d (want %.0f%% ± 5)\n",
		share, wall.Seconds(), thr, want)
	if share < want-5 || share > want+5 {
		return fmt.Errorf("cpu share %.1f%%, want %.0f%% ± 5", share, want)
	}
	if thr <= 0 {
		return fmt.Errorf("nr_throttled %d, want > 0", thr)
	}
	return nil
}

func allocate(mib int) {
	var keep [][]byte
	for i := 0; i < mib; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	fmt.Printf("probe: allocated %d MiB without being killed (%d)\n", mib, len(keep))
}

func checkMemory() error {
	g, err := mkgroup("probe-mem")
	if err != nil {
		return err
	}
	defer rmgroup(g)
	if err := write(filepath.Join(g, "memory.max"), strconv.Itoa(32<<20)); err != nil {
		return err
	}
	_ = write(filepath.Join(g, "memory.swap.max"), "0")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-alloc", "128")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if _, err := startIn(g, cmd); err != nil {
		return err
	}
	werr := cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if werr == nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("allocating 128 MiB under memory.max 32M: %v, want SIGKILL", werr)
	}
	n, err := keyed(filepath.Join(g, "memory.events"), "oom_kill")
	if err != nil {
		return err
	}
	fmt.Printf("probe: memory.max 32M: child killed by signal %d, memory.events oom_kill %d\n", int(ws.Signal()), n)
	if n < 1 {
		return fmt.Errorf("memory.events oom_kill %d, want >= 1", n)
	}
	return nil
}

func checkKill() error {
	g, err := mkgroup("probe-kill")
	if err != nil {
		return err
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 1000 & sleep 1000 & wait")
	if _, err := startIn(g, cmd); err != nil {
		rmgroup(g)
		return err
	}
	time.Sleep(200 * time.Millisecond)
	if err := write(filepath.Join(g, "cgroup.kill"), "1"); err != nil {
		return err
	}
	werr := cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if werr == nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("after cgroup.kill: %v, want SIGKILL", werr)
	}
	for i := 0; ; i++ {
		pop, err := keyed(filepath.Join(g, "cgroup.events"), "populated")
		if err != nil {
			return err
		}
		if pop == 0 {
			break
		}
		if i == 100 {
			return errors.New("cgroup.events still populated 2s after cgroup.kill")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Rmdir(g); err != nil {
		return fmt.Errorf("rmdir %s: %w", g, err)
	}
	return nil
}

// checkDelegated delegates /sys/fs/cgroup/deleg to uid 1000 like systemd
// (Delegate=yes): controllers enabled inside, the directory and its
// cgroup.procs, cgroup.subtree_control and cgroup.threads chowned. The
// unprivileged process is born in the leaf deleg/init (owned by it too) and
// must create deleg/sub, set pids.max there and run a command in it.
func checkDelegated() error {
	const uid, gid = 1000, 1000
	d, err := mkgroup("deleg")
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range []string{"sub", "init"} {
			rmgroup(filepath.Join(d, s))
		}
		rmgroup(d)
	}()
	if err := write(filepath.Join(d, "cgroup.subtree_control"), "+cpu +memory +pids +io"); err != nil {
		return err
	}
	chownGroup := func(p string) error {
		for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
			if err := os.Chown(filepath.Join(p, f), uid, gid); err != nil {
				return err
			}
		}
		return nil
	}
	if err := chownGroup(d); err != nil {
		return err
	}
	leaf := filepath.Join(d, "init")
	if err := os.Mkdir(leaf, 0o755); err != nil {
		return err
	}
	if err := chownGroup(leaf); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-deleg-child", d)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	if _, err := startIn(leaf, cmd); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("unprivileged side: %w", err)
	}
	n, err := keyed(filepath.Join(d, "sub", "pids.events"), "max")
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("deleg/sub pids.events max %d, want >= 1", n)
	}
	return nil
}

func delegChild(d string) error {
	own, err := read("/proc/self/cgroup")
	if err != nil {
		return err
	}
	if !strings.HasSuffix(own, "/deleg/init") {
		return fmt.Errorf("born in %q, want .../deleg/init", own)
	}
	sub := filepath.Join(d, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		return err
	}
	if err := write(filepath.Join(sub, "pids.max"), "3"); err != nil {
		return err
	}
	// sh + 2 sleeps fit, the third fork must fail.
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.5 & sleep 0.5 & sleep 0.5 & wait; exit 0")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if _, err := startIn(sub, cmd); err != nil {
		return err
	}
	_ = cmd.Wait()
	n, err := keyed(filepath.Join(sub, "pids.events"), "max")
	if err != nil {
		return err
	}
	fmt.Printf("probe: uid %d created %s with pids.max 3; fork refused %d time(s): %s\n",
		os.Getuid(), sub, n, strings.TrimSpace(out.String()))
	if n < 1 {
		return fmt.Errorf("pids.max 3 in the delegated subtree refused no fork")
	}
	return nil
}
