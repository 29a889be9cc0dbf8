package integration

// Attacks of a command on its own sandbox (issue 11, holes 2, 6, 8, 9 and
// the untrusted profile): each test runs the attack and asserts it fails.

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupScript is the shell for the command to find its own cpu group
// and the file holding its quota: $G is the group's directory, $Q the
// quota file, $LIFT what lifts the quota, $PROCS the name of the file a
// pid is written to to move a process.
func cgroupScript() string {
	if cgroupV2() {
		return `G=/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup); Q=$G/cpu.max; LIFT=max; PROCS=cgroup.procs; `
	}
	return `G=/sys/fs/cgroup/cpu$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' /proc/self/cgroup); Q=$G/cpu.cfs_quota_us; LIFT=-1; PROCS=tasks; `
}

// ownCPUGroup is the test process's own directory in the cpu hierarchy
// (v1) or the unified one (v2).
func ownCPUGroup(t *testing.T) string {
	t.Helper()
	own := ownCgroups(t)
	if cgroupV2() {
		return filepath.Join("/sys/fs/cgroup", own[""])
	}
	root, err := filepath.EvalSymlinks("/sys/fs/cgroup/cpu")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, own["cpu"])
}

// escapeScript is what a command runs to leave its group for target and
// lift its CPU quota (a --cpu 5 run's), printing before=, move=, lift=,
// quota= and after= lines (outputLines).
func escapeScript(target string) string {
	return cgroupScript() + `echo "before=$G"; ` +
		`if echo $$ 2>/dev/null > ` + target + `/$PROCS; then echo move=done; else echo move=refused; fi; ` +
		`if echo $LIFT 2>/dev/null > $Q; then echo lift=done; else echo lift=refused; fi; ` +
		`echo "quota=$(cat $Q)"; ` +
		cgroupScript() + `echo "after=$G"`
}

