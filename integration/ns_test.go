package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Namespaces (issue 4). Every run goes through tool(), which also checks
// that no group is left; processes are checked with a marker (leftOver).

// nsRun runs a tool with namespace flags (as root).
func nsRun(t *testing.T, name string, args ...string) result {
	t.Helper()
	needRoot(t)
	return tool(t, name, args...)
}

func mustOK(t *testing.T, r result) {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// leftOver fails, and cleans up, if a process whose command line holds
// marker is still running.
func leftOver(t *testing.T, marker string) {
	t.Helper()
	var found []int
	// The kernel ends a namespace's processes asynchronously; give it a moment.
	for i := 0; i < 50; i++ {
		found = found[:0]
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if bytes.Contains(cl, []byte(marker)) {
				found = append(found, pid)
			}
		}
		if len(found) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("processes left behind: %v", found)
	for _, p := range found {
		syscall.Kill(p, syscall.SIGKILL)
	}
}

func TestNSPidMountSeesOnlyItsOwnProcesses(t *testing.T) {
	r := nsRun(t, "rcon", "--unshare", "pid,mount", "--", "sh", "-c",
		`echo $$ $PPID; ps -e -o pid=; sleep 314.1 & true`)
	mustOK(t, r)
	lines := strings.Fields(r.Stdout)
	if len(lines) < 2 {
		t.Fatalf("output: %q", r.Stdout)
	}
	if lines[0] == "1" || lines[1] != "1" {
		t.Errorf("$$=%s parent=%s: want $$ != 1 and parent 1 (our init)", lines[0], lines[1])
	}
	// ps sees the init (1), the shell and ps itself, nothing of the host.
	pids := lines[2:]
	if len(pids) != 3 || pids[0] != "1" {
		t.Errorf("ps -e inside shows %v; want exactly [1 $$ ps]", pids)
	}
	for _, p := range pids {
		if p == strconv.Itoa(os.Getpid()) {
			t.Errorf("the test's own pid %d is visible inside", os.Getpid())
		}
	}
	leftOver(t, "314.1")
}

func TestNSExitStatusAndSignalDeath(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   int
	}{{"exit 7", 7}, {"kill -TERM $$", 143}, {"kill -KILL $$", 137}, {"true", 0}} {
		r := nsRun(t, "rcon", "--unshare", "pid,mount", "--", "sh", "-c", tc.script)
		if r.Code != tc.want {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.script, r.Code, tc.want, r.Stderr)
		}
	}
	// Not found and not executable keep their statuses through the init.
	if r := nsRun(t, "rcon", "--unshare", "pid", "--", "/nonexistent/cmd"); r.Code != 127 {
		t.Errorf("not found: exit %d, want 127", r.Code)
	}
	// Chroot: the command is looked up inside, by the init.
	root := t.TempDir()
	if r := nsRun(t, "rcon", "--unshare", "pid", "--chroot", root, "--", "/bin/true"); r.Code != 127 {
		t.Errorf("not found in chroot: exit %d, want 127 (%s)", r.Code, r.Stderr)
	}
}

func TestNSSigtermReachesTrappingCommand(t *testing.T) {
	needRoot(t)
	said, code, stderr := signalAfterReady(t, syscall.SIGTERM, append([]string{"--unshare", "pid,mount", "--"}, helperArgs(t, "trap")...)...)
	if said != "got terminated" || code != 3 {
		t.Errorf("after SIGTERM to rcon the command said %q and rcon exited %d; want \"got terminated\" and 3 (%s)", said, code, stderr)
	}
}

func TestNSOrphanIsReaped(t *testing.T) {
	// The subshell exits at once, so its sleep is orphaned to PID 1 (our
	// init); when it ends it must be reaped, not left a zombie.
	r := nsRun(t, "rcon", "--unshare", "pid,mount", "--", "sh", "-c",
		`(sleep 0.1 &); (sleep 314.2 &); sleep 0.6; ps -e -o stat=,ppid=,args=`)
	mustOK(t, r)
	orphan := false
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.HasPrefix(f[0], "Z") {
			t.Errorf("zombie inside: %q\n%s", l, r.Stdout)
		}
		if strings.Contains(l, "sleep 314.2") && len(f) > 1 && f[1] == "1" {
			orphan = true
		}
	}
	if !orphan {
		t.Errorf("the running orphan is not a child of PID 1:\n%s", r.Stdout)
	}
	// ... and the still running one is ended with the namespace.
	leftOver(t, "314.2")
}

