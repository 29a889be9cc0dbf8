package integration

// The systemd driver (--driver systemd): each run a transient scope of
// the system manager (root) or of the user's manager. These tests run in
// the systemd VM (make test-systemd, as root and as the lingering user
// rcontest); elsewhere they skip, except in that VM (TESTVM_CGROUP=
// systemd), where a missing systemd is a broken VM and fails them.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func needSystemd(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		if os.Getenv("TESTVM_CGROUP") == "systemd" {
			t.Fatalf("in the systemd VM but /run/systemd/system is missing: %v", err)
		}
		t.Skip("systemd is not PID 1 here (no /run/systemd/system): the systemd driver is tested by make test-systemd")
	}
	// Leave nothing: no rcon scope of this manager after the test.
	t.Cleanup(func() { noScopesLeft(t) })
}

// systemctl runs systemctl for the manager rcon talks to.
func systemctl(t *testing.T, args ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		args = append([]string{"--user"}, args...)
	}
	out, err := exec.Command("systemctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// wantMemoryMax checks a scope's memory limit where both sides keep it:
// the cgroup's memory.max and systemd's MemoryMax property.
func wantMemoryMax(t *testing.T, dir, unit string, want int64, when string) {
	t.Helper()
	if b, _ := os.ReadFile(dir + "/memory.max"); strings.TrimSpace(string(b)) != strconv.FormatInt(want, 10) {
		t.Errorf("memory.max %s: %q, want %d", when, b, want)
	}
	if out := systemctl(t, "show", unit, "-p", "MemoryMax"); strings.TrimSpace(out) != fmt.Sprintf("MemoryMax=%d", want) {
		t.Errorf("systemd's MemoryMax %s: %q, want %d", when, out, want)
	}
}

// noScopesLeft polls (2 s at most): a run's end asks systemd to stop its
// run slice without waiting for the job (registry.EndScope), so the
// units may still be going away when rcon has exited; they must be gone
// soon after, by systemd alone.
func noScopesLeft(t *testing.T) {
	t.Helper()
	var left string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left = strings.TrimSpace(systemctl(t, "list-units", "--all", "--no-legend", "--plain", "rcon-*"))
		if left == "" || time.Now().After(deadline) {
			break
		}
	}
	if left != "" {
		t.Errorf("systemctl list-units 'rcon-*' is not empty 2 s after the end:\n%s", left)
	}
}

// sdrcon runs rcon with the systemd driver.
func sdrcon(t *testing.T, args ...string) result {
	t.Helper()
	return rcon(t, append([]string{"--driver", "systemd"}, args...)...)
}

// showScope is the script a command runs to tell where it is and what
// its scope's files and systemd's properties say.
const showScope = `cg=$(sed -n 's/^0:://p' /proc/self/cgroup); d=/sys/fs/cgroup$cg; u=${cg##*/}
echo "cg=$cg"
for f in cpu.max memory.max pids.max; do echo "$f=$(cat $d/$f)"; done
systemctl $SCOPE show "$u" -p CPUQuotaPerSecUSec,MemoryMax,TasksMax,Slice,CollectMode`

func scopeFlag() string {
	if os.Geteuid() != 0 {
		return "--user"
	}
	return ""
}

// rootWrites watches the root's cgroup.subtree_control (the root cgroup
// is systemd's own) and reports whether anything wrote it until stop.
func rootWrites(t *testing.T) (stop func() bool) {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, "/sys/fs/cgroup/cgroup.subtree_control", unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	before, _ := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	return func() bool {
		defer unix.Close(fd)
		buf := make([]byte, 4096)
		n, _ := unix.Read(fd, buf)
		after, _ := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
		return n > 0 || string(before) != string(after)
	}
}

