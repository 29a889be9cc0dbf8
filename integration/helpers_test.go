package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runHelper makes the test binary a workload with a known behaviour, so
// tests do not depend on what tools the machine (or the VM) has.
func runHelper(name string, args []string) int {
	arg := func(i int) float64 {
		if i >= len(args) {
			return 0
		}
		v, _ := strconv.ParseFloat(args[i], 64)
		return v
	}
	switch name {
	case "spin":
		// Burn CPU for the given wall time, then print the CPU time this
		// process got according to the kernel's rusage: a measure
		// independent of the cgroup figures rcon reads.
		// Counted from here: rusage keeps what the process spent before
		// its exec (under the systemd driver, rcon's held start) and its
		// own start-up, which the wall time below does not include.
		var ru0 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		end := time.Now().Add(time.Duration(arg(0) * float64(time.Second)))
		start := time.Now()
		x := 0
		for time.Now().Before(end) {
			for i := 0; i < 100000; i++ {
				x += i
			}
		}
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		fmt.Printf("cpu=%.4f wall=%.4f x=%d\n", cpu.Seconds(), time.Since(start).Seconds(), x&1)
	case "alloc":
		// Touch MiB of memory, page by page, so it is really charged.
		n := int(arg(0)) << 20
		b := make([]byte, n)
		for i := 0; i < n; i += 4096 {
			b[i] = 1
		}
		fmt.Println("allocated", len(b))
	case "fork":
		// Start N children that sleep; report how many the kernel refused.
		n, ok, failed := int(arg(0)), 0, 0
		var cmds []*exec.Cmd
		for i := 0; i < n; i++ {
			c := exec.Command("sleep", "2")
			if err := c.Start(); err != nil {
				failed++
				continue
			}
			ok++
			cmds = append(cmds, c)
		}
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
		fmt.Printf("started=%d failed=%d\n", ok, failed)
	case "mkcgroup":
		// Make a child cgroup in its own group (pids on v1), which keeps
		// rcon from removing the group, print its path, touch MiB of
		// memory (args[1], maybe past a limit) and exit with args[0].
		data, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir := ""
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			f := strings.SplitN(l, ":", 3)
			switch {
			case len(f) == 3 && f[1] == "pids":
				dir = "/sys/fs/cgroup/pids" + f[2]
			case len(f) == 3 && f[0] == "0" && f[1] == "" && dir == "":
				dir = "/sys/fs/cgroup" + f[2]
			}
		}
		dir += "/rcontest-sub"
		if err := os.Mkdir(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(dir)
		n := int(arg(1)) << 20
		b := make([]byte, n)
		for i := 0; i < n; i += 4096 {
			b[i] = 1
		}
		return int(arg(0))
	case "trap":
		// Wait for SIGTERM and exit 3 when it comes, so a test can tell
		// "reached the command" from "killed rcon".
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGUSR1)
		fmt.Println("ready")
		select {
		case s := <-ch:
			fmt.Println("got", s)
			if s == syscall.SIGTERM {
				return 3
			}
			return 4
		case <-time.After(10 * time.Second):
			fmt.Println("timeout")
			return 1
		}
	case "trapall":
		// Report which forwarded signal arrived; exit 10+N for signal N.
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
		fmt.Println("ready")
		select {
		case s := <-ch:
			fmt.Println("got", s)
			return 10 + int(s.(syscall.Signal))
		case <-time.After(10 * time.Second):
			fmt.Println("timeout")
			return 1
		}
	case "countint":
		// Count SIGINTs for half a second after the first: a Ctrl-C that
		// rcon passed on a second time would show as 2.
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGINT)
		fmt.Println("ready")
		n := 0
		select {
		case <-ch:
			n = 1
		case <-time.After(10 * time.Second):
			fmt.Println("timeout")
			return 1
		}
		for end := time.After(500 * time.Millisecond); ; {
			select {
			case <-ch:
				n++
				continue
			case <-end:
			}
			break
		}
		fmt.Printf("ints=%d\n", n)
	case "gomaxprocs":
		// How many CPUs the Go runtime decided to use.
		fmt.Println(runtime.GOMAXPROCS(0))
	case "ids":
		fmt.Printf("uid=%d euid=%d\n", os.Getuid(), os.Geteuid())
	case "sleep":
		time.Sleep(time.Duration(arg(0) * float64(time.Second)))
	case "bind":
		// Listen on the TCP address given (127.0.0.1:80) and say whether
		// the kernel allowed it: "bound", or the error ("... permission
		// denied" without CAP_NET_BIND_SERVICE on a privileged port).
		if len(args) == 0 {
			fmt.Fprintln(os.Stderr, "bind: no address")
			return 2
		}
		l, err := net.Listen("tcp", args[0])
		if err != nil {
			fmt.Println(err)
			return 1
		}
		l.Close()
		fmt.Println("bound")
	case "ready":
		// Print "ready PID" and sleep (10 s unless told), so a test can
		// inspect a live process and then end it by that pid.
		d := arg(0)
		if d == 0 {
			d = 10
		}
		fmt.Println("ready", os.Getpid())
		time.Sleep(time.Duration(d * float64(time.Second)))
	case "cgfiles":
		return cgFilesHelper() // export_test.go
	case "nestcg", "nestcg-inner":
		return nestedCgroupHelper(name == "nestcg-inner")
	case "tiocsti":
		// Push args[0] into the input of the terminal on stdin (TIOCSTI),
		// as a command attacking its caller's shell would, and say how it
		// went: "tiocsti: ok" or the error.
		var err error
		for i := 0; i < len(args[0]) && err == nil; i++ {
			err = unix.IoctlSetPointerInt(0, unix.TIOCSTI, int(args[0][i]))
		}
		if err != nil {
			fmt.Println("tiocsti:", err)
		} else {
			fmt.Println("tiocsti: ok")
		}
	case "ctty":
		// Say whether this process has a controlling terminal: the tty_nr
		// of /proc/self/stat and whether /dev/tty opens.
		stat, _ := os.ReadFile("/proc/self/stat")
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		f, err := os.Open("/dev/tty")
		if err == nil {
			f.Close()
		}
		sid, _ := unix.Getsid(0)
		fmt.Printf("ctty: sid=%d tty_nr=%s devtty=%v\n", sid, fields[4], err)
	case "storm":
		// The SIGKILL storm's command (storm_test.go): args are the log
		// directory, the seconds to live and "child" for the process it
		// leaves behind. First thing, it checks it was born in an rcon
		// group and logs its pid; then it starts that child and sleeps.
		if len(args) < 2 {
			return 2
		}
		logLine(args[0], "starts", fmt.Sprintf("%d\n", os.Getpid()))
		if why := outsideGroup(); why != "" {
			logLine(args[0], "outside", fmt.Sprintf("%d %s\n", os.Getpid(), why))
		}
		if len(args) < 3 {
			c := exec.Command(os.Args[0], args[0], "30", "child")
			c.Env = os.Environ()
			if c.Start() == nil {
				c.Process.Release()
			}
		}
		time.Sleep(time.Duration(arg(1) * float64(time.Second)))
	case "ptrace-fork":
		return ptraceFork(time.Duration(arg(0) * float64(time.Second)))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", name)
		return 2
	}
	return 0
}

