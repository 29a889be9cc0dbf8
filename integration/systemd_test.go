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
	cmd := exec.Command(filepath.Join(binDir, "rcon"), append([]string{"--driver", "systemd", "--name", name}, args...)...)
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
	if b, _ := os.ReadFile(dir + "/memory.max"); strings.TrimSpace(string(b)) != "209715200" {
		t.Errorf("memory.max after set: %q", b)
	}
	if out := systemctl(t, "show", "rcon-sdset.scope", "-p", "MemoryMax"); strings.TrimSpace(out) != "MemoryMax=209715200" {
		t.Errorf("systemd's MemoryMax after set: %q", out)
	}
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
	for _, args := range [][]string{{"--shared", "sdshared"}, {"--parent", "/x"}} {
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
	// From inside: lift the scope's quota through systemd, and start a
	// unit of its own outside the group.
	script := `u=$(sed -n 's|^0::.*/||p' /proc/self/cgroup); d=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
if systemctl $SCOPE set-property --runtime "$u" CPUQuota= MemoryMax=infinity 2>/dev/null; then echo lift=done; else echo lift=refused; fi
echo "cpu=$(cat $d/cpu.max 2>/dev/null)"
if systemd-run $SCOPE --quiet --collect --wait /bin/true 2>/dev/null; then echo unit=done; else echo unit=refused; fi`
	args := []string{"--keep", "none", "--cpu", "5", "--mem", "64M"}
	want := "cpu=5000 100000"
	if os.Geteuid() != 0 {
		// The cgi-tenant's shape: cgroupfs hidden in the command's own
		// namespaces, so rcon promises its limits hold.
		args = []string{"--unshare", "user,mount,pid", "--tmpfs", "/sys/fs/cgroup", "--keep", "none", "--cpu", "5", "--mem", "64M"}
		want = "cpu=" // cgroupfs is hidden from it: nothing to read
	}
	r := rcon(t, append(args, "--", "env", "SCOPE="+scopeFlag(), "sh", "-c", script)...)
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
}