func TestSystemdScopeHoldsLimits(t *testing.T) {
	needSystemd(t)
	// Once first, so that systemd has enabled what rcon.slice needs;
	// then nothing may write the root's subtree_control during a run.
	sdrcon(t, "--cpu", "20", "--mem", "100M", "--pids", "50", "--", "true")
	stop := rootWrites(t)
	r := sdrcon(t, "--cpu", "20", "--mem", "100M", "--pids", "50", "--stats", "--",
		"env", "SCOPE="+scopeFlag(), "sh", "-c", showScope)
	if stop() {
		t.Errorf("/sys/fs/cgroup/cgroup.subtree_control was written during the run")
	}
	if r.Code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	t.Logf("%s", r.Stdout)
	for _, want := range []string{"/rcon.slice/rcon-", ".scope\n", "cpu.max=20000 100000\n", "memory.max=104857600\n",
		"pids.max=50\n", "CPUQuotaPerSecUSec=200ms\n", "MemoryMax=104857600\n", "TasksMax=50\n",
		"CollectMode=inactive-or-failed\n"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.Stdout)
		}
	}
	// In its run slice, a child of rcon.slice (sdscope.RunSlice).
	if !strings.Contains(r.Stdout, fmt.Sprintf("Slice=rcon-rcon\\x2d%d\\x2d", r.Pid)) ||
		!strings.Contains(r.Stdout, fmt.Sprintf("/rcon.slice/rcon-rcon\\x2d%d\\x2d", r.Pid)) {
		t.Errorf("not in its run slice of rcon.slice:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, fmt.Sprintf("/rcon-%d-", r.Pid)) {
		t.Errorf("the command did not run in rcon-%d-*.scope:\n%s", r.Pid, r.Stdout)
	}
	if !strings.Contains(r.Stderr, "cpu") {
		t.Errorf("--stats printed nothing recognisable: %s", r.Stderr)
	}
	if _, err := os.Stat("/sys/fs/cgroup/rcon"); err == nil {
		t.Errorf("/sys/fs/cgroup/rcon exists: the systemd driver must not make cgroupfs groups")
	}
}