func TestNSNetOnlyLoopbackUp(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip(8)")
	}
	r := nsRun(t, "rcon", "--unshare", "net", "--", "ip", "-o", "link")
	mustOK(t, r)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], ": lo:") || !strings.Contains(lines[0], "<LOOPBACK,UP") {
		t.Errorf("links inside:\n%s", r.Stdout)
	}
	// And it carries traffic: a UDP datagram to 127.0.0.1 through lo.
	r = nsRun(t, "rcon", "--unshare", "net", "--", "sh", "-c", `grep -c : /proc/net/dev; ip -o addr show lo`)
	mustOK(t, r)
	if !strings.HasPrefix(r.Stdout, "1\n") || !strings.Contains(r.Stdout, "127.0.0.1") {
		t.Errorf("inside:\n%s", r.Stdout)
	}
}

func TestNSHostnameInsideOnly(t *testing.T) {
	before, _ := os.Hostname()
	r := nsRun(t, "rcon", "--hostname", "rcon-sandbox", "--", "hostname")
	mustOK(t, r)
	if got := strings.TrimSpace(r.Stdout); got != "rcon-sandbox" {
		t.Errorf("hostname inside = %q", got)
	}
	if after, _ := os.Hostname(); after != before {
		t.Errorf("hostname outside changed: %q -> %q", before, after)
	}
	r = nsRun(t, "capcon", "--unshare", "uts,ipc", "--hostname", "cap-sandbox", "--", "hostname")
	mustOK(t, r)
	if got := strings.TrimSpace(r.Stdout); got != "cap-sandbox" {
		t.Errorf("capcon: hostname inside = %q", got)
	}
}

func TestNSMountInsideInvisibleOutside(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	// The host's / may already be private (it is here: no shared: tag in
	// its mountinfo), and then nothing would propagate even without the
	// namespace's private remount. Make dir a shared mount of its own, so
	// a mount on it inside would reach the host unless the namespace made
	// its copy private.
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on itself: %v", dir, err)
	}
	t.Cleanup(func() {
		for syscall.Unmount(dir, syscall.MNT_DETACH) == nil {
		}
	})
	if err := syscall.Mount("", dir, "", syscall.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", dir, err)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); !sharedMount(string(mi), dir) {
		t.Fatalf("%s is not shared on the host:\n%s", dir, mi)
	}
	for _, ns := range []string{"mount", "pid,mount"} {
		r := nsRun(t, "rcon", "--unshare", ns, "--", "sh", "-c",
			`mount -t tmpfs rcon-ns-test `+dir+` && touch `+dir+`/inside && grep -c rcon-ns-test /proc/self/mountinfo; grep -c ' shared:' /proc/self/mountinfo || true`)
		mustOK(t, r)
		// One tmpfs seen inside; not one mount inside propagates.
		if got := strings.Fields(r.Stdout); len(got) != 2 || got[0] != "1" || got[1] != "0" {
			t.Errorf("%s: inside: %q; want the mount seen once and no shared: mount (/ recursively private)", ns, r.Stdout)
		}
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		if bytes.Contains(mi, []byte("rcon-ns-test")) {
			t.Errorf("%s: the mount made inside is visible outside", ns)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
		if _, err := os.Stat(dir + "/inside"); err == nil {
			t.Errorf("%s: a file written on the inside mount is visible outside", ns)
		}
	}
}

// sharedMount reports whether mountinfo has dir as a mount point with a
// shared: peer group tag.
func sharedMount(mountinfo, dir string) bool {
	for _, l := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(l)
		if len(f) > 6 && f[4] == dir && strings.Contains(l, " shared:") {
			return true
		}
	}
	return false
}