// logLine appends line to dir/name in one write (O_APPEND: lines of
// concurrent writers do not mix).
func logLine(dir, name, line string) {
	f, err := os.OpenFile(dir+"/"+name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	f.WriteString(line)
	f.Close()
}

// outsideGroup says why this process is not in an rcon group ("" if it
// is): on v2 the unified line, on v1 each of cpu, memory and pids must
// name a group of rcon's, unique (rcon-PID-...) or the storm's shared ones.
func outsideGroup() string {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err.Error()
	}
	v2 := !strings.Contains(string(data), ":memory:")
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		relevant := v2 && f[1] == ""
		for _, c := range strings.Split(f[1], ",") {
			relevant = relevant || !v2 && (c == "cpu" || c == "memory" || c == "pids")
		}
		if !relevant {
			continue
		}
		seen++
		base := f[2][strings.LastIndexByte(f[2], '/')+1:]
		if !strings.HasPrefix(base, "rcon-") && !strings.HasPrefix(base, "rcontest-storm-") {
			return line
		}
	}
	if want := map[bool]int{true: 1, false: 3}[v2]; seen != want {
		return fmt.Sprintf("%d of %d hierarchies seen: %q", seen, want, data)
	}
	return ""
}

// runsHere is how many runs a load test makes where it runs: host on this
// host, vm in the VMs (RCON_BIN_DIR set: one emulated CPU, many times
// slower), sd in the systemd VM, where every run is also two D-Bus calls
// to a systemd sharing that CPU.
func runsHere(host, vm, sd int) int {
	switch {
	case os.Getenv("TESTVM_CGROUP") == "systemd":
		return sd
	case os.Getenv("RCON_BIN_DIR") != "":
		return vm
	}
	return host
}