func TestSystemdSliceAndExitStatus(t *testing.T) {
	needSystemd(t)
	// Not rcon-*: systemd keeps a slice it made for a scope loaded, and
	// the end's check is that no rcon-* unit is left.
	t.Cleanup(func() { systemctl(t, "stop", "rcontest.slice") })
	r := sdrcon(t, "--slice", "rcontest.slice", "--mem", "64M", "--", "sh", "-c", "cat /proc/self/cgroup; exit 3")
	if r.Code != 3 || !strings.Contains(r.Stdout, "/rcontest.slice/rcontest-rcon") {
		t.Fatalf("exit %d, want 3 in rcon-test.slice\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	r = sdrcon(t, "--slice", "bad/slice", "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "--slice") {
		t.Errorf("bad --slice: exit %d, %s", r.Code, r.Stderr)
	}
	r = sdrcon(t, "--", "/nonexistent/cmd")
	if r.Code != 127 {
		t.Errorf("missing command: exit %d, want 127: %s", r.Code, r.Stderr)
	}
}

func TestSystemdOOMIsReported(t *testing.T) {
	needSystemd(t)
	// Three times: systemd removes the scope as soon as it is empty,
	// which once raced the reading of its memory.events.
	for i := 0; i < 3; i++ {
		r := sdrcon(t, append([]string{"--mem", "40M", "--swap", "0", "--stats", "--"}, helperArgs(t, "alloc", "200")...)...)
		if r.Code != 137 || !strings.Contains(r.Stderr, "killed by the OOM killer, memory limit 40M reached") {
			t.Fatalf("exit %d, want 137 with the OOM report: %s", r.Code, r.Stderr)
		}
	}
}

// startBackground starts rcon with args and waits until the record of
// its scope names the scope's cgroup.
func startBackground(t *testing.T, name string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	return startScoped(t, "--name", name, args...)
}

// startScoped is startBackground with the group named by how (--name,
// --shared).
func startScoped(t *testing.T, how, name string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "rcon"), append([]string{"--driver", "systemd", how, name}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Whatever a failure leaves (a SIGKILLed rcon's scope or run slice)
	// is gc's to end before noScopesLeft looks.
	t.Cleanup(func() { rcon(t, "gc", "--kill") })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(filepath.Join(os.Getenv("RCON_STATE_DIR"), name+".json"))
		if i := strings.Index(string(data), `"paths":["`); i >= 0 {
			p := string(data)[i+len(`"paths":["`):]
			return cmd, p[:strings.Index(p, `"`)]
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	t.Fatalf("no scope recorded for %s", name)
	return nil, ""
}

func TestSystemdSetPsAndSignals(t *testing.T) {
	needSystemd(t)
	cmd, dir := startBackground(t, "sdset", "--mem", "100M", "--", "sleep", "60")
	if ps := rcon(t, "ps"); !strings.Contains(ps.Stdout, "sdset") {
		t.Errorf("rcon ps does not list the scope's run:\n%s", ps.Stdout)
	}
	r := rcon(t, "set", "sdset", "--mem", "200M")
	if r.Code != 0 {
		t.Errorf("rcon set: exit %d: %s", r.Code, r.Stderr)
	}
	wantMemoryMax(t, dir, "rcon-sdset.scope", 209715200, "after set")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
		t.Errorf("rcon after SIGTERM: %v, want exit 143 (forwarded to sleep)", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("scope cgroup %s still there", dir)
	}
}

func TestSystemdGCKillStopsOrphanedScope(t *testing.T) {
	needSystemd(t)
	cmd, dir := startBackground(t, "sdorphan", "--", "sleep", "300")
	// The scope is recorded while the command is still held: a kill of
	// rcon then ends it with nothing run. This test is about a command
	// that runs, so it waits for the exec.
	for deadline := time.Now().Add(10 * time.Second); !memberIs(dir, "sleep"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no member of %s became sleep", dir)
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if b, _ := os.ReadFile(dir + "/cgroup.procs"); strings.TrimSpace(string(b)) == "" {
		t.Fatalf("the command did not outlive its SIGKILLed rcon in %s", dir)
	}
	r := rcon(t, "gc")
	if !strings.Contains(r.Stdout+r.Stderr, "sdorphan") {
		t.Errorf("rcon gc does not report the busy orphan: %s %s", r.Stdout, r.Stderr)
	}
	r = rcon(t, "gc", "--kill")
	if r.Code != 0 {
		t.Errorf("rcon gc --kill: exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("scope cgroup %s still there after gc --kill", dir)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("RCON_STATE_DIR"), "sdorphan.json")); err == nil {
		t.Errorf("record left after gc --kill")
	}
}

// memberIs tells whether a process of the cgroup dir runs comm.
func memberIs(dir, comm string) bool {
	data, _ := os.ReadFile(dir + "/cgroup.procs")
	for _, f := range strings.Fields(string(data)) {
		if c, _ := os.ReadFile("/proc/" + f + "/comm"); strings.TrimSpace(string(c)) == comm {
			return true
		}
	}
	return false
}

func TestSystemdIOLimit(t *testing.T) {
	needSystemd(t)
	dev := "/dev/vda"
	if _, err := os.Stat(dev); err != nil {
		if os.Getenv("TESTVM_CGROUP") == "systemd" {
			t.Fatalf("no %s in the systemd VM", dev)
		}
		t.Skipf("no %s", dev)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	r := sdrcon(t, "--io-read-bps", dev+":1M", "--", "sh", "-c", "touch "+marker+`; cat /sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/io.max`)
	_, ranErr := os.Stat(marker)
	if os.Geteuid() != 0 {
		// The VM's user manager is delegated cpu memory pids only.
		if r.Code != 125 || !strings.Contains(r.Stderr, "io controller") || !strings.Contains(r.Stderr, "Delegate=") {
			t.Errorf("as a user without io: exit %d, want 125 naming the io controller and the fix: %s", r.Code, r.Stderr)
		}
		if ranErr == nil {
			t.Errorf("the command ran although its io limit was refused")
		}
		return
	}
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d:%d rbps=1048576", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
	if r.Code != 0 || !strings.Contains(r.Stdout, want) {
		t.Errorf("exit %d, io.max %q, want %q: %s", r.Code, r.Stdout, want, r.Stderr)
	}
}

func TestSystemdNoBusIsOneLine(t *testing.T) {
	needSystemd(t)
	if os.Geteuid() == 0 {
		t.Skip("as root the system bus and /run/systemd/private are always there")
	}
	cmd := exec.Command(filepath.Join(binDir, "rcon"), "--driver", "systemd", "--mem", "50M", "--", "true")
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=/nonexistent")
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 125 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), "user manager") {
		t.Errorf("no bus: %v, %q; want 125 and one line", err, out)
	}
}

func TestSystemdRefusesWhatItDoesNotSupport(t *testing.T) {
	needSystemd(t)
	for _, args := range [][]string{{"--parent", "/x"}} {
		r := sdrcon(t, append(args, "--", "true")...)
		if r.Code != 125 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, want 125 in one line: %s", args, r.Code, r.Stderr)
		}
	}
}

func TestSystemdNamespaceInitIsHeldInItsScope(t *testing.T) {
	needSystemd(t)
	ns := "pid,mount"
	if os.Geteuid() != 0 {
		ns = "user,pid,mount"
	}
	r := sdrcon(t, "--unshare", ns, "--pids", "20", "--", "sh", "-c", `echo "pid=$$"; sed -n 's/^0:://p' /proc/self/cgroup; cat /proc/1/cmdline | tr '\0' ' '; echo`)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	t.Logf("%s", r.Stdout)
	// The command's pid is not 2: the init's threads took the numbers before.
	if !strings.Contains(r.Stdout, "/rcon.slice/rcon-") || !strings.Contains(r.Stdout, "rcon-init") {
		t.Errorf("want the command under rcon-init in an rcon scope:\n%s", r.Stdout)
	}
}

func TestSystemdBusyLoopGets20Percent(t *testing.T) {
	needSystemd(t)
	r := sdrcon(t, append([]string{"--cpu", "20", "--stats", "--"}, helperArgs(t, "spin", "3")...)...)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	var cpu, wall float64
	if _, err := fmt.Sscanf(r.Stdout, "cpu=%f wall=%f", &cpu, &wall); err != nil {
		t.Fatalf("helper output %q: %v", r.Stdout, err)
	}
	// From the helper's own rusage, not from the scope's figures.
	pct := 100 * cpu / wall
	t.Logf("busy loop got %.1f%% of one CPU over %.2fs (rcon says: %s)", pct, wall, strings.TrimSpace(r.Stderr))
	if pct < 17 || pct > 23 {
		t.Errorf("CPU share %.1f%%, want 20%% ± 3 points", pct)
	}
	if !strings.Contains(r.Stderr, "throttled") {
		t.Errorf("--stats printed no throttling line:\n%s", r.Stderr)
	}
}

// The default driver on a systemd host is the scope; --driver cgroupfs
// and --parent (a cgroupfs path) are not.
func TestSystemdIsTheDefaultHere(t *testing.T) {
	needSystemd(t)
	r := rcon(t, "--mem", "64M", "--", "cat", "/proc/self/cgroup")
	if r.Code != 0 || !strings.Contains(r.Stdout, "/rcon.slice/rcon-") || !strings.Contains(r.Stdout, ".scope") {
		t.Errorf("without --driver: exit %d, want a run in an rcon scope:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if os.Geteuid() != 0 {
		return // cgroupfs as a user needs a delegated --parent: TestSystemdNoManagerFallsBack
	}
	r = rcon(t, "--driver", "cgroupfs", "--mem", "64M", "--", "cat", "/proc/self/cgroup")
	if r.Code != 0 || strings.Contains(r.Stdout, ".scope") || !strings.Contains(r.Stdout, "0::/rcon/") {
		t.Errorf("--driver cgroupfs: exit %d, want a run in /rcon/...:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// A user whose manager cannot be reached (a cron job without linger) is
// not refused by the default driver when cgroupfs can run the command
// (no limit asked: no group needed), and is told in one line what is
// missing when it cannot.
func TestSystemdNoManagerFallsBack(t *testing.T) {
	needSystemd(t)
	if os.Geteuid() == 0 {
		t.Skip("as root the system manager is always reachable")
	}
	env := append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=/nonexistent")
	run := func(args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(binDir, "rcon"), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := run("--", "echo", "ran"); code != 0 || !strings.Contains(out, "ran") {
		t.Errorf("no limits, no manager: exit %d, want the command run: %s", code, out)
	}
	out, code := run("--mem", "50M", "--", "true")
	if code != 125 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "enable-linger") || !strings.Contains(out, "--parent") {
		t.Errorf("a limit, no manager: exit %d, want 125 in one line naming linger and --parent: %q", code, out)
	}
}

// --unshare cgroup: the namespace's root is the scope (the init makes it
// once released into the scope), not rcon's own cgroup.
func TestSystemdCgroupNamespaceRootIsTheScope(t *testing.T) {
	needSystemd(t)
	ns := "cgroup"
	if os.Geteuid() != 0 {
		ns = "user,cgroup"
	}
	r := sdrcon(t, "--unshare", ns, "--mem", "64M", "--", "sh", "-c", `cat /proc/self/cgroup`)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	first := strings.SplitN(r.Stdout, "\n", 2)[0]
	if first != "0::/" {
		t.Errorf("/proc/self/cgroup inside is %q, want 0::/ (the scope as the namespace's root):\n%s", first, r.Stdout)
	}
}

// --fit: the command is told its limits (environment and files) in a
// scope as in a cgroupfs group.
func TestSystemdFit(t *testing.T) {
	needSystemd(t)
	args := []string{"--fit", "--cpu", "100", "--mem", "300M"}
	if os.Geteuid() != 0 {
		// Not root: the mount namespace for --fit's files needs one of
		// the user's own; said in one line without it.
		r := sdrcon(t, append(args, "--", "true")...)
		if r.Code != 125 || !strings.Contains(r.Stderr, "--fit") || !strings.Contains(r.Stderr, "--unshare user") {
			t.Errorf("--fit as a user without a user namespace: exit %d, want 125 naming --unshare user: %s", r.Code, r.Stderr)
		}
		args = append(args, "--unshare", "user")
	}
	r := sdrcon(t, append(args, "--", "sh", "-c",
		`echo "GOMAXPROCS=$GOMAXPROCS"; awk '/^MemTotal:/ {print "memtotal=" $2}' /proc/meminfo; echo "online=$(cat /sys/devices/system/cpu/online)"`)...)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"GOMAXPROCS=1\n", "memtotal=307200\n", "online=0\n"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.Stdout)
		}
	}
}

// A command whose limits rcon promises to hold against it (docs/SECURITY.md,
// guarantee 1: uid 0 without CAP_SYS_ADMIN; a sandbox that hides cgroupfs)
// must not reach a systemd manager either: through D-Bus uid 0 may lift
// its scope's limits (set-property) or start a unit with every capability,
// and a user its user manager's units, outside its group. The manager's
// sockets are hidden from it. (The attack itself, run from inside.)
func TestSystemdSandboxedCommandCannotReachTheManager(t *testing.T) {
	needSystemd(t)
	// From inside: lift the scope's quota through systemd, start a unit
	// of its own outside the group (both at once), and count the sockets
	// it was given (rcon's D-Bus connection and the hold socket are
	// close-on-exec). The quota is one to see lifted, not a tight one:
	// systemctl's start-up alone is some seconds of the VM's emulated CPU.
	script := `u=$(sed -n 's|^0::.*/||p' /proc/self/cgroup); d=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
{ if systemctl $SCOPE set-property --runtime "$u" CPUQuota= MemoryMax=infinity 2>/dev/null; then echo lift=done; else echo lift=refused; fi; } &
{ if systemd-run $SCOPE --quiet --collect --wait /bin/true 2>/dev/null; then echo unit=done; else echo unit=refused; fi; } &
wait
echo "cpu=$(cat $d/cpu.max 2>/dev/null)"
n=0; for f in /proc/self/fd/*; do case $(readlink $f) in socket:*) n=$((n+1));; esac; done; echo "sockets=$n"`
	args := []string{"--keep", "none", "--cpu", "50", "--mem", "64M"}
	want := "cpu=50000 100000"
	busVar, bus := "DBUS_SYSTEM_BUS_ADDRESS", "/run/dbus/system_bus_socket"
	if os.Geteuid() != 0 {
		// The cgi-tenant's shape: cgroupfs hidden in the command's own
		// namespaces, so rcon promises its limits hold.
		args = []string{"--unshare", "user,mount,pid", "--tmpfs", "/sys/fs/cgroup", "--keep", "none", "--cpu", "50", "--mem", "64M"}
		want = "cpu=" // cgroupfs is hidden from it: nothing to read
		busVar, bus = "DBUS_SESSION_BUS_ADDRESS", os.Getenv("XDG_RUNTIME_DIR")+"/bus"
	}
	// The bus under another name (a hard link: the same socket), named by
	// the environment: rcon must hide what its environment names too.
	other := filepath.Join(filepath.Dir(bus), fmt.Sprintf("rcontest-bus-%d", os.Getpid()))
	if err := os.Link(bus, other); err != nil {
		t.Fatalf("link the bus socket: %v", err)
	}
	t.Cleanup(func() { os.Remove(other) })
	cases := []struct {
		name string
		args []string
		env  string
	}{
		{name: "own scope"},
		// One run for both.
		{name: "shared scope, bus named by the environment", args: []string{"--shared", "sdattack"}, env: "unix:path=" + other},
	}
	if os.Geteuid() == 0 {
		// As the user, cgroupfs has no group to give limits in.
		cases = append(cases, struct {
			name string
			args []string
			env  string
		}{name: "cgroupfs driver", args: []string{"--driver", "cgroupfs"}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv(busVar, c.env)
			}
			a := append(append(append([]string(nil), args...), c.args...), "--", "env", "SCOPE="+scopeFlag())
			if c.env != "" {
				a = append(a, busVar+"="+c.env)
			}
			r := rcon(t, append(a, "sh", "-c", script)...)
			if r.Code != 0 {
				t.Fatalf("exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
			}
			got := outputLines(r.Stdout)
			if got["lift"] != "refused" || !strings.Contains(r.Stdout, want+"\n") {
				t.Errorf("the command lifted its scope's limits through systemd:\n%s", r.Stdout)
			}
			if got["unit"] != "refused" {
				t.Errorf("the command started a unit of its own outside its group:\n%s", r.Stdout)
			}
			if got["sockets"] != "0" {
				t.Errorf("the command was given %s socket(s):\n%s", got["sockets"], r.Stdout)
			}
		})
	}
	noScopesLeft(t)
}

// cgroupOf is the unified-hierarchy cgroup directory of pid.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return "/sys/fs/cgroup" + p
		}
	}
	t.Fatalf("pid %d: no unified cgroup in %q", pid, data)
	return ""
}

// TestSystemdSharedScope: --shared on the systemd driver is one scope per
// name, which a second run joins (through systemd: the scope is delegated
// and systemd's view of it is true), whose limits a joiner keeps unless
// --update, and which goes with its last member, that ends what the
// commands left in it.
func TestSystemdSharedScope(t *testing.T) {
	needSystemd(t)
	first, dir := startScoped(t, "--shared", "sdsh", "--mem", "100M", "--", "sleep", "30")
	if !strings.HasSuffix(dir, "/rcon-sdsh.scope") {
		t.Fatalf("shared scope cgroup %s, want .../rcon-sdsh.scope", dir)
	}
	if out := systemctl(t, "show", "rcon-sdsh.scope", "-p", "Delegate,MemoryMax"); !strings.Contains(out, "Delegate=yes") || !strings.Contains(out, "MemoryMax=104857600") {
		t.Errorf("systemctl show rcon-sdsh.scope: %q", out)
	}
	// A joiner with other limits keeps the group's, and says so.
	r := sdrcon(t, "--shared", "sdsh", "--mem", "300M", "--", "sh", "-c", `sed -n 's/^0:://p' /proc/self/cgroup; cat /sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/memory.max`)
	if r.Code != 0 || !strings.Contains(r.Stdout, "/rcon-sdsh.scope\n104857600") || !strings.Contains(r.Stderr, "keeps its limits") {
		t.Errorf("joiner: exit %d, %q, %q; want it in rcon-sdsh.scope with memory.max 104857600 and a warning", r.Code, r.Stdout, r.Stderr)
	}
	// --update writes them, through systemd.
	r = sdrcon(t, "--shared", "sdsh", "--mem", "200M", "--update", "--", "true")
	if r.Code != 0 {
		t.Errorf("--update joiner: exit %d: %s", r.Code, r.Stderr)
	}
	wantMemoryMax(t, dir, "rcon-sdsh.scope", 209715200, "after --update")
	// A member whose command leaves a process behind is not the last:
	// the process stays in the scope.
	r = sdrcon(t, "--shared", "sdsh", "--", "sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!")
	left, _ := strconv.Atoi(strings.TrimSpace(r.Stdout))
	if r.Code != 0 || left == 0 {
		t.Fatalf("member leaving a sleep: exit %d, %q: %s", r.Code, r.Stdout, r.Stderr)
	}
	if d := cgroupOf(t, left); d != dir {
		t.Errorf("the left sleep is in %s, want %s", d, dir)
	}
	if ps := rcon(t, "ps"); !strings.Contains(ps.Stdout, "sdsh") {
		t.Errorf("rcon ps does not list the shared scope:\n%s", ps.Stdout)
	}
	// The first one is the last one out: it ends the left sleep.
	_ = first.Process.Signal(syscall.SIGTERM)
	_ = first.Wait()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", left)); err == nil {
		if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", left)); !strings.Contains(string(st), ") Z") {
			t.Errorf("the sleep left in the scope outlived its last member")
		}
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(dir); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("scope %s still there after its last member left", dir)
			break
		}
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("RCON_STATE_DIR"), "sdsh.json")); err == nil {
		t.Errorf("record left after the last member")
	}
}