func TestNSUserUnprivilegedGetsRoot(t *testing.T) {
	needRoot(t)
	// nobody must be able to reach the binary.
	dir, err := os.MkdirTemp("", "rcontest-ns-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	data, err := os.ReadFile(filepath.Join(binDir, "capcon"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "capcon")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--unshare", "user,pid,mount", "--", "sh", "-c", "id -u; ps -e -o pid= | wc -l"}, "0\n4\n"}, // init, sh, ps, wc
		{[]string{"--unshare", "user,net,uts,ipc", "--hostname", "unpriv", "--", "sh", "-c", "id -u; hostname; grep -c : /proc/net/dev"}, "0\nunpriv\n1\n"},
		{[]string{"--unshare", "all", "--", "sh", "-c", "id -u; sed 's/.*://' /proc/self/cgroup | sort -u"}, "0\n/\n"},
		// Without user: refused with a clear message and 125.
		{[]string{"--unshare", "pid,net", "--", "true"}, ""},
	} {
		// Run capcon as nobody, with no groups and (as for any non-root
		// uid after setuid) no capabilities; busybox's setpriv in the v2
		// VM cannot do this, so Go's own switch does.
		cmd := exec.Command(bin, tc.args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		cmd.Dir = "/"
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if tc.want == "" {
			if cmd.ProcessState.ExitCode() != 125 || !strings.Contains(errb.String(), "CAP_SYS_ADMIN") {
				t.Errorf("nobody: capcon %v: exit %d, stderr %q; want 125 naming CAP_SYS_ADMIN",
					tc.args, cmd.ProcessState.ExitCode(), errb.String())
			}
			continue
		}
		if err != nil || out.String() != tc.want {
			t.Errorf("nobody: capcon %v: %v: got %q, want %q\n%s", tc.args, err, out.String(), tc.want, errb.String())
		}
	}
}

func TestNSCgroupRootIsSlash(t *testing.T) {
	for _, ns := range []string{"cgroup", "cgroup,pid"} {
		r := nsRun(t, "rcon", "--unshare", ns, "--", "cat", "/proc/self/cgroup")
		mustOK(t, r)
		for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if !strings.HasSuffix(l, ":/") {
				t.Errorf("%s: /proc/self/cgroup line %q is not /", ns, l)
			}
		}
	}
	// Without it the command sees its group (the namespaces are inside it).
	r := nsRun(t, "rcon", "--unshare", "pid,mount", "--cpu", "50", "--", "cat", "/proc/self/cgroup")
	mustOK(t, r)
	if !strings.Contains(r.Stdout, "/rcon-") {
		t.Errorf("the command is not in rcon's group:\n%s", r.Stdout)
	}
}

func TestNSAllLeavesNothing(t *testing.T) {
	r := nsRun(t, "rcon", "--unshare", "all", "--", "sh", "-c", `sleep 314.3 & sleep 314.4 & echo ok`)
	mustOK(t, r)
	leftOver(t, "314.3")
	leftOver(t, "314.4")
	r = nsRun(t, "capcon", "--unshare", "all", "--", "sh", "-c", `sleep 314.5 & echo ok`)
	mustOK(t, r)
	leftOver(t, "314.5")
	stateEmpty(t)
}

func TestNSUnknownNameExits125(t *testing.T) {
	for _, name := range []string{"rcon", "capcon"} {
		r := nsRun(t, name, "--unshare", "pid,bogus", "--", "true")
		if r.Code != 125 || !strings.Contains(r.Stderr, "bogus") {
			t.Errorf("%s --unshare pid,bogus: exit %d, stderr %q; want 125 naming bogus", name, r.Code, r.Stderr)
		}
	}
}

// publicCapcon is a copy of capcon that nobody can run, in a directory
// removed at the end (go test's temp dirs are 0700).
func publicCapcon(t *testing.T) string {
	t.Helper()
	return copyExec(t, filepath.Join(binDir, "capcon"), publicDir(t), "capcon", 0o755)
}

func TestNSUserUnprivilegedKeepsCapInside(t *testing.T) {
	needRoot(t)
	// Inside its own user namespace nobody is root and holds every
	// capability, so it may keep one; the host's empty sets must not be
	// what --keep is checked against.
	pub := publicCapcon(t)
	r := asNobody(t, pub, "--unshare", "user,net", "--keep", "net_admin", "--", "grep", "Cap", "/proc/self/status")
	if r.Code != 0 {
		t.Fatalf("nobody: capcon --unshare user,net --keep net_admin: exit %d, stderr %q", r.Code, r.Stderr)
	}
	const netAdmin = "0000000000001000" // 1 << CAP_NET_ADMIN (12)
	st := statusFields(r.Stdout)
	for k, want := range map[string]string{"CapEff": netAdmin, "CapPrm": netAdmin, "CapBnd": netAdmin, "CapInh": netAdmin, "CapAmb": netAdmin} {
		if st[k] != want {
			t.Errorf("%s = %q, want %q\n%s", k, st[k], want, r.Stdout)
		}
	}
	// Outside a user namespace nobody still cannot keep what it lacks.
	r = asNobody(t, pub, "--keep", "net_admin", "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "not held") {
		t.Errorf("nobody: capcon --keep net_admin without a user namespace: exit %d, stderr %q; want 125 \"not held\"", r.Code, r.Stderr)
	}
	// A bad name is still refused before anything starts.
	r = asNobody(t, pub, "--unshare", "user", "--keep", "net_bogus", "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "net_bogus") {
		t.Errorf("nobody: capcon --unshare user --keep net_bogus: exit %d, stderr %q; want 125 naming it", r.Code, r.Stderr)
	}
}