// escapeTarget makes an empty group beneath the test's own for a command
// to try to move itself into, and removes it when the test ends.
func escapeTarget(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(ownCPUGroup(t), fmt.Sprintf("rcontest-escape-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A process moved here by a failing test has exited once rcon
		// returned; removal may still race its last reference.
		for i := 0; i < 50; i++ {
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		killAndRemove(dir)
	})
	return dir
}

// outputLines maps "key=value" lines of out.
func outputLines(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// A command that stays uid 0 with its capabilities pruned owns the
// cgroup files and the sysctls: it must not be able to leave its group,
// lift its quota, or write /proc/sys.
func TestSandboxRootWithoutSysAdminKeepsItsLimits(t *testing.T) {
	needRoot(t)
	// A quota to see lifted, not a tight one: at 5% the nested Go
	// helper's start-up alone took a minute of the VMs' emulated CPU.
	target, quota := escapeTarget(t), "50000"
	if cgroupV2() {
		quota = "50000 100000"
	}
	script := escapeScript(target) + `; ` +
		`v=$(cat /proc/sys/kernel/domainname); if echo "$v" 2>/dev/null > /proc/sys/kernel/domainname; then echo sysctl=done; else echo sysctl=refused; fi; ` +
		// Opened for writing and nothing written: no sysrq action
		// even if the open succeeds (true, not the special builtin :,
		// whose failed redirection would end sh).
		`if true 2>/dev/null > /proc/sysrq-trigger; then echo sysrq=done; else echo sysrq=refused; fi; ` +
		`for p in /proc/bus /proc/fs /proc/irq; do echo "mount$p=$(awk -v p=$p '$5 == p { split($6, o, ","); print o[1] }' /proc/self/mountinfo | tail -n 1)"; done; ` +
		// The hierarchy mounted afresh in a nested user namespace.
		`env RCON_TEST_HELPER=nestcg ` + self(t) + `; echo "quota2=$(cat $Q)"`
	for _, caps := range [][]string{{"--keep", "none"}, {"--user", "root", "--drop", "sys_admin"}, {"--keep", "net_bind_service", "--unshare", "pid"}} {
		args := append([]string{"--cpu", "50"}, caps...)
		r := rcon(t, append(args, "--", "sh", "-c", script)...)
		mustOK(t, r)
		got := outputLines(r.Stdout)
		if got["move"] != "refused" || got["after"] != got["before"] || got["before"] == "" {
			t.Errorf("%v: the command moved itself out of its group (%s -> %s):\n%s", caps, got["before"], got["after"], r.Stdout)
		}
		if got["lift"] != "refused" || got["quota"] != quota {
			t.Errorf("%v: the command lifted its own quota (now %q, want %q):\n%s", caps, got["quota"], quota, r.Stdout)
		}
		if !strings.Contains(r.Stdout, "nested=refused") || got["quota2"] != quota {
			t.Errorf("%v: a nested user namespace was not refused, or the quota changed (%q):\n%s", caps, got["quota2"], r.Stdout)
		}
		if got["sysctl"] != "refused" {
			t.Errorf("%v: the command wrote /proc/sys/kernel/domainname:\n%s", caps, r.Stdout)
		}
		if got["sysrq"] != "refused" {
			t.Errorf("%v: the command opened /proc/sysrq-trigger for writing:\n%s", caps, r.Stdout)
		}
		for _, p := range []string{"/proc/bus", "/proc/fs", "/proc/irq"} {
			// Each is a read-only mount of its own there (its last
			// mount on that point is what the command sees).
			if m := got["mount"+p]; m != "ro" {
				t.Errorf("%v: %s is mounted %q, want ro:\n%s", caps, p, m, r.Stdout)
			}
		}
		if procs, _ := os.ReadFile(filepath.Join(target, "cgroup.procs")); len(procs) > 0 {
			t.Errorf("%v: processes in the escape group: %s", caps, procs)
		}
	}
}

// Run as another user, the command does not own its group's files: it
// cannot move itself out of the group or lift its quota.
func TestOtherUserCannotLeaveOrLiftItsGroup(t *testing.T) {
	needRoot(t)
	target, quota := escapeTarget(t), "50000"
	if cgroupV2() {
		quota = "50000 100000"
	}
	script := escapeScript(target)
	r := rcon(t, "--cpu", "50", "--user", "nobody", "--", "sh", "-c", script)
	mustOK(t, r)
	got := outputLines(r.Stdout)
	if got["move"] != "refused" || got["after"] != got["before"] || got["before"] == "" {
		t.Errorf("the command moved itself out of its group (%s -> %s):\n%s", got["before"], got["after"], r.Stdout)
	}
	if got["lift"] != "refused" || got["quota"] != quota {
		t.Errorf("the command lifted its own quota (now %q, want %q):\n%s", got["quota"], quota, r.Stdout)
	}
}

// capcon --keep none as root: the same read-only /sys and /proc entries
// as rcon's (docs/SECURITY.md item 1), though capcon makes no group.
func TestCapconKeepNoneAsRootGetsReadOnlySys(t *testing.T) {
	needRoot(t)
	script := `v=$(cat /proc/sys/kernel/domainname); if echo "$v" 2>/dev/null > /proc/sys/kernel/domainname; then echo sysctl=done; else echo sysctl=refused; fi; ` +
		`if true 2>/dev/null > /proc/sysrq-trigger; then echo sysrq=done; else echo sysrq=refused; fi; ` +
		`for p in /sys /proc/sys; do echo "mount$p=$(awk -v p=$p '$5 == p { split($6, o, ","); print o[1] }' /proc/self/mountinfo | tail -n 1)"; done`
	r := capcon(t, "--keep", "none", "--", "sh", "-c", script)
	mustOK(t, r)
	got := outputLines(r.Stdout)
	if got["sysctl"] != "refused" || got["sysrq"] != "refused" {
		t.Errorf("capcon --keep none: a sysctl or /proc/sysrq-trigger was writable:\n%s", r.Stdout)
	}
	for _, p := range []string{"/sys", "/proc/sys"} {
		if got["mount"+p] != "ro" {
			t.Errorf("capcon --keep none: %s is mounted %q, want ro:\n%s", p, got["mount"+p], r.Stdout)
		}
	}
}

// untrustedProfile is testdata/profiles/untrusted.toml, for the VM, which
// has no source tree; on the host the test checks that it is the same.
const untrustedProfile = `[limits]
cpu = 100
mem = "1G"
swap = "0"
pids = 100

[run]
user = "nobody"
group = "nogroup"
unshare = ["net", "pid", "mount", "ipc", "uts"]
hostname = "sandbox"
read_only_root = true
tmpfs = ["/tmp", "/dev/shm"]

[caps]
keep = []
no_new_privs = true
`

// stripComments drops TOML comments and blank lines, and trailing spaces.
func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimRight(l, " \t"); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The untrusted profile really contains its command: it cannot leave its
// group, lift its limits, or write anywhere but its own tmpfs, even in
// places anyone may write on the host.
func TestSandboxUntrustedProfileContainsItsCommand(t *testing.T) {
	needRoot(t)
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip("no user nobody, which the profile runs as")
	}
	if _, err := user.LookupGroup("nogroup"); err != nil {
		t.Skip("no group nogroup, which the profile runs as")
	}
	if src, err := os.ReadFile("../testdata/profiles/untrusted.toml"); err == nil {
		if got, want := stripComments(string(src)), stripComments(untrustedProfile); got != want {
			t.Fatalf("untrustedProfile differs from testdata/profiles/untrusted.toml; copy it:\n%s", got)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "untrusted.toml"), []byte(untrustedProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RCON_PROFILE_PATH", dir)

	// A directory of nobody's own, outside the tmpfs, standing in for its
	// home or working directory; and the host's world-writable ones.
	base := "/var/tmp"
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		base = "/"
	}
	own, err := os.MkdirTemp(base, "rcontest-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(own) })
	if err := os.Chown(own, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	places := []string{own}
	for _, p := range []string{"/var/tmp", "/dev/shm"} {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() && fi.Mode().Perm()&0o002 != 0 {
			places = append(places, p)
		}
	}
	name := fmt.Sprintf("rcontest-untrusted-%d", os.Getpid())
	target := escapeTarget(t)
	script := cgroupScript() + `echo "before=$G"; ` +
		`if echo $$ 2>/dev/null > ` + target + `/$PROCS; then echo move=done; else echo move=refused; fi; ` +
		`if echo $LIFT 2>/dev/null > $Q; then echo lift=done; else echo lift=refused; fi; ` +
		cgroupScript() + `echo "after=$G"; ` +
		`for d in ` + strings.Join(places, " ") + `; do if (: > $d/` + name + `) 2>/dev/null; then echo "wrote=$d"; fi; done; ` +
		`if : > /tmp/` + name + ` && : > /dev/shm/` + name + `; then echo tmpfs=ok; fi`
	r := rcon(t, "--profile", "untrusted", "--", "sh", "-c", script)
	for _, p := range places {
		if err := os.Remove(filepath.Join(p, name)); err == nil {
			t.Errorf("the command created %s/%s", p, name)
		}
	}
	mustOK(t, r)
	got := outputLines(r.Stdout)
	if got["move"] != "refused" || got["after"] != got["before"] || got["before"] == "" {
		t.Errorf("the command moved itself out of its group:\n%s", r.Stdout)
	}
	if got["lift"] != "refused" {
		t.Errorf("the command lifted its quota:\n%s", r.Stdout)
	}
	if got["tmpfs"] != "ok" {
		t.Errorf("the command could not write its own /tmp and /dev/shm:\n%s%s", r.Stdout, r.Stderr)
	}
}

// nestedCgroupHelper is the test binary's nested-namespace attack: it
// starts itself in new user (root inside, itself outside), mount and cgroup
// namespaces, where it mounts the cgroup hierarchy afresh on
// /sys/fs/cgroup and lifts the quota of the group it is in. It prints
// nested=refused when the kernel refuses the namespaces.
func nestedCgroupHelper(inner bool) int {
	if !inner {
		cmd := exec.Command("/proc/self/exe")
		cmd.Env = append(os.Environ(), "RCON_TEST_HELPER=nestcg-inner")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWCGROUP,
			// Root inside, as `unshare -r` maps it, keeps its
			// capabilities across the exec; it is the owner outside.
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		}
		if os.Getuid() == 0 {
			// Mapping uid 0 needs CAP_SETFCAP; unmapped, it is still
			// uid 0 outside, owner of root's files, and keeps
			// CAP_SYS_ADMIN in the namespace as an ambient capability.
			cmd.SysProcAttr.UidMappings, cmd.SysProcAttr.GidMappings = nil, nil
			cmd.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN}
		}
		if err := cmd.Run(); err != nil {
			if cmd.ProcessState == nil {
				fmt.Printf("nested=refused: %v\n", err)
				return 0
			}
			return cmd.ProcessState.ExitCode()
		}
		return 0
	}
	typ, opts, file, lift := "cgroup", "cpu", "/sys/fs/cgroup/cpu.cfs_quota_us", "-1"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		typ, opts, file, lift = "cgroup2", "", "/sys/fs/cgroup/cpu.max", "max"
	}
	if err := syscall.Mount("none", "/sys/fs/cgroup", typ, 0, opts); err != nil {
		fmt.Printf("nested=in, mount=%v\n", err)
		return 0
	}
	if err := os.WriteFile(file, []byte(lift), 0); err != nil {
		fmt.Printf("nested=in, write=%v\n", err)
		return 0
	}
	fmt.Println("nested=in, write=done")
	return 0
}

// A CGI tenant's script runs as the owner of its group's files, with an
// empty tmpfs over /sys/fs/cgroup (cgi-tenant.toml). It must not get at
// them by mounting the hierarchy again in a nested user namespace.
func TestSandboxNestedUserNSCannotReachHiddenCgroupfs(t *testing.T) {
	needRoot(t)
	if cgroupV2() {
		t.Skip("cgroup v2: a parent delegated to another user needs that user's own subtree (as for the Apache test); this covers v1")
	}
	const uid, gid = 65534, 65534
	dir, err := os.MkdirTemp("", "rcontest-nest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(dir, 0o755))
	copyFile(t, filepath.Join(binDir, "rcon"), filepath.Join(dir, "rcon"), 0o755)
	copyFile(t, self(t), filepath.Join(dir, "helper"), 0o755)
	state := filepath.Join(dir, "state")
	must(os.Mkdir(state, 0o700))
	must(os.Chown(state, uid, gid))

	// The tenants' parent, delegated to the owner in each hierarchy, as
	// testdata/apache/apache-cgi.conf does with /apache-cgi.
	parent := filepath.Base(dir)
	delegateV1(t, parent, uid, gid, "tasks", "cgroup.procs")
	name := fmt.Sprintf("rcontest-tenant-%d", os.Getpid())
	cmd := exec.Command(filepath.Join(dir, "rcon"), "--cpu", "50", "--parent", parent, "--name", name,
		"--unshare", "user,mount,pid,cgroup", "--map-user", "--tmpfs", "/sys/fs/cgroup", "--keep", "none", "--",
		"env", "RCON_TEST_HELPER=nestcg", filepath.Join(dir, "helper"))
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "RCON_STATE_DIR="+state)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if strings.Contains(string(out), "write=done") {
		t.Errorf("the command lifted its group's quota from a nested user namespace:\n%s", out)
	}
	if !strings.Contains(string(out), "nested=refused") {
		t.Errorf("the nested user namespace was not refused:\n%s", out)
	}
	if left := findGroups(name); len(left) > 0 {
		t.Errorf("groups left: %v", left)
	}
}

// --ro-bind makes the bound tree read-only, submounts included.
func TestSandboxROBindSubmountsReadOnly(t *testing.T) {
	needRoot(t)
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("rcontest-sub", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("tmpfs on %s: %v", sub, err)
	}
	t.Cleanup(func() {
		for syscall.Unmount(sub, syscall.MNT_DETACH) == nil {
		}
	})
	r := rcon(t, "--ro-bind", src, "--", "sh", "-c",
		`for f in `+src+`/top `+sub+`/below; do if (: > $f) 2>/dev/null; then echo "wrote=$f"; else echo "refused=$f"; fi; done`)
	mustOK(t, r)
	if strings.Contains(r.Stdout, "wrote=") {
		t.Errorf("--ro-bind left part of the tree writable:\n%s", r.Stdout)
	}
	for _, f := range []string{filepath.Join(src, "top"), filepath.Join(sub, "below")} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s was written through --ro-bind", f)
		}
	}
}