// TestSystemdSharedScopeIsRemadeWhenGone: systemd removes an emptied
// scope at once, also while its last rcon is still on its way out (here:
// stopped); a run joining the name then makes it again, and the stopped
// member's later leave does not end the new one.
func TestSystemdSharedScopeIsRemadeWhenGone(t *testing.T) {
	needSystemd(t)
	first, dir := startScoped(t, "--shared", "sdgone", "--", "sleep", "1")
	for deadline := time.Now().Add(10 * time.Second); !memberIs(dir, "sleep"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no member of %s became sleep", dir)
		}
	}
	// Stopped, its rcon cannot leave when sleep ends: the scope empties
	// and systemd collects it with a live member recorded.
	_ = first.Process.Signal(syscall.SIGSTOP)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(dir); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scope %s not collected after its command ended", dir)
		}
	}
	second, dir2 := startScoped(t, "--shared", "sdgone", "--", "sleep", "30")
	if dir2 != dir {
		t.Errorf("remade scope at %s, want %s", dir2, dir)
	}
	for deadline := time.Now().Add(10 * time.Second); !memberIs(dir2, "sleep"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no member of %s became sleep", dir2)
		}
	}
	_ = first.Process.Signal(syscall.SIGCONT)
	if err := first.Wait(); err != nil {
		t.Errorf("first member: %v", err)
	}
	if !memberIs(dir2, "sleep") {
		t.Errorf("the first member's leave ended the remade scope's command")
	}
	_ = second.Process.Signal(syscall.SIGTERM)
	_ = second.Wait()
}