// TestNSAloneLeavesNothing: without a pid namespace nothing kills the
// namespace's processes for us. rcon's group ends them; capcon has no
// group, so its init (user) or capcon itself (net, cgroup on the thread
// path) must, as a child subreaper, once the command exits.
func TestNSAloneLeavesNothing(t *testing.T) {
	needRoot(t)
	for i, ns := range []string{"user", "net", "cgroup", "user,net", "mount,uts,ipc"} {
		for _, name := range []string{"capcon", "rcon"} {
			// The sleep's output goes elsewhere, so it does not hold the
			// pipe tool() reads until EOF. A grandchild (the subshell's)
			// is orphaned to the subreaper before the command exits.
			marker := fmt.Sprintf("314.7%d", i)
			r := tool(t, name, "--unshare", ns, "--", "sh", "-c",
				`sleep `+marker+` >/dev/null 2>&1 & echo $!; (sleep `+marker+`1 >/dev/null 2>&1 &)`)
			mustOK(t, r)
			pid, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
			if err != nil {
				t.Fatalf("%s --unshare %s: output %q", name, ns, r.Stdout)
			}
			if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(cl, []byte(marker)) {
				t.Errorf("%s --unshare %s: the command's background sleep (pid %d) still runs after %s returned", name, ns, pid, name)
			}
			leftOver(t, marker)
		}
	}
}

// Issue 4 point 7: pruning applies to the command inside the namespaces,
// last, not to the init; every set exact, ambient included.
func TestNSWithCapabilityPruning(t *testing.T) {
	needRoot(t)
	script := fmt.Sprintf("echo $PPID; grep -E '%s' /proc/self/status", statusCmd[2])
	r := capcon(t, "--unshare", "pid,mount", "--keep", "net_bind_service", "--user", "nobody", "--", "sh", "-c", script)
	mustOK(t, r)
	checkStatus(t, r.Stdout, nobody, netBindService, true)
	// In the new pid namespace: the shell is the child of its PID 1.
	if first, _, _ := strings.Cut(r.Stdout, "\n"); first != "1" {
		t.Errorf("$PPID = %q, want 1 (the init of the pid namespace)", first)
	}

	// The README's example: root inside its own uts/ipc namespaces, but
	// powerless.
	before, _ := os.Hostname()
	r = capcon(t, "--unshare", "uts,ipc", "--hostname", "sandbox", "--keep", "none", "--", "sh", "-c",
		fmt.Sprintf("hostname; grep -E '%s' /proc/self/status", statusCmd[2]))
	mustOK(t, r)
	if first, _, _ := strings.Cut(r.Stdout, "\n"); first != "sandbox" {
		t.Errorf("hostname inside = %q, want sandbox", first)
	}
	checkStatus(t, r.Stdout, "0", noCaps, true)
	if after, _ := os.Hostname(); after != before {
		t.Errorf("hostname outside changed: %q -> %q", before, after)
	}
}

// A shell that backgrounds a job and then execs capcon hands it that job
// as a child. It is not the command's: capcon must neither end it nor
// wait for it when it ends what the command left.
func TestNSInheritedChildIsNotTheCommands(t *testing.T) {
	needRoot(t)
	capconBin := filepath.Join(binDir, "capcon")
	marker := "271.61"
	start := time.Now()
	out, err := exec.Command("sh", "-c", `sleep `+marker+` >/dev/null 2>&1 & echo $!; exec "$0" --unshare net -- sh -c 'sleep 314.71 >/dev/null 2>&1 &'`, capconBin).Output()
	if err != nil {
		t.Fatalf("capcon: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("output %q", out)
	}
	defer syscall.Kill(pid, syscall.SIGKILL) // the test's own job, by pid
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("capcon took %v: it waited for the shell's job", el)
	}
	if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !strings.Contains(string(cl), marker) {
		t.Errorf("the shell's own job (pid %d) was ended by capcon", pid)
	}
	leftOver(t, "314.71") // the command's orphan is gone
}