// Mount targets inside --chroot are resolved inside it: a symlink in a
// root that someone else controls cannot make rcon create files outside.
func TestSandboxChrootTargetsStayInside(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	outside := t.TempDir() // stands in for the host's /etc
	if err := os.Symlink(outside, filepath.Join(root, "etc")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The command (this test binary) is not in the empty root: set-up
	// is what is tested. Inside the root, the symlink dangles, which
	// rcon refuses (125) rather than follow it out; 127 would mean it
	// made the targets inside and then found no command.
	r := rcon(t, "--chroot", root, "--tmpfs", "/etc/made-dir", "--ro-bind", file+":/etc/made-file", "--", self(t))
	ents, _ := os.ReadDir(outside)
	for _, e := range ents {
		t.Errorf("rcon created %s outside the root", filepath.Join(outside, e.Name()))
	}
	if r.Code != 125 && r.Code != 127 {
		t.Errorf("exit %d, want 125 or 127: %s", r.Code, r.Stderr)
	}
}

// Without CAP_SYS_ADMIN rcon cannot make cgroupfs read-only for a uid-0
// command, so it refuses the run instead of leaving it limits it could
// lift.
func TestSandboxRootWithoutSysAdminRefusedWhenRconCannotProtect(t *testing.T) {
	needRoot(t)
	r := tool(t, "capcon", "--drop", "sys_admin", "--", filepath.Join(binDir, "rcon"), "--cpu", "5", "--keep", "none", "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "--user") || !strings.Contains(r.Stderr, "CAP_SYS_ADMIN") {
		t.Errorf("exit %d, stderr %q; want 125 saying to use --user or keep sys_admin", r.Code, r.Stderr)
	}
	stateEmpty(t)
}