// TestSystemdAttach: rcon attach makes a scope of running processes
// (through systemd), which goes when they are gone.
func TestSystemdAttach(t *testing.T) {
	needSystemd(t)
	sleep := exec.Command("sleep", "30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleep.Process.Kill(); _ = sleep.Wait(); rcon(t, "gc") }()
	r := rcon(t, "attach", "--name", "sdatt", "--mem", "100M", fmt.Sprint(sleep.Process.Pid))
	if r.Code != 0 {
		t.Fatalf("rcon attach: exit %d: %s", r.Code, r.Stderr)
	}
	dir := cgroupOf(t, sleep.Process.Pid)
	if !strings.HasSuffix(dir, "/rcon-sdatt.scope") {
		t.Fatalf("attached sleep is in %s, want rcon-sdatt.scope", dir)
	}
	if b, _ := os.ReadFile(dir + "/memory.max"); strings.TrimSpace(string(b)) != "104857600" {
		t.Errorf("memory.max of the attached scope: %q", b)
	}
	if ps := rcon(t, "ps"); !strings.Contains(ps.Stdout, "sdatt") {
		t.Errorf("rcon ps does not list the attached scope:\n%s", ps.Stdout)
	}
	// A second process joins it.
	sleep2 := exec.Command("sleep", "30")
	if err := sleep2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleep2.Process.Kill(); _ = sleep2.Wait() }()
	if r := rcon(t, "attach", "--name", "sdatt", fmt.Sprint(sleep2.Process.Pid)); r.Code != 0 {
		t.Errorf("second attach: exit %d: %s", r.Code, r.Stderr)
	}
	if d := cgroupOf(t, sleep2.Process.Pid); d != dir {
		t.Errorf("second attached sleep is in %s, want %s", d, dir)
	}
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	_ = sleep2.Process.Kill()
	_ = sleep2.Wait()
	if r := rcon(t, "gc"); r.Code != 0 {
		t.Errorf("rcon gc: exit %d: %s", r.Code, r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("RCON_STATE_DIR"), "sdatt.json")); err == nil {
		t.Errorf("record left after the attached processes ended and gc ran")
	}
}

// TestSystemdForeignRunSliceIsLeftRunning: a run's slice is named from
// its --slice and --name, so it can be a slice that holds units of
// someone else's (`--slice system.slice --name getty` is
// system-getty.slice, the gettys' own). Neither the run's end nor gc of
// a SIGKILLed rcon's record stops that slice, and so its units: only
// rcon's scope is stopped. On the old code both stopped the slice, and
// the victim unit with it.
func TestSystemdForeignRunSliceIsLeftRunning(t *testing.T) {
	needSystemd(t)
	name := fmt.Sprintf("rcontestfs%d", os.Getpid())
	victim := name + "-victim.service"
	slice := "rcontestp-" + name + ".slice"
	run := []string{"--unit", victim, "--slice", slice, "sleep", "300"}
	if os.Geteuid() != 0 {
		run = append([]string{"--user"}, run...)
	}
	if out, err := exec.Command("systemd-run", run...).CombinedOutput(); err != nil {
		t.Fatalf("systemd-run %v: %v\n%s", run, err, out)
	}
	t.Cleanup(func() {
		stop := []string{"stop", victim, "rcontestp.slice"}
		if os.Geteuid() != 0 {
			stop = append([]string{"--user"}, stop...)
		}
		_ = exec.Command("systemctl", stop...).Run() // gone already if the test failed
	})
	intact := func(when string) {
		t.Helper()
		if out := strings.TrimSpace(systemctl(t, "show", victim, "-p", "ActiveState,SubState")); out != "ActiveState=active\nSubState=running" {
			t.Errorf("the unit in %s %s: %q, want it running", slice, when, out)
		}
	}
	if r := sdrcon(t, "--slice", "rcontestp.slice", "--name", name, "--", "true"); r.Code != 0 {
		t.Fatalf("rcon in the foreign slice: exit %d: %s", r.Code, r.Stderr)
	}
	noScopesLeft(t)
	intact("after a run's end")

	cmd, dir := startScoped(t, "--name", name, "--slice", "rcontestp.slice", "--", "sleep", "300")
	if !strings.Contains(dir, "/"+slice+"/") {
		t.Fatalf("the run's scope %s is not in %s", dir, slice)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if r := rcon(t, "gc", "--kill"); r.Code != 0 {
		t.Errorf("rcon gc --kill: exit %d: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the SIGKILLed rcon's scope %s is still there after gc --kill", dir)
	}
	noScopesLeft(t)
	intact("after gc --kill")
}

// TestSystemdAttachFromBelowIsRefused: systemd takes the pids of a move
// in its own pid namespace. rcon attach run in a pid namespace below it
// would hand systemd the pid of its own /proc (here 2, the sleep), which
// there names another process (the host's pid 2). It is refused before
// any scope is made.
func TestSystemdAttachFromBelowIsRefused(t *testing.T) {
	needSystemd(t)
	needRoot(t)
	script := fmt.Sprintf(`sleep 30 & %s attach --driver systemd --name sdbelow --mem 100M $!; rc=$?; kill $!; exit $rc`, filepath.Join(binDir, "rcon"))
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script)
	out, err := cmd.CombinedOutput()
	t.Cleanup(func() { rcon(t, "gc", "--kill") })
	if err == nil || !strings.Contains(string(out), "cannot be used here") || !strings.Contains(string(out), "pid namespace") {
		t.Errorf("rcon attach from a pid namespace below systemd's: %v, %q; want it refused, naming the pid namespace", err, out)
	}
	if out := systemctl(t, "list-units", "--all", "--no-legend", "rcon-sdbelow.scope"); strings.TrimSpace(out) != "" {
		t.Errorf("a scope was made: %s", out)
	}
}
